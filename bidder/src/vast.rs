//! What the bidder reads of a VAST document: the shape an upload must have
//! to play and to carry our trackers, and the elements by their local name
//! (a document may or may not declare the VAST namespace).
//!
//! Parses, so it belongs to the cold path (uploads, snapshot builds); never
//! called per bid.

use roxmltree::Node;

/// Checks that `doc` is well-formed XML with a `<VAST>` root and at least
/// one `<Ad>`, each either an `<InLine>` with a linear ad and a media file,
/// or a `<Wrapper>` naming the next document. Only the shape the bidder
/// relies on; the rest of the schema is the advertiser's to keep.
///
/// The error says what is wrong, for a person.
pub fn check(doc: &str) -> Result<(), String> {
    let parsed = roxmltree::Document::parse(doc).map_err(|e| match e {
        // Refused by the parser on purpose: entity tricks, and no player
        // needs one.
        roxmltree::Error::DtdDetected => "must not declare a DTD (<!DOCTYPE)".to_owned(),
        e => format!("not well-formed XML: {e}"),
    })?;
    let root = parsed.root_element();
    if name(root) != "VAST" {
        return Err(format!("the root element is <{}>, not <VAST>", name(root)));
    }
    let mut ads = children(root, "Ad").peekable();
    if ads.peek().is_none() {
        return Err("needs at least one <Ad>".into());
    }
    for (i, ad) in ads.enumerate() {
        let n = i + 1;
        if let Some(inline) = children(ad, "InLine").next() {
            let plays = children(inline, "Creatives")
                .flat_map(|c| children(c, "Creative"))
                .flat_map(|c| children(c, "Linear"))
                .flat_map(|l| children(l, "MediaFiles"))
                .any(|m| children(m, "MediaFile").next().is_some());
            if !plays {
                return Err(format!(
                    "<Ad> {n}: an <InLine> needs a linear ad with a media file \
                     (Creatives/Creative/Linear/MediaFiles/MediaFile)"
                ));
            }
        } else if let Some(wrapper) = children(ad, "Wrapper").next() {
            let uri = children(wrapper, "VASTAdTagURI")
                .next()
                .and_then(|u| u.text());
            if uri.is_none_or(|u| u.trim().is_empty()) {
                return Err(format!("<Ad> {n}: a <Wrapper> needs a <VASTAdTagURI>"));
            }
        } else {
            return Err(format!("<Ad> {n} needs an <InLine> or a <Wrapper>"));
        }
    }
    Ok(())
}

/// The child elements of `el` with the local name `local`.
pub(crate) fn children<'a, 'i>(
    el: Node<'a, 'i>,
    local: &'static str,
) -> impl Iterator<Item = Node<'a, 'i>> {
    el.children().filter(move |n| name(*n) == local)
}

/// The local name of an element; empty for any other node.
pub(crate) fn name<'i>(n: Node<'_, 'i>) -> &'i str {
    match n.is_element() {
        true => n.tag_name().name(),
        false => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEDIA: &str = "<Creatives><Creative><Linear><Duration>00:00:15</Duration><MediaFiles><MediaFile delivery=\"progressive\" type=\"video/mp4\" width=\"640\" height=\"360\"><![CDATA[https://cdn.example/v.mp4]]></MediaFile></MediaFiles></Linear></Creative></Creatives>";

    #[test]
    fn inline_with_media_and_wrapper_with_a_tag_uri_pass() {
        let inline = format!(
            "<VAST version=\"4.2\" xmlns=\"http://www.iab.com/VAST\"><Ad><InLine>{MEDIA}</InLine></Ad></VAST>"
        );
        assert_eq!(check(&inline), Ok(()));
        let wrapper = "<VAST><Ad><Wrapper><VASTAdTagURI><![CDATA[https://ads.example/next.xml]]></VASTAdTagURI></Wrapper></Ad></VAST>";
        assert_eq!(check(wrapper), Ok(()));
    }

    #[test]
    fn each_broken_shape_is_named() {
        let cases = [
            ("<VAST><Ad><InLine></Ad></VAST>", "not well-formed XML"),
            (
                "<!DOCTYPE VAST [<!ENTITY x \"y\">]><VAST><Ad/></VAST>",
                "must not declare a DTD",
            ),
            (
                "<vast><Ad/></vast>",
                "the root element is <vast>, not <VAST>",
            ),
            ("<VAST version=\"4.2\"/>", "needs at least one <Ad>"),
            (
                "<VAST><Ad><Creatives/></Ad></VAST>",
                "<Ad> 1 needs an <InLine> or a <Wrapper>",
            ),
            (
                "<VAST><Ad><InLine><!-- <MediaFile> --></InLine></Ad></VAST>",
                "<Ad> 1: an <InLine> needs a linear ad",
            ),
            (
                "<VAST><Ad><Wrapper><VASTAdTagURI> </VASTAdTagURI></Wrapper></Ad></VAST>",
                "<Ad> 1: a <Wrapper> needs a <VASTAdTagURI>",
            ),
        ];
        for (doc, want) in cases {
            let got = check(doc).expect_err(doc);
            assert!(got.starts_with(want), "{doc}: {got}");
        }
        let second = format!("<VAST><Ad><InLine>{MEDIA}</InLine></Ad><Ad><Wrapper/></Ad></VAST>");
        assert_eq!(
            check(&second),
            Err("<Ad> 2: a <Wrapper> needs a <VASTAdTagURI>".into())
        );
    }
}

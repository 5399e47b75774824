//! What the bidder reads of a VAST document: the shape an upload must have
//! to play and to carry our trackers ([`check`]), what a player needs to
//! play it ([`read`]: its versions, inline or wrapper, media files,
//! duration, linearity, skippability, whether every URL is https), and
//! the elements by their local name (a document may or may not declare
//! the VAST namespace).
//!
//! Parses, so it belongs to the cold path (uploads, snapshot builds); never
//! called per bid.

use creative::video::{Delivery, MediaFile, Playable, VPAID, VastVersion, Versions};
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

/// What the bidder knows of a VAST document once read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Read {
    /// The version its `version` attribute names, if it names one.
    pub version: Option<VastVersion>,
    /// What a player needs of it: the versions it can be served as (see
    /// [`served_as`]), its kinds of ad, media files, duration (from its
    /// first linear ad's `<Duration>`; 0 when it has none), linearity (a
    /// bare wrapper's is taken to be linear) and skippability. Placements
    /// are the uploader's to declare.
    pub playable: Playable,
    /// The first URL in it that is not https (`http://` in any text or
    /// attribute value but namespace names), if any.
    pub insecure: Option<String>,
}

/// Reads what a player needs of `doc`; `None` when it does not parse.
pub fn read(doc: &str) -> Option<Read> {
    let parsed = roxmltree::Document::parse(doc).ok()?;
    let root = parsed.root_element();
    let version = root.attribute("version").and_then(VastVersion::parse);
    let mut p = Playable {
        versions: version.map_or(Versions::default(), |v| served_as(&parsed, v)),
        ..Playable::default()
    };
    let mut media = Vec::new();
    let mut duration = None;
    for ad in children(root, "Ad") {
        let body = children(ad, "InLine").next();
        let wrapper = children(ad, "Wrapper").next();
        p.inline |= body.is_some();
        p.wrapper |= wrapper.is_some();
        let Some(body) = body.or(wrapper) else {
            continue;
        };
        let creatives = children(body, "Creatives").flat_map(|c| children(c, "Creative"));
        for creative in creatives {
            p.non_linear |= children(creative, "NonLinearAds").next().is_some();
            for linear in children(creative, "Linear") {
                p.linear = true;
                p.skippable |= linear.attribute("skipoffset").is_some();
                if duration.is_none() {
                    duration = children(linear, "Duration")
                        .next()
                        .and_then(|d| d.text())
                        .and_then(millis);
                }
                let files = children(linear, "MediaFiles").flat_map(|m| children(m, "MediaFile"));
                media.extend(files.map(media_file));
            }
        }
    }
    // A bare wrapper holds no creative of its own: the ad it leads to is
    // taken to be linear, like the video its upload declares.
    if p.wrapper && !p.linear && !p.non_linear {
        p.linear = true;
    }
    p.media = media.into();
    p.duration_ms = duration.unwrap_or(0);
    Some(Read {
        version,
        playable: p,
        insecure: first_insecure(&parsed),
    })
}

/// The versions `doc` can be served as, newest first, as the creative
/// records them when it is stored; empty when it does not parse or names
/// no version.
pub fn versions(doc: &str) -> Vec<String> {
    read(doc).map_or_else(Vec::new, |r| {
        let versions = r.playable.versions.newest_first();
        versions.map(|v| v.as_str().to_owned()).collect()
    })
}

/// A `<MediaFile>` as a player chooses among them.
fn media_file(file: Node<'_, '_>) -> MediaFile {
    let number = |name: &str| {
        file.attribute(name)
            .and_then(|v| v.trim().parse::<u32>().ok())
    };
    let bitrate = match (
        number("bitrate"),
        number("minBitrate"),
        number("maxBitrate"),
    ) {
        (Some(b), ..) => Some((b, b)),
        (None, Some(low), Some(high)) => Some((low, high)),
        _ => None,
    };
    let vpaid = file
        .attribute("apiFramework")
        .is_some_and(|a| a.trim().eq_ignore_ascii_case("VPAID"));
    MediaFile {
        mime: file.attribute("type").unwrap_or_default().trim().into(),
        delivery: file.attribute("delivery").and_then(Delivery::parse),
        bitrate,
        api: if vpaid { VPAID } else { &[] },
    }
}

/// A VAST time (`HH:MM:SS` or `HH:MM:SS.mmm`) in milliseconds.
fn millis(text: &str) -> Option<u32> {
    let (clock, ms) = text.trim().split_once('.').unwrap_or((text.trim(), "0"));
    let mut parts = clock.split(':').map(|p| p.parse::<u32>().ok());
    let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
    let ms: u32 = format!("{ms:0<3}").get(..3)?.parse().ok()?;
    (parts.next().is_none() && m < 60 && s < 60).then(|| ((h * 60 + m) * 60 + s) * 1000 + ms)
}

/// Elements (and `Element@attribute`s) each version introduced, newest
/// first: a document that uses one cannot be served as an older version.
/// Incomplete in one direction only: what is listed is new in that
/// version, so a document using it is never offered older (VAST 4.2 added
/// nothing a 4.1 player would trip on).
const INTRODUCED: &[(VastVersion, &[&str])] = &[
    (
        VastVersion::V4_1,
        &[
            "AdServingId",
            "ClosedCaptionFiles",
            "BlockedAdCategories",
            "Expires",
            "IconClickFallbackImages",
            "Ad@adType",
        ],
    ),
    (
        VastVersion::V4_0,
        &[
            "UniversalAdId",
            "Mezzanine",
            "InteractiveCreativeFile",
            "AdVerifications",
            "Verification",
            "ViewableImpression",
            "Category",
        ],
    ),
    (
        VastVersion::V3,
        &[
            "Advertiser",
            "Pricing",
            "Icons",
            "CreativeExtensions",
            "Linear@skipoffset",
            "Ad@sequence",
        ],
    ),
];

/// The versions a document of `version` can be served as: its own, and
/// each older one it uses nothing newer than (its `version` attribute is
/// then rewritten). 4.2 and 4.1 share their elements; a 4.x document
/// naming its creative in `<UniversalAdId>` text (4.1 on) is never 4.0,
/// which wants the `idValue` attribute; VAST 4.0 inline ads need a
/// `<UniversalAdId>`, which no older version has, so in practice it is
/// wrappers and 3.0 documents that serve older players.
pub fn served_as(doc: &roxmltree::Document<'_>, version: VastVersion) -> Versions {
    // `Element` or `Element@attribute`.
    let uses = |item: &str| {
        let (element, attribute) = match item.split_once('@') {
            Some((e, a)) => (e, Some(a)),
            None => (item, None),
        };
        doc.descendants().any(|n| {
            n.is_element()
                && n.tag_name().name() == element
                && attribute.is_none_or(|a| n.attribute(a).is_some())
        })
    };
    let text_id = doc.descendants().any(|n| {
        n.is_element() && n.tag_name().name() == "UniversalAdId" && n.attribute("idValue").is_none()
    });
    let mut versions = Versions::default().with(version);
    for older in VastVersion::ALL.into_iter().rev().filter(|v| *v < version) {
        let newer_used = INTRODUCED
            .iter()
            .filter(|(since, _)| *since > older)
            .any(|(_, names)| names.iter().any(|n| uses(n)));
        if newer_used || (older == VastVersion::V4_0 && text_id) {
            break;
        }
        versions = versions.with(older);
    }
    versions
}

/// The first `http://` URL in any text or attribute value of `doc`
/// (namespace declarations and `schemaLocation`, which name rather than
/// fetch, aside).
fn first_insecure(doc: &roxmltree::Document<'_>) -> Option<String> {
    let texts = doc.descendants().filter_map(|n| n.text());
    let attributes = doc
        .descendants()
        .flat_map(|n| n.attributes())
        .filter(|a| a.name() != "schemaLocation")
        .map(|a| a.value());
    texts.chain(attributes).find_map(insecure_url)
}

/// The first `http://` URL in `text`, case-insensitively.
pub fn insecure_url(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let at = lower.find("http://")?;
    let url = text[at..]
        .split(|c: char| c.is_whitespace() || "\"'<>".contains(c))
        .next()
        .unwrap_or_default();
    Some(url.to_owned())
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
    fn a_document_is_read_for_what_a_player_needs() {
        let doc = format!(
            "<VAST version=\"4.2\"><Ad><InLine><AdServingId>s</AdServingId>{}</InLine></Ad></VAST>",
            MEDIA
                .replace("<Linear>", "<Linear skipoffset=\"00:00:05\">")
                .replace("bitrate", "x")
                .replace(
                    "height=\"360\"",
                    "height=\"360\" minBitrate=\"500\" maxBitrate=\"900\""
                )
        );
        let found = read(&doc).expect("parses");
        assert_eq!(found.version, Some(VastVersion::V4_2));
        let p = &found.playable;
        assert!(p.inline && !p.wrapper && p.linear && !p.non_linear && p.skippable);
        assert_eq!(p.duration_ms, 15_000);
        assert_eq!(p.media.len(), 1);
        assert_eq!(&*p.media[0].mime, "video/mp4");
        assert_eq!(p.media[0].delivery, Some(Delivery::Progressive));
        assert_eq!(p.media[0].bitrate, Some((500, 900)));
        assert_eq!(found.insecure, None);
        assert!(
            read(&doc.replace("https://cdn", "HTTP://cdn"))
                .unwrap()
                .insecure
                .is_some()
        );
        // The namespace is a name, not a fetch.
        let named = doc.replace("<VAST ", "<VAST xmlns=\"http://www.iab.com/VAST\" ");
        assert_eq!(read(&named).unwrap().insecure, None);
        assert_eq!(read("not xml"), None);
    }

    fn versions(doc: &str) -> Vec<&'static str> {
        let found = read(doc).expect("parses");
        found
            .playable
            .versions
            .newest_first()
            .map(VastVersion::as_str)
            .collect()
    }

    #[test]
    fn older_versions_are_offered_only_for_what_the_document_does_not_use() {
        let wrapper = |version: &str, extra: &str| {
            format!(
                "<VAST version=\"{version}\"><Ad><Wrapper><AdSystem>s</AdSystem>{extra}<VASTAdTagURI>u</VASTAdTagURI></Wrapper></Ad></VAST>"
            )
        };
        assert_eq!(
            versions(&wrapper("4.2", "")),
            ["4.2", "4.1", "4.0", "3.0", "2.0"]
        );
        assert_eq!(
            versions(&wrapper("4.2", "<AdVerifications/>")),
            ["4.2", "4.1", "4.0"]
        );
        assert_eq!(versions(&wrapper("4.1", "<Expires>5</Expires>")), ["4.1"]);
        assert_eq!(versions(&wrapper("3.0", "<Pricing>1</Pricing>")), ["3.0"]);
        assert_eq!(versions(&wrapper("2.0", "")), ["2.0"]);
        // An inline 4.1 ad: its AdServingId and text UniversalAdId stop it.
        let inline = "<VAST version=\"4.2\"><Ad><InLine><AdServingId>a</AdServingId><Creatives><Creative><UniversalAdId idRegistry=\"r\">x</UniversalAdId></Creative></Creatives></InLine></Ad></VAST>";
        assert_eq!(versions(inline), ["4.2", "4.1"]);
        let old_id = "<VAST version=\"4.0\"><Ad><InLine><Creatives><Creative><UniversalAdId idRegistry=\"r\" idValue=\"x\"/></Creative></Creatives></InLine></Ad></VAST>";
        assert_eq!(versions(old_id), ["4.0"]);
        let unnamed = "<VAST><Ad><Wrapper><VASTAdTagURI>u</VASTAdTagURI></Wrapper></Ad></VAST>";
        assert!(versions(unnamed).is_empty());
    }

    #[test]
    fn vast_times_read_in_milliseconds() {
        assert_eq!(millis("00:00:15"), Some(15_000));
        assert_eq!(millis("01:00:15.5"), Some(3_615_500));
        assert_eq!(millis("00:00:15.250"), Some(15_250));
        assert_eq!(millis("00:61:00"), None);
        assert_eq!(millis("15"), None);
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

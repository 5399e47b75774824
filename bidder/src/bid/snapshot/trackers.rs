//! Fixed markup with its trackers in place: an HTML banner or a VAST
//! document cut, once per snapshot, around the holes where each bid's
//! tracker tail (`{stage}&t={token}`) goes.
//!
//! Everything else in a tracker URL (the public address, the campaign, the
//! creative) is known when the snapshot is built, so the bid path only
//! copies pieces and fills holes: it never searches the markup. Owns where
//! trackers go in fixed markup; never changes the advertiser's own text
//! around them.

use creative::CLICK_URL_MACRO;

use crate::vast::{children, name};

/// Markup cut around the holes for the bid's tail (and, in a VAST
/// document, for the version it is served as).
#[derive(Debug)]
pub struct Tracked {
    /// Text to copy; a hole between each two.
    pieces: Box<[Box<str>]>,
    /// What each hole takes, in order.
    holes: Box<[Hole]>,
    /// The document's own `version` attribute, for its version hole.
    version: Box<str>,
}

/// What fills a hole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hole {
    /// The bid's tracker tail, `{stage}&t={token}`.
    Tail,
    /// The value of the root's `version` attribute.
    Version,
}

/// Where a document's trackers point: `{public}/events/...` up to the tail.
#[derive(Debug, Clone, Copy)]
pub struct Trackers<'a> {
    /// `.../events/imp?stage=`.
    pub impression: &'a str,
    /// `.../events/click?cid=..&crid=..&stage=` (HTML: a person's click,
    /// which redirects).
    pub click: &'a str,
    /// `.../events/clicktrack?cid=..&crid=..&stage=` (VAST: the player's
    /// ping beside its own click-through, which must not redirect).
    pub click_ping: &'a str,
}

impl Tracked {
    /// An HTML banner: the click tracker wherever the markup says
    /// [`CLICK_URL_MACRO`] (only with a landing page to send the click to;
    /// markup without one keeps any such text as it is), then the
    /// impression pixel after it.
    pub fn html(markup: &str, has_landing: bool, t: Trackers<'_>) -> Tracked {
        let mut b = Builder::default();
        let mut parts = markup.split(CLICK_URL_MACRO);
        match has_landing {
            true => {
                b.text(parts.next().unwrap_or(""));
                for part in parts {
                    b.text(t.click);
                    b.hole();
                    b.text(part);
                }
            }
            false => b.text(markup),
        }
        // Single quotes: no JSON escapes for the answer. The bare `&` of
        // the tail is text to HTML: `t` starts no character reference.
        b.text("<img src='");
        b.text(t.impression);
        b.hole();
        b.text("' width='1' height='1' style='position:absolute;left:0;top:0;border:0' alt=''>");
        b.finish("")
    }

    /// A VAST document: an `<Impression>` before the first ad's own first
    /// one, a `<ClickTracking>` first in every linear ad's `<VideoClicks>`,
    /// which is added as the linear ad's last element where it has none,
    /// and a `<NonLinearClickTracking>` last in every non-linear ad. A
    /// wrapper without a linear ad gets one that holds only the click
    /// tracker, and a wrapper's `<NonLinearAds>` without a non-linear ad
    /// gets one too: players add a wrapper's trackers to those of the ads
    /// it leads to, of the same kind. Every place keeps the element order
    /// of the VAST 4.2 schema.
    ///
    /// The value of the root's `version` attribute is a hole of its own,
    /// so that the document can be served as another version it is valid
    /// as ([`Tracked::write_as`]).
    ///
    /// The document is parsed, so text in CDATA sections and comments (an
    /// `<AdParameters>` payload, say) is never taken for a tag; the trackers
    /// go into the original text, which is otherwise kept byte for byte.
    /// Fails only when the document is not well-formed XML.
    pub fn vast(doc: &str, t: Trackers<'_>) -> Result<Tracked, roxmltree::Error> {
        let parsed = roxmltree::Document::parse(doc)?;
        // (where, tags before the URL, the URL, tags after its hole); no
        // tags and no URL: the version attribute's value.
        let mut inserts: Vec<(Place, &str, Option<&str>, &str)> = Vec::new();
        let version = parsed.root_element().attribute_node("version");
        if let Some(v) = &version {
            let range = v.range_value();
            let place = Place {
                at: range.start,
                replaced: range.len(),
                ..Place::default()
            };
            inserts.push((place, "", None, ""));
        }
        let bodies = children(parsed.root_element(), "Ad")
            .filter_map(|ad| children(ad, "InLine").chain(children(ad, "Wrapper")).next())
            // An empty `<InLine/>` or `<Wrapper/>` holds no ad to track
            // (and could not take two inserts at its one `/>`).
            .filter(|body| body.has_children());
        for (i, body) in bodies.enumerate() {
            if i == 0 {
                let place = match children(body, "Impression").next() {
                    Some(first) => Place::before(first),
                    None => match body
                        .children()
                        .rfind(|n| ["AdSystem", "Error", "Extensions"].contains(&name(*n)))
                    {
                        Some(last) => Place::after(last),
                        None => Place::inside(doc, body, End::First),
                    },
                };
                let (open, close) = IMPRESSION;
                inserts.push((place, open, Some(t.impression), close));
            }
            let linears: Vec<_> = children(body, "Creatives")
                .flat_map(|c| children(c, "Creative"))
                .flat_map(|c| children(c, "Linear"))
                .collect();
            for &linear in &linears {
                let (place, (open, close)) = match children(linear, "VideoClicks").next() {
                    Some(clicks) => (Place::inside(doc, clicks, End::First), CLICK_TRACKING),
                    None => (Place::inside(doc, linear, End::Last), VIDEO_CLICKS),
                };
                inserts.push((place, open, Some(t.click_ping), close));
            }
            let non_linear_ads = children(body, "Creatives")
                .flat_map(|c| children(c, "Creative"))
                .flat_map(|c| children(c, "NonLinearAds"));
            for ads in non_linear_ads {
                let mut non_linears = children(ads, "NonLinear").peekable();
                if non_linears.peek().is_none() && name(body) == "Wrapper" {
                    let (open, close) = NON_LINEAR;
                    inserts.push((
                        Place::inside(doc, ads, End::Last),
                        open,
                        Some(t.click_ping),
                        close,
                    ));
                }
                for non_linear in non_linears {
                    // Last: after an inline ad's `<NonLinearClickThrough>`.
                    let (open, close) = NON_LINEAR_CLICK_TRACKING;
                    inserts.push((
                        Place::inside(doc, non_linear, End::Last),
                        open,
                        Some(t.click_ping),
                        close,
                    ));
                }
            }
            if linears.is_empty() && name(body) == "Wrapper" {
                let (place, (open, close)) = match children(body, "Creatives").next() {
                    Some(creatives) => (Place::inside(doc, creatives, End::Last), CREATIVE),
                    None => match children(body, "VASTAdTagURI").next() {
                        Some(uri) => (Place::before(uri), CREATIVES),
                        None => (Place::inside(doc, body, End::Last), CREATIVES),
                    },
                };
                inserts.push((place, open, Some(t.click_ping), close));
            }
        }
        // Stable: inserts at one spot keep the order they were found in.
        inserts.sort_by_key(|(place, ..)| place.at);
        let mut b = Builder::default();
        let mut copied = 0;
        for (place, open, url, close) in inserts {
            b.text(&doc[copied..place.at]);
            copied = place.at + place.replaced;
            let Some(url) = url else {
                b.version_hole();
                continue;
            };
            b.text(place.open);
            b.text(open);
            b.text(url);
            b.hole();
            b.text(close);
            b.text(&place.close);
        }
        b.text(&doc[copied..]);
        Ok(b.finish(version.map_or("", |v| v.value())))
    }

    /// Appends the markup with `stage` and `token` in every tracker hole.
    pub fn write(&self, stage: &str, token: &str, out: &mut String) {
        self.write_as(stage, token, None, out);
    }

    /// [`Tracked::write`], a VAST document's `version` attribute saying
    /// `version` (its own when `None`).
    pub fn write_as(&self, stage: &str, token: &str, version: Option<&str>, out: &mut String) {
        for (i, piece) in self.pieces.iter().enumerate() {
            match i.checked_sub(1).map(|h| self.holes[h]) {
                None => {}
                Some(Hole::Tail) => {
                    for part in [stage, "&t=", token] {
                        out.push_str(part);
                    }
                }
                Some(Hole::Version) => out.push_str(version.unwrap_or(&self.version)),
            }
            out.push_str(piece);
        }
    }
}

/// The tags around each kind of VAST tracker: (before its URL, after its hole).
const IMPRESSION: (&str, &str) = ("<Impression><![CDATA[", "]]></Impression>");
const CLICK_TRACKING: (&str, &str) = ("<ClickTracking><![CDATA[", "]]></ClickTracking>");
const VIDEO_CLICKS: (&str, &str) = (
    "<VideoClicks><ClickTracking><![CDATA[",
    "]]></ClickTracking></VideoClicks>",
);
const NON_LINEAR_CLICK_TRACKING: (&str, &str) = (
    "<NonLinearClickTracking><![CDATA[",
    "]]></NonLinearClickTracking>",
);
const NON_LINEAR: (&str, &str) = (
    "<NonLinear><NonLinearClickTracking><![CDATA[",
    "]]></NonLinearClickTracking></NonLinear>",
);
const CREATIVE: (&str, &str) = (
    "<Creative><Linear><VideoClicks><ClickTracking><![CDATA[",
    "]]></ClickTracking></VideoClicks></Linear></Creative>",
);
const CREATIVES: (&str, &str) = (
    "<Creatives><Creative><Linear><VideoClicks><ClickTracking><![CDATA[",
    "]]></ClickTracking></VideoClicks></Linear></Creative></Creatives>",
);

/// Which end of an element's content.
#[derive(Clone, Copy)]
enum End {
    First,
    Last,
}

/// Where in the document an insert goes.
#[derive(Default)]
struct Place {
    /// Byte offset.
    at: usize,
    /// Bytes of the document the insert replaces there.
    replaced: usize,
    /// Text before and after the insert: a self-closing element is opened
    /// around its new content, its `/>` replaced by `>` and its end tag.
    open: &'static str,
    close: String,
}

impl Place {
    fn before(n: roxmltree::Node<'_, '_>) -> Place {
        Place {
            at: n.range().start,
            ..Place::default()
        }
    }

    fn after(n: roxmltree::Node<'_, '_>) -> Place {
        Place {
            at: n.range().end,
            ..Place::default()
        }
    }

    /// The first or last place among the children of `el`.
    fn inside(doc: &str, el: roxmltree::Node<'_, '_>, end: End) -> Place {
        let range = el.range();
        let text = &doc[range.clone()];
        if text.ends_with("/>") {
            // The source's qualified name, so a prefixed element stays closed.
            let qname = text[1..]
                .split(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
                .next()
                .unwrap_or_default();
            return Place {
                at: range.end - 2,
                replaced: 2,
                open: ">",
                close: format!("</{qname}>"),
            };
        }
        let at = match end {
            End::First => range.start + start_tag_len(text),
            // A parsed element that does not close itself ends with `</`, its
            // name, optional space and `>`.
            End::Last => range.start + text.rfind("</").unwrap_or(text.len()),
        };
        Place {
            at,
            ..Place::default()
        }
    }
}

/// The length of the start tag `element` begins with: up to the first `>`
/// outside a quoted attribute value (where `>` may stand unescaped).
fn start_tag_len(element: &str) -> usize {
    let mut quote = None;
    for (i, b) in element.bytes().enumerate() {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if q == b => quote = None,
            (None, b'>') => return i + 1,
            _ => {}
        }
    }
    element.len()
}

#[derive(Default)]
struct Builder {
    pieces: Vec<Box<str>>,
    holes: Vec<Hole>,
    current: String,
}

impl Builder {
    fn text(&mut self, s: &str) {
        self.current.push_str(s);
    }

    fn cut(&mut self, hole: Hole) {
        self.pieces.push(std::mem::take(&mut self.current).into());
        self.holes.push(hole);
    }

    fn hole(&mut self) {
        self.cut(Hole::Tail);
    }

    fn version_hole(&mut self) {
        self.cut(Hole::Version);
    }

    /// The markup, whose own version attribute (if it has a version
    /// hole) said `version`.
    fn finish(mut self, version: &str) -> Tracked {
        self.pieces.push(std::mem::take(&mut self.current).into());
        Tracked {
            pieces: self.pieces.into(),
            holes: self.holes.into(),
            version: version.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Trackers<'static> = Trackers {
        impression: "https://b.example/events/imp?stage=",
        click: "https://b.example/events/click?cid=1&crid=2&stage=",
        click_ping: "https://b.example/events/clicktrack?cid=1&crid=2&stage=",
    };

    fn written(t: &Tracked) -> String {
        let mut out = String::new();
        t.write("intent", "TOK", &mut out);
        out
    }

    #[test]
    fn html_gets_the_click_tracker_at_every_macro_and_the_pixel_after() {
        let t = Tracked::html(
            r#"<a href="${CLICK_URL}"><img src="x.png"></a><a href="${CLICK_URL}">more</a>"#,
            true,
            T,
        );
        let click = "https://b.example/events/click?cid=1&crid=2&stage=intent&t=TOK";
        assert_eq!(
            written(&t),
            format!(
                r#"<a href="{click}"><img src="x.png"></a><a href="{click}">more</a><img src='https://b.example/events/imp?stage=intent&t=TOK' width='1' height='1' style='position:absolute;left:0;top:0;border:0' alt=''>"#
            )
        );
    }

    #[test]
    fn html_without_a_landing_page_keeps_its_text() {
        let t = Tracked::html("<b>${CLICK_URL}</b>", false, T);
        assert!(written(&t).starts_with(
            "<b>${CLICK_URL}</b><img src='https://b.example/events/imp?stage=intent&t=TOK'"
        ));
    }

    fn vast(doc: &str) -> String {
        written(&Tracked::vast(doc, T).expect("well-formed"))
    }

    const IMP: &str =
        "<Impression><![CDATA[https://b.example/events/imp?stage=intent&t=TOK]]></Impression>";
    const PING: &str = "<ClickTracking><![CDATA[https://b.example/events/clicktrack?cid=1&crid=2&stage=intent&t=TOK]]></ClickTracking>";
    const NON_LINEAR_PING: &str = "<NonLinearClickTracking><![CDATA[https://b.example/events/clicktrack?cid=1&crid=2&stage=intent&t=TOK]]></NonLinearClickTracking>";
    const NON_LINEAR: &str = "<NonLinear><NonLinearClickTracking><![CDATA[https://b.example/events/clicktrack?cid=1&crid=2&stage=intent&t=TOK]]></NonLinearClickTracking></NonLinear>";

    #[test]
    fn vast_click_tracking_goes_first_in_existing_video_clicks() {
        let doc = "<VAST><Ad><InLine><Impression>i</Impression><Creatives><Creative><Linear><Duration>00:00:15</Duration><MediaFiles/><VideoClicks><ClickThrough>https://a.example</ClickThrough></VideoClicks></Linear></Creative></Creatives></InLine></Ad></VAST>";
        assert_eq!(
            vast(doc),
            format!(
                "<VAST><Ad><InLine>{IMP}<Impression>i</Impression><Creatives><Creative><Linear><Duration>00:00:15</Duration><MediaFiles/><VideoClicks>{PING}<ClickThrough>https://a.example</ClickThrough></VideoClicks></Linear></Creative></Creatives></InLine></Ad></VAST>"
            )
        );
    }

    #[test]
    fn vast_without_video_clicks_gets_them_last_in_each_linear_ad() {
        let doc = "<VAST><Ad><Wrapper><AdSystem>s</AdSystem><Creatives><Creative><Linear skipoffset=\"00:00:05\"><TrackingEvents/></Linear></Creative><Creative><NonLinearAds/></Creative><Creative><Linear><VideoClicks/></Linear></Creative><Creative><Linear skipoffset='a>b' /></Creative></Creatives><VASTAdTagURI>u</VASTAdTagURI></Wrapper></Ad></VAST>";
        let clicks = format!("<VideoClicks>{PING}</VideoClicks>");
        assert_eq!(
            vast(doc),
            format!(
                "<VAST><Ad><Wrapper><AdSystem>s</AdSystem>{IMP}<Creatives><Creative><Linear skipoffset=\"00:00:05\"><TrackingEvents/>{clicks}</Linear></Creative><Creative><NonLinearAds>{NON_LINEAR}</NonLinearAds></Creative><Creative><Linear>{clicks}</Linear></Creative><Creative><Linear skipoffset='a>b' >{clicks}</Linear></Creative></Creatives><VASTAdTagURI>u</VASTAdTagURI></Wrapper></Ad></VAST>"
            )
        );
    }

    #[test]
    fn a_wrapper_without_a_linear_ad_gets_one_holding_the_click_tracker() {
        let linear =
            format!("<Creative><Linear><VideoClicks>{PING}</VideoClicks></Linear></Creative>");
        let bare = "<VAST><Ad><Wrapper><AdSystem>s</AdSystem><Impression>i</Impression><VASTAdTagURI>u</VASTAdTagURI></Wrapper></Ad></VAST>";
        assert_eq!(
            vast(bare),
            format!(
                "<VAST><Ad><Wrapper><AdSystem>s</AdSystem>{IMP}<Impression>i</Impression><Creatives>{linear}</Creatives><VASTAdTagURI>u</VASTAdTagURI></Wrapper></Ad></VAST>"
            )
        );
        let non_linear = "<VAST><Ad><Wrapper><Impression>i</Impression><Creatives><Creative><NonLinearAds/></Creative></Creatives><VASTAdTagURI>u</VASTAdTagURI></Wrapper></Ad></VAST>";
        assert_eq!(
            vast(non_linear),
            format!(
                "<VAST><Ad><Wrapper>{IMP}<Impression>i</Impression><Creatives><Creative><NonLinearAds>{NON_LINEAR}</NonLinearAds></Creative>{linear}</Creatives><VASTAdTagURI>u</VASTAdTagURI></Wrapper></Ad></VAST>"
            )
        );
    }

    #[test]
    fn every_non_linear_ad_gets_a_click_tracker_last() {
        // Inline: after the click-through, where the schema puts trackers;
        // a second ad of the same creative gets its own.
        let inline = "<VAST><Ad><InLine><Impression>i</Impression><Creatives><Creative><NonLinearAds><TrackingEvents/><NonLinear width=\"300\" height=\"50\"><StaticResource creativeType=\"image/png\">https://a.example/o.png</StaticResource><NonLinearClickThrough>https://a.example</NonLinearClickThrough></NonLinear><NonLinear><HTMLResource>h</HTMLResource></NonLinear></NonLinearAds></Creative></Creatives></InLine></Ad></VAST>";
        assert_eq!(
            vast(inline),
            format!(
                "<VAST><Ad><InLine>{IMP}<Impression>i</Impression><Creatives><Creative><NonLinearAds><TrackingEvents/><NonLinear width=\"300\" height=\"50\"><StaticResource creativeType=\"image/png\">https://a.example/o.png</StaticResource><NonLinearClickThrough>https://a.example</NonLinearClickThrough>{NON_LINEAR_PING}</NonLinear><NonLinear><HTMLResource>h</HTMLResource>{NON_LINEAR_PING}</NonLinear></NonLinearAds></Creative></Creatives></InLine></Ad></VAST>"
            )
        );
        // A wrapper's non-linear ad, closed on itself or holding a tracker
        // of the ad server's.
        let wrapper = "<VAST><Ad><Wrapper><Impression>i</Impression><Creatives><Creative><NonLinearAds><NonLinear/><NonLinear><NonLinearClickTracking>x</NonLinearClickTracking></NonLinear></NonLinearAds></Creative></Creatives><VASTAdTagURI>u</VASTAdTagURI></Wrapper></Ad></VAST>";
        let linear =
            format!("<Creative><Linear><VideoClicks>{PING}</VideoClicks></Linear></Creative>");
        assert_eq!(
            vast(wrapper),
            format!(
                "<VAST><Ad><Wrapper>{IMP}<Impression>i</Impression><Creatives><Creative><NonLinearAds><NonLinear>{NON_LINEAR_PING}</NonLinear><NonLinear><NonLinearClickTracking>x</NonLinearClickTracking>{NON_LINEAR_PING}</NonLinear></NonLinearAds></Creative>{linear}</Creatives><VASTAdTagURI>u</VASTAdTagURI></Wrapper></Ad></VAST>"
            )
        );
        // An inline ad's empty `<NonLinearAds>` has nothing to click.
        let empty = "<VAST><Ad><InLine><Impression>i</Impression><Creatives><Creative><NonLinearAds/></Creative></Creatives></InLine></Ad></VAST>";
        assert_eq!(
            vast(empty),
            format!(
                "<VAST><Ad><InLine>{IMP}<Impression>i</Impression><Creatives><Creative><NonLinearAds/></Creative></Creatives></InLine></Ad></VAST>"
            )
        );
    }

    #[test]
    fn vast_text_in_cdata_and_comments_is_not_taken_for_tags() {
        let doc = "<VAST><!-- <Impression> <Linear> --><Ad><InLine><AdSystem>s</AdSystem><Creatives><Creative><Linear><AdParameters><![CDATA[<Impression>x</Impression><Linear></Linear><VideoClicks>]]></AdParameters><Duration>00:00:15</Duration><MediaFiles/></Linear></Creative></Creatives></InLine></Ad></VAST>";
        assert_eq!(
            vast(doc),
            format!(
                "<VAST><!-- <Impression> <Linear> --><Ad><InLine><AdSystem>s</AdSystem>{IMP}<Creatives><Creative><Linear><AdParameters><![CDATA[<Impression>x</Impression><Linear></Linear><VideoClicks>]]></AdParameters><Duration>00:00:15</Duration><MediaFiles/><VideoClicks>{PING}</VideoClicks></Linear></Creative></Creatives></InLine></Ad></VAST>"
            )
        );
    }

    #[test]
    fn only_the_first_ad_of_a_pod_counts_the_impression() {
        let ad = "<Ad><InLine><Impression>i</Impression></InLine></Ad>";
        let out = vast(&format!("<VAST>{ad}{ad}<Ad><Wrapper/></Ad></VAST>"));
        assert_eq!(
            out,
            format!(
                "<VAST><Ad><InLine>{IMP}<Impression>i</Impression></InLine></Ad>{ad}<Ad><Wrapper/></Ad></VAST>"
            )
        );
    }

    #[test]
    fn a_vast_document_is_written_as_the_version_it_is_served_as() {
        let doc = "<VAST version='4.2' xmlns='http://www.iab.com/VAST'><Ad><Wrapper><Impression>i</Impression><VASTAdTagURI>u</VASTAdTagURI></Wrapper></Ad></VAST>";
        let t = Tracked::vast(doc, T).expect("well-formed");
        let mut own = String::new();
        t.write("intent", "TOK", &mut own);
        assert!(own.starts_with("<VAST version='4.2' "), "{own}");
        let mut older = String::new();
        t.write_as("intent", "TOK", Some("3.0"), &mut older);
        assert_eq!(older, own.replacen("'4.2'", "'3.0'", 1));
        // Without a version attribute there is nothing to rewrite.
        let bare = Tracked::vast("<VAST><Ad/></VAST>", T).expect("well-formed");
        let mut out = String::new();
        bare.write_as("s", "T", Some("3.0"), &mut out);
        assert_eq!(out, "<VAST><Ad/></VAST>");
    }

    #[test]
    fn a_vast_document_that_is_not_well_formed_is_refused() {
        assert!(Tracked::vast("<VAST><Ad><InLine></Ad></VAST>", T).is_err());
        assert!(Tracked::vast("not xml", T).is_err());
    }

    #[test]
    fn a_start_tag_ends_at_its_first_unquoted_bracket() {
        assert_eq!(start_tag_len("<a x=\"1>2\" y='>'>b</a>"), 17);
        assert_eq!(start_tag_len("<a>b</a>"), 3);
    }
}

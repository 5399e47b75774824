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

/// Markup cut around the holes for the bid's tail.
#[derive(Debug)]
pub struct Tracked {
    /// Text to copy; a hole between each two.
    pieces: Box<[Box<str>]>,
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
        b.finish()
    }

    /// A VAST document: an `<Impression>` before its own first one (or
    /// before the end of its `<InLine>` or `<Wrapper>`), and a
    /// `<ClickTracking>` first in every linear ad's `<VideoClicks>`, which
    /// is added as the linear ad's last element where it has none. Both
    /// places keep the element order of the VAST 4.2 schema.
    ///
    /// The document is searched as text, not parsed: it was checked to be
    /// VAST on upload, and the tags are matched whole.
    pub fn vast(doc: &str, t: Trackers<'_>) -> Tracked {
        let mut inserts = Vec::new();
        if let Some(at) = ["<Impression", "</InLine>", "</Wrapper>"]
            .iter()
            .find_map(|tag| find_tag(doc, tag, 0))
        {
            inserts.push((at, 0, Insert::Impression));
        }
        let mut from = 0;
        while let Some(start) = find_tag(doc, "<Linear", from) {
            let Some(end) = doc[start..].find("</Linear>").map(|e| start + e) else {
                break;
            };
            let linear = &doc[start..end];
            match (linear.find("<VideoClicks>"), linear.find("<VideoClicks/>")) {
                (Some(open), _) => inserts.push((
                    start + open + "<VideoClicks>".len(),
                    0,
                    Insert::ClickTracking,
                )),
                (None, Some(empty)) => {
                    inserts.push((start + empty, "<VideoClicks/>".len(), Insert::VideoClicks))
                }
                (None, None) => inserts.push((end, 0, Insert::VideoClicks)),
            }
            from = end + "</Linear>".len();
        }
        inserts.sort_by_key(|&(at, _, _)| at);
        let mut b = Builder::default();
        let mut copied = 0;
        for (at, replaced, insert) in inserts {
            b.text(&doc[copied..at]);
            copied = at + replaced;
            let (open, url, close) = match insert {
                Insert::Impression => ("<Impression><![CDATA[", t.impression, "]]></Impression>"),
                Insert::ClickTracking => (
                    "<ClickTracking><![CDATA[",
                    t.click_ping,
                    "]]></ClickTracking>",
                ),
                Insert::VideoClicks => (
                    "<VideoClicks><ClickTracking><![CDATA[",
                    t.click_ping,
                    "]]></ClickTracking></VideoClicks>",
                ),
            };
            b.text(open);
            b.text(url);
            b.hole();
            b.text(close);
        }
        b.text(&doc[copied..]);
        b.finish()
    }

    /// Appends the markup with `stage` and `token` in every hole.
    pub fn write(&self, stage: &str, token: &str, out: &mut String) {
        for (i, piece) in self.pieces.iter().enumerate() {
            if i > 0 {
                for part in [stage, "&t=", token] {
                    out.push_str(part);
                }
            }
            out.push_str(piece);
        }
    }
}

enum Insert {
    Impression,
    ClickTracking,
    VideoClicks,
}

/// Where the tag `tag` (`<Name` or `</Name>`) starts at or after `from`,
/// matched whole: `<Linear` is not `<LinearX`.
fn find_tag(doc: &str, tag: &str, from: usize) -> Option<usize> {
    let mut from = from;
    while let Some(i) = doc[from..].find(tag).map(|i| from + i) {
        let next = doc.as_bytes().get(i + tag.len()).copied();
        if tag.ends_with('>') || matches!(next, Some(b'>' | b'/' | b' ' | b'\t' | b'\r' | b'\n')) {
            return Some(i);
        }
        from = i + tag.len();
    }
    None
}

#[derive(Default)]
struct Builder {
    pieces: Vec<Box<str>>,
    current: String,
}

impl Builder {
    fn text(&mut self, s: &str) {
        self.current.push_str(s);
    }

    fn hole(&mut self) {
        self.pieces.push(std::mem::take(&mut self.current).into());
    }

    fn finish(mut self) -> Tracked {
        self.hole();
        Tracked {
            pieces: self.pieces.into(),
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

    #[test]
    fn vast_click_tracking_goes_first_in_existing_video_clicks() {
        let doc = "<VAST><Ad><InLine><Impression>i</Impression><Creatives><Creative><Linear><Duration>00:00:15</Duration><MediaFiles/><VideoClicks><ClickThrough>https://a.example</ClickThrough></VideoClicks></Linear></Creative></Creatives></InLine></Ad></VAST>";
        assert_eq!(
            written(&Tracked::vast(doc, T)),
            "<VAST><Ad><InLine><Impression><![CDATA[https://b.example/events/imp?stage=intent&t=TOK]]></Impression><Impression>i</Impression><Creatives><Creative><Linear><Duration>00:00:15</Duration><MediaFiles/><VideoClicks><ClickTracking><![CDATA[https://b.example/events/clicktrack?cid=1&crid=2&stage=intent&t=TOK]]></ClickTracking><ClickThrough>https://a.example</ClickThrough></VideoClicks></Linear></Creative></Creatives></InLine></Ad></VAST>"
        );
    }

    #[test]
    fn vast_without_video_clicks_gets_them_last_in_each_linear_ad() {
        let doc = "<VAST><Ad><Wrapper><VASTAdTagURI>u</VASTAdTagURI><Creatives><Creative><Linear skipoffset=\"00:00:05\"><TrackingEvents/></Linear></Creative><Creative><NonLinearAds/></Creative><Creative><Linear><VideoClicks/></Linear></Creative></Creatives></Wrapper></Ad></VAST>";
        let ping = "<VideoClicks><ClickTracking><![CDATA[https://b.example/events/clicktrack?cid=1&crid=2&stage=intent&t=TOK]]></ClickTracking></VideoClicks>";
        assert_eq!(
            written(&Tracked::vast(doc, T)),
            format!(
                "<VAST><Ad><Wrapper><VASTAdTagURI>u</VASTAdTagURI><Creatives><Creative><Linear skipoffset=\"00:00:05\"><TrackingEvents/>{ping}</Linear></Creative><Creative><NonLinearAds/></Creative><Creative><Linear>{ping}</Linear></Creative></Creatives><Impression><![CDATA[https://b.example/events/imp?stage=intent&t=TOK]]></Impression></Wrapper></Ad></VAST>"
            )
        );
    }

    #[test]
    fn tags_are_matched_whole() {
        assert_eq!(find_tag("<LinearX><Linear>", "<Linear", 0), Some(9));
        assert_eq!(find_tag("<ImpressionX/>", "<Impression", 0), None);
    }
}

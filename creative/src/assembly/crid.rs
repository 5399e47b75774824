//! The `crid` of a combination in a format: what exchanges and reports
//! know an assembled creative by.
//!
//! The same for the same approved versions and offer, different when any
//! of them changes: never put anything in it that varies from bid to bid.

use std::fmt::Write as _;

use super::combo::Parts;
use crate::template::Format;

/// The `crid` of a combination in a format: stable for each approved
/// (template, message, content, tone) version and offer shown, e.g.
/// `a300x250-m3v1-c4v2-t5v1-o`.
pub fn crid(format: Format, parts: &Parts<'_>, offer: bool) -> String {
    let mut s = String::with_capacity(40);
    let _ = write!(
        s,
        "a{}-m{}v{}-c{}v{}",
        format.name(),
        parts.message.id.0,
        parts.message.version,
        parts.content.id.0,
        parts.content.version
    );
    if let Some(t) = parts.tone {
        let _ = write!(s, "-t{}v{}", t.id.0, t.version);
    }
    if offer {
        s.push_str("-o");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assembly::tests::{content, message, tone};

    #[test]
    fn crids_are_stable_per_version_and_offer() {
        let (m, c, t) = (message(1, "Tents"), content(2), tone(3));
        let p = Parts {
            message: &m,
            content: &c,
            tone: Some(&t),
        };
        assert_eq!(
            crid(Format::Banner(0), &p, false),
            "a300x250-m1v1-c2v2-t3v1"
        );
        assert_eq!(
            crid(Format::Banner(0), &p, true),
            "a300x250-m1v1-c2v2-t3v1-o"
        );
        assert_eq!(
            crid(Format::Video, &Parts { tone: None, ..p }, false),
            "avideo-m1v1-c2v2"
        );
    }
}

//! Prepared markup ([`Prepared`]): a creative rendered once, with holes
//! where each bid's tracker tail goes, and the trackers ([`Trackers`])
//! whose URLs those holes end.
//!
//! [`Prepared::write`] is the bid path: it copies bytes and HTML-escapes
//! the tail once. It never allocates beyond `out` and never renders
//! anything; the preparing is done by the format's own module.

use smallvec::SmallVec;

use crate::escape;

/// Where an assembled creative's impression pixel and click go: each
/// carries its static query and receives the bid's tail.
#[derive(Debug, Clone, Copy)]
pub struct Trackers<'a> {
    /// Click tracker URL with its static query, e.g.
    /// `https://bidder/events/click?cid=1&crid=..`.
    pub click: &'a str,
    /// Impression tracker URL with its static query. `None` in previews,
    /// so that looking at a creative never counts as an impression.
    pub impression: Option<&'a str>,
}

/// Markup with holes for the bid's tail: everything but the tail is
/// rendered once, when the snapshot is built. Every hole sits in HTML/XML
/// text or a quoted attribute, so the tail is HTML-escaped into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The markup, written by the format that prepares it.
    pub(super) text: String,
    /// Where in `text` the tail goes, in order.
    holes: SmallVec<[u32; 2]>,
}

impl Prepared {
    /// Empty markup, with room for a typical creative.
    pub(super) fn new() -> Prepared {
        Prepared {
            text: String::with_capacity(2048),
            holes: SmallVec::new(),
        }
    }

    /// Marks a hole at the end of the markup written so far.
    pub(super) fn hole(&mut self) {
        self.holes.push(self.text.len() as u32);
    }

    /// Appends the markup to `out` with `tail` in every hole.
    pub fn write(&self, tail: &str, out: &mut String) {
        let mut at = 0;
        // The tail is escaped once; later holes copy the escaped text.
        let mut escaped: Option<std::ops::Range<usize>> = None;
        for &pos in &self.holes {
            let pos = pos as usize;
            out.push_str(&self.text[at..pos]);
            match &escaped {
                Some(first) => out.extend_from_within(first.clone()),
                None => {
                    let start = out.len();
                    escape::html(tail, out);
                    escaped = Some(start..out.len());
                }
            }
            at = pos;
        }
        out.push_str(&self.text[at..]);
    }

    /// Bytes without tails.
    pub fn len(&self) -> usize {
        self.text.len()
    }

    /// Whether there is no markup.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

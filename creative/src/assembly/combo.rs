//! The identity of a combination: a fragment's id, the approved version
//! assembly reads, which fragments a combination uses ([`ComboKey`], kept
//! across versions so that learning survives an edit) and the fragments
//! themselves ([`Parts`]).
//!
//! Identity only: never decides whether a combination is allowed, never
//! renders one. [`ComboKey::write`] runs on the bid path (every notice
//! URL): it never allocates beyond what `out` does.

use serde::{Deserialize, Serialize};

use crate::fragment::{Content, Message, Tone};

/// Store id of a fragment (the same across its versions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FragmentId(pub i64);

/// The approved version of one fragment: what assembly reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Approved<T> {
    /// Fragment id.
    pub id: FragmentId,
    /// The approved version serving.
    pub version: i64,
    /// Its body.
    pub body: T,
}

/// Which fragments a combination uses; learning statistics are kept per
/// key (across versions, so an edit does not forget what was learnt).
/// Video has no tone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ComboKey {
    /// Message.
    pub message: FragmentId,
    /// Content.
    pub content: FragmentId,
    /// Tone, except for video.
    pub tone: Option<FragmentId>,
}

impl ComboKey {
    /// The compact form used in URLs and reports: `m3-c4-t5` (`t0` for
    /// no tone), also its `Display`. Fails only when `out` does (a
    /// `String` never does).
    pub fn write<W: std::fmt::Write>(&self, out: &mut W) -> std::fmt::Result {
        // On the bid path (the notice URLs of every bid): pieces, not the
        // `fmt` machinery.
        let (mut m, mut c, mut t) = (
            itoa::Buffer::new(),
            itoa::Buffer::new(),
            itoa::Buffer::new(),
        );
        for piece in [
            "m",
            m.format(self.message.0),
            "-c",
            c.format(self.content.0),
            "-t",
            t.format(self.tone.map_or(0, |t| t.0)),
        ] {
            out.write_str(piece)?;
        }
        Ok(())
    }

    /// Parses [`ComboKey::write`]'s form.
    pub fn parse(s: &str) -> Option<ComboKey> {
        let mut parts = s.split('-');
        let mut next = |p: char| {
            parts
                .next()?
                .strip_prefix(p)?
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
        };
        let (m, c, t) = (next('m')?, next('c')?, next('t')?);
        if m == 0 || c == 0 || parts.next().is_some() {
            return None;
        }
        Some(ComboKey {
            message: FragmentId(m),
            content: FragmentId(c),
            tone: (t != 0).then_some(FragmentId(t)),
        })
    }
}

impl std::fmt::Display for ComboKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.write(f)
    }
}

/// The three fragments of one combination.
#[derive(Debug, Clone, Copy)]
pub struct Parts<'f> {
    /// What we say.
    pub message: &'f Approved<Message>,
    /// What we show.
    pub content: &'f Approved<Content>,
    /// How we say it (`None` for video).
    pub tone: Option<&'f Approved<Tone>>,
}

impl Parts<'_> {
    /// The key of the combination.
    pub fn key(&self) -> ComboKey {
        ComboKey {
            message: self.message.id,
            content: self.content.id,
            tone: self.tone.map(|t| t.id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combo_keys_round_trip() {
        for key in [
            ComboKey {
                message: FragmentId(3),
                content: FragmentId(40),
                tone: Some(FragmentId(5)),
            },
            ComboKey {
                message: FragmentId(1),
                content: FragmentId(2),
                tone: None,
            },
        ] {
            assert_eq!(ComboKey::parse(&key.to_string()), Some(key));
        }
        // The URL form and `Display` are one spelling.
        let key = ComboKey {
            message: FragmentId(3),
            content: FragmentId(40),
            tone: None,
        };
        assert_eq!(key.to_string(), "m3-c40-t0");
        let mut url = String::from("&combo=");
        key.write(&mut url).unwrap();
        assert_eq!(url, "&combo=m3-c40-t0");
        assert_eq!(ComboKey::parse("m1-c2"), None);
        assert_eq!(ComboKey::parse("m0-c2-t1"), None);
        assert_eq!(ComboKey::parse("m1-c2-t3-x"), None);
    }
}

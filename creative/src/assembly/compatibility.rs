//! Whether a combination may be assembled into a format for a user at a
//! stage ([`compatible`]): one language, stages that suit, the formats
//! fragments claim, the format's text limits, a video for video.
//!
//! Decides only: never renders, and never shortens or changes what a
//! fragment says to make it fit.

use audiences::Stage;

use super::combo::Parts;
use super::shown_text::tag_text;
use crate::fragment::{chars, suits};
use crate::template::{Format, within};

/// Whether `parts` may be assembled into `format` for a user at `stage`:
/// one language, stages suit, every shown text within the format's limits,
/// the formats each fragment claims (if any) include this one, and video
/// has a video asset (and no tone) while the others have a tone.
pub fn compatible(format: Format, stage: Stage, parts: &Parts<'_>) -> bool {
    let (m, c) = (&parts.message.body, &parts.content.body);
    let claims = |formats: &[crate::fragment::FormatName]| {
        formats.is_empty() || formats.iter().any(|f| f.0 == format.name())
    };
    if m.language != c.language || !suits(&m.stages, stage) || !claims(&m.formats) {
        return false;
    }
    if !claims(&c.formats) {
        return false;
    }
    let l = format.limits();
    let shown_tag = tag_text(c, stage);
    let texts_fit = within(m.rendered_length(), l.headline)
        && m.subline
            .as_deref()
            .is_none_or(|s| within(chars(s), l.subline))
        && within(chars(&c.body), l.body)
        && shown_tag.as_deref().is_none_or(|t| within(chars(t), l.tag));
    if !texts_fit {
        return false;
    }
    match (format, parts.tone) {
        (Format::Video, None) => c.video.is_some(),
        (Format::Video, Some(_)) => false,
        (_, None) => false,
        (_, Some(t)) => {
            let t = &t.body;
            t.language == m.language
                && suits(&t.stages, stage)
                && claims(&t.formats)
                && within(chars(&t.cta), l.cta)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assembly::tests::{content, message, tone};

    #[test]
    fn compatibility_follows_language_stage_claims_and_limits() {
        let (m, c, t) = (message(1, "Tents"), content(2), tone(3));
        let ok = Parts {
            message: &m,
            content: &c,
            tone: Some(&t),
        };
        assert!(compatible(Format::Banner(0), Stage::Awareness, &ok));
        assert!(compatible(Format::Native, Stage::Awareness, &ok));
        assert!(
            !compatible(Format::Video, Stage::Awareness, &ok),
            "video has no tone"
        );
        assert!(compatible(
            Format::Video,
            Stage::Awareness,
            &Parts { tone: None, ..ok }
        ));

        let mut german = tone(3);
        german.body.language = "de".into();
        assert!(!compatible(
            Format::Banner(0),
            Stage::Awareness,
            &Parts {
                tone: Some(&german),
                ..ok
            }
        ));

        let mut intent_only = message(1, "Buy now");
        intent_only.body.stages = vec![Stage::Intent];
        let p = Parts {
            message: &intent_only,
            ..ok
        };
        assert!(compatible(Format::Banner(0), Stage::Intent, &p));
        assert!(!compatible(Format::Banner(0), Stage::Awareness, &p));

        let long = message(1, "A headline too long for the mobile banner");
        assert!(!compatible(
            Format::Banner(2),
            Stage::Awareness,
            &Parts {
                message: &long,
                ..ok
            }
        ));
        assert!(compatible(
            Format::Banner(3),
            Stage::Awareness,
            &Parts {
                message: &long,
                ..ok
            }
        ));

        let mut claims = message(1, "Tents");
        claims.body.formats = vec![crate::fragment::FormatName("728x90".into())];
        let p = Parts {
            message: &claims,
            ..ok
        };
        assert!(compatible(Format::Banner(1), Stage::Awareness, &p));
        assert!(!compatible(Format::Banner(0), Stage::Awareness, &p));
    }
}

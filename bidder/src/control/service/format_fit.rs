//! Which formats a fragment's texts are too long for: a saved fragment is
//! valid, but a text over a format's limit means no combination with it
//! is ever assembled into that format. Told at save, so an advertiser
//! learns it then rather than from a campaign that stops showing
//! 300x250s.
//!
//! Pure, over the template's own limits (`creative::template`), the
//! same ones assembly checks; never refuses a fragment (claimed formats
//! are refused by validation already) and never reads the store.

use audiences::Stage;
use creative::assembly::tag_text;
use creative::fragment::{FormatName, FragmentBody, chars};
use creative::template::{Format, Limits};
use serde::Serialize;

/// One text of a fragment that some formats cannot show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FormatWarning {
    /// Which text: `headline`, `subline`, `body`, `tag` (the offer or the
    /// product with its price) or `cta`.
    pub text: &'static str,
    /// Its length in characters (the longest, for a tag that differs by
    /// stage).
    pub length: u32,
    /// The formats it excludes, each with the most it shows there.
    pub excluded: Vec<(String, u32)>,
}

impl FormatWarning {
    /// As a person reads it: `body: 61 characters; 300x250 and 728x90
    /// show at most 60`.
    pub fn sentence(&self) -> String {
        let mut by_max: Vec<(u32, Vec<&str>)> = Vec::new();
        for (name, max) in &self.excluded {
            match by_max.iter_mut().find(|(m, _)| m == max) {
                Some((_, names)) => names.push(name),
                None => by_max.push((*max, vec![name])),
            }
        }
        by_max.sort_by_key(|(m, _)| std::cmp::Reverse(*m));
        let parts: Vec<String> = by_max
            .iter()
            .map(|(max, names)| {
                let verb = if names.len() == 1 { "shows" } else { "show" };
                let names = match names.as_slice() {
                    [one] => (*one).to_owned(),
                    [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
                    [] => String::new(),
                };
                format!("{names} {verb} at most {max}")
            })
            .collect();
        format!(
            "{}: {} characters; {}",
            self.text,
            self.length,
            parts.join("; ")
        )
    }
}

/// The texts of `body` too long for some of the formats it may appear in
/// (those it claims, or every format when it claims none), in the order
/// headline, subline, body, tag, cta.
pub fn format_warnings(body: &FragmentBody) -> Vec<FormatWarning> {
    type Limit = fn(&Limits) -> Option<u32>;
    let (claimed, texts): (&[FormatName], Vec<(&'static str, u32, Limit)>) = match body {
        FragmentBody::Message(m) => {
            let mut t: Vec<(&'static str, u32, Limit)> =
                vec![("headline", m.rendered_length(), |l| l.headline)];
            if let Some(s) = &m.subline {
                t.push(("subline", chars(s), |l| l.subline));
            }
            (&m.formats, t)
        }
        FragmentBody::Content(c) => {
            let mut t: Vec<(&'static str, u32, Limit)> = vec![("body", chars(&c.body), |l| l.body)];
            let tag = Stage::ALL
                .into_iter()
                .filter_map(|s| tag_text(c, s).map(|t| chars(&t)))
                .max();
            if let Some(len) = tag {
                t.push(("tag", len, |l| l.tag));
            }
            (&c.formats, t)
        }
        FragmentBody::Tone(t) => (&t.formats, vec![("cta", chars(&t.cta), |l| l.cta)]),
    };
    let formats: Vec<Format> = Format::ALL
        .into_iter()
        .filter(|f| claimed.is_empty() || claimed.iter().any(|c| c.0 == f.name()))
        .collect();
    texts
        .into_iter()
        .filter_map(|(text, length, limit)| {
            let excluded: Vec<(String, u32)> = formats
                .iter()
                .filter_map(|f| {
                    limit(&f.limits())
                        .filter(|max| length > *max)
                        .map(|max| (f.name().to_owned(), max))
                })
                .collect();
            (!excluded.is_empty()).then_some(FormatWarning {
                text,
                length,
                excluded,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use creative::fragment::{Content, FragmentBody};

    fn content(body: &str) -> FragmentBody {
        FragmentBody::Content(Content {
            language: "en".into(),
            body: body.into(),
            product: None,
            offer: None,
            images: vec![],
            video: None,
            landing_url: "https://acme.example/".into(),
            privacy_url: None,
            formats: vec![],
        })
    }

    /// The most characters `format`'s body shows.
    fn body_limit(name: &str) -> Option<u32> {
        Format::parse(name).and_then(|f| f.limits().body)
    }

    #[test]
    fn a_body_over_a_banners_limit_names_the_banners_it_leaves() {
        let max = body_limit("300x250").expect("300x250 shows a body");
        let text = "x".repeat(max as usize + 1);
        let warnings = format_warnings(&content(&text));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let w = &warnings[0];
        assert_eq!((w.text, w.length), ("body", max + 1));
        assert!(w.excluded.contains(&("300x250".to_owned(), max)), "{w:?}");
        // Every format named really shows less, and none that shows it is.
        for f in Format::ALL {
            let named = w.excluded.iter().any(|(n, _)| n == f.name());
            let too_short = f.limits().body.is_some_and(|m| m < max + 1);
            assert_eq!(named, too_short, "{}", f.name());
        }
        assert!(
            w.sentence()
                .starts_with(&format!("body: {} characters; ", max + 1))
        );
        assert!(w.sentence().contains(&format!("at most {max}")));
    }

    #[test]
    fn a_short_body_warns_of_nothing_and_claims_limit_the_search() {
        assert_eq!(format_warnings(&content("Tents.")), vec![]);
        let mut long = content(&"x".repeat(5_000));
        if let FragmentBody::Content(c) = &mut long {
            c.formats = vec![FormatName("video".into())];
        }
        let w = format_warnings(&long);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].excluded.len(), 1, "only the claimed format: {w:?}");
        assert_eq!(w[0].excluded[0].0, "video");
    }

    #[test]
    fn formats_with_one_limit_are_named_together() {
        let w = FormatWarning {
            text: "body",
            length: 61,
            excluded: vec![
                ("300x250".into(), 60),
                ("320x50".into(), 25),
                ("728x90".into(), 60),
            ],
        };
        assert_eq!(
            w.sentence(),
            "body: 61 characters; 300x250 and 728x90 show at most 60; 320x50 shows at most 25"
        );
    }
}

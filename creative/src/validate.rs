//! The rules a fragment must meet before it is stored: every problem at
//! once, each with the path of its field (`body.images[0].url`), so an
//! advertiser fixes an upload in one round.
//!
//! Pure; knows nothing of owners, approval or storage.

use crate::assembly::product_line;
use crate::escape::{is_colour, is_font_stack};
use crate::fragment::{Content, FragmentBody, Message, Tone, chars};
use crate::template::{Format, Limits};

/// Languages fragments may be written in (ISO-639-1).
pub const LANGUAGES: [&str; 24] = [
    "ar", "cs", "da", "de", "el", "en", "es", "fi", "fr", "he", "hi", "hu", "id", "it", "ja", "ko",
    "nl", "no", "pl", "pt", "ro", "sv", "tr", "zh",
];

/// Image MIME types templates can show.
pub const IMAGE_MIMES: [&str; 5] = [
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/svg+xml",
];

/// Video MIME types our VAST documents declare.
pub const VIDEO_MIMES: [&str; 3] = ["video/mp4", "video/webm", "video/ogg"];

/// Longest text of any kind, in characters, whatever the format.
const MAX_TEXT: u32 = 1000;

/// One thing wrong with a fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Field path, e.g. `body.headline`.
    pub path: String,
    /// What is wrong, for a person.
    pub message: String,
}

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    fn text(&mut self, path: &str, value: &str, required: bool, max: u32) {
        let n = chars(value);
        if value.trim().is_empty() {
            if required {
                self.add(path, "must not be empty");
            }
        } else if n > max {
            self.add(path, format!("{n} characters, at most {max} allowed"));
        }
        if value.chars().any(|c| c.is_control() && c != '\n') {
            self.add(path, "must not contain control characters");
        }
    }

    fn url(&mut self, path: &str, url: &str) {
        let lower = url.trim_start().to_ascii_lowercase();
        if lower.starts_with("javascript:") || lower.starts_with("data:") {
            self.add(path, "javascript: and data: URLs are not allowed");
        } else if !is_https(url) {
            self.add(path, "must be an https:// URL with a host");
        }
    }

    /// A text that a claimed format shows must meet its limit there.
    fn claimed(&mut self, path: &str, value: Option<&str>, format: &str, limit: Option<u32>) {
        if let (Some(v), Some(max)) = (value, limit) {
            let n = chars(v);
            if n > max {
                self.add(
                    path,
                    format!("{n} characters; format {format} shows at most {max}"),
                );
            }
        }
    }
}

/// Whether `url` is `https://` with a host and no characters that would
/// need encoding (spaces, quotes, angle brackets, controls).
pub fn is_https(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("https://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    !host.is_empty()
        && url.len() <= 2048
        && url
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"\"'<>\\`{}|^".contains(&b))
}

/// Every problem with `body`; empty when it may be stored.
pub fn fragment(body: &FragmentBody) -> Vec<Problem> {
    let mut p = Problems::default();
    let language = body.language();
    if !LANGUAGES.contains(&language) {
        p.add(
            "body.language",
            format!(
                "unsupported language {language:?}; supported: {}",
                LANGUAGES.join(", ")
            ),
        );
    }
    let mut formats = Vec::new();
    for (i, f) in body.formats().iter().enumerate() {
        match Format::parse(&f.0) {
            Some(format) => formats.push(format),
            None => p.add(
                format!("body.formats[{i}]"),
                format!(
                    "unknown format {:?}; expected a banner size ({}), native or video",
                    f.0,
                    crate::template::BANNERS.map(|l| l.name).join(", ")
                ),
            ),
        }
    }
    match body {
        FragmentBody::Message(m) => message(m, &formats, &mut p),
        FragmentBody::Content(c) => content(c, &formats, &mut p),
        FragmentBody::Tone(t) => tone(t, &formats, &mut p),
    }
    p.0
}

fn message(m: &Message, formats: &[Format], p: &mut Problems) {
    p.text("body.headline", &m.headline, true, MAX_TEXT);
    if let Some(s) = &m.subline {
        p.text("body.subline", s, true, MAX_TEXT);
    }
    if let Some(max) = m.max_length {
        if max == 0 {
            p.add("body.max_length", "must be at least 1");
        } else if m.rendered_length() > max {
            p.add(
                "body.headline",
                format!(
                    "{} characters, longer than its max_length {max}",
                    m.rendered_length()
                ),
            );
        }
    }
    for f in formats {
        let l: Limits = f.limits();
        p.claimed("body.headline", Some(&m.headline), f.name(), l.headline);
        p.claimed("body.subline", m.subline.as_deref(), f.name(), l.subline);
    }
}

fn content(c: &Content, formats: &[Format], p: &mut Problems) {
    p.text("body.body", &c.body, true, MAX_TEXT);
    p.url("body.landing_url", &c.landing_url);
    if let Some(product) = &c.product {
        p.text("body.product.name", &product.name, true, 80);
        if product.price_micros.0 < 0 {
            p.add("body.product.price_micros", "must not be negative");
        }
    }
    if let Some(offer) = &c.offer {
        p.text("body.offer.text", &offer.text, true, 140);
        if offer.stages.is_empty() {
            p.add(
                "body.offer.stages",
                "name the stages the offer is meant for",
            );
        }
    }
    for (i, img) in c.images.iter().enumerate() {
        let path = format!("body.images[{i}]");
        p.url(&format!("{path}.url"), &img.url);
        if img.w == 0 || img.h == 0 || img.w > 10_000 || img.h > 10_000 {
            p.add(
                format!("{path}.w"),
                "declare the image's width and height (1 to 10000 px)",
            );
        }
        if !IMAGE_MIMES.contains(&img.mime.as_str()) {
            p.add(
                format!("{path}.mime"),
                format!("expected one of {}", IMAGE_MIMES.join(", ")),
            );
        }
        for (j, crop) in img.crops.iter().enumerate() {
            let path = format!("{path}.crops[{j}]");
            p.url(&format!("{path}.url"), &crop.url);
            if crop.w == 0 || crop.h == 0 || crop.w > 10_000 || crop.h > 10_000 {
                p.add(
                    format!("{path}.w"),
                    "declare the crop's width and height (1 to 10000 px)",
                );
            }
        }
    }
    if let Some(url) = &c.privacy_url {
        p.url("body.privacy_url", url);
    }
    if let Some(v) = &c.video {
        p.url("body.video.url", &v.url);
        if !(1..=600).contains(&v.duration_secs) {
            p.add("body.video.duration_secs", "must be 1 to 600 seconds");
        }
        if !VIDEO_MIMES.contains(&v.mime.as_str()) {
            p.add(
                "body.video.mime",
                format!("expected one of {}", VIDEO_MIMES.join(", ")),
            );
        }
        if v.w == 0 || v.h == 0 {
            p.add("body.video.w", "declare the video's width and height");
        }
        if v.bitrate_kbps.is_some_and(|b| !(1..=100_000).contains(&b)) {
            p.add("body.video.bitrate_kbps", "must be 1 to 100000 Kbps");
        }
    }
    let product = c.product.as_ref().map(product_line);
    for f in formats {
        let l = f.limits();
        p.claimed("body.body", Some(&c.body), f.name(), l.body);
        p.claimed(
            "body.offer.text",
            c.offer.as_ref().map(|o| o.text.as_str()),
            f.name(),
            l.tag,
        );
        p.claimed("body.product", product.as_deref(), f.name(), l.tag);
        if *f == Format::Video && c.video.is_none() {
            p.add("body.video", "format video needs a video asset");
        }
    }
}

fn tone(t: &Tone, formats: &[Format], p: &mut Problems) {
    p.text("body.cta", &t.cta, true, 40);
    for (name, value) in [
        ("background", &t.palette.background),
        ("foreground", &t.palette.foreground),
        ("accent", &t.palette.accent),
    ] {
        if !is_colour(value) {
            p.add(
                format!("body.palette.{name}"),
                "must be a colour #rgb or #rrggbb",
            );
        }
    }
    if !is_font_stack(&t.font_stack) {
        p.add(
            "body.font_stack",
            "family names (letters, digits, spaces, hyphens, double quotes) separated by commas",
        );
    }
    for f in formats {
        p.claimed("body.cta", Some(&t.cta), f.name(), f.limits().cta);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(json: &str) -> Vec<String> {
        let body: FragmentBody = serde_json::from_str(json).unwrap();
        fragment(&body)
            .into_iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect()
    }

    #[test]
    fn a_good_message_content_and_tone_pass() {
        assert!(
            problems(
                r#"{"kind":"message","body":{"language":"en","stages":["intent"],
                "headline":"Tents that pack in minutes","formats":["300x250","native"]}}"#
            )
            .is_empty()
        );
        assert!(
            problems(
                r#"{"kind":"content","body":{"language":"en","body":"Storm-proof.",
                "images":[{"url":"https://cdn.example/a.jpg","w":600,"h":200,"mime":"image/jpeg"}],
                "offer":{"text":"10% off","stages":["intent"]},
                "landing_url":"https://acme.example/tents"}}"#
            )
            .is_empty()
        );
        assert!(
            problems(
                r##"{"kind":"tone","body":{"language":"en","cta":"Shop now",
                "palette":{"background":"#ffffff","foreground":"#111","accent":"#e4572e"},
                "font_stack":"\"Helvetica Neue\", Arial, sans-serif","voice":"casual"}}"##
            )
            .is_empty()
        );
    }

    #[test]
    fn unsafe_urls_missing_sizes_and_bad_languages_are_named_by_path() {
        let p = problems(
            r#"{"kind":"content","body":{"language":"xx","body":"",
            "images":[{"url":"http://cdn.example/a.jpg","w":0,"h":10,"mime":"image/bmp",
                "crops":[{"url":"http://cdn.example/a-1x1.jpg","w":0,"h":10}]}],
            "privacy_url":"http://acme.example/privacy",
            "video":{"url":"data:video/mp4;base64,AAAA","duration_secs":0,"mime":"video/avi","w":1,"h":1},
            "landing_url":"javascript:alert(1)"}}"#,
        );
        let paths: Vec<&str> = p.iter().map(|s| s.split(':').next().unwrap()).collect();
        for expected in [
            "body.language",
            "body.body",
            "body.landing_url",
            "body.images[0].url",
            "body.images[0].w",
            "body.images[0].mime",
            "body.video.url",
            "body.video.duration_secs",
            "body.video.mime",
            "body.images[0].crops[0].url",
            "body.images[0].crops[0].w",
            "body.privacy_url",
        ] {
            assert!(paths.contains(&expected), "{expected} missing from {p:?}");
        }
        assert!(p.iter().any(|s| s.contains("javascript: and data:")));
    }

    #[test]
    fn texts_must_meet_the_limits_of_the_formats_they_claim() {
        let p = problems(
            r#"{"kind":"message","body":{"language":"en",
            "headline":"A headline far too long for the smallest mobile banner size","formats":["320x50","728x90","nope"]}}"#,
        );
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].starts_with("body.formats[2]"));
        assert!(p[1].contains("format 320x50 shows at most 30"));
        assert!(p[2].contains("format 728x90 shows at most 40"));
    }

    #[test]
    fn max_length_binds_the_headline() {
        let p = problems(
            r#"{"kind":"message","body":{"language":"en","headline":"Twelve chars","max_length":5}}"#,
        );
        assert_eq!(
            p,
            ["body.headline: 12 characters, longer than its max_length 5"]
        );
    }

    #[test]
    fn css_values_are_checked_strictly() {
        let p = problems(
            r##"{"kind":"tone","body":{"language":"en","cta":"Go",
            "palette":{"background":"white","foreground":"#000","accent":"#000;}"},
            "font_stack":"x</style><script>","voice":"urgent"}}"##,
        );
        assert_eq!(p.len(), 3, "{p:?}");
    }
}

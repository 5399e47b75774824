//! Escaping of advertiser text into the three languages creatives are
//! written in: HTML (also used for XML, the same five characters), JSON
//! strings, and the two CSS values advertisers choose (colours and font
//! stacks), which are filtered rather than escaped.
//!
//! Every advertiser-supplied string goes through one of these on its way
//! into markup; nothing here allocates beyond the caller's buffer.

use std::fmt::Write as _;

/// Appends `s` with `& < > " '` escaped: safe in HTML text and in quoted
/// HTML attribute values, and in XML text and attributes.
pub fn html(s: &str, out: &mut String) {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&s[last..]);
}

/// XML escaping; the same as [`html`].
pub fn xml(s: &str, out: &mut String) {
    html(s, out)
}

/// Appends the characters of a JSON string literal's content (no quotes).
pub fn json(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // `</script>` in a JSON value must not close an enclosing tag.
            '<' => out.push_str("\\u003c"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// Whether `s` is a CSS colour we accept: `#rgb` or `#rrggbb`.
pub fn is_colour(s: &str) -> bool {
    let b = s.as_bytes();
    (b.len() == 4 || b.len() == 7) && b[0] == b'#' && b[1..].iter().all(u8::is_ascii_hexdigit)
}

/// Whether `s` is a font stack we accept: family names (letters, digits,
/// spaces, hyphens, optionally in double quotes) separated by commas.
pub fn is_font_stack(s: &str) -> bool {
    !s.trim().is_empty()
        && s.len() <= 200
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" ,-\"".contains(&b))
        && s.bytes().filter(|&b| b == b'"').count() % 2 == 0
}

/// Appends a CSS value that passed [`is_colour`] or [`is_font_stack`], or
/// `fallback` when it did not: validation keeps such values out of the
/// store, this keeps them out of markup whatever the store holds.
pub fn css(s: &str, ok: fn(&str) -> bool, fallback: &str, out: &mut String) {
    out.push_str(if ok(s) { s } else { fallback });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(f: fn(&str, &mut String), s: &str) -> String {
        let mut out = String::new();
        f(s, &mut out);
        out
    }

    #[test]
    fn html_escapes_markup_and_both_quotes() {
        assert_eq!(
            esc(html, r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(esc(html, "Grüße </textarea>"), "Grüße &lt;/textarea&gt;");
    }

    #[test]
    fn json_escapes_quotes_controls_and_closing_tags() {
        assert_eq!(
            esc(json, "a\"b\\c\n</script>\u{1}\u{2028}"),
            "a\\\"b\\\\c\\n\\u003c/script>\\u0001\\u2028"
        );
    }

    #[test]
    fn css_values_outside_the_safe_set_are_refused() {
        assert!(is_colour("#0a0B0c") && is_colour("#fff"));
        assert!(!is_colour("red") && !is_colour("#12345g") && !is_colour("#fff;x"));
        assert!(is_font_stack(r#""Helvetica Neue", Arial, sans-serif"#));
        assert!(!is_font_stack("Arial; } body { x"));
        assert!(!is_font_stack("a</style>"));
        assert!(!is_font_stack("\"unbalanced"));
        let mut out = String::new();
        css("x</style>", is_font_stack, "sans-serif", &mut out);
        assert_eq!(out, "sans-serif");
    }
}

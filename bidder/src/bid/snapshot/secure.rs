//! Whether a creative's markup fetches only https URLs: what a secure
//! impression (`imp.secure` 1) needs of every URL the ad loads, checked
//! once per creative when a snapshot is built.
//!
//! Looks at text, not at a browser's behaviour: any `http://` in HTML
//! counts (in an attribute, a script, a style), but the value of an
//! `xmlns` attribute, which names a namespace and is never fetched.
//! Protocol-relative URLs (`//cdn...`) load as the page does and pass.

use creative::NativeAssets;
use creative::validate::is_https;

/// Whether `markup` names no `http://` URL but namespaces.
pub fn html_is_secure(markup: &str) -> bool {
    let lower = markup.to_ascii_lowercase();
    lower
        .match_indices("http://")
        .all(|(at, _)| names_a_namespace(&lower[..at]))
}

/// Whether the URL that follows `before` is the value of an `xmlns` (or
/// `xmlns:prefix`) attribute.
fn names_a_namespace(before: &str) -> bool {
    let Some(before) = before.strip_suffix(['"', '\'']) else {
        return false;
    };
    let Some(before) = before.trim_end().strip_suffix('=') else {
        return false;
    };
    let name_start = before
        .trim_end()
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == ':' || c == '-' || c == '_'))
        .map_or(0, |i| i + 1);
    before.trim_end()[name_start..].starts_with("xmlns")
}

/// Whether every image (and crop) a native ad may show, and its privacy
/// page, are https.
pub fn native_is_secure(assets: &NativeAssets) -> bool {
    let images = assets.image.iter().chain(&assets.icon);
    images.flat_map(|i| i.variants()).all(|v| is_https(v.url))
        && assets.privacy_url.as_deref().is_none_or(is_https)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_url_anywhere_but_a_namespace_makes_html_insecure() {
        assert!(html_is_secure(
            "<a href='https://a.example'><img src=\"//cdn.example/x.png\"></a>"
        ));
        assert!(!html_is_secure("<img src=\"http://cdn.example/x.png\">"));
        assert!(!html_is_secure(
            "<div style='background:url(HTTP://x.example/a.png)'>"
        ));
        assert!(!html_is_secure(
            "<script>load('http://x.example/a.js')</script>"
        ));
        let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink = 'http://www.w3.org/1999/xlink'><image href="https://a.example/i.png"/></svg>"#;
        assert!(html_is_secure(svg));
        assert!(!html_is_secure(&svg.replace("https://a.", "http://a.")));
    }
}

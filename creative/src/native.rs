//! Renders a native asset set into a Native 1.2 response for one request:
//! one asset per requested asset we can fill, texts cut to the requested
//! length, images only when they meet the requested minimum size.
//!
//! Writes into a caller's `String` so the bid path reuses one buffer; never
//! fails silently: a required asset we cannot fill is an error and the
//! caller does not bid with this creative.

use std::fmt::Write as _;

use openrtb::enums::{native_data, native_image};
use openrtb::native::{AssetRequest, NativeRequest};

use crate::escape;
use crate::fixed::{Image, NativeAssets};

/// The request requires an asset this creative cannot provide.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("required native asset {asset_id} cannot be filled")]
pub struct NativeMismatch {
    /// Id of the asset in the request.
    pub asset_id: u32,
}

/// Appends to `out` the Native 1.2 response (the root object, without the
/// pre-1.1 `{"native": ...}` wrapper) for `req`, filled from `assets`. On
/// error `out` is left as it was.
pub fn render_native(
    assets: &NativeAssets,
    req: &NativeRequest,
    out: &mut String,
) -> Result<(), NativeMismatch> {
    render_native_with(assets, req, &Links::default(), out)
}

/// How a native ad links and counts on a bid: its click URL is `click`
/// (else `assets.landing_url`) followed by `tail` (this bid's tracker
/// parameters), it may declare an impression tracker, and with `strict`
/// its texts are never cut: a text longer than the requested length
/// leaves its asset unfilled.
#[derive(Debug, Clone, Copy, Default)]
pub struct Links<'a> {
    /// The click tracker, in place of `assets.landing_url` (a fixed ad's
    /// assets name the advertiser's page; an assembled ad's are built with
    /// the tracker already in `landing_url`).
    pub click: Option<&'a str>,
    /// Appended to the click URL.
    pub tail: &'a str,
    /// Impression tracker URL (without `tail`, which is appended).
    pub impression: Option<&'a str>,
    /// Leave a text unfilled rather than cut it.
    pub strict: bool,
}

/// [`render_native`] with trackers and strict lengths.
pub fn render_native_with(
    assets: &NativeAssets,
    req: &NativeRequest,
    links: &Links<'_>,
    out: &mut String,
) -> Result<(), NativeMismatch> {
    let start = out.len();
    out.push_str("{\"ver\":\"1.2\",\"assets\":[");
    let mut first = true;
    for asset in &req.assets {
        let before = out.len();
        if !first {
            out.push(',');
        }
        if fill(asset, assets, links.strict, out) {
            first = false;
        } else {
            out.truncate(before);
            if asset.required == 1 {
                out.truncate(start);
                return Err(NativeMismatch { asset_id: asset.id });
            }
        }
    }
    out.push_str("],\"link\":{\"url\":\"");
    escape::json(links.click.unwrap_or(&assets.landing_url), out);
    escape::json(links.tail, out);
    out.push_str("\"}");
    if let Some(imp) = links.impression {
        out.push_str(",\"eventtrackers\":[{\"event\":1,\"method\":1,\"url\":\"");
        escape::json(imp, out);
        escape::json(links.tail, out);
        out.push_str("\"}]");
    }
    out.push('}');
    Ok(())
}

/// Writes one response asset for `asset`; false when it cannot be filled.
fn fill(asset: &AssetRequest, assets: &NativeAssets, strict: bool, out: &mut String) -> bool {
    let _ = write!(out, "{{\"id\":{}", asset.id);
    if asset.required == 1 {
        out.push_str(",\"required\":1");
    }
    if let Some(title) = &asset.title {
        let text = cut(&assets.title, title.len);
        if text.is_empty() || (strict && text.len() < assets.title.len()) {
            return false;
        }
        out.push_str(",\"title\":{\"text\":");
        json_str(text, out);
        out.push_str("}}");
        return true;
    }
    if let Some(img) = &asset.img {
        let candidate = match img.kind {
            Some(native_image::ICON) => assets.icon.as_ref(),
            // Main image when the type is main or unspecified.
            Some(native_image::MAIN) | None => assets.image.as_ref(),
            Some(_) => None,
        };
        let Some(image) = candidate.filter(|i| {
            fits(
                i,
                img.wmin.or(img.w),
                img.hmin.or(img.h),
                img.w.is_some() && img.wmin.is_none(),
            )
        }) else {
            return false;
        };
        out.push_str(",\"img\":{\"url\":");
        json_str(&image.url, out);
        let _ = write!(out, ",\"w\":{},\"h\":{}}}}}", image.w, image.h);
        return true;
    }
    if let Some(data) = &asset.data {
        let value = match data.kind {
            native_data::SPONSORED => assets.sponsored.as_deref(),
            native_data::DESC => assets.description.as_deref(),
            native_data::CTATEXT => assets.cta.as_deref(),
            native_data::PRICE => assets.price.as_deref(),
            native_data::DESC2 => assets.desc2.as_deref(),
            _ => None,
        };
        let Some(value) = value
            .map(|v| (v, cut(v, data.len.unwrap_or(0))))
            .filter(|(v, c)| !(c.is_empty() || strict && c.len() < v.len()))
            .map(|(_, c)| c)
        else {
            return false;
        };
        out.push_str(",\"data\":{\"value\":");
        json_str(value, out);
        out.push_str("}}");
        return true;
    }
    // Video assets and anything unknown: not in a fixed native set.
    false
}

/// Whether `image` satisfies the requested size. With only `w`/`h` (no
/// minimum) the request names an exact size, which an image of the same
/// aspect ratio at least that large satisfies: players scale down.
fn fits(image: &Image, min_w: Option<u32>, min_h: Option<u32>, exact: bool) -> bool {
    let (w, h) = (min_w.unwrap_or(0), min_h.unwrap_or(0));
    if image.w < w || image.h < h {
        return false;
    }
    if exact && w > 0 && h > 0 {
        // Same aspect ratio within 2 %.
        let lhs = u64::from(image.w) * u64::from(h) * 100;
        let rhs = u64::from(image.h) * u64::from(w);
        return lhs.abs_diff(rhs * 100) <= rhs * 2;
    }
    true
}

/// `text` cut to at most `len` characters at a character boundary; `len`
/// 0 means no limit.
fn cut(text: &str, len: u32) -> &str {
    if len == 0 {
        return text;
    }
    match text.char_indices().nth(len as usize) {
        Some((i, _)) => text[..i].trim_end(),
        None => text,
    }
}

fn json_str(s: &str, out: &mut String) {
    out.push('"');
    escape::json(s, out);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn assets() -> NativeAssets {
        NativeAssets {
            title: "Storm-proof tents, packed in minutes".into(),
            description: Some("Lightweight shelters for every season.".into()),
            image: Some(Image {
                url: "https://cdn.example/main.jpg".into(),
                w: 1200,
                h: 627,
            }),
            icon: Some(Image {
                url: "https://cdn.example/icon.png".into(),
                w: 128,
                h: 128,
            }),
            cta: Some("Shop now".into()),
            sponsored: Some("Acme \"Outdoor\"".into()),
            price: None,
            desc2: None,
            landing_url: "https://acme.example/tents".into(),
        }
    }

    fn request(json: &str) -> NativeRequest {
        serde_json::from_str(json).unwrap()
    }

    fn render(json: &str) -> Result<Value, NativeMismatch> {
        let mut out = String::new();
        render_native(&assets(), &request(json), &mut out)?;
        Ok(serde_json::from_str(&out).expect("valid JSON"))
    }

    #[test]
    fn requested_assets_are_filled_and_texts_cut_to_length() {
        let v = render(
            r#"{"assets":[{"id":1,"required":1,"title":{"len":10}},
                {"id":2,"required":1,"img":{"type":3,"wmin":600,"hmin":300}},
                {"id":3,"img":{"type":1,"wmin":50,"hmin":50}},
                {"id":4,"data":{"type":1}},{"id":5,"data":{"type":12,"len":4}}]}"#,
        )
        .unwrap();
        let a = v["assets"].as_array().unwrap();
        assert_eq!(a.len(), 5);
        assert_eq!(a[0]["title"]["text"], "Storm-proo");
        assert_eq!(a[1]["img"]["url"], "https://cdn.example/main.jpg");
        assert_eq!(a[2]["img"]["w"], 128);
        assert_eq!(a[3]["data"]["value"], "Acme \"Outdoor\"");
        assert_eq!(a[4]["data"]["value"], "Shop");
        assert_eq!(v["link"]["url"], "https://acme.example/tents");
    }

    #[test]
    fn an_optional_asset_we_lack_is_left_out() {
        let v = render(
            r#"{"assets":[{"id":1,"required":1,"title":{"len":90}},{"id":9,"data":{"type":3}}]}"#,
        )
        .unwrap();
        assert_eq!(v["assets"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn a_required_asset_we_lack_is_a_mismatch_and_leaves_out_untouched() {
        let mut out = String::from("keep");
        let err = render_native(
            &assets(),
            &request(r#"{"assets":[{"id":1,"title":{"len":90}},{"id":7,"required":1,"data":{"type":3}}]}"#),
            &mut out,
        )
        .unwrap_err();
        assert_eq!(err.asset_id, 7);
        assert_eq!(out, "keep");
    }

    #[test]
    fn an_image_smaller_than_the_minimum_cannot_fill_a_required_asset() {
        let err =
            render(r#"{"assets":[{"id":2,"required":1,"img":{"type":1,"wmin":256,"hmin":256}}]}"#)
                .unwrap_err();
        assert_eq!(err.asset_id, 2);
    }

    #[test]
    fn an_exact_size_is_met_by_a_larger_image_of_the_same_shape_only() {
        assert!(
            render(r#"{"assets":[{"id":2,"required":1,"img":{"type":3,"w":600,"h":314}}]}"#)
                .is_ok()
        );
        assert!(
            render(r#"{"assets":[{"id":2,"required":1,"img":{"type":3,"w":300,"h":300}}]}"#)
                .is_err()
        );
    }

    #[test]
    fn a_click_tracker_replaces_the_landing_url_and_both_trackers_get_the_tail() {
        let links = Links {
            click: Some("https://b.example/events/click?cid=1&crid=9"),
            tail: "&stage=intent&t=T\"",
            impression: Some("https://b.example/events/imp?cid=1"),
            strict: false,
        };
        let mut out = String::new();
        let req = request(r#"{"assets":[{"id":1,"required":1,"title":{"len":90}}]}"#);
        render_native_with(&assets(), &req, &links, &mut out).unwrap();
        let v: Value = serde_json::from_str(&out).expect("valid JSON");
        assert_eq!(
            v["link"]["url"],
            "https://b.example/events/click?cid=1&crid=9&stage=intent&t=T\""
        );
        assert_eq!(
            v["eventtrackers"][0]["url"],
            "https://b.example/events/imp?cid=1&stage=intent&t=T\""
        );
    }

    #[test]
    fn cutting_respects_character_boundaries() {
        assert_eq!(cut("héllo wörld", 7), "héllo w");
        assert_eq!(cut("short", 90), "short");
    }
}

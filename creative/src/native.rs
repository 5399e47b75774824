//! Renders a native asset set into a Native response for one request, in
//! the request's version: one asset per requested asset we can fill, texts
//! cut to the requested length, images chosen to fit, the impression
//! tracker in the form that version reads, and a privacy link where the
//! placement shows one.
//!
//! - Version: Native 1.2 and 1.1 answer with the root object, 1.0 inside
//!   `{"native": ...}`; each says its version in `ver`.
//! - Impression tracker: an `eventtrackers` image pixel where the request
//!   offers event 1 (impression) by method 1 (image); else, and always
//!   for 1.0 and 1.1, which have no event trackers, `imptrackers`.
//! - Images: of the image and its crops, those at least the requested
//!   minimum (`wmin`/`hmin`, or `w`/`h` when no minimum is given) and,
//!   when the request gives an exact `w`/`h`, within 20 % of its aspect
//!   ratio; the closest in shape wins.
//! - Privacy: with `privacy: 1` in a 1.2 request, the ad's `privacy_url`.
//!
//! Writes into a caller's `String` so the bid path reuses one buffer; never
//! fails silently: a required asset we cannot fill is an error and the
//! caller does not bid with this creative.

use std::fmt::Write as _;

use openrtb::enums::{native_data, native_event, native_image};
use openrtb::native::{AssetRequest, ImageRequest, NativeRequest};

use crate::assembly::ratio_mismatch;
use crate::escape;
use crate::fixed::{CropRef, Image, NativeAssets};

/// Most an image's aspect ratio may differ from an exact requested size's,
/// per mille of the requested ratio.
pub const IMAGE_RATIO_TOLERANCE: u64 = 200;

/// The request requires an asset this creative cannot provide.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("required native asset {asset_id} cannot be filled")]
pub struct NativeMismatch {
    /// Id of the asset in the request.
    pub asset_id: u32,
    /// It is an image the creative has, none of whose crops fits the
    /// requested size or shape.
    pub image_fit: bool,
}

/// A Native markup version, as the request states it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum NativeVersion {
    /// 1.0: the response inside `{"native": ...}`, `imptrackers`.
    V1_0,
    /// 1.1: the root object, `imptrackers`.
    V1_1,
    /// 1.2: `eventtrackers` and `privacy`.
    #[default]
    V1_2,
}

impl NativeVersion {
    /// The version of a native request: its own `ver`, else the imp's
    /// `native.ver`, else 1.2 (the spec's default). Anything not 1.0 or
    /// 1.1 is answered as 1.2.
    pub fn of(request_ver: Option<&str>, imp_ver: Option<&str>) -> NativeVersion {
        match request_ver.or(imp_ver).map(str::trim) {
            Some("1" | "1.0") => NativeVersion::V1_0,
            Some(v) if v.starts_with("1.0.") => NativeVersion::V1_0,
            Some(v) if v == "1.1" || v.starts_with("1.1.") => NativeVersion::V1_1,
            _ => NativeVersion::V1_2,
        }
    }

    /// The `ver` of a response in this version.
    pub fn as_str(self) -> &'static str {
        match self {
            NativeVersion::V1_0 => "1.0",
            NativeVersion::V1_1 => "1.1",
            NativeVersion::V1_2 => "1.2",
        }
    }
}

/// Appends to `out` the Native 1.2 response for `req`, filled from
/// `assets`, without trackers. On error `out` is left as it was.
pub fn render_native(
    assets: &NativeAssets,
    req: &NativeRequest,
    out: &mut String,
) -> Result<(), NativeMismatch> {
    render_native_with(assets, req, &Links::default(), out)
}

/// How a native ad links and counts on a bid: its click URL is `click`
/// (else `assets.landing_url`) followed by `tail` (this bid's tracker
/// parameters), it may declare an impression tracker, it is written in
/// `version`, and with `strict` its texts are never cut: a text longer
/// than the requested length leaves its asset unfilled.
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
    /// The version of the request, which the response keeps.
    pub version: NativeVersion,
}

/// [`render_native`] with trackers, strict lengths and a version.
pub fn render_native_with(
    assets: &NativeAssets,
    req: &NativeRequest,
    links: &Links<'_>,
    out: &mut String,
) -> Result<(), NativeMismatch> {
    let start = out.len();
    let version = links.version;
    if version == NativeVersion::V1_0 {
        out.push_str("{\"native\":");
    }
    out.push_str("{\"ver\":\"");
    out.push_str(version.as_str());
    out.push_str("\",\"assets\":[");
    let mut first = true;
    for asset in &req.assets {
        let before = out.len();
        if !first {
            out.push(',');
        }
        match fill(asset, assets, links.strict, out) {
            Filled::Yes => first = false,
            unfilled => {
                out.truncate(before);
                if asset.required == 1 {
                    out.truncate(start);
                    return Err(NativeMismatch {
                        asset_id: asset.id,
                        image_fit: unfilled == Filled::NoImageFits,
                    });
                }
            }
        }
    }
    out.push_str("],\"link\":{\"url\":\"");
    escape::json(links.click.unwrap_or(&assets.landing_url), out);
    escape::json(links.tail, out);
    out.push_str("\"}");
    if let Some(imp) = links.impression {
        let pixel_offered = req.eventtrackers.iter().any(|t| {
            t.event == native_event::IMPRESSION && t.methods.contains(&native_event::METHOD_IMG)
        });
        if version == NativeVersion::V1_2 && pixel_offered {
            out.push_str(",\"eventtrackers\":[{\"event\":1,\"method\":1,\"url\":\"");
            escape::json(imp, out);
            escape::json(links.tail, out);
            out.push_str("\"}]");
        } else {
            out.push_str(",\"imptrackers\":[\"");
            escape::json(imp, out);
            escape::json(links.tail, out);
            out.push_str("\"]");
        }
    }
    if let (NativeVersion::V1_2, Some(1), Some(url)) =
        (version, req.privacy, assets.privacy_url.as_deref())
    {
        out.push_str(",\"privacy\":");
        json_str(url, out);
    }
    out.push('}');
    if version == NativeVersion::V1_0 {
        out.push('}');
    }
    Ok(())
}

/// Whether an asset was filled, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filled {
    Yes,
    /// The creative lacks it (or its text is too long to cut, strictly).
    No,
    /// The creative has the image, but no crop of it fits.
    NoImageFits,
}

/// Writes one response asset for `asset`.
fn fill(asset: &AssetRequest, assets: &NativeAssets, strict: bool, out: &mut String) -> Filled {
    let _ = write!(out, "{{\"id\":{}", asset.id);
    if asset.required == 1 {
        out.push_str(",\"required\":1");
    }
    if let Some(title) = &asset.title {
        let text = cut(&assets.title, title.len);
        if text.is_empty() || (strict && text.len() < assets.title.len()) {
            return Filled::No;
        }
        out.push_str(",\"title\":{\"text\":");
        json_str(text, out);
        out.push_str("}}");
        return Filled::Yes;
    }
    if let Some(img) = &asset.img {
        let candidate = match img.kind {
            Some(native_image::ICON) => assets.icon.as_ref(),
            // Main image when the type is main or unspecified.
            Some(native_image::MAIN) | None => assets.image.as_ref(),
            Some(_) => None,
        };
        let Some(image) = candidate else {
            return Filled::No;
        };
        let Some(chosen) = fitting_variant(image, img) else {
            return Filled::NoImageFits;
        };
        out.push_str(",\"img\":{\"url\":");
        json_str(chosen.url, out);
        let _ = write!(out, ",\"w\":{},\"h\":{}}}}}", chosen.w, chosen.h);
        return Filled::Yes;
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
            return Filled::No;
        };
        out.push_str(",\"data\":{\"value\":");
        json_str(value, out);
        out.push_str("}}");
        return Filled::Yes;
    }
    // Video assets and anything unknown: not in a fixed native set.
    Filled::No
}

/// Of `image` and its crops, the one that fits the request best: at least
/// the minimum size (`wmin`/`hmin`, else the exact `w`/`h`), within
/// [`IMAGE_RATIO_TOLERANCE`] of an exact size's aspect ratio, closest in
/// shape to the exact size (else to the minimum's); the image itself
/// first among equals.
pub fn fitting_variant<'i>(image: &'i Image, req: &ImageRequest) -> Option<CropRef<'i>> {
    let (min_w, min_h) = (
        req.wmin.or(req.w).unwrap_or(0),
        req.hmin.or(req.h).unwrap_or(0),
    );
    let exact = req.w.zip(req.h).filter(|(w, h)| *w > 0 && *h > 0);
    let target = exact.or(req.wmin.zip(req.hmin).filter(|(w, h)| *w > 0 && *h > 0));
    let mismatch = |v: &CropRef<'_>| target.map_or(0, |(w, h)| ratio_mismatch(v.w, v.h, w, h));
    image
        .variants()
        .filter(|v| v.w >= min_w && v.h >= min_h)
        .filter(|v| exact.is_none() || mismatch(v) <= IMAGE_RATIO_TOLERANCE)
        .min_by_key(mismatch)
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
    use crate::fixed::Crop;
    use serde_json::Value;

    fn assets() -> NativeAssets {
        NativeAssets {
            title: "Storm-proof tents, packed in minutes".into(),
            description: Some("Lightweight shelters for every season.".into()),
            image: Some(Image {
                url: "https://cdn.example/main.jpg".into(),
                w: 1200,
                h: 627,
                crops: vec![
                    Crop {
                        url: "https://cdn.example/square.jpg".into(),
                        w: 600,
                        h: 600,
                    },
                    Crop {
                        url: "https://cdn.example/strip.jpg".into(),
                        w: 640,
                        h: 100,
                    },
                ],
            }),
            icon: Some(Image {
                url: "https://cdn.example/icon.png".into(),
                w: 128,
                h: 128,
                crops: Vec::new(),
            }),
            cta: Some("Shop now".into()),
            sponsored: Some("Acme \"Outdoor\"".into()),
            price: None,
            desc2: None,
            landing_url: "https://acme.example/tents".into(),
            privacy_url: Some("https://acme.example/privacy".into()),
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
        assert!(err.image_fit);
    }

    /// The image answered for one required main-image asset `img`.
    fn image_for(img: &str) -> Result<(String, u64, u64), NativeMismatch> {
        let v = render(&format!(
            r#"{{"assets":[{{"id":2,"required":1,"img":{img}}}]}}"#
        ))?;
        let i = &v["assets"][0]["img"];
        Ok((
            i["url"].as_str().unwrap().to_owned(),
            i["w"].as_u64().unwrap(),
            i["h"].as_u64().unwrap(),
        ))
    }

    #[test]
    fn an_exact_size_takes_the_closest_crop_within_a_fifth_of_its_shape() {
        let url = |img: &str| image_for(img).map(|i| i.0);
        assert_eq!(
            url(r#"{"type":3,"w":600,"h":314}"#).as_deref(),
            Ok("https://cdn.example/main.jpg")
        );
        assert_eq!(
            url(r#"{"type":3,"w":300,"h":300}"#).as_deref(),
            Ok("https://cdn.example/square.jpg")
        );
        // 6.4:1 asked, 6.4:1 crop given; 4:1 is 37 % off every crop.
        assert_eq!(
            url(r#"{"type":3,"w":320,"h":50}"#).as_deref(),
            Ok("https://cdn.example/strip.jpg")
        );
        let off = image_for(r#"{"type":3,"w":400,"h":100}"#).unwrap_err();
        assert_eq!(
            off,
            NativeMismatch {
                asset_id: 2,
                image_fit: true
            }
        );
        // Within 20 %: 1.6:1 asked, 1.91:1 given.
        assert!(url(r#"{"type":3,"w":800,"h":500}"#).is_ok());
        // Shape right, but smaller than the exact size.
        assert!(
            image_for(r#"{"type":3,"w":2400,"h":1254}"#)
                .unwrap_err()
                .image_fit
        );
    }

    #[test]
    fn minimum_sizes_bind_every_crop_and_guide_the_shape() {
        let got = image_for(r#"{"type":3,"wmin":500,"hmin":500}"#).unwrap();
        assert_eq!(got, ("https://cdn.example/square.jpg".into(), 600, 600));
        let got = image_for(r#"{"type":3,"w":1200,"h":627,"wmin":600,"hmin":300}"#).unwrap();
        assert_eq!(got.0, "https://cdn.example/main.jpg");
        assert!(
            image_for(r#"{"type":3,"wmin":700,"hmin":700}"#)
                .unwrap_err()
                .image_fit
        );
        // An icon the creative lacks is not a question of fit.
        let mut no_icon = assets();
        no_icon.icon = None;
        let err = render_native(
            &no_icon,
            &request(r#"{"assets":[{"id":3,"required":1,"img":{"type":1}}]}"#),
            &mut String::new(),
        )
        .unwrap_err();
        assert!(!err.image_fit);
    }

    fn tracked(req: &str, version: NativeVersion) -> Value {
        let links = Links {
            click: Some("https://b.example/events/click?cid=1&crid=9"),
            tail: "&stage=intent&t=T\"",
            impression: Some("https://b.example/events/imp?cid=1"),
            strict: false,
            version,
        };
        let mut out = String::new();
        render_native_with(&assets(), &request(req), &links, &mut out).unwrap();
        serde_json::from_str(&out).expect("valid JSON")
    }

    const TITLE: &str = r#"{"assets":[{"id":1,"required":1,"title":{"len":90}}]"#;

    #[test]
    fn a_click_tracker_replaces_the_landing_url_and_both_trackers_get_the_tail() {
        let offered = format!(r#"{TITLE},"eventtrackers":[{{"event":1,"methods":[1,2]}}]}}"#);
        let v = tracked(&offered, NativeVersion::V1_2);
        assert_eq!(v["ver"], "1.2");
        assert_eq!(
            v["link"]["url"],
            "https://b.example/events/click?cid=1&crid=9&stage=intent&t=T\""
        );
        assert_eq!(
            v["eventtrackers"][0]["url"],
            "https://b.example/events/imp?cid=1&stage=intent&t=T\""
        );
        assert_eq!(v["eventtrackers"][0]["method"], 1);
        assert!(v.get("imptrackers").is_none());
    }

    #[test]
    fn the_impression_tracker_takes_the_form_the_request_reads() {
        // 1.2 without an image-pixel impression tracker on offer.
        let js_only = format!(r#"{TITLE},"eventtrackers":[{{"event":1,"methods":[2]}}]}}"#);
        for (req, version) in [
            (js_only, NativeVersion::V1_2),
            (format!("{TITLE}}}"), NativeVersion::V1_2),
            (format!("{TITLE}}}"), NativeVersion::V1_1),
        ] {
            let v = tracked(&req, version);
            assert!(v.get("eventtrackers").is_none(), "{v}");
            assert_eq!(
                v["imptrackers"][0],
                "https://b.example/events/imp?cid=1&stage=intent&t=T\""
            );
            assert_eq!(v["ver"], version.as_str());
        }
        // 1.0 answers inside the wrapper it was asked in.
        let v = tracked(&format!("{TITLE}}}"), NativeVersion::V1_0);
        assert_eq!(v["native"]["ver"], "1.0");
        assert!(v["native"]["imptrackers"].is_array());
    }

    #[test]
    fn versions_are_read_from_the_request_then_the_imp() {
        assert_eq!(
            NativeVersion::of(Some("1.1"), Some("1.2")),
            NativeVersion::V1_1
        );
        assert_eq!(NativeVersion::of(None, Some("1")), NativeVersion::V1_0);
        assert_eq!(NativeVersion::of(None, None), NativeVersion::V1_2);
        assert_eq!(NativeVersion::of(Some("1.3"), None), NativeVersion::V1_2);
    }

    #[test]
    fn a_privacy_link_goes_where_the_placement_shows_one() {
        let with = format!(r#"{TITLE},"privacy":1}}"#);
        let v = tracked(&with, NativeVersion::V1_2);
        assert_eq!(v["privacy"], "https://acme.example/privacy");
        assert!(
            tracked(&format!("{TITLE}}}"), NativeVersion::V1_2)
                .get("privacy")
                .is_none()
        );
        // 1.1 has no privacy field.
        assert!(tracked(&with, NativeVersion::V1_1).get("privacy").is_none());
    }

    #[test]
    fn cutting_respects_character_boundaries() {
        assert_eq!(cut("héllo wörld", 7), "héllo w");
        assert_eq!(cut("short", 90), "short");
    }
}

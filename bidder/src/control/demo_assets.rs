//! The demo's pictures: SVG product shots drawn here, one per demo product
//! and size, served by the bidder itself under [`PREFIX`] so the demo's
//! creatives, gallery and previews show finished ads with no network.
//!
//! Owns the bounded set of names ([`NAMES`]) and the drawing. A name is
//! looked up in that set and drawn from code: nothing is read from disk,
//! so no path can reach a file. Never depends on the store or on a
//! session: these are public ad images, as an exchange's page would load
//! them. Each picture uses SVG attributes only (no script, no style
//! element, no external reference), and is served under a policy that
//! allows nothing else.

use std::fmt::Write as _;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

use crate::error::{ApiError, Body};

/// Where the demo's pictures live on the bidder.
pub const PREFIX: &str = "/assets/demo/";

/// The policy of a picture opened on its own: nothing may load or run.
pub const CSP: &str = "default-src 'none'";

/// What a picture shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    /// Acme Outdoor's Ridge 2 tent under mountains, with the brand.
    AcmeBanner,
    /// Northwind Coffee's cup, with the brand.
    NorthwindBanner,
    /// The Ridge 2 tent alone (fragment images: no text, so any template
    /// can write over it).
    Ridge,
    /// A tent by a lake at dawn (fragment image).
    Lake,
    /// Acme's square icon.
    AcmeIcon,
    /// Northwind's square icon.
    NorthwindIcon,
}

impl Product {
    /// The name's stem.
    pub const fn stem(self) -> &'static str {
        match self {
            Product::AcmeBanner => "acme",
            Product::NorthwindBanner => "northwind",
            Product::Ridge => "ridge",
            Product::Lake => "lake",
            Product::AcmeIcon => "acme-icon",
            Product::NorthwindIcon => "northwind-icon",
        }
    }
}

/// Every picture there is: product, width, height. The demo catalog's
/// creatives and fragments use exactly these.
pub const NAMES: &[(Product, u32, u32)] = &[
    (Product::AcmeBanner, 300, 250),
    (Product::AcmeBanner, 728, 90),
    (Product::AcmeBanner, 160, 600),
    (Product::AcmeBanner, 300, 600),
    (Product::AcmeBanner, 320, 50),
    (Product::AcmeBanner, 300, 50),
    (Product::AcmeBanner, 320, 100),
    (Product::AcmeBanner, 970, 250),
    (Product::AcmeBanner, 970, 90),
    (Product::AcmeBanner, 336, 280),
    (Product::AcmeBanner, 468, 60),
    (Product::AcmeBanner, 120, 600),
    (Product::AcmeBanner, 250, 250),
    (Product::AcmeBanner, 200, 200),
    (Product::AcmeBanner, 320, 480),
    (Product::AcmeBanner, 480, 320),
    (Product::AcmeBanner, 768, 1024),
    (Product::AcmeBanner, 1024, 768),
    (Product::AcmeBanner, 300, 1050),
    (Product::AcmeBanner, 1200, 627),
    (Product::NorthwindBanner, 300, 250),
    (Product::NorthwindBanner, 728, 90),
    (Product::NorthwindBanner, 320, 50),
    (Product::NorthwindBanner, 1200, 627),
    (Product::Ridge, 1200, 627),
    (Product::Ridge, 640, 100),
    (Product::Ridge, 600, 600),
    (Product::Lake, 1200, 627),
    (Product::AcmeIcon, 128, 128),
    (Product::NorthwindIcon, 128, 128),
];

/// The file name of a picture: `acme-300x250.svg`.
pub fn file_name(product: Product, w: u32, h: u32) -> String {
    format!("{}-{w}x{h}.svg", product.stem())
}

/// The URL of a picture on a bidder whose public URL is `public_url`.
pub fn url(public_url: &str, product: Product, w: u32, h: u32) -> String {
    debug_assert!(NAMES.contains(&(product, w, h)), "not a demo picture");
    format!(
        "{}{PREFIX}{}",
        public_url.trim_end_matches('/'),
        file_name(product, w, h)
    )
}

/// The picture `name` (the path after [`PREFIX`]), if it is one of
/// [`NAMES`].
pub fn find(name: &str) -> Option<(Product, u32, u32)> {
    NAMES
        .iter()
        .copied()
        .find(|&(p, w, h)| name == file_name(p, w, h))
}

/// `GET /assets/demo/<name>`: the picture, or 404 for any other name.
pub fn response(path: &str) -> Response<Body> {
    let Some((product, w, h)) = path.strip_prefix(PREFIX).and_then(find) else {
        return ApiError::NotFound.into_response();
    };
    let mut resp = Response::new(Full::new(Bytes::from(svg(product, w, h))));
    *resp.status_mut() = StatusCode::OK;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    // Drawn from code: the same name is the same picture for this binary.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    resp
}

/// Colours of one brand.
struct Palette {
    sky: &'static str,
    ground: &'static str,
    accent: &'static str,
    ink: &'static str,
}

const ACME: Palette = Palette {
    sky: "#bfe0f2",
    ground: "#2e5a3a",
    accent: "#e4572e",
    ink: "#1d2b1f",
};

const NORTHWIND: Palette = Palette {
    sky: "#f4e6d4",
    ground: "#6b3e26",
    accent: "#c8553d",
    ink: "#2b1a10",
};

/// Draws picture `product` at `w` x `h`.
pub fn svg(product: Product, w: u32, h: u32) -> String {
    let (wf, hf) = (f64::from(w), f64::from(h));
    let mut s = String::with_capacity(2048);
    let title = match product {
        Product::AcmeBanner => "Acme Outdoor: the Ridge 2 tent",
        Product::NorthwindBanner => "Northwind Coffee: a fresh cup",
        Product::Ridge => "The Ridge 2 tent in the mountains",
        Product::Lake => "A tent by a lake at dawn",
        Product::AcmeIcon => "Acme Outdoor",
        Product::NorthwindIcon => "Northwind Coffee",
    };
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{title}\"><title>{title}</title>"
    );
    match product {
        Product::AcmeBanner | Product::Ridge | Product::Lake => {
            let lake = product == Product::Lake;
            let sky = if lake { "#f6c9a0" } else { ACME.sky };
            let _ = write!(s, "<rect width=\"{w}\" height=\"{h}\" fill=\"{sky}\"/>");
            mountains(&mut s, wf, hf);
            if lake {
                let y = hf * 0.72;
                let _ = write!(
                    s,
                    "<rect y=\"{y:.1}\" width=\"{w}\" height=\"{:.1}\" fill=\"#5d8fb0\"/>",
                    hf - y
                );
            }
            let (shot, text) = split(wf, hf, product == Product::AcmeBanner);
            tent(&mut s, shot, &ACME);
            if let Some(area) = text {
                brand(&mut s, area, "Acme Outdoor", "Ridge 2 tent", &ACME);
            }
        }
        Product::NorthwindBanner => {
            let _ = write!(
                s,
                "<rect width=\"{w}\" height=\"{h}\" fill=\"{}\"/>",
                NORTHWIND.sky
            );
            let (shot, text) = split(wf, hf, true);
            cup(&mut s, shot, &NORTHWIND);
            if let Some(area) = text {
                brand(&mut s, area, "Northwind Coffee", "Order ahead", &NORTHWIND);
            }
        }
        Product::AcmeIcon => {
            let _ = write!(
                s,
                "<rect width=\"{w}\" height=\"{h}\" fill=\"{}\"/>",
                ACME.sky
            );
            tent(&mut s, (0.0, 0.0, wf, hf), &ACME);
        }
        Product::NorthwindIcon => {
            let _ = write!(
                s,
                "<rect width=\"{w}\" height=\"{h}\" fill=\"{}\"/>",
                NORTHWIND.sky
            );
            cup(&mut s, (0.0, 0.0, wf, hf), &NORTHWIND);
        }
    }
    s.push_str("</svg>");
    s
}

/// A box: x, y, width, height.
type Area = (f64, f64, f64, f64);

/// Where the product goes and where the brand's text goes (if `text` and
/// there is room): side by side when wide, stacked when tall.
fn split(w: f64, h: f64, text: bool) -> (Area, Option<Area>) {
    if !text {
        return ((0.0, 0.0, w, h), None);
    }
    if w >= h * 1.4 {
        let shot = (h * 1.3).min(w * 0.4);
        ((0.0, 0.0, shot, h), Some((shot, 0.0, w - shot, h)))
    } else if h >= w * 1.2 {
        let shot = h * 0.55;
        ((0.0, 0.0, w, shot), Some((0.0, shot, w, h - shot)))
    } else {
        let band = h * 0.3;
        ((0.0, 0.0, w, h - band), Some((0.0, h - band, w, band)))
    }
}

/// Mountains behind everything, across the whole picture.
fn mountains(s: &mut String, w: f64, h: f64) {
    let base = h * 0.75;
    let _ = write!(
        s,
        "<polygon points=\"0,{base:.1} {:.1},{:.1} {:.1},{base:.1}\" fill=\"#8fa9b8\"/>\
         <polygon points=\"{:.1},{base:.1} {:.1},{:.1} {w:.1},{:.1} {w:.1},{base:.1}\" fill=\"#6f8c9e\"/>\
         <polygon points=\"{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"#ffffff\"/>\
         <rect y=\"{base:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{}\"/>",
        w * 0.3,
        h * 0.25,
        w * 0.62,
        w * 0.35,
        w * 0.7,
        h * 0.15,
        h * 0.5,
        w * 0.7 - w * 0.06,
        h * 0.15 + h * 0.12,
        w * 0.7,
        h * 0.15,
        w * 0.7 + w * 0.06,
        h * 0.15 + h * 0.12,
        h - base,
        ACME.ground,
    );
}

/// The tent, centred in `area`.
fn tent(s: &mut String, (x, y, w, h): Area, p: &Palette) {
    let side = w.min(h) * 0.7;
    let (cx, floor) = (x + w / 2.0, y + h / 2.0 + side * 0.35);
    let top = floor - side * 0.7;
    let half = side / 2.0;
    let _ = write!(
        s,
        "<polygon points=\"{:.1},{floor:.1} {cx:.1},{top:.1} {:.1},{floor:.1}\" fill=\"{}\"/>\
         <polygon points=\"{cx:.1},{top:.1} {:.1},{floor:.1} {:.1},{floor:.1}\" fill=\"#b8401f\"/>\
         <polygon points=\"{cx:.1},{:.1} {:.1},{floor:.1} {:.1},{floor:.1}\" fill=\"{}\"/>\
         <line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{}\" stroke-width=\"{:.1}\"/>",
        cx - half,
        cx + half,
        p.accent,
        cx + half * 0.15,
        cx + half,
        top + side * 0.3,
        cx - half * 0.25,
        cx + half * 0.25,
        p.ink,
        cx - half * 1.2,
        floor,
        cx + half * 1.2,
        floor,
        p.ink,
        (side / 60.0).max(1.0),
    );
}

/// A coffee cup on its saucer with steam, centred in `area`.
fn cup(s: &mut String, (x, y, w, h): Area, p: &Palette) {
    let side = w.min(h) * 0.75;
    let (cx, cy) = (x + w / 2.0, y + h / 2.0 + side * 0.1);
    let (cw, ch) = (side * 0.55, side * 0.45);
    let (left, top) = (cx - cw / 2.0, cy - ch / 2.0);
    let stroke = (side / 30.0).max(1.0);
    let _ = write!(
        s,
        "<ellipse cx=\"{cx:.1}\" cy=\"{:.1}\" rx=\"{:.1}\" ry=\"{:.1}\" fill=\"#ffffff\" stroke=\"{}\" stroke-width=\"{stroke:.1}\"/>\
         <rect x=\"{left:.1}\" y=\"{top:.1}\" width=\"{cw:.1}\" height=\"{ch:.1}\" rx=\"{:.1}\" fill=\"{}\"/>\
         <circle cx=\"{:.1}\" cy=\"{cy:.1}\" r=\"{:.1}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{stroke:.1}\"/>\
         <ellipse cx=\"{cx:.1}\" cy=\"{top:.1}\" rx=\"{:.1}\" ry=\"{:.1}\" fill=\"{}\"/>",
        top + ch,
        cw * 0.75,
        ch * 0.12,
        p.ground,
        cw * 0.12,
        p.accent,
        left + cw,
        ch * 0.2,
        p.accent,
        cw / 2.0,
        ch * 0.1,
        p.ground,
    );
    for i in 0..3 {
        let sx = cx - cw * 0.25 + f64::from(i) * cw * 0.25;
        let _ = write!(
            s,
            "<path d=\"M{sx:.1},{:.1} q{:.1},{:.1} 0,{:.1} q{:.1},{:.1} 0,{:.1}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{stroke:.1}\" stroke-linecap=\"round\"/>",
            top - ch * 0.12,
            cw * 0.1,
            -ch * 0.15,
            -ch * 0.3,
            -cw * 0.1,
            -ch * 0.15,
            -ch * 0.3,
            p.ink,
        );
    }
}

/// The brand's name and a line under it in `area`, on a panel.
fn brand(s: &mut String, (x, y, w, h): Area, name: &str, line: &str, p: &Palette) {
    // Sized to the box: about 0.55 em per character, two lines.
    let size = (w / (name.len() as f64 * 0.6)).min(h / 3.2).max(6.0);
    let (cx, mid) = (x + w / 2.0, y + h / 2.0);
    let _ = write!(
        s,
        "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"#ffffff\" fill-opacity=\"0.85\"/>\
         <text x=\"{cx:.1}\" y=\"{:.1}\" font-family=\"Arial, sans-serif\" font-weight=\"bold\" font-size=\"{size:.1}\" text-anchor=\"middle\" fill=\"{}\">{name}</text>\
         <text x=\"{cx:.1}\" y=\"{:.1}\" font-family=\"Arial, sans-serif\" font-size=\"{:.1}\" text-anchor=\"middle\" fill=\"{}\">{line}</text>",
        mid - size * 0.1,
        p.ink,
        mid + size * 0.95,
        size * 0.7,
        p.accent,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_found_and_drawn_at_its_size() {
        for &(p, w, h) in NAMES {
            let name = file_name(p, w, h);
            assert_eq!(find(&name), Some((p, w, h)), "{name}");
            let svg = svg(p, w, h);
            assert!(
                svg.starts_with(&format!(
                    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\""
                )),
                "{name}"
            );
            assert!(svg.ends_with("</svg>"), "{name}");
            for forbidden in ["<script", "<style", "href", "NaN", "inf"] {
                assert!(!svg.contains(forbidden), "{name} holds {forbidden}");
            }
        }
    }

    #[test]
    fn names_outside_the_set_are_not_found() {
        for name in [
            "acme-301x250.svg",
            "../acme-300x250.svg",
            "acme-300x250.svg/..",
            "acme-300x250.png",
            "ACME-300x250.svg",
            "",
            "%2e%2e/etc/passwd",
            "ridge-300x250.svg",
        ] {
            assert_eq!(find(name), None, "{name}");
        }
    }

    #[test]
    fn a_picture_is_served_as_svg_with_caching_and_a_closed_policy() {
        let resp = response("/assets/demo/northwind-728x90.svg");
        assert_eq!(resp.status(), StatusCode::OK);
        let h = resp.headers();
        assert_eq!(h[header::CONTENT_TYPE], "image/svg+xml");
        assert_eq!(h[header::CACHE_CONTROL], "public, max-age=86400");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(
            h[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .starts_with("default-src 'none'")
        );
        let missing = response("/assets/demo/../../etc/passwd");
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn urls_hang_off_the_public_url() {
        assert_eq!(
            url("https://bidder.example/", Product::Ridge, 600, 600),
            "https://bidder.example/assets/demo/ridge-600x600.svg"
        );
    }
}

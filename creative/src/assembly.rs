//! Assembly: one message, one content and one tone, laid out by a template,
//! into the markup of a bid.
//!
//! Split in two so that the bid path only copies bytes:
//! - **prepare** (cold, when a snapshot is built): which combinations are
//!   compatible with a format and stage, their `crid`, and their markup with
//!   every advertiser text escaped and every template value filled in,
//!   leaving holes where each bid's own tracker parameters go;
//! - **write** (hot): copy the prepared markup into the output buffer and
//!   fill the holes with this bid's tail (`&stage=..&pp=..&t=..`),
//!   escaped for the hole's context. No allocation beyond `out`.
//!
//! Pure functions of their arguments: no clock, no randomness, no I/O.

use std::fmt::Write as _;

use audiences::Stage;
use openrtb::{Currency, Micros};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::escape::{self, is_colour, is_font_stack};
use crate::fixed::{Image, NativeAssets};
use crate::fragment::{Content, ImageAsset, Message, Tone, chars, suits};
use crate::template::{Arrangement, Format, Layout, TextBox, within};

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

/// The line a layout's tag box shows at `stage`: the offer where it is
/// meant for that stage, else the product with its price.
pub fn tag_text(c: &Content, stage: Stage) -> Option<String> {
    c.offer_at(stage)
        .map(str::to_owned)
        .or_else(|| c.product.as_ref().map(product_line))
}

/// `Name · $129.00`.
pub fn product_line(p: &crate::fragment::Product) -> String {
    let mut s = p.name.clone();
    s.push_str(" · ");
    price_text(p.price_micros, p.currency, &mut s);
    s
}

/// A price for people: symbol and two decimals (none for JPY/KRW).
pub fn price_text(price: Micros, cur: Currency, out: &mut String) {
    let code = cur.as_str();
    let symbol = match code {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        _ => "",
    };
    let micros = price.0.max(0);
    let (units, frac) = (micros / 1_000_000, micros % 1_000_000);
    out.push_str(symbol);
    if matches!(code, "JPY" | "KRW") {
        grouped(units + i64::from(frac >= 500_000), out);
    } else {
        let cents = (frac + 5_000) / 10_000;
        grouped(units + cents / 100, out);
        let _ = write!(out, ".{:02}", cents % 100);
    }
    if symbol.is_empty() {
        out.push(' ');
        out.push_str(code);
    }
}

/// `n` with thousands separated by commas: `1,249`.
fn grouped(n: i64, out: &mut String) {
    let digits = n.to_string();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
}

/// Whether the offer shows in `format` at `stage` (part of the `crid`: the
/// ad with the offer is a different ad).
pub fn shows_offer(format: Format, stage: Stage, c: &Content) -> bool {
    c.offer_at(stage).is_some() && format.limits().tag.is_some()
}

/// The `crid` of a combination in a format: stable for each approved
/// (template, message, content, tone) version and offer shown, e.g.
/// `a300x250-m3v1-c4v2-t5v1-o`.
pub fn crid(format: Format, parts: &Parts<'_>, offer: bool) -> String {
    let mut s = String::with_capacity(40);
    let _ = write!(
        s,
        "a{}-m{}v{}-c{}v{}",
        format.name(),
        parts.message.id.0,
        parts.message.version,
        parts.content.id.0,
        parts.content.version
    );
    if let Some(t) = parts.tone {
        let _ = write!(s, "-t{}v{}", t.id.0, t.version);
    }
    if offer {
        s.push_str("-o");
    }
    s
}

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
    text: String,
    holes: SmallVec<[u32; 2]>,
}

impl Prepared {
    fn new() -> Prepared {
        Prepared {
            text: String::with_capacity(2048),
            holes: SmallVec::new(),
        }
    }

    fn hole(&mut self) {
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

/// The content image closest to a box's aspect ratio, preferring images
/// at least as large.
pub fn best_image(images: &[ImageAsset], (w, h): (u32, u32)) -> Option<&ImageAsset> {
    images.iter().min_by_key(|i| {
        // Aspect mismatch in per-mille, then whether it must be upscaled.
        let lhs = u64::from(i.w) * u64::from(h) * 1000;
        let rhs = u64::from(i.h) * u64::from(w);
        let mismatch = lhs.abs_diff(rhs * 1000) / rhs.max(1);
        (mismatch, i.w < w || i.h < h)
    })
}

fn line_height(px: u32) -> u32 {
    (px * 5).div_ceil(4)
}

/// One text box's own rules; what all boxes share is written once, in
/// [`text_boxes`].
fn text_box(class: &str, b: TextBox, bold: bool, css: &mut String) {
    let _ = write!(
        css,
        ".{class}{{font-size:{}px;line-height:{}px;max-height:{}px{}}}",
        b.px,
        line_height(b.px),
        line_height(b.px) * b.lines,
        if bold { ";font-weight:700" } else { "" }
    );
}

/// The rules of the layout's text boxes (headline `h`, subline `s`, body
/// `b`, tag `o`): the shared ones once for all, then each box's size.
/// Every answer carries this CSS, so bytes here are bytes on the wire.
fn text_boxes(layout: &Layout, css: &mut String) {
    let boxes = [
        ("h", Some(layout.headline), true),
        ("s", layout.subline, false),
        ("b", layout.body, false),
        ("o", layout.tag, true),
    ];
    let mut first = true;
    for (class, b, _) in &boxes {
        if b.is_some() {
            css.push_str(if first { "." } else { ",." });
            css.push_str(class);
            first = false;
        }
    }
    css.push_str("{overflow:hidden;overflow-wrap:anywhere}");
    for (class, b, bold) in boxes {
        if let Some(b) = b {
            text_box(class, b, bold, css);
        }
    }
}

/// Renders a banner in `layout`. The caller checked [`compatible`].
pub fn prepare_banner(
    layout: &Layout,
    stage: Stage,
    parts: &Parts<'_>,
    trackers: &Trackers<'_>,
) -> Prepared {
    let (m, c) = (&parts.message.body, &parts.content.body);
    let tone = parts.tone.map(|t| &t.body);
    let (bg, fg, accent, font) = match tone {
        Some(t) => (
            t.palette.background.as_str(),
            t.palette.foreground.as_str(),
            t.palette.accent.as_str(),
            t.font_stack.as_str(),
        ),
        None => ("#ffffff", "#111111", "#0b5fff", "sans-serif"),
    };
    let image = layout
        .image
        .and_then(|b| best_image(&c.images, b).map(|i| (i, b)));
    let row = layout.arrangement == Arrangement::Row;
    let mut p = Prepared::new();
    let out = &mut p.text;
    // Attributes are single-quoted: the markup travels as a JSON string,
    // where every double quote would cost an escape (and a byte).
    out.push_str("<!DOCTYPE html><html lang='");
    escape::html(&m.language, out);
    let _ = write!(
        out,
        "'><head><meta charset='utf-8'><style>*{{margin:0;padding:0;box-sizing:border-box}}html,body{{width:{w}px;height:{h}px;overflow:hidden}}body{{background:",
        w = layout.w,
        h = layout.h
    );
    escape::css(bg, is_colour, "#ffffff", out);
    out.push_str(";color:");
    escape::css(fg, is_colour, "#111111", out);
    out.push_str(";font-family:");
    escape::css(font, is_font_stack, "sans-serif", out);
    let _ = write!(
        out,
        "}}a.ad{{display:flex;flex-direction:{};width:{}px;height:{}px;color:inherit;text-decoration:none}}",
        if row { "row" } else { "column" },
        layout.w,
        layout.h
    );
    if let Some((_, (iw, ih))) = image {
        let _ = write!(
            out,
            ".i{{display:block;flex:none;width:{iw}px;height:{ih}px;object-fit:cover}}"
        );
    }
    let _ = write!(
        out,
        ".t{{display:flex;flex-direction:column;gap:4px;padding:{}px;flex:1;min-width:0;min-height:0;overflow:hidden}}",
        layout.pad
    );
    text_boxes(layout, out);
    if layout.tag.is_some() {
        out.push_str(".o{color:");
        escape::css(accent, is_colour, "#0b5fff", out);
        out.push('}');
    }
    let cta = layout.cta;
    let _ = write!(
        out,
        ".c{{flex:none;{}background:",
        if row {
            format!("align-self:center;margin-right:{}px;", layout.pad)
        } else {
            "align-self:flex-start;margin-top:auto;".to_owned()
        }
    );
    escape::css(accent, is_colour, "#0b5fff", out);
    out.push_str(";color:");
    escape::css(bg, is_colour, "#ffffff", out);
    let _ = write!(
        out,
        ";font-weight:700;font-size:{px}px;line-height:{lh}px;height:{lh}px;padding:0 12px;border-radius:4px;white-space:nowrap;overflow:hidden;max-width:100%}}.p{{position:absolute;left:0;top:0;width:1px;height:1px;border:0}}</style></head><body><a class='ad' href='",
        px = cta.px,
        lh = cta.px * 2
    );
    escape::html(trackers.click, out);
    p.hole();
    let out = &mut p.text;
    out.push_str("' target='_blank' rel='noopener'>");
    if let Some((img, (iw, ih))) = image {
        out.push_str("<img class='i' src='");
        escape::html(&img.url, out);
        let _ = write!(out, "' width='{iw}' height='{ih}' alt=''>");
    }
    out.push_str("<div class='t'><div class='h'>");
    escape::html(&m.headline, out);
    out.push_str("</div>");
    if let (Some(_), Some(sub)) = (layout.subline, &m.subline) {
        out.push_str("<div class='s'>");
        escape::html(sub, out);
        out.push_str("</div>");
    }
    if layout.body.is_some() {
        out.push_str("<div class='b'>");
        escape::html(&c.body, out);
        out.push_str("</div>");
    }
    if let (Some(_), Some(tag)) = (layout.tag, tag_text(c, stage)) {
        out.push_str("<div class='o'>");
        escape::html(&tag, out);
        out.push_str("</div>");
    }
    let cta_label = tone.map_or("", |t| t.cta.as_str());
    if row {
        out.push_str("</div><span class='c'>");
        escape::html(cta_label, out);
        out.push_str("</span>");
    } else {
        out.push_str("<span class='c'>");
        escape::html(cta_label, out);
        out.push_str("</span></div>");
    }
    out.push_str("</a>");
    if let Some(impression) = trackers.impression {
        out.push_str("<img class='p' src='");
        escape::html(impression, out);
        p.hole();
        p.text.push_str("' alt=''>");
    }
    p.text.push_str("</body></html>");
    p
}

/// Renders a VAST 4.2 inline linear ad. The caller checked [`compatible`]
/// (so the content has a video). `brand` names the advertiser.
pub fn prepare_vast(
    stage: Stage,
    parts: &Parts<'_>,
    crid: &str,
    brand: &str,
    trackers: &Trackers<'_>,
) -> Prepared {
    let (m, c) = (&parts.message.body, &parts.content.body);
    let mut p = Prepared::new();
    let out = &mut p.text;
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?><VAST version=\"4.2\" xmlns=\"http://www.iab.com/VAST\"><Ad id=\"");
    escape::xml(crid, out);
    out.push_str("\"><InLine><AdSystem version=\"1\">rtb-bidder</AdSystem><AdServingId>");
    escape::xml(crid, out);
    out.push_str("-${AUCTION_ID}</AdServingId><AdTitle>");
    escape::xml(&m.headline, out);
    out.push_str("</AdTitle><Advertiser>");
    escape::xml(brand, out);
    out.push_str("</Advertiser><Description>");
    escape::xml(&c.body, out);
    if let Some(offer) = c.offer_at(stage) {
        out.push(' ');
        escape::xml(offer, out);
    }
    out.push_str("</Description>");
    // VAST requires an impression; only a preview, shown as text and never
    // played, goes without.
    if let Some(impression) = trackers.impression {
        out.push_str("<Impression id=\"bidder\">");
        escape::xml(impression, out);
        p.hole();
        p.text.push_str("</Impression>");
    }
    let out = &mut p.text;
    out.push_str("<Creatives><Creative id=\"");
    escape::xml(crid, out);
    out.push_str("\" adId=\"");
    escape::xml(crid, out);
    out.push_str("\"><UniversalAdId idRegistry=\"rtb-bidder\">");
    escape::xml(crid, out);
    out.push_str("</UniversalAdId><Linear><Duration>");
    if let Some(v) = &c.video {
        let d = v.duration_secs;
        let _ = write!(out, "{:02}:{:02}:{:02}.000", d / 3600, d / 60 % 60, d % 60);
        out.push_str("</Duration><MediaFiles><MediaFile delivery=\"progressive\" type=\"");
        escape::xml(&v.mime, out);
        let _ = write!(out, "\" width=\"{}\" height=\"{}\">", v.w, v.h);
        escape::xml(&v.url, out);
        out.push_str("</MediaFile></MediaFiles>");
    } else {
        out.push_str("00:00:00.000</Duration><MediaFiles></MediaFiles>");
    }
    out.push_str("<VideoClicks><ClickThrough id=\"bidder\">");
    escape::xml(trackers.click, out);
    p.hole();
    p.text.push_str(
        "</ClickThrough></VideoClicks></Linear></Creative></Creatives></InLine></Ad></VAST>",
    );
    p
}

/// The native asset set of a combination at `stage`; its `landing_url` is
/// the click tracker (the bid's tail is appended when rendered).
pub fn native_assets(
    stage: Stage,
    parts: &Parts<'_>,
    brand: &str,
    trackers: &Trackers<'_>,
) -> NativeAssets {
    let (m, c) = (&parts.message.body, &parts.content.body);
    let image = |b| {
        best_image(&c.images, b).map(|i| Image {
            url: i.url.clone(),
            w: i.w,
            h: i.h,
        })
    };
    let icon = c
        .images
        .iter()
        .find(|i| i.w == i.h && i.w <= 512)
        .map(|i| Image {
            url: i.url.clone(),
            w: i.w,
            h: i.h,
        });
    let mut price = None;
    if let Some(p) = &c.product {
        let mut s = String::new();
        price_text(p.price_micros, p.currency, &mut s);
        price = Some(s);
    }
    NativeAssets {
        title: m.headline.clone(),
        description: Some(c.body.clone()),
        image: image((1200, 627)),
        icon,
        cta: parts.tone.map(|t| t.body.cta.clone()),
        sponsored: Some(brand.to_owned()),
        price,
        desc2: c.offer_at(stage).map(str::to_owned),
        landing_url: trackers.click.to_owned(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::fragment::{Offer, Palette, Product, VideoAsset, Voice};
    use crate::template::BANNERS;

    pub(crate) fn message(id: i64, headline: &str) -> Approved<Message> {
        Approved {
            id: FragmentId(id),
            version: 1,
            body: Message {
                language: "en".into(),
                stages: vec![],
                headline: headline.into(),
                subline: Some("Packed in minutes".into()),
                max_length: None,
                formats: vec![],
            },
        }
    }

    pub(crate) fn content(id: i64) -> Approved<Content> {
        Approved {
            id: FragmentId(id),
            version: 2,
            body: Content {
                language: "en".into(),
                body: "Storm-proof shelters for every season.".into(),
                product: Some(Product {
                    name: "Ridge 2".into(),
                    price_micros: Micros(129_000_000),
                    currency: Currency::USD,
                }),
                offer: Some(Offer {
                    text: "10% off today".into(),
                    stages: vec![Stage::Intent],
                }),
                images: vec![ImageAsset {
                    url: "https://cdn.example/tent.jpg".into(),
                    w: 1200,
                    h: 627,
                    mime: "image/jpeg".into(),
                }],
                video: Some(VideoAsset {
                    url: "https://cdn.example/tent.mp4".into(),
                    duration_secs: 15,
                    mime: "video/mp4".into(),
                    w: 1280,
                    h: 720,
                }),
                landing_url: "https://acme.example/tents".into(),
                formats: vec![],
            },
        }
    }

    pub(crate) fn tone(id: i64) -> Approved<Tone> {
        Approved {
            id: FragmentId(id),
            version: 1,
            body: Tone {
                language: "en".into(),
                stages: vec![],
                cta: "Shop now".into(),
                palette: Palette {
                    background: "#ffffff".into(),
                    foreground: "#111111".into(),
                    accent: "#e4572e".into(),
                },
                font_stack: "Arial, sans-serif".into(),
                voice: Voice::Casual,
                formats: vec![],
            },
        }
    }

    const TRACKERS: Trackers<'static> = Trackers {
        click: "https://b.example/events/click?cid=1&combo=m1-c2-t3",
        impression: Some("https://b.example/events/imp?cid=1&combo=m1-c2-t3"),
    };

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

    #[test]
    fn offers_show_only_at_their_stages() {
        let (m, c, t) = (message(1, "Tents"), content(2), tone(3));
        let parts = Parts {
            message: &m,
            content: &c,
            tone: Some(&t),
        };
        let render = |stage| {
            let mut out = String::new();
            prepare_banner(&BANNERS[0], stage, &parts, &TRACKERS).write("&bid=1", &mut out);
            out
        };
        assert!(render(Stage::Intent).contains("10% off today"));
        let aware = render(Stage::Awareness);
        assert!(!aware.contains("10% off"));
        assert!(aware.contains("Ridge 2 · $129.00"), "product shows instead");
        assert!(shows_offer(Format::Banner(0), Stage::Intent, &c.body));
        assert!(!shows_offer(Format::Banner(2), Stage::Intent, &c.body));
    }

    #[test]
    fn hostile_text_is_escaped_in_every_format() {
        let hostile = "<script>alert('x')</script> \"quoted\" </textarea> ünï©ødé";
        let m = message(1, hostile);
        let mut c = content(2);
        c.body.body = hostile.into();
        let t = tone(3);
        let parts = Parts {
            message: &m,
            content: &c,
            tone: Some(&t),
        };
        let mut html = String::new();
        prepare_banner(&BANNERS[3], Stage::Intent, &parts, &TRACKERS).write("&x=<y>", &mut html);
        assert!(!html.contains("<script>") && !html.contains("</textarea>"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(html.contains("ünï©ødé"));
        // Both holes, the click and the impression tracker, get the tail,
        // escaped.
        assert_eq!(html.matches("&amp;x=&lt;y&gt;").count(), 2, "{html}");
        assert!(!html.contains("&x=<y>"));
        let video = Parts {
            tone: None,
            ..parts
        };
        let mut vast = String::new();
        prepare_vast(Stage::Intent, &video, "cr", "A&B", &TRACKERS).write("&bid=1", &mut vast);
        assert!(!vast.contains("<script>"));
        assert!(vast.contains("<Advertiser>A&amp;B</Advertiser>"));
    }

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

    #[test]
    fn crids_are_stable_per_version_and_offer() {
        let (m, c, t) = (message(1, "Tents"), content(2), tone(3));
        let p = Parts {
            message: &m,
            content: &c,
            tone: Some(&t),
        };
        assert_eq!(
            crid(Format::Banner(0), &p, false),
            "a300x250-m1v1-c2v2-t3v1"
        );
        assert_eq!(
            crid(Format::Banner(0), &p, true),
            "a300x250-m1v1-c2v2-t3v1-o"
        );
        assert_eq!(
            crid(Format::Video, &Parts { tone: None, ..p }, false),
            "avideo-m1v1-c2v2"
        );
    }

    #[test]
    fn prices_read_as_people_write_them() {
        let text = |m: i64, cur: &str| {
            let mut s = String::new();
            price_text(Micros(m), Currency::parse(cur).unwrap(), &mut s);
            s
        };
        assert_eq!(text(129_000_000, "USD"), "$129.00");
        assert_eq!(text(9_995_000, "EUR"), "€10.00");
        assert_eq!(text(1_499_000_000, "JPY"), "¥1,499");
        assert_eq!(text(5_250_000, "CHF"), "5.25 CHF");
        assert_eq!(text(1_249_000_000, "USD"), "$1,249.00");
        assert_eq!(text(1_234_567_890_000, "GBP"), "£1,234,567.89");
        assert_eq!(text(999_995_000, "USD"), "$1,000.00");
    }

    #[test]
    fn banners_declare_their_size_and_both_trackers() {
        let (m, c, t) = (message(1, "Tents"), content(2), tone(3));
        let parts = Parts {
            message: &m,
            content: &c,
            tone: Some(&t),
        };
        for layout in &BANNERS {
            let prepared = prepare_banner(layout, Stage::Intent, &parts, &TRACKERS);
            let mut out = String::new();
            prepared.write("&bid=7", &mut out);
            assert!(out.contains(&format!("width:{}px;height:{}px", layout.w, layout.h)));
            assert!(out.contains("events/click?cid=1&amp;combo=m1-c2-t3&amp;bid=7'"));
            assert!(out.contains("events/imp?cid=1&amp;combo=m1-c2-t3&amp;bid=7'"));
            assert!(out.contains(">Shop now<"));
        }
    }
}

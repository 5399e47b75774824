//! A banner's markup ([`prepare_banner`]): one HTML document per layout,
//! its CSS generated from the layout's boxes and the tone's palette and
//! fonts, advertiser text HTML-escaped, colours and fonts checked before
//! they reach CSS.
//!
//! Cold path, once per snapshot. Never writes a bid's tracker tail: it
//! leaves holes in the [`Prepared`] markup for the bid path to fill.

use std::fmt::Write as _;

use audiences::Stage;

use super::combo::Parts;
use super::image::best_image;
use super::prepared::{Prepared, Trackers};
use super::shown_text::tag_text;
use crate::escape::{self, is_colour, is_font_stack};
use crate::template::{Arrangement, Layout, TextBox};

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

/// Renders a banner in `layout`. The caller checked
/// [`compatible`](super::compatible).
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
        escape::html(img.url, out);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assembly::shows_offer;
    use crate::assembly::tests::{TRACKERS, content, message, tone};
    use crate::template::{BANNERS, Format};

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

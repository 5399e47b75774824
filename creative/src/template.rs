//! Templates: the formats an assembled creative can take and, for each
//! banner size, its layout and the text limits that follow from it.
//!
//! Limits are in characters and are what validation and combination
//! checks use; they are set so that text at the limit wraps inside its box
//! at the layout's font size (checked by `limits_fit_their_boxes` below
//! and, in a real browser, by the gallery test). Constant data only.

use serde::{Deserialize, Serialize};

/// One text box of a layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextBox {
    /// Font size, CSS px.
    pub px: u32,
    /// Lines it may wrap to.
    pub lines: u32,
    /// Longest text, in characters.
    pub max: u32,
}

/// How a banner arranges image and text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrangement {
    /// Image on top, text below, CTA at the bottom.
    Stacked,
    /// Image left, text in the middle, CTA right.
    Row,
}

/// The layout of one IAB banner size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// `WxH`, the format name fragments claim.
    pub name: &'static str,
    /// Width, px.
    pub w: u32,
    /// Height, px.
    pub h: u32,
    /// How image and text are arranged.
    pub arrangement: Arrangement,
    /// The image box (w, h), if the size has room for one.
    pub image: Option<(u32, u32)>,
    /// Padding around the text, px.
    pub pad: u32,
    /// Headline.
    pub headline: TextBox,
    /// Subline, if shown.
    pub subline: Option<TextBox>,
    /// Body copy, if shown.
    pub body: Option<TextBox>,
    /// The offer (or, without one, product and price), if shown.
    pub tag: Option<TextBox>,
    /// Call-to-action button label.
    pub cta: TextBox,
}

const fn tb(px: u32, lines: u32, max: u32) -> TextBox {
    TextBox { px, lines, max }
}

/// Every banner size we assemble, the common IAB sizes.
pub const BANNERS: [Layout; 7] = [
    Layout {
        name: "300x250",
        w: 300,
        h: 250,
        arrangement: Arrangement::Stacked,
        image: Some((300, 100)),
        pad: 8,
        headline: tb(16, 2, 40),
        subline: None,
        body: Some(tb(12, 2, 60)),
        tag: Some(tb(12, 1, 36)),
        cta: tb(13, 1, 18),
    },
    Layout {
        name: "728x90",
        w: 728,
        h: 90,
        arrangement: Arrangement::Row,
        image: Some((90, 90)),
        pad: 8,
        headline: tb(18, 1, 40),
        subline: None,
        body: Some(tb(12, 1, 60)),
        tag: Some(tb(12, 1, 50)),
        cta: tb(13, 1, 14),
    },
    Layout {
        name: "320x50",
        w: 320,
        h: 50,
        arrangement: Arrangement::Row,
        image: Some((50, 50)),
        pad: 4,
        headline: tb(13, 2, 30),
        subline: None,
        body: None,
        tag: None,
        cta: tb(11, 1, 12),
    },
    Layout {
        name: "300x600",
        w: 300,
        h: 600,
        arrangement: Arrangement::Stacked,
        image: Some((300, 250)),
        pad: 12,
        headline: tb(22, 3, 46),
        subline: Some(tb(14, 2, 50)),
        body: Some(tb(14, 6, 150)),
        tag: Some(tb(14, 2, 50)),
        cta: tb(15, 1, 22),
    },
    Layout {
        name: "160x600",
        w: 160,
        h: 600,
        arrangement: Arrangement::Stacked,
        image: Some((160, 160)),
        pad: 8,
        headline: tb(18, 4, 36),
        subline: Some(tb(12, 3, 36)),
        body: Some(tb(13, 8, 110)),
        tag: Some(tb(13, 3, 36)),
        cta: tb(13, 1, 14),
    },
    Layout {
        name: "970x250",
        w: 970,
        h: 250,
        arrangement: Arrangement::Row,
        image: Some((250, 250)),
        pad: 16,
        headline: tb(24, 2, 48),
        subline: Some(tb(16, 1, 44)),
        body: Some(tb(16, 3, 110)),
        tag: Some(tb(16, 1, 44)),
        cta: tb(16, 1, 20),
    },
    Layout {
        name: "320x480",
        w: 320,
        h: 480,
        arrangement: Arrangement::Stacked,
        image: Some((320, 200)),
        pad: 12,
        headline: tb(22, 2, 34),
        subline: Some(tb(14, 1, 34)),
        body: Some(tb(14, 4, 100)),
        tag: Some(tb(14, 1, 34)),
        cta: tb(15, 1, 22),
    },
];

/// Title and description limits of assembled native ads when the request
/// names none (the Native 1.2 recommendations: 90 and 140 characters).
pub const NATIVE_TITLE: u32 = 90;
/// See [`NATIVE_TITLE`].
pub const NATIVE_DESCRIPTION: u32 = 140;
/// Longest CTA label for native ads.
pub const NATIVE_CTA: u32 = 25;
/// Longest `AdTitle` of a VAST document we write.
pub const VAST_TITLE: u32 = 90;

/// A template: a banner layout, native or VAST video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Format {
    /// Index into [`BANNERS`].
    Banner(u8),
    /// OpenRTB Native 1.2.
    Native,
    /// VAST 4.2 inline linear.
    Video,
}

impl Format {
    /// Every format, banners first: the order of precomputed groups.
    pub const ALL: [Format; 9] = [
        Format::Banner(0),
        Format::Banner(1),
        Format::Banner(2),
        Format::Banner(3),
        Format::Banner(4),
        Format::Banner(5),
        Format::Banner(6),
        Format::Native,
        Format::Video,
    ];

    /// Position in [`Format::ALL`].
    pub fn index(self) -> usize {
        match self {
            Format::Banner(i) => usize::from(i),
            Format::Native => BANNERS.len(),
            Format::Video => BANNERS.len() + 1,
        }
    }

    /// The name fragments claim: `WxH`, `native`, `video`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Banner(i) => BANNERS[usize::from(i)].name,
            Format::Native => "native",
            Format::Video => "video",
        }
    }

    /// The format of a name.
    pub fn parse(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The banner format of size `w` x `h`.
    pub fn banner(w: u32, h: u32) -> Option<Format> {
        BANNERS
            .iter()
            .position(|l| l.w == w && l.h == h)
            .map(|i| Format::Banner(i as u8))
    }

    /// Its banner layout.
    pub fn layout(self) -> Option<&'static Layout> {
        match self {
            Format::Banner(i) => BANNERS.get(usize::from(i)),
            _ => None,
        }
    }

    /// Text limits in this format: (headline, subline, body, tag, cta);
    /// `None` where the format does not show that text.
    pub fn limits(self) -> Limits {
        match self {
            Format::Banner(i) => {
                let l = &BANNERS[usize::from(i)];
                Limits {
                    headline: Some(l.headline.max),
                    subline: l.subline.map(|t| t.max),
                    body: l.body.map(|t| t.max),
                    tag: l.tag.map(|t| t.max),
                    cta: Some(l.cta.max),
                }
            }
            Format::Native => Limits {
                headline: Some(NATIVE_TITLE),
                subline: None,
                body: Some(NATIVE_DESCRIPTION),
                tag: Some(NATIVE_DESCRIPTION),
                cta: Some(NATIVE_CTA),
            },
            // The offer joins the body in the VAST `Description`.
            Format::Video => Limits {
                headline: Some(VAST_TITLE),
                subline: None,
                body: Some(1000),
                tag: Some(NATIVE_DESCRIPTION),
                cta: None,
            },
        }
    }
}

/// The most characters each text may have in a format; `None` when the
/// format does not show it (so any length is fine).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Headline.
    pub headline: Option<u32>,
    /// Subline.
    pub subline: Option<u32>,
    /// Body copy.
    pub body: Option<u32>,
    /// Offer, or product and price.
    pub tag: Option<u32>,
    /// Call to action.
    pub cta: Option<u32>,
}

/// Whether a text of `len` characters fits a limit (`None`: not shown).
pub fn within(len: u32, limit: Option<u32>) -> bool {
    limit.is_none_or(|max| len <= max)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Width of the text column of a layout, px.
    fn text_width(l: &Layout) -> u32 {
        let image = match (l.arrangement, l.image) {
            (Arrangement::Row, Some((w, _))) => w,
            _ => 0,
        };
        let cta = match l.arrangement {
            Arrangement::Row => cta_width(l) + l.pad,
            Arrangement::Stacked => 0,
        };
        l.w - image - cta - 2 * l.pad
    }

    /// Width of the CTA button with the longest label, px.
    fn cta_width(l: &Layout) -> u32 {
        l.cta.max * l.cta.px * 6 / 10 + 24
    }

    #[test]
    fn limits_fit_their_boxes() {
        // A character of a proportional font averages about 0.55 em; allow
        // 0.6 em and lose a fifth of each wrapped line to word breaks.
        for l in &BANNERS {
            let width = text_width(l);
            let boxes = [Some(l.headline), l.subline, l.body, l.tag];
            for b in boxes.into_iter().flatten() {
                let per_line = width * 10 / (b.px * 6);
                let capacity = if b.lines == 1 {
                    per_line
                } else {
                    per_line * b.lines * 4 / 5
                };
                assert!(b.max <= capacity, "{}: {b:?} holds {capacity}", l.name);
            }
            assert!(cta_width(l) <= l.w - 2 * l.pad, "{}: CTA too wide", l.name);
        }
    }

    #[test]
    fn formats_round_trip_through_their_names() {
        for f in Format::ALL {
            assert_eq!(Format::parse(f.name()), Some(f));
            assert_eq!(Format::ALL[f.index()], f);
        }
        assert_eq!(Format::banner(728, 90), Some(Format::Banner(1)));
        assert_eq!(Format::banner(1, 1), None);
    }

    #[test]
    fn stacked_layouts_leave_room_for_every_box() {
        for l in BANNERS
            .iter()
            .filter(|l| l.arrangement == Arrangement::Stacked)
        {
            let line = |b: TextBox| b.lines * (b.px * 5 / 4);
            let text = [Some(l.headline), l.subline, l.body, l.tag]
                .into_iter()
                .flatten()
                .map(line)
                .sum::<u32>();
            let cta = l.cta.px * 2 + 4;
            let gaps = 4 * 4;
            let used = l.image.map_or(0, |(_, h)| h) + 2 * l.pad + text + cta + gaps;
            assert!(used <= l.h, "{}: needs {used}px", l.name);
        }
    }
}

//! Fragments: the pieces an advertiser uploads and the assembler combines.
//!
//! A creative is one **message** (what we say), one **content** (what we
//! show) and one **tone** (how we say it), laid out by a template. This
//! module holds their shapes only: plain data with serde, strict on input.
//! Rules on values live in `validate`, combining and rendering in
//! `assembly`.

use audiences::Stage;
use openrtb::{Currency, Micros};
use serde::{Deserialize, Serialize};

use crate::fixed::{Crop, CropRef};

/// What a fragment is, with its kind-specific body. On the wire
/// `{"kind": "message", "body": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "body", rename_all = "snake_case")]
pub enum FragmentBody {
    /// A headline.
    Message(Message),
    /// Body copy, product, offer, images, video, landing page.
    Content(Content),
    /// Call to action, colours, fonts, voice.
    Tone(Tone),
}

impl FragmentBody {
    /// The kind's wire name.
    pub fn kind(&self) -> FragmentKind {
        match self {
            FragmentBody::Message(_) => FragmentKind::Message,
            FragmentBody::Content(_) => FragmentKind::Content,
            FragmentBody::Tone(_) => FragmentKind::Tone,
        }
    }

    /// Language of its text, ISO-639-1 lowercase.
    pub fn language(&self) -> &str {
        match self {
            FragmentBody::Message(m) => &m.language,
            FragmentBody::Content(c) => &c.language,
            FragmentBody::Tone(t) => &t.language,
        }
    }

    /// The formats it claims to fit; empty means every format whose limits
    /// its texts meet.
    pub fn formats(&self) -> &[FormatName] {
        match self {
            FragmentBody::Message(m) => &m.formats,
            FragmentBody::Content(c) => &c.formats,
            FragmentBody::Tone(t) => &t.formats,
        }
    }
}

/// The three kinds of fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FragmentKind {
    /// See [`Message`].
    Message,
    /// See [`Content`].
    Content,
    /// See [`Tone`].
    Tone,
}

impl FragmentKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            FragmentKind::Message => "message",
            FragmentKind::Content => "content",
            FragmentKind::Tone => "tone",
        }
    }

    /// The kind of a wire name.
    pub fn parse(s: &str) -> Option<FragmentKind> {
        [
            FragmentKind::Message,
            FragmentKind::Content,
            FragmentKind::Tone,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A format name a fragment may claim: a banner size `WxH` from
/// [`crate::template::BANNERS`], `native` or `video`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FormatName(pub String);

/// What we say: a headline for the stages it suits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// ISO-639-1 language of the text.
    pub language: String,
    /// Funnel stages it suits; empty = every stage.
    #[serde(default)]
    pub stages: Vec<Stage>,
    /// The headline.
    pub headline: String,
    /// A second line under the headline, where the layout has room.
    #[serde(default)]
    pub subline: Option<String>,
    /// The longest, in characters, the advertiser allows the headline to
    /// be rendered. Headlines are never cut: a slot with less room than the
    /// headline does not use this message.
    #[serde(default)]
    pub max_length: Option<u32>,
    /// Formats it claims to fit; its texts must meet their limits.
    #[serde(default)]
    pub formats: Vec<FormatName>,
}

/// A product shown with its price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// Product name.
    pub name: String,
    /// Price in micros of `currency`.
    pub price_micros: Micros,
    /// Currency of the price.
    pub currency: Currency,
}

/// An offer, e.g. a discount, shown only at the stages it is meant for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offer {
    /// The offer's text, e.g. "10% off your first order".
    pub text: String,
    /// Stages at which it appears; at least one.
    pub stages: Vec<Stage>,
}

/// An image asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageAsset {
    /// https URL.
    pub url: String,
    /// Width in pixels.
    pub w: u32,
    /// Height in pixels.
    pub h: u32,
    /// `image/jpeg`, `image/png`, `image/gif`, `image/webp` or `image/svg+xml`.
    pub mime: String,
    /// The same picture cut to other shapes (1:1, 1.91:1, 6.4:1, ...), of
    /// the same type: each slot shows the one closest to its shape.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crops: Vec<Crop>,
}

impl ImageAsset {
    /// The image itself, then its crops.
    pub fn variants(&self) -> impl Iterator<Item = CropRef<'_>> {
        let own = CropRef {
            url: &self.url,
            w: self.w,
            h: self.h,
        };
        std::iter::once(own).chain(self.crops.iter().map(Crop::as_ref))
    }
}

/// A video asset, for VAST.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoAsset {
    /// https URL of the media file.
    pub url: String,
    /// Duration in seconds.
    pub duration_secs: u32,
    /// `video/mp4`, `video/webm` or `video/ogg`.
    pub mime: String,
    /// Width in pixels.
    pub w: u32,
    /// Height in pixels.
    pub h: u32,
    /// Bit rate in Kbps, when known: slots with bit rate limits are
    /// matched on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitrate_kbps: Option<u32>,
}

/// What we show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Content {
    /// ISO-639-1 language of the text.
    pub language: String,
    /// Body copy.
    pub body: String,
    /// A product with its price.
    #[serde(default)]
    pub product: Option<Product>,
    /// An offer for some stages.
    #[serde(default)]
    pub offer: Option<Offer>,
    /// Images; templates pick the one closest to their image box.
    #[serde(default)]
    pub images: Vec<ImageAsset>,
    /// Video, for VAST.
    #[serde(default)]
    pub video: Option<VideoAsset>,
    /// Where a click lands (https).
    pub landing_url: String,
    /// The advertiser's page about its targeting (https), for native
    /// placements that show a privacy link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_url: Option<String>,
    /// Formats it claims to fit.
    #[serde(default)]
    pub formats: Vec<FormatName>,
}

/// How a text sounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Voice {
    /// Polite and precise.
    Formal,
    /// Relaxed, first names.
    Casual,
    /// Time matters.
    Urgent,
    /// Light, with a wink.
    Playful,
    /// Friendly and reassuring.
    Warm,
}

/// Colours as `#rrggbb`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Palette {
    /// Background.
    pub background: String,
    /// Text.
    pub foreground: String,
    /// Call-to-action button and offer.
    pub accent: String,
}

/// How we say it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tone {
    /// ISO-639-1 language of the call to action.
    pub language: String,
    /// Funnel stages it suits; empty = every stage.
    #[serde(default)]
    pub stages: Vec<Stage>,
    /// Call-to-action label, e.g. "Shop now".
    pub cta: String,
    /// Colours.
    pub palette: Palette,
    /// CSS font stack, e.g. `Georgia, serif`.
    pub font_stack: String,
    /// The voice.
    pub voice: Voice,
    /// Formats it claims to fit.
    #[serde(default)]
    pub formats: Vec<FormatName>,
}

/// Whether `stages` (empty = all) contains `stage`.
pub fn suits(stages: &[Stage], stage: Stage) -> bool {
    stages.is_empty() || stages.contains(&stage)
}

impl Message {
    /// The headline's rendered length, in characters.
    pub fn rendered_length(&self) -> u32 {
        chars(&self.headline)
    }
}

impl Content {
    /// The offer's text when it is meant for `stage`.
    pub fn offer_at(&self, stage: Stage) -> Option<&str> {
        self.offer
            .as_ref()
            .filter(|o| o.stages.contains(&stage))
            .map(|o| o.text.as_str())
    }
}

/// Length of `s` in characters (what text limits count).
pub fn chars(s: &str) -> u32 {
    s.chars().count() as u32
}

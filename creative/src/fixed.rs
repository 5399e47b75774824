//! Fixed creatives: markup a buyer uploads complete, served as it is.
//!
//! A fixed creative is one of: HTML for one banner size, a native asset set
//! (rendered per request into a Native 1.2 response that honours the
//! request's required assets and length limits), or a VAST document.

use serde::{Deserialize, Serialize};

/// A complete creative of one kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FixedCreative {
    /// HTML markup for exactly one banner size.
    Html(HtmlCreative),
    /// A native asset set.
    Native(NativeAssets),
    /// A VAST 4.x document for video.
    Vast(VastCreative),
}

/// Where HTML markup wants the bidder's click tracker. Each one is replaced,
/// per bid, by a URL that counts the click and redirects to the creative's
/// `landing_url`; without it a click on a fixed banner never reaches the
/// funnel, the reports or conversion attribution.
///
/// Written in place as a plain URL (its separators are bare `&`, which HTML
/// reads as text in attributes since no parameter name starts an entity),
/// so it works in `href="..."` and in a script's string alike.
pub const CLICK_URL_MACRO: &str = "${CLICK_URL}";

/// HTML markup for one banner size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HtmlCreative {
    /// Width in pixels.
    pub w: u32,
    /// Height in pixels.
    pub h: u32,
    /// Complete markup, served as `adm`; may contain `${AUCTION_*}` macros
    /// and, with `landing_url`, [`CLICK_URL_MACRO`].
    pub markup: String,
    /// Where a click lands (https): the click tracker that replaces
    /// [`CLICK_URL_MACRO`] redirects here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landing_url: Option<String>,
}

/// An image asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// https URL.
    pub url: String,
    /// Width in pixels.
    pub w: u32,
    /// Height in pixels.
    pub h: u32,
}

/// The assets of a native ad; each request picks those it asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NativeAssets {
    /// Headline.
    pub title: String,
    /// Body text.
    #[serde(default)]
    pub description: Option<String>,
    /// Main image.
    #[serde(default)]
    pub image: Option<Image>,
    /// Icon or logo.
    #[serde(default)]
    pub icon: Option<Image>,
    /// Call-to-action label, e.g. "Shop now".
    #[serde(default)]
    pub cta: Option<String>,
    /// Sponsored-by text, usually the brand.
    #[serde(default)]
    pub sponsored: Option<String>,
    /// Price text, e.g. "$129.00" (Native data type 6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// Additional description (Native data type 10); assembled ads put
    /// the offer there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desc2: Option<String>,
    /// Where a click lands (https).
    pub landing_url: String,
}

/// A VAST document for video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VastCreative {
    /// The VAST XML, served as `adm`.
    pub document: String,
    /// Duration of the linear ad, seconds.
    pub duration_secs: u32,
    /// MIME types of its media files, e.g. `video/mp4`.
    pub mimes: Vec<String>,
    /// Width of the main media file.
    pub w: u32,
    /// Height of the main media file.
    pub h: u32,
}

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
    /// A VAST document (2.0, 3.0 or 4.x) for video.
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
    /// The same picture cut to other shapes (1:1, 1.91:1, 6.4:1, ...): a
    /// slot is filled with whichever of the image and its crops fits it
    /// best.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crops: Vec<Crop>,
}

impl Image {
    /// The image itself, then its crops, each as a crop.
    pub fn variants(&self) -> impl Iterator<Item = CropRef<'_>> {
        let own = CropRef {
            url: &self.url,
            w: self.w,
            h: self.h,
        };
        std::iter::once(own).chain(self.crops.iter().map(Crop::as_ref))
    }
}

/// One crop of an image: the same picture in another shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crop {
    /// https URL.
    pub url: String,
    /// Width in pixels.
    pub w: u32,
    /// Height in pixels.
    pub h: u32,
}

impl Crop {
    /// Borrowed.
    pub fn as_ref(&self) -> CropRef<'_> {
        CropRef {
            url: &self.url,
            w: self.w,
            h: self.h,
        }
    }
}

/// A crop (or the image itself) as a slot is filled with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropRef<'a> {
    /// https URL.
    pub url: &'a str,
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
    /// The advertiser's page about its targeting, sent to placements that
    /// show a privacy link (native `privacy: 1`); without it the bidder's
    /// configured default is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_url: Option<String>,
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
    /// The video placement subtypes (OpenRTB 2.6 `plcmt`: 1 instream, 2
    /// accompanying content, 3 interstitial, 4 standalone) it is made
    /// for; empty means any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plcmt: Vec<u32>,
    /// The VAST versions the document can be served as, newest first:
    /// written by the bidder when the creative is stored (its own version,
    /// and the older ones it uses nothing newer than), never taken from
    /// the client.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
}

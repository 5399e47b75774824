//! Creatives: what a bid shows.
//!
//! Two kinds. **Fixed creatives** a buyer uploads complete
//! ([`FixedCreative`]). **Assembled creatives**: an advertiser uploads
//! message, content and tone [`fragment`]s; a [`plan`] precomputes, per
//! campaign, every compatible combination in every [`template`] for every
//! funnel stage ([`assembly`]), and the [`learning`] policy chooses among
//! them by what users clicked.
//!
//! # Layout
//! - `fixed`: fixed creatives (HTML per size, native asset sets, VAST).
//! - [`native`]: a native asset set rendered into a Native response in the
//!   request's version, its images chosen to fit.
//! - [`fragment`]: message, content and tone shapes.
//! - [`validate`]: the rules a fragment meets before it is stored.
//! - [`template`]: banner layouts, native and VAST, and their text limits.
//! - [`escape`]: HTML/XML, JSON and CSS escaping of advertiser text.
//! - [`assembly`]: one combination into markup, a file per concept: its
//!   identity (`combo`), `compatibility`, `shown_text`, `crid`, `image`
//!   choice, the `banner`, `vast` and `native_assets` preparation, and the
//!   `prepared` markup with tracker holes that the bid path writes.
//! - [`learning`]: Thompson sampling served as probabilities.
//! - [`plan`]: a campaign's precomputed creatives and choice.
//! - [`video`]: what a video creative needs of a player, and whether a
//!   request's video slot has it.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod assembly;
pub mod escape;
mod fixed;
pub mod fragment;
pub mod learning;
pub mod native;
pub mod plan;
pub mod template;
pub mod validate;
pub mod video;

pub use fixed::{
    CLICK_URL_MACRO, Crop, CropRef, FixedCreative, HtmlCreative, Image, NativeAssets, VastCreative,
};

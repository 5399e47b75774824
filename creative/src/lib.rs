//! Creatives: what a bid shows.
//!
//! For now, fixed creatives a buyer uploads complete ([`FixedCreative`]);
//! fragment assembly and learning land here next.
//!
//! # Layout
//! - `fixed`: fixed creatives (HTML per size, native asset sets, VAST).
//! - `native`: a native asset set rendered into a Native 1.2 response.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod fixed;
pub mod native;

pub use fixed::{FixedCreative, HtmlCreative, Image, NativeAssets, VastCreative};

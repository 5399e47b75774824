//! Creatives: what a bid shows.
//!
//! For now, fixed creatives a buyer uploads complete ([`FixedCreative`]);
//! fragment assembly and learning land here next.
//!
//! # Layout
//! - `fixed`: fixed creatives (HTML per size, native asset sets, VAST).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod fixed;

pub use fixed::{FixedCreative, HtmlCreative, Image, NativeAssets, VastCreative};

//! Which of a content's images fills a box ([`best_image`]): the closest
//! aspect ratio, then one that need not be upscaled.
//!
//! Chooses only: never resizes, crops or fetches an image.

use crate::fragment::ImageAsset;

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

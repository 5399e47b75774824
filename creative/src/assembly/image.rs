//! Which of a content's images fills a box ([`best_image`]): of every
//! image and every crop of one, the closest aspect ratio, then one that
//! need not be upscaled.
//!
//! Chooses only: never resizes, crops or fetches an image.

use crate::fixed::CropRef;
use crate::fragment::ImageAsset;

/// The content image (or crop of one) closest to a box's aspect ratio,
/// preferring those at least as large.
pub fn best_image(images: &[ImageAsset], (w, h): (u32, u32)) -> Option<CropRef<'_>> {
    images
        .iter()
        .flat_map(ImageAsset::variants)
        .min_by_key(|i| (ratio_mismatch(i.w, i.h, w, h), i.w < w || i.h < h))
}

/// How far the shape `w`x`h` is from `box_w`x`box_h`, per mille of the
/// box's aspect ratio.
pub fn ratio_mismatch(w: u32, h: u32, box_w: u32, box_h: u32) -> u64 {
    let lhs = u64::from(w) * u64::from(box_h) * 1000;
    let rhs = u64::from(h) * u64::from(box_w);
    lhs.abs_diff(rhs * 1000) / rhs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::Crop;

    #[test]
    fn the_closest_crop_of_any_image_fills_the_box() {
        let crop = |name: &str, w, h| Crop {
            url: format!("https://cdn.example/{name}.jpg"),
            w,
            h,
        };
        let images = [ImageAsset {
            url: "https://cdn.example/wide.jpg".into(),
            w: 1200,
            h: 627,
            mime: "image/jpeg".into(),
            crops: vec![crop("square", 600, 600), crop("strip", 640, 100)],
        }];
        let url = |b| best_image(&images, b).map(|i| i.url);
        assert_eq!(url((90, 90)), Some("https://cdn.example/square.jpg"));
        assert_eq!(url((300, 50)), Some("https://cdn.example/strip.jpg"));
        assert_eq!(url((300, 157)), Some("https://cdn.example/wide.jpg"));
        assert_eq!(best_image(&[], (1, 1)), None);
    }
}

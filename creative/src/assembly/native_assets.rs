//! A combination as a native asset set ([`native_assets`]): title,
//! description, image, icon, call to action, brand, price, offer, and the
//! click tracker as its landing URL.
//!
//! Gathers plain values only: never escapes and never writes JSON; the
//! native renderer ([`crate::native`]) does, for each request's assets.

use audiences::Stage;

use super::combo::Parts;
use super::image::best_image;
use super::prepared::Trackers;
use super::shown_text::price_text;
use crate::fixed::{Crop, CropRef, Image, NativeAssets};

/// The native asset set of a combination at `stage`; its `landing_url` is
/// the click tracker (the bid's tail is appended when rendered). Its main
/// image is the content's closest to 1.91:1, with every other image and
/// crop of the content as its crops, so that each request's image asset
/// gets the shape closest to its own. `privacy_url` is the content's, else
/// `default_privacy`.
pub fn native_assets(
    stage: Stage,
    parts: &Parts<'_>,
    brand: &str,
    trackers: &Trackers<'_>,
    default_privacy: Option<&str>,
) -> NativeAssets {
    let (m, c) = (&parts.message.body, &parts.content.body);
    let crop = |i: CropRef<'_>| Crop {
        url: i.url.to_owned(),
        w: i.w,
        h: i.h,
    };
    let image = best_image(&c.images, (1200, 627)).map(|main| Image {
        url: main.url.to_owned(),
        w: main.w,
        h: main.h,
        crops: c
            .images
            .iter()
            .flat_map(|i| i.variants())
            .filter(|v| *v != main)
            .map(crop)
            .collect(),
    });
    let icon = c
        .images
        .iter()
        .flat_map(|i| i.variants())
        .find(|i| i.w == i.h && i.w <= 512)
        .map(|i| Image {
            url: i.url.to_owned(),
            w: i.w,
            h: i.h,
            crops: Vec::new(),
        });
    let mut price = None;
    if let Some(p) = &c.product {
        let mut s = String::new();
        price_text(p.price_micros, p.currency, &mut s);
        price = Some(s);
    }
    NativeAssets {
        title: m.headline.clone(),
        description: Some(c.body.clone()),
        image,
        icon,
        cta: parts.tone.map(|t| t.body.cta.clone()),
        sponsored: Some(brand.to_owned()),
        price,
        desc2: c.offer_at(stage).map(str::to_owned),
        landing_url: trackers.click.to_owned(),
        privacy_url: c
            .privacy_url
            .as_deref()
            .or(default_privacy)
            .map(str::to_owned),
    }
}

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
use crate::fixed::{Image, NativeAssets};

/// The native asset set of a combination at `stage`; its `landing_url` is
/// the click tracker (the bid's tail is appended when rendered).
pub fn native_assets(
    stage: Stage,
    parts: &Parts<'_>,
    brand: &str,
    trackers: &Trackers<'_>,
) -> NativeAssets {
    let (m, c) = (&parts.message.body, &parts.content.body);
    let image = |b| {
        best_image(&c.images, b).map(|i| Image {
            url: i.url.clone(),
            w: i.w,
            h: i.h,
        })
    };
    let icon = c
        .images
        .iter()
        .find(|i| i.w == i.h && i.w <= 512)
        .map(|i| Image {
            url: i.url.clone(),
            w: i.w,
            h: i.h,
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
        image: image((1200, 627)),
        icon,
        cta: parts.tone.map(|t| t.body.cta.clone()),
        sponsored: Some(brand.to_owned()),
        price,
        desc2: c.offer_at(stage).map(str::to_owned),
        landing_url: trackers.click.to_owned(),
    }
}

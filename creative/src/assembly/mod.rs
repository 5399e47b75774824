//! Assembly: one message, one content and one tone, laid out by a template,
//! into the markup of a bid.
//!
//! Split in two so that the bid path only copies bytes:
//! - **prepare** (cold, when a snapshot is built): which combinations are
//!   compatible with a format and stage, their `crid`, and their markup with
//!   every advertiser text escaped and every template value filled in,
//!   leaving holes where each bid's own tracker parameters go;
//! - **write** (hot): copy the prepared markup into the output buffer and
//!   fill the holes with this bid's tail (`&stage=..&pp=..&t=..`),
//!   escaped for the hole's context. No allocation beyond `out`.
//!
//! Pure functions of their arguments: no clock, no randomness, no I/O.
//!
//! # Layout
//! This module only declares its parts and re-exports what they offer:
//! - `combo`: fragment ids, approved versions, and which fragments a
//!   combination uses ([`ComboKey`], [`Parts`]).
//! - `compatibility`: whether a combination may be assembled into a
//!   format at a stage ([`compatible`]).
//! - `shown_text`: the lines shown that no fragment holds as written: the
//!   tag line, prices.
//! - `crid`: a combination's creative id in a format ([`crid()`]).
//! - `image`: which content image or crop fills a box ([`best_image`]).
//! - `banner`: a banner's HTML and CSS ([`prepare_banner`]).
//! - `vast`: a VAST inline linear ad in any version we write
//!   ([`prepare_vast`]).
//! - `native_assets`: a native asset set ([`native_assets()`]).
//! - `prepared`: markup with tracker holes and the bid path's
//!   [`Prepared::write`].

mod banner;
mod combo;
mod compatibility;
mod crid;
mod image;
mod native_assets;
mod prepared;
mod shown_text;
mod vast;

pub use banner::prepare_banner;
pub use combo::{Approved, ComboKey, FragmentId, Parts};
pub use compatibility::compatible;
pub use crid::crid;
pub use image::{best_image, ratio_mismatch};
pub use native_assets::native_assets;
pub use prepared::{Prepared, Trackers};
pub use shown_text::{price_text, product_line, shows_offer, tag_text};
pub use vast::prepare_vast;

/// Fragments and trackers the tests of every part assemble.
#[cfg(test)]
pub(crate) mod tests {
    use audiences::Stage;
    use openrtb::{Currency, Micros};

    use super::*;
    use crate::fragment::{
        Content, ImageAsset, Message, Offer, Palette, Product, Tone, VideoAsset, Voice,
    };
    use crate::template::BANNERS;

    pub(crate) fn message(id: i64, headline: &str) -> Approved<Message> {
        Approved {
            id: FragmentId(id),
            version: 1,
            body: Message {
                language: "en".into(),
                stages: vec![],
                headline: headline.into(),
                subline: Some("Packed in minutes".into()),
                max_length: None,
                formats: vec![],
            },
        }
    }

    pub(crate) fn content(id: i64) -> Approved<Content> {
        Approved {
            id: FragmentId(id),
            version: 2,
            body: Content {
                language: "en".into(),
                body: "Storm-proof shelters for every season.".into(),
                product: Some(Product {
                    name: "Ridge 2".into(),
                    price_micros: Micros(129_000_000),
                    currency: Currency::USD,
                }),
                offer: Some(Offer {
                    text: "10% off today".into(),
                    stages: vec![Stage::Intent],
                }),
                images: vec![ImageAsset {
                    url: "https://cdn.example/tent.jpg".into(),
                    w: 1200,
                    h: 627,
                    mime: "image/jpeg".into(),
                    crops: Vec::new(),
                }],
                video: Some(VideoAsset {
                    url: "https://cdn.example/tent.mp4".into(),
                    duration_secs: 15,
                    mime: "video/mp4".into(),
                    w: 1280,
                    h: 720,
                    bitrate_kbps: None,
                }),
                landing_url: "https://acme.example/tents".into(),
                privacy_url: None,
                formats: vec![],
            },
        }
    }

    pub(crate) fn tone(id: i64) -> Approved<Tone> {
        Approved {
            id: FragmentId(id),
            version: 1,
            body: Tone {
                language: "en".into(),
                stages: vec![],
                cta: "Shop now".into(),
                palette: Palette {
                    background: "#ffffff".into(),
                    foreground: "#111111".into(),
                    accent: "#e4572e".into(),
                },
                font_stack: "Arial, sans-serif".into(),
                voice: Voice::Casual,
                formats: vec![],
            },
        }
    }

    pub(super) const TRACKERS: Trackers<'static> = Trackers {
        click: "https://b.example/events/click?cid=1&combo=m1-c2-t3",
        impression: Some("https://b.example/events/imp?cid=1&combo=m1-c2-t3"),
    };

    #[test]
    fn hostile_text_is_escaped_in_every_format() {
        let hostile = "<script>alert('x')</script> \"quoted\" </textarea> ünï©ødé";
        let m = message(1, hostile);
        let mut c = content(2);
        c.body.body = hostile.into();
        let t = tone(3);
        let parts = Parts {
            message: &m,
            content: &c,
            tone: Some(&t),
        };
        let mut html = String::new();
        prepare_banner(&BANNERS[3], Stage::Intent, &parts, &TRACKERS).write("&x=<y>", &mut html);
        assert!(!html.contains("<script>") && !html.contains("</textarea>"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(html.contains("ünï©ødé"));
        // Both holes, the click and the impression tracker, get the tail,
        // escaped.
        assert_eq!(html.matches("&amp;x=&lt;y&gt;").count(), 2, "{html}");
        assert!(!html.contains("&x=<y>"));
        let video = Parts {
            tone: None,
            ..parts
        };
        let mut vast = String::new();
        prepare_vast(
            crate::video::VastVersion::V4_2,
            Stage::Intent,
            &video,
            "cr",
            "A&B",
            &TRACKERS,
        )
        .write("&bid=1", &mut vast);
        assert!(!vast.contains("<script>"));
        assert!(vast.contains("<Advertiser>A&amp;B</Advertiser>"));
    }
}

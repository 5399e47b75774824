//! A VAST 4.2 inline linear ad ([`prepare_vast`]) for a combination with
//! a video: title, advertiser, description, media file, click-through and
//! impression, every text XML-escaped.
//!
//! Cold path, once per snapshot. Never writes a bid's tracker tail: it
//! leaves holes in the [`Prepared`] markup for the bid path to fill.

use std::fmt::Write as _;

use audiences::Stage;

use super::combo::Parts;
use super::prepared::{Prepared, Trackers};
use crate::escape;

/// Renders a VAST 4.2 inline linear ad. The caller checked
/// [`compatible`](super::compatible) (so the content has a video). `brand`
/// names the advertiser.
pub fn prepare_vast(
    stage: Stage,
    parts: &Parts<'_>,
    crid: &str,
    brand: &str,
    trackers: &Trackers<'_>,
) -> Prepared {
    let (m, c) = (&parts.message.body, &parts.content.body);
    let mut p = Prepared::new();
    let out = &mut p.text;
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?><VAST version=\"4.2\" xmlns=\"http://www.iab.com/VAST\"><Ad id=\"");
    escape::xml(crid, out);
    out.push_str("\"><InLine><AdSystem version=\"1\">rtb-bidder</AdSystem><AdServingId>");
    escape::xml(crid, out);
    out.push_str("-${AUCTION_ID}</AdServingId><AdTitle>");
    escape::xml(&m.headline, out);
    out.push_str("</AdTitle><Advertiser>");
    escape::xml(brand, out);
    out.push_str("</Advertiser><Description>");
    escape::xml(&c.body, out);
    if let Some(offer) = c.offer_at(stage) {
        out.push(' ');
        escape::xml(offer, out);
    }
    out.push_str("</Description>");
    // VAST requires an impression; only a preview, shown as text and never
    // played, goes without.
    if let Some(impression) = trackers.impression {
        out.push_str("<Impression id=\"bidder\">");
        escape::xml(impression, out);
        p.hole();
        p.text.push_str("</Impression>");
    }
    let out = &mut p.text;
    out.push_str("<Creatives><Creative id=\"");
    escape::xml(crid, out);
    out.push_str("\" adId=\"");
    escape::xml(crid, out);
    out.push_str("\"><UniversalAdId idRegistry=\"rtb-bidder\">");
    escape::xml(crid, out);
    out.push_str("</UniversalAdId><Linear><Duration>");
    if let Some(v) = &c.video {
        let d = v.duration_secs;
        let _ = write!(out, "{:02}:{:02}:{:02}.000", d / 3600, d / 60 % 60, d % 60);
        out.push_str("</Duration><MediaFiles><MediaFile delivery=\"progressive\" type=\"");
        escape::xml(&v.mime, out);
        let _ = write!(out, "\" width=\"{}\" height=\"{}\">", v.w, v.h);
        escape::xml(&v.url, out);
        out.push_str("</MediaFile></MediaFiles>");
    } else {
        out.push_str("00:00:00.000</Duration><MediaFiles></MediaFiles>");
    }
    out.push_str("<VideoClicks><ClickThrough id=\"bidder\">");
    escape::xml(trackers.click, out);
    p.hole();
    p.text.push_str(
        "</ClickThrough></VideoClicks></Linear></Creative></Creatives></InLine></Ad></VAST>",
    );
    p
}

//! Which creative of a campaign fills a slot: an assembled one drawn by
//! the campaign's learner for the user's stage and language, else the
//! first fixed creative that fits (banner size, native assets, video
//! duration, MIME type and protocol).
//!
//! Pure: the learner's draw comes in as a number; fitting native renders go
//! into the caller's text buffer.

use audiences::Stage;
use creative::native::render_native;
use creative::plan::Item;
use creative::template::Format;
use openrtb::{BidRequest, Imp};

use super::candidates::banner_sizes;
use super::{BidContext, Chosen};
use crate::bid::snapshot::CompiledCampaign;

/// VAST protocol codes our VAST 4 documents satisfy (VAST 3 and 4, inline
/// and wrapper; players of VAST 3 play these documents).
const VAST_PROTOCOLS: [u32; 8] = [3, 6, 7, 8, 11, 12, 13, 14];

/// An assembled creative of `c` for `imp`, drawn by the campaign's
/// learner for the user's stage (unknown users count as `unaware`) in the
/// request's language: a banner in the first requested size the plan has,
/// else native (every required asset filled, no text cut), else video of an
/// accepted MIME type, duration and protocol. Never one the exchange's
/// audit rejected.
pub(super) fn choose_assembled(
    req: &BidRequest<'_>,
    imp: &Imp<'_>,
    c: &CompiledCampaign,
    stage: Option<Stage>,
    ctx: &BidContext<'_>,
    u: u32,
    text: &mut String,
) -> Option<Chosen> {
    let plan = c.plan.as_deref()?;
    let lang = plan.language(preferred_languages(req), |l| language_allowed(req, l))?;
    let stage = stage.unwrap_or(Stage::Unaware);
    let exchange = ctx.exchange.name.as_str();
    let chosen = |format: Format, allow: &mut dyn FnMut(&Item) -> bool| {
        plan.choose(lang, stage, format, u, |it| {
            it.allowed_at(exchange) && allow(it)
        })
        .map(|s| Chosen::Assembled {
            item: s.index,
            ppm: s.ppm,
            stage,
        })
    };
    if let Some(banner) = &imp.banner {
        for (w, h) in banner_sizes(banner) {
            if let Some(f) = Format::banner(w, h).filter(|f| plan.has_format(*f))
                && let Some(ch) = chosen(f, &mut |_| true)
            {
                return Some(ch);
            }
        }
    }
    if let Some(native) = &imp.native
        && plan.has_format(Format::Native)
    {
        // Rendered into the scratch text and dropped: only whether every
        // required asset fits matters here.
        let mut fits = |it: &Item| {
            let start = text.len();
            let ok = it.write("", Some(&native.request), text).is_ok();
            text.truncate(start);
            ok
        };
        if let Some(ch) = chosen(Format::Native, &mut fits) {
            return Some(ch);
        }
    }
    if let Some(video) = &imp.video
        && plan.has_format(Format::Video)
    {
        let mut fits = |it: &Item| {
            it.video
                .as_ref()
                .is_some_and(|v| video_fits(video, std::slice::from_ref(&v.mime), v.duration_secs))
        };
        if let Some(ch) = chosen(Format::Video, &mut fits) {
            return Some(ch);
        }
    }
    None
}

/// The languages the request prefers, best first: the device's, the
/// content's, then those the exchange allows.
fn preferred_languages<'r>(req: &'r BidRequest<'_>) -> impl Iterator<Item = &'r str> + 'r {
    let device = req.device.as_ref();
    let content = req
        .site
        .as_ref()
        .and_then(|s| s.content.as_ref())
        .or_else(|| req.app.as_ref().and_then(|a| a.content.as_ref()));
    device
        .and_then(|d| d.language.as_deref())
        .into_iter()
        .chain(device.and_then(|d| d.langb.as_deref()))
        .chain(content.and_then(|c| c.language.as_deref()))
        .chain(req.wlang.iter().map(|l| l.as_ref()))
        .chain(req.wlangb.iter().map(|l| l.as_ref()))
}

/// Whether the request's `wlang`/`wlangb` allow creatives in `lang`.
fn language_allowed(req: &BidRequest<'_>, lang: &str) -> bool {
    let in_wlang = req.wlang.is_empty() || req.wlang.iter().any(|w| w.eq_ignore_ascii_case(lang));
    let in_wlangb = req.wlangb.is_empty()
        || req.wlangb.iter().any(|w| {
            w.split('-')
                .next()
                .is_some_and(|p| p.eq_ignore_ascii_case(lang))
        });
    in_wlang && in_wlangb
}

/// Whether a video of `mimes` lasting `duration` seconds fits `video`.
fn video_fits(video: &openrtb::Video<'_>, mimes: &[String], duration: u32) -> bool {
    let mime_ok = video.mimes.is_empty()
        || mimes
            .iter()
            .any(|m| video.mimes.iter().any(|r| r.eq_ignore_ascii_case(m)));
    let min_ok = video.minduration.is_none_or(|min| duration >= min);
    let max_ok = video
        .maxduration
        .is_none_or(|max| max == 0 || duration <= max);
    let proto_ok =
        video.protocols.is_empty() || video.protocols.iter().any(|p| VAST_PROTOCOLS.contains(p));
    mime_ok && min_ok && max_ok && proto_ok
}

/// The first creative of `c` that fits `imp`: banner in a requested size,
/// then native with every required asset, then video of an accepted MIME
/// type, duration and protocol.
pub(super) fn choose_creative(
    imp: &Imp<'_>,
    c: &CompiledCampaign,
    text: &mut String,
) -> Option<Chosen> {
    if let Some(banner) = &imp.banner {
        let mut sizes = banner_sizes(banner).peekable();
        if sizes.peek().is_none() && !c.banners.is_empty() {
            return Some(Chosen::Banner(0));
        }
        for (w, h) in sizes {
            if let Some(k) = c.banners.iter().position(|b| b.w == w && b.h == h) {
                return Some(Chosen::Banner(k));
            }
        }
    }
    if let Some(native) = &imp.native {
        for (k, n) in c.natives.iter().enumerate() {
            let start = text.len();
            if render_native(&n.assets, &native.request, text).is_ok() {
                return Some(Chosen::Native(k, start..text.len()));
            }
        }
    }
    if let Some(video) = &imp.video
        && let Some(k) = c
            .videos
            .iter()
            .position(|v| video_fits(video, &v.mimes, v.duration_secs))
    {
        return Some(Chosen::Video(k));
    }
    None
}

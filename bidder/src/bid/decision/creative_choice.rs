//! Which creative of a campaign fills a slot: an assembled one drawn by
//! the campaign's learner for the user's stage and language, else the
//! first fixed creative that fits. Fitting means: a banner of a requested
//! size; a native ad filling every required asset (images chosen to fit);
//! a video the slot can play (`creative::video::Playable::fit`: VAST
//! version, media type, delivery, bit rate, API, duration, placement);
//! and, on a secure imp, markup that loads only https URLs.
//!
//! When none fits, the reason of the creative that came closest (see
//! [`Misses`]) says why. Pure: the learner's draw comes in as a number;
//! fitting native renders go into the caller's text buffer. The video
//! checks run only for video slots, the image checks only for native ones
//! and the secure check only for secure imps.

use audiences::Stage;
use creative::native::{NativeVersion, render_native};
use creative::plan::{Item, Slot};
use creative::template::Format;
use creative::video::{Misfit, Playable, VastVersion};
use openrtb::{BidRequest, Imp, Native};

use super::candidates::banner_sizes;
use super::{BidContext, Chosen};
use crate::bid::snapshot::CompiledCampaign;
use crate::model::NoBidReason;

/// Why the creatives tried so far did not fit: the reason of the one that
/// came closest, so that a no-bid names the rule that stopped it.
#[derive(Debug, Default)]
pub(super) struct Misses(Option<(u8, NoBidReason)>);

impl Misses {
    /// A creative was refused for `reason`, having passed `rank` checks
    /// (see [`misfit_rank`]).
    fn note(&mut self, rank: u8, reason: NoBidReason) {
        if self.0.is_none_or(|(r, _)| rank > r) {
            self.0 = Some((rank, reason));
        }
    }

    /// The reason of the closest creative; `NoMatchingCreative` when none
    /// came near (a banner of another size, a native ad without an asset).
    pub(super) fn reason(&self) -> NoBidReason {
        self.0.map_or(NoBidReason::NoMatchingCreative, |(_, r)| r)
    }
}

/// How far a video got, and its reason; the secure check comes after all
/// of them.
fn misfit_rank(m: Misfit) -> (u8, NoBidReason) {
    let reason = match m {
        Misfit::Protocol => NoBidReason::VideoProtocol,
        Misfit::Mime => NoBidReason::VideoMime,
        Misfit::Delivery => NoBidReason::VideoDelivery,
        Misfit::Bitrate => NoBidReason::VideoBitrate,
        Misfit::Api => NoBidReason::VideoApi,
        Misfit::Duration => NoBidReason::VideoDuration,
        Misfit::Placement => NoBidReason::VideoPlacement,
    };
    (1 + m as u8, reason)
}

/// Past every slot rule: only the secure check is left.
const SECURE_RANK: u8 = 10;

/// Whether a creative that fits the slot may serve it: on a secure imp,
/// only if `secure`. Notes the miss.
fn secure_enough(secure_imp: bool, secure: bool, misses: &mut Misses) -> bool {
    let ok = !secure_imp || secure;
    if !ok {
        misses.note(SECURE_RANK, NoBidReason::Insecure);
    }
    ok
}

/// The version to serve a video as in `video`, noting why it does not
/// fit when it does not.
fn video_fit(
    p: &Playable,
    video: &openrtb::Video<'_>,
    misses: &mut Misses,
) -> Option<Option<VastVersion>> {
    match p.fit(video) {
        Ok(version) => Some(version),
        Err(m) => {
            let (rank, reason) = misfit_rank(m);
            misses.note(rank, reason);
            None
        }
    }
}

/// The version a native slot answers in.
pub(crate) fn native_version(native: &Native<'_>) -> NativeVersion {
    NativeVersion::of(native.request.ver.as_deref(), native.ver.as_deref())
}

/// Whether a native render failed for an image that did not fit.
fn note_native(err: creative::native::NativeMismatch, misses: &mut Misses) {
    if err.image_fit {
        misses.note(1, NoBidReason::NativeImageFit);
    }
}

/// An assembled creative of `c` for `imp`, drawn by the campaign's
/// learner for the user's stage (unknown users count as `unaware`) in the
/// request's language: a banner in the first requested size the plan has,
/// else native (every required asset filled, no text cut), else video the
/// slot can play, in the newest VAST version it accepts. Never one the
/// exchange's audit rejected, nor an insecure one on a secure imp.
// The request, the draw, where to render and where to note misses are
// each needed; a struct for them would only be taken apart again.
#[allow(clippy::too_many_arguments)]
pub(super) fn choose_assembled(
    req: &BidRequest<'_>,
    imp: &Imp<'_>,
    c: &CompiledCampaign,
    stage: Option<Stage>,
    ctx: &BidContext<'_>,
    u: u32,
    text: &mut String,
    misses: &mut Misses,
) -> Option<Chosen> {
    let plan = c.plan.as_deref()?;
    let lang = plan.language(preferred_languages(req), |l| language_allowed(req, l))?;
    let stage = stage.unwrap_or(Stage::Unaware);
    let exchange = ctx.exchange.name.as_str();
    let secure_imp = imp.secure == Some(1);
    let mut chosen = |format: Format, allow: &mut dyn FnMut(&Item, &mut Misses) -> bool| {
        let served = plan.choose(lang, stage, format, u, |it| {
            it.allowed_at(exchange)
                && allow(it, misses)
                && secure_enough(secure_imp, it.secure, misses)
        })?;
        Some((served.item, served.index, served.ppm))
    };
    let assembled = |(index, ppm), vast| Chosen::Assembled {
        item: index,
        ppm,
        stage,
        vast,
    };
    if let Some(banner) = &imp.banner {
        for (w, h) in banner_sizes(banner) {
            if let Some(f) = Format::banner(w, h).filter(|f| plan.has_format(*f))
                && let Some((_, i, ppm)) = chosen(f, &mut |_, _| true)
            {
                return Some(assembled((i, ppm), None));
            }
        }
    }
    if let Some(native) = &imp.native
        && plan.has_format(Format::Native)
    {
        let slot = Slot::Native(&native.request, native_version(native));
        // Rendered into the scratch text and dropped: only whether every
        // required asset fits matters here.
        let mut fits = |it: &Item, misses: &mut Misses| {
            let start = text.len();
            let written = it.write_for("", slot, text);
            text.truncate(start);
            written.map_err(|e| note_native(e, misses)).is_ok()
        };
        if let Some((_, i, ppm)) = chosen(Format::Native, &mut fits) {
            return Some(assembled((i, ppm), None));
        }
    }
    if let Some(video) = &imp.video
        && plan.has_format(Format::Video)
    {
        let mut fits = |it: &Item, misses: &mut Misses| {
            it.playable
                .as_deref()
                .is_some_and(|p| video_fit(p, video, misses).is_some())
        };
        if let Some((item, i, ppm)) = chosen(Format::Video, &mut fits) {
            let version = item
                .playable
                .as_deref()
                .and_then(|p| p.fit(video).ok().flatten());
            return Some(assembled((i, ppm), version));
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

/// The first creative of `c` that fits `imp`: banner in a requested size,
/// then native with every required asset, then video the slot can play
/// (in the newest VAST version it accepts); on a secure imp, only secure
/// ones.
pub(super) fn choose_creative(
    imp: &Imp<'_>,
    c: &CompiledCampaign,
    text: &mut String,
    misses: &mut Misses,
) -> Option<Chosen> {
    let secure_imp = imp.secure == Some(1);
    if let Some(banner) = &imp.banner {
        let mut sizes = banner_sizes(banner).peekable();
        let secure =
            |k: usize, misses: &mut Misses| secure_enough(secure_imp, c.banners[k].secure, misses);
        if sizes.peek().is_none()
            && let Some(k) = (0..c.banners.len()).find(|k| secure(*k, misses))
        {
            return Some(Chosen::Banner(k));
        }
        for (w, h) in sizes {
            let fits = |k: &usize| c.banners[*k].w == w && c.banners[*k].h == h;
            if let Some(k) = (0..c.banners.len())
                .filter(fits)
                .find(|k| secure(*k, misses))
            {
                return Some(Chosen::Banner(k));
            }
        }
    }
    if let Some(native) = &imp.native {
        for (k, n) in c.natives.iter().enumerate() {
            let start = text.len();
            match render_native(&n.assets, &native.request, text) {
                Ok(()) if secure_enough(secure_imp, n.secure, misses) => {
                    return Some(Chosen::Native(k, start..text.len()));
                }
                Ok(()) => text.truncate(start),
                Err(e) => note_native(e, misses),
            }
        }
    }
    if let Some(video) = &imp.video {
        for (k, v) in c.videos.iter().enumerate() {
            if let Some(version) = video_fit(&v.playable, video, misses)
                && secure_enough(secure_imp, v.secure, misses)
            {
                return Some(Chosen::Video(k, version));
            }
        }
    }
    None
}

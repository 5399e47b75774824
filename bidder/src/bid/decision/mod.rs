//! The decision: which campaign bids on which impression, at what price,
//! with which creative, and with which notice URLs.
//!
//! Reads only the immutable [`Snapshot`] and the request; writes only the
//! caller's [`Scratch`]. Never blocks, locks or does I/O. Per request:
//! 1. pick the answer currency (the exchange's if the request allows it);
//! 2. AND the index bitsets for the request's country, device type, OS and
//!    site/app, then per impression for its formats and banner sizes: a few
//!    word operations per 64 campaigns, whatever their rules;
//! 3. visit the candidates most valuable first; the first that passes the
//!    [`filters`], prices above the floor ([`pricing`]) and has a creative
//!    that fits the slot bids on that impression;
//! 4. build the bids, borrowing from the request, the snapshot and the
//!    scratch buffers.
//!
//! Notice URLs point at `{public_url}/events/{win,bill,loss}` with the
//! exchange's macros (`${AUCTION_PRICE}`, ...) in place. When an exchange
//! does not call `burl`, the win notice is the billing point and no `burl`
//! is sent.

pub mod filters;
pub mod pricing;
pub mod user;

use std::fmt::Write as _;
use std::ops::Range;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use audiences::{Stage, StageMultipliers};
use creative::learning::Draws;
use creative::native::{Links, render_native, render_native_with};
use creative::plan::{Item, Render};
use creative::template::Format;
use openrtb::macros::{AUCTION_CURRENCY, AUCTION_ID, AUCTION_IMP_ID, AUCTION_LOSS, AUCTION_PRICE};
use openrtb::{Bid, BidRequest, BidResponse, Currency, Imp, Micros, SeatBid};
use smallvec::SmallVec;

pub use user::UserView;

use super::fx::FxRates;
use super::snapshot::bitset::{Bitset, and_into, intersect_into, ones, or_into};
use super::snapshot::{CompiledCampaign, Index, Snapshot};
use crate::model::NoBidReason;

use crate::events::token::{Claims, auction_hash};
use crate::model::UnixTime;
use crate::state::budget::{Refused, impression_cost};
use crate::state::frequency::Subject;
use crate::state::reports::BidFact;

/// Settings every snapshot is built with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base URL of the notice endpoints, without trailing slash.
    pub public_url: String,
    /// Exchange rates.
    pub fx: FxRates,
    /// `bid.exp`, when set.
    pub bid_ttl_secs: Option<u32>,
    /// How assembled creatives are chosen.
    pub creative: creative::learning::Policy,
    /// Signs the token of every notice and tracker URL.
    pub signer: crate::events::token::Signer,
    /// Every campaign's budget account.
    pub ledger: std::sync::Arc<crate::state::budget::Ledger>,
    /// Membership lifetime of users moved into a funnel stage by events.
    pub move_ttl_secs: u32,
    /// Per-user impression counts (frequency caps, recency).
    pub frequency: std::sync::Arc<crate::state::frequency::Frequency>,
}

/// What the decision needs to know about the exchange that asked.
#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeProfile {
    /// Name, in notice URLs (config names are `[A-Za-z0-9_-]`, URL-safe).
    pub name: String,
    /// Its position in the configuration (in event tokens).
    pub index: u8,
    /// Our seat at this exchange.
    pub seat: Option<String>,
    /// Currency we prefer to answer in.
    pub currency: Currency,
    /// Whether it calls `burl`.
    pub sends_burl: bool,
}

/// Per-request context.
#[derive(Debug, Clone, Copy)]
pub struct BidContext<'a> {
    /// The exchange that sent the request.
    pub exchange: &'a ExchangeProfile,
    /// The current time (flight dates).
    pub now: UnixTime,
    /// The user: consent verdict and funnel stages.
    pub user: &'a UserView,
}

/// The result of deciding on one request.
// The bid variant is large (bids inline in a SmallVec); it lives once per
// request on the stack, where boxing it would cost an allocation instead.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Outcome<'a> {
    /// At least one bid.
    Bid(Decision<'a>),
    /// No bid, and the reason of the candidate that came closest.
    NoBid(NoBidReason),
}

/// The bids of one answer.
#[derive(Debug)]
pub struct Decision<'a> {
    /// The request id.
    pub request_id: &'a str,
    /// Currency of every price.
    pub cur: Currency,
    /// Our seat.
    pub seat: Option<&'a str>,
    /// At most one bid per impression.
    pub bids: SmallVec<[Bid<'a>; 4]>,
    /// Per bid, what reports count it under.
    pub facts: SmallVec<[BidFact; 4]>,
}

impl Decision<'_> {
    /// Writes the BidResponse JSON into `out`.
    pub fn write_into(&self, out: &mut Vec<u8>) {
        let seatbid = [SeatBid {
            seat: self.seat,
            bid: &self.bids,
        }];
        BidResponse {
            id: self.request_id,
            bidid: self.bids.first().map(|b| b.id),
            cur: self.cur,
            seatbid: &seatbid,
            nbr: None,
        }
        .write_into(out);
    }
}

/// Buffers reused across requests on one thread.
#[derive(Debug, Default)]
pub struct Scratch {
    base: Vec<u64>,
    imp_set: Vec<u64>,
    text: String,
    picks: Vec<Pick>,
}

impl Scratch {
    /// Empty buffers; they grow to the largest request seen and stay.
    pub fn new() -> Scratch {
        Scratch::default()
    }
}

/// A bid decided in the first pass, its strings as ranges of `Scratch::text`.
#[derive(Debug)]
struct Pick {
    imp: usize,
    campaign: usize,
    stage: Option<Stage>,
    creative: Chosen,
    price: Micros,
    deal: Option<usize>,
    id: Range<usize>,
    nurl: Range<usize>,
    burl: Option<Range<usize>>,
    lurl: Range<usize>,
    /// The markup as sent: an assembled creative rendered with this bid's
    /// trackers, or a fixed one with its impression tracker added.
    adm: Range<usize>,
}

#[derive(Debug)]
enum Chosen {
    Banner(usize),
    Native(usize, Range<usize>),
    Video(usize),
    /// Item `item` of the campaign's plan, drawn with probability `ppm`
    /// (parts per million) for a user at `stage`.
    Assembled {
        item: u32,
        ppm: u32,
        stage: Stage,
    },
}

/// VAST protocol codes our VAST 4 documents satisfy (VAST 3 and 4, inline
/// and wrapper; players of VAST 3 play these documents).
const VAST_PROTOCOLS: [u32; 8] = [3, 6, 7, 8, 11, 12, 13, 14];

/// Decides on `req`. See the module documentation for the steps.
pub fn decide<'a>(
    req: &'a BidRequest<'a>,
    snap: &'a Snapshot,
    ctx: &BidContext<'a>,
    scratch: &'a mut Scratch,
) -> Outcome<'a> {
    let fx = &snap.settings.fx;
    let Some(cur) = answer_currency(req, ctx.exchange, fx) else {
        return Outcome::NoBid(NoBidReason::UnsupportedCurrency);
    };
    scratch.text.clear();
    scratch.picks.clear();
    base_candidates(req, &snap.index, &mut scratch.base);
    let origin = Origin::of(req, cur);
    // The reason of the candidate that came closest to bidding.
    let mut closest: Option<NoBidReason> = None;

    for (i, imp) in req.imp.iter().enumerate() {
        imp_candidates(imp, &snap.index, &scratch.base, &mut scratch.imp_set);
        for ci in ones(&scratch.imp_set) {
            let c = &snap.campaigns[ci];
            match consider(req, imp, c, ctx, snap, cur, &mut scratch.text) {
                Ok(considered) => {
                    let pick = notices(
                        (&req.id, i, imp),
                        ci,
                        considered,
                        (ctx, &origin),
                        snap,
                        &mut scratch.text,
                    );
                    scratch.picks.push(pick);
                    break;
                }
                Err(reason) => {
                    if closest.is_none_or(|c| reason.progress() > c.progress()) {
                        closest = Some(reason);
                    }
                }
            }
        }
    }
    if scratch.picks.is_empty() {
        return Outcome::NoBid(closest.unwrap_or(NoBidReason::NoEligibleCampaign));
    }

    let scratch: &'a Scratch = scratch;
    let text = scratch.text.as_str();
    let bids = scratch
        .picks
        .iter()
        .map(|p| {
            let imp = &req.imp[p.imp];
            let c = &snap.campaigns[p.campaign];
            let (crid, adm, w, h, mtype, iurl): (&str, &str, _, _, _, _) = match &p.creative {
                Chosen::Banner(k) => {
                    let b = &c.banners[*k];
                    (&b.crid, &text[p.adm.clone()], Some(b.w), Some(b.h), 1, None)
                }
                Chosen::Native(k, r) => {
                    let n = &c.natives[*k];
                    let iurl = n.assets.image.as_ref().map(|i| i.url.as_str());
                    // The render with the tracker, else the fitting render.
                    let adm = if p.adm.is_empty() { r } else { &p.adm };
                    (&n.crid, &text[adm.clone()], None, None, 4, iurl)
                }
                Chosen::Video(k) => {
                    let v = &c.videos[*k];
                    let adm = &text[p.adm.clone()];
                    (&v.crid, adm, Some(v.w), Some(v.h), 2, None)
                }
                Chosen::Assembled { item, .. } => {
                    let it = assembled_item(c, *item);
                    let adm = &text[p.adm.clone()];
                    match (it.format, &it.render) {
                        (Format::Banner(_), _) => {
                            let l = it.format.layout();
                            (&*it.crid, adm, l.map(|l| l.w), l.map(|l| l.h), 1, None)
                        }
                        (Format::Video, _) => {
                            let v = it.video.as_ref();
                            (&*it.crid, adm, v.map(|v| v.w), v.map(|v| v.h), 2, None)
                        }
                        (Format::Native, Render::Native { assets, .. }) => {
                            let iurl = assets.image.as_ref().map(|i| i.url.as_str());
                            (&*it.crid, adm, None, None, 4, iurl)
                        }
                        (Format::Native, Render::Markup(_)) => {
                            (&*it.crid, adm, None, None, 4, None)
                        }
                    }
                }
            };
            Bid {
                id: &text[p.id.clone()],
                impid: &imp.id,
                price: p.price,
                adm: Some(adm),
                nurl: Some(&text[p.nurl.clone()]),
                burl: p.burl.clone().map(|r| &text[r]),
                lurl: Some(&text[p.lurl.clone()]),
                adomain: &c.adomain,
                bundle: c.app_bundle.as_deref(),
                iurl,
                cid: Some(&c.cid),
                crid: Some(crid),
                cat: &c.cat,
                attr: &c.attr,
                dealid: p
                    .deal
                    .and_then(|d| imp.pmp.as_ref().map(|pmp| pmp.deals[d].id.as_ref())),
                w,
                h,
                mtype: Some(mtype),
                exp: snap.settings.bid_ttl_secs,
            }
        })
        .collect();
    let facts = scratch
        .picks
        .iter()
        .map(|p| BidFact {
            campaign: snap.campaigns[p.campaign].id,
            stage: p.stage,
            combo: match &p.creative {
                Chosen::Assembled { item, .. } => {
                    Some(assembled_item(&snap.campaigns[p.campaign], *item).key)
                }
                _ => None,
            },
        })
        .collect();
    Outcome::Bid(Decision {
        request_id: &req.id,
        cur,
        seat: ctx.exchange.seat.as_deref(),
        bids,
        facts,
    })
}

/// The currency of the answer: the exchange's preferred one if the request
/// allows it, else the first allowed one we have a rate for. A request
/// without `cur` allows USD only.
fn answer_currency(req: &BidRequest<'_>, ex: &ExchangeProfile, fx: &FxRates) -> Option<Currency> {
    if req.cur.is_empty() {
        return Some(Currency::USD);
    }
    let allowed = || req.cur.iter().filter_map(|c| Currency::parse(c));
    if allowed().any(|c| c == ex.currency) && fx.rate(ex.currency).is_some() {
        return Some(ex.currency);
    }
    allowed().find(|c| fx.rate(*c).is_some())
}

/// Where a request came from, as event tokens carry it (for reports), and
/// the answer's currency.
struct Origin {
    cur: Currency,
    country: [u8; 3],
    device_type: u8,
}

/// Where `req` came from, as reports group it.
pub fn origin(req: &BidRequest<'_>, exchange: &ExchangeProfile) -> crate::state::reports::Origin {
    let o = Origin::of(req, Currency::USD);
    crate::state::reports::Origin {
        exchange: exchange.index,
        country: o.country,
        device_type: o.device_type,
    }
}

impl Origin {
    fn of(req: &BidRequest<'_>, cur: Currency) -> Origin {
        let device = req.device.as_ref();
        let geo = device
            .and_then(|d| d.geo.as_ref())
            .or_else(|| req.user.as_ref().and_then(|u| u.geo.as_ref()));
        let mut buf = [0u8; 3];
        let country = geo
            .and_then(|g| g.country.as_deref())
            .and_then(|c| upper3(c, &mut buf))
            .and_then(|c| <[u8; 3]>::try_from(c.as_bytes()).ok())
            .unwrap_or([0; 3]);
        let device_type = device
            .and_then(|d| d.devicetype)
            .and_then(|t| u8::try_from(t).ok())
            .unwrap_or(0);
        Origin {
            cur,
            country,
            device_type,
        }
    }
}

/// Campaigns whose country, device type, OS and inventory rules admit the
/// request, into `out`.
fn base_candidates(req: &BidRequest<'_>, ix: &Index, out: &mut Vec<u64>) {
    let device = req.device.as_ref();
    let geo = device
        .and_then(|d| d.geo.as_ref())
        .or_else(|| req.user.as_ref().and_then(|u| u.geo.as_ref()));
    let mut country_buf = [0u8; 3];
    let country = geo
        .and_then(|g| g.country.as_deref())
        .and_then(|c| upper3(c, &mut country_buf))
        .and_then(|c| ix.country.get(c));
    let device_type = device
        .and_then(|d| d.devicetype)
        .and_then(|t| ix.device_type.get(&t));
    let mut os_buf = [0u8; 32];
    let os = device
        .and_then(|d| d.os.as_deref())
        .and_then(|o| lower_into(o, &mut os_buf))
        .and_then(|o| ix.os.get(o));
    // A value no campaign names admits only the campaigns open to any.
    fn either<'a>(named: Option<&'a Bitset>, any: &'a Bitset) -> (&'a [u64], &'a [u64]) {
        (named.map_or(any.words(), Bitset::words), any.words())
    }
    let inventory = if req.app.is_some() {
        ix.app.words()
    } else if req.site.is_some() {
        ix.site.words()
    } else {
        ix.all.words()
    };
    intersect_into(
        out,
        ix.all.words(),
        [
            either(country, &ix.country_any),
            either(device_type, &ix.device_type_any),
            either(os, &ix.os_any),
        ],
        inventory,
    );
}

/// Of `base`, the campaigns with a creative of a format and size `imp`
/// takes, into `out`.
fn imp_candidates(imp: &Imp<'_>, ix: &Index, base: &[u64], out: &mut Vec<u64>) {
    let mut takes: SmallVec<[&Bitset; 4]> = SmallVec::new();
    if let Some(banner) = &imp.banner {
        let mut any_size = false;
        for (w, h) in banner_sizes(banner) {
            any_size = true;
            takes.extend(ix.banner_size.get(&(w, h)));
        }
        if !any_size {
            takes.push(&ix.banner_any);
        }
    }
    if imp.native.is_some() {
        takes.push(&ix.native);
    }
    if imp.video.is_some() {
        takes.push(&ix.video);
    }
    out.clear();
    // Most impressions take one format in one size: one pass.
    if let [only] = takes[..] {
        out.extend(only.words().iter().zip(base).map(|(a, b)| a & b));
        return;
    }
    out.resize(ix.words, 0);
    for set in takes {
        or_into(out, set);
    }
    and_into(out, base);
}

/// The sizes a banner slot accepts, in the exchange's order of preference.
fn banner_sizes<'r>(b: &'r openrtb::Banner<'_>) -> impl Iterator<Item = (u32, u32)> + 'r {
    let single = match (b.w, b.h) {
        (Some(w), Some(h)) if w > 0 && h > 0 => Some((w, h)),
        _ => None,
    };
    b.format
        .iter()
        .filter(|f| f.w > 0 && f.h > 0)
        .map(|f| (f.w, f.h))
        .chain(single)
}

/// A candidate that passed: its creative, the user's stage in its funnel,
/// its price in the answer currency and its deal.
#[derive(Debug)]
struct Considered {
    creative: Chosen,
    stage: Option<Stage>,
    price: Micros,
    deal: Option<usize>,
}

/// Checks one candidate for one impression.
fn consider(
    req: &BidRequest<'_>,
    imp: &Imp<'_>,
    c: &CompiledCampaign,
    ctx: &BidContext<'_>,
    snap: &Snapshot,
    cur: Currency,
    text: &mut String,
) -> Result<Considered, NoBidReason> {
    filters::check(req, imp, c, ctx)?;
    let stage = c
        .audience
        .as_ref()
        .and_then(|a| ctx.user.stage(a.funnel_id));
    if c.audience.as_ref().is_some_and(|a| !a.admits(stage)) {
        return Err(NoBidReason::AudienceStage);
    }
    if let Some(user) = ctx.user.key {
        let f = &snap.settings.frequency;
        if !f.allows(
            user,
            Subject::Campaign(c.id),
            &c.frequency,
            ctx.now,
            &c.calendar,
        ) || !f.allows(
            user,
            Subject::Advertiser(c.advertiser_id),
            &c.advertiser_frequency,
            ctx.now,
            &c.advertiser_calendar,
        ) {
            return Err(NoBidReason::FrequencyCapped);
        }
    }
    let multiplier = stage.map_or(StageMultipliers::ONE, |s| c.multipliers.get(s));
    let fx = &snap.settings.fx;
    let priced = pricing::price(imp, req.at, c, multiplier, ctx.exchange.seat.as_deref(), fx)?;
    let converted = fx
        .convert(priced.price, c.currency, cur)
        .ok_or(NoBidReason::UnsupportedCurrency)?;
    let floor = fx
        .convert_up(priced.floor, priced.floor_cur, cur)
        .ok_or(NoBidReason::UnsupportedCurrency)?;
    let seed = snap.settings.creative.seed;
    let creative = choose_assembled(req, imp, c, stage, ctx, seed, text)
        .or_else(|| choose_creative(imp, c, text))
        .ok_or(NoBidReason::NoMatchingCreative)?;
    let price = converted.max(floor);
    // Last, so that only a bid about to be sent holds a reservation.
    let in_own = fx
        .convert_up(price, cur, c.currency)
        .ok_or(NoBidReason::UnsupportedCurrency)?;
    c.account
        .try_reserve(&c.limits, impression_cost(in_own), ctx.now, draw(seed))
        .map_err(|r| match r {
            Refused::Exhausted => NoBidReason::BudgetExhausted,
            Refused::Paced => NoBidReason::Paced,
        })?;
    Ok(Considered {
        creative,
        stage,
        price,
        deal: priced.deal,
    })
}

/// An assembled creative of `c` for `imp`, drawn by the campaign's
/// learner for the user's stage (unknown users count as `unaware`) in the
/// request's language: a banner in the first requested size the plan has,
/// else native (every required asset filled, no text cut), else video of an
/// accepted MIME type, duration and protocol. Never one the exchange's
/// audit rejected.
fn choose_assembled(
    req: &BidRequest<'_>,
    imp: &Imp<'_>,
    c: &CompiledCampaign,
    stage: Option<Stage>,
    ctx: &BidContext<'_>,
    seed: Option<u64>,
    text: &mut String,
) -> Option<Chosen> {
    let plan = c.plan.as_deref()?;
    let lang = plan.language(preferred_languages(req), |l| language_allowed(req, l))?;
    let stage = stage.unwrap_or(Stage::Unaware);
    let exchange = ctx.exchange.name.as_str();
    let u = draw(seed);
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

/// One uniform draw for the learner, from this thread's generator.
fn draw(seed: Option<u64>) -> u32 {
    thread_local! {
        static DRAWS: std::cell::Cell<Option<Draws>> = const { std::cell::Cell::new(None) };
    }
    DRAWS.with(|d| {
        let mut draws = d
            .take()
            .unwrap_or_else(|| Draws::new(seed.unwrap_or_else(creative::learning::random_seed)));
        let u = draws.next_u32();
        d.set(Some(draws));
        u
    })
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

/// Item `i` of `c`'s plan (the decision only stores indices it drew from
/// that plan).
fn assembled_item(c: &CompiledCampaign, i: u32) -> &Item {
    let plan = c
        .plan
        .as_deref()
        .expect("assembled pick of a campaign with a plan");
    &plan.items()[i as usize]
}

/// The first creative of `c` that fits `imp`: banner in a requested size,
/// then native with every required asset, then video of an accepted MIME
/// type, duration and protocol.
fn choose_creative(imp: &Imp<'_>, c: &CompiledCampaign, text: &mut String) -> Option<Chosen> {
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

/// A process-unique bid id and the notice URLs, written into `text`. The
/// URLs carry the user's stage (`-` when unknown), so that what the notices
/// report can be attributed to it.
fn notices(
    (request_id, imp, imp_req): (&str, usize, &Imp<'_>),
    campaign: usize,
    considered: Considered,
    (ctx, origin): (&BidContext<'_>, &Origin),
    snap: &Snapshot,
    text: &mut String,
) -> Pick {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static PROCESS: OnceLock<u64> = OnceLock::new();
    // Bid ids must not repeat across restarts either: prefix the counter
    // with the process start time in nanoseconds.
    let process = *PROCESS.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let start = text.len();
    push_hex(text, process);
    text.push('-');
    push_hex(text, n);
    let id = start..text.len();

    let Considered {
        creative,
        stage,
        price,
        deal,
    } = considered;
    let c = &snap.campaigns[campaign];
    // The URLs show the user's stage as known (`-`: unknown or not to be
    // used). An assembled creative was chosen for a stage (unknown users
    // count as unaware): its reactions teach that stage, and reports count
    // the bid and its events there.
    let stage_name = stage.map_or("-", Stage::as_str);
    let stage = match &creative {
        Chosen::Assembled { stage, .. } => Some(*stage),
        _ => stage,
    };
    // Everything the notices will claim, signed once for all of them.
    let token = snap.settings.signer.sign(&Claims {
        issued: ctx.now.0.clamp(0, i64::from(u32::MAX)) as u32,
        exchange: ctx.exchange.index,
        campaign: c.id,
        price,
        stage,
        combo: match &creative {
            Chosen::Assembled { item, .. } => Some(assembled_item(c, *item).key),
            _ => None,
        },
        user: ctx.user.key,
        bid: (process, n),
        auction: auction_hash(request_id, &imp_req.id),
        currency: origin.cur,
        country: origin.country,
        device_type: origin.device_type,
    });
    // The markup of an assembled creative carries the bid's tail in its
    // trackers: the stage and the probability the combination was drawn
    // with (for offline evaluation), and the token, which names the bid.
    let mut adm = 0..0;
    if let Chosen::Assembled { item, ppm, stage } = &creative {
        let mut tail = StackText::<256>::new();
        for piece in [
            "&stage=",
            stage.as_str(),
            "&pp=",
            itoa::Buffer::new().format(*ppm),
            "&t=",
            token.as_str(),
        ] {
            let _ = tail.write_str(piece);
        }
        let start = text.len();
        let native = imp_req.native.as_ref().map(|n| &n.request);
        // The fit was checked when it was drawn; a failure here leaves an
        // empty adm only if that check and this render disagree.
        let _ = assembled_item(c, *item).write(tail.as_str(), native, text);
        adm = start..text.len();
    }
    // A fixed creative gets the impression tracker added: a 1x1 pixel after
    // the HTML, an `<Impression>` in the VAST document, an event tracker in
    // the native response. Without it frequency caps, funnel moves and
    // reports would never see the impressions of fixed creatives. Clicks
    // go through the click tracker for the same reason: where the HTML
    // says `${CLICK_URL}`, first in VAST's `<VideoClicks>`, as the native
    // link. The snapshot placed them; the bid fills in its tail.
    if !matches!(creative, Chosen::Assembled { .. }) {
        let start = text.len();
        match &creative {
            Chosen::Banner(k) => c.banners[*k].markup.write(stage_name, token.as_str(), text),
            Chosen::Video(k) => c.videos[*k]
                .document
                .write(stage_name, token.as_str(), text),
            Chosen::Native(k, _) => {
                if let Some(native) = &imp_req.native {
                    let ad = &c.natives[*k];
                    let mut tail = StackText::<256>::new();
                    for piece in ["&stage=", stage_name, "&t=", token.as_str()] {
                        let _ = tail.write_str(piece);
                    }
                    let links = Links {
                        click: Some(&ad.click),
                        tail: tail.as_str(),
                        impression: Some(&ad.impression),
                        strict: false,
                    };
                    // The same assets fitted when the creative was chosen.
                    let _ = render_native_with(&ad.assets, &native.request, &links, text);
                }
            }
            Chosen::Assembled { .. } => {}
        }
        adm = start..text.len();
    }
    let combo = match &creative {
        Chosen::Assembled { item, ppm, .. } => Some((assembled_item(c, *item).key, *ppm)),
        _ => None,
    };
    // Notice URLs carry the macros, what the exchange cannot read in the
    // bid itself (stage, combination, propensity) and the token; the bid
    // id, campaign, creative and exchange are in the bid and in the token,
    // and repeating them in three URLs cost 200 bytes an answer.
    // Each is the snapshot's prefix for its kind and a tail they share,
    // written once: `write!` went through `fmt` for every piece (4 % of the
    // bid path), and pushing the pieces into each URL took 60 copies a bid.
    // Stage, combination and propensity take at most 103 bytes.
    let mut tail = StackText::<{ 128 + crate::events::token::TOKEN_LEN }>::new();
    let _ = tail.write_str("&stage=");
    let _ = tail.write_str(stage_name);
    if let Some((key, ppm)) = combo {
        let _ = tail.write_str("&combo=");
        let _ = key.write(&mut tail);
        let _ = tail.write_str("&pp=");
        let _ = tail.write_str(itoa::Buffer::new().format(ppm));
    }
    let before_token = tail.len;
    let _ = tail.write_str("&t=");
    let _ = tail.write_str(token.as_str());
    let tail = tail.as_str();
    let url = |pieces: &[&str], text: &mut String| {
        let start = text.len();
        for piece in pieces {
            text.push_str(piece);
        }
        start..text.len()
    };
    let prefix = &snap.notice_prefixes;
    let nurl = url(&[&prefix.win, tail], text);
    let burl = ctx
        .exchange
        .sends_burl
        .then(|| url(&[&prefix.bill, tail], text));
    let lurl = url(
        &[
            &prefix.loss,
            &tail[..before_token],
            "&loss=",
            AUCTION_LOSS,
            "&t=",
            token.as_str(),
        ],
        text,
    );
    Pick {
        imp,
        campaign,
        stage,
        creative,
        price,
        deal,
        id,
        nurl,
        burl,
        lurl,
        adm,
    }
}

/// Appends `v` in lower-case hex without leading zeros, as `{v:x}` would,
/// without going through `fmt`.
fn push_hex(text: &mut String, v: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 16];
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        buf[i] = DIGITS[(v & 0xf) as usize];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    // Only ASCII hex digits were written.
    text.push_str(std::str::from_utf8(&buf[i..]).unwrap_or(""));
}

/// The fixed start of each notice URL, up to the bid's own part:
/// `{public}/events/win?auction=${AUCTION_ID}&imp=...&cur=${AUCTION_CURRENCY}`.
#[derive(Debug)]
pub struct NoticePrefixes {
    /// The win notice's (`nurl`).
    pub win: String,
    /// The billing notice's (`burl`).
    pub bill: String,
    /// The loss notice's (`lurl`).
    pub loss: String,
}

impl NoticePrefixes {
    /// The prefixes of notices sent to `public_url`.
    pub fn new(public_url: &str) -> NoticePrefixes {
        let prefix = |kind: &str| {
            format!(
                "{public_url}/events/{kind}?auction={AUCTION_ID}&imp={AUCTION_IMP_ID}\
                 &price={AUCTION_PRICE}&cur={AUCTION_CURRENCY}"
            )
        };
        NoticePrefixes {
            win: prefix("win"),
            bill: prefix("bill"),
            loss: prefix("loss"),
        }
    }
}

/// A short string on the stack, for text assembled per bid that must not
/// allocate.
struct StackText<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackText<N> {
    fn new() -> Self {
        StackText {
            buf: [0; N],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        // Only whole `&str`s are ever copied in.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> std::fmt::Write for StackText<N> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// `s` uppercased into `buf` when it is three bytes (ISO alpha-3).
fn upper3<'b>(s: &str, buf: &'b mut [u8; 3]) -> Option<&'b str> {
    let b = s.as_bytes();
    if b.len() != 3 {
        return None;
    }
    for (o, c) in buf.iter_mut().zip(b) {
        *o = c.to_ascii_uppercase();
    }
    std::str::from_utf8(buf).ok()
}

/// `s` lowercased into `buf` when it fits.
fn lower_into<'b>(s: &str, buf: &'b mut [u8; 32]) -> Option<&'b str> {
    let b = s.trim().as_bytes();
    let out = buf.get_mut(..b.len())?;
    for (o, c) in out.iter_mut().zip(b) {
        *o = c.to_ascii_lowercase();
    }
    std::str::from_utf8(out).ok()
}

#[cfg(test)]
mod tests;

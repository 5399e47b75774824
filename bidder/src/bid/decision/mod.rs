//! The decision: which campaign bids on which impression, at what price,
//! with which creative. **Pure**: a function of the request, the snapshot
//! and read-only views of the counters (budgets, frequency counts) in the
//! [`BidContext`]; it writes only the caller's [`Scratch`]. Called twice on
//! the same inputs it makes the same picks and changes no counter, so the
//! bid path, tests, an explanation of a no-bid and a forecast can all call
//! it. Reserving budget, numbering bids and signing notice URLs is the
//! separate commit step ([`mod@crate::bid::commit`]).
//!
//! Never blocks, locks or does I/O. Per request:
//! 1. pick the answer currency (the exchange's if the request allows it);
//! 2. AND the index bitsets for the request's country, device type, OS and
//!    site/app, then per impression for its formats and banner sizes
//!    (`candidates`): a few word operations per 64 campaigns, whatever
//!    their rules;
//! 3. visit the candidates most valuable first; the first that passes the
//!    `filters`, the audience and frequency rules, prices above the floor
//!    (`pricing`), has a creative that fits the slot (`creative_choice`:
//!    size, native assets and images, a video the player can play, https
//!    only on secure imps) and whose budget and pacing would admit it
//!    becomes the imp's [`Pick`].
//!
//! [`explain`] replays the decision for a person, keeping each
//! campaign's reason; the bid path never calls it.
//!
//! Randomness (the learner's draw among assembled creatives, the pacing
//! throttle) comes from the context's per-request `seed`, mixed with the
//! imp and the campaign (`draws`): the same seed, the same picks.

mod candidates;
mod creative_choice;
mod draws;
pub mod explain;
mod filters;
mod pricing;
mod user;

use std::ops::Range;

use audiences::{Stage, StageMultipliers};
use creative::video::VastVersion;
use openrtb::{BidRequest, Currency, Imp, Micros};

pub use user::UserView;

use super::fx::FxRates;
pub use super::snapshot::Settings;
use super::snapshot::bitset::ones;
use super::snapshot::{CompiledCampaign, Snapshot};
use crate::model::{NoBidReason, UnixTime};
use crate::state::budget::{Refused, impression_cost};
use crate::state::frequency::{FrequencyCounts, Subject};
use candidates::{base_candidates, imp_candidates};
use creative_choice::{Misses, choose_assembled, choose_creative};

pub(crate) use creative_choice::native_version;

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
    /// Impressions of one request bid on at most; the rest get no bid.
    pub max_imps: usize,
    /// Bids one campaign makes in one request at most.
    pub bids_per_campaign: usize,
    /// How long a bid's budget reservation waits for its outcome, seconds:
    /// short where the exchange sends no loss notices.
    pub notice_window_secs: u32,
}

/// Per-request context.
#[derive(Clone, Copy)]
pub struct BidContext<'a> {
    /// The exchange that sent the request.
    pub exchange: &'a ExchangeProfile,
    /// The current time (flight dates).
    pub now: UnixTime,
    /// The user: consent verdict and funnel stages.
    pub user: &'a UserView,
    /// What each user has been shown (frequency caps), read only.
    pub frequency: &'a dyn FrequencyCounts,
    /// This request's random seed: every draw of the decision derives
    /// from it.
    pub seed: u64,
}

/// Buffers reused across requests on one thread, and what the decision
/// leaves for the commit step: the picks, the answer's currency and where
/// the request came from.
#[derive(Debug, Default)]
pub struct Scratch {
    base: Vec<u64>,
    imp_set: Vec<u64>,
    /// Text the picks point into (fitting native renders) and, after the
    /// commit step, the bids' ids, URLs and markup.
    pub(crate) text: String,
    pub(crate) picks: Vec<Pick>,
    pub(crate) origin: Origin,
}

impl Scratch {
    /// Empty buffers; they grow to the largest request seen and stay.
    pub fn new() -> Scratch {
        Scratch::default()
    }
}

/// What the decision chose for one impression: the campaign, its creative,
/// the price and why that price.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    /// Index of the impression in the request.
    pub imp: usize,
    /// Index of the campaign in the snapshot.
    pub campaign: usize,
    /// Its creative for this slot.
    pub creative: Chosen,
    /// The user's stage in the campaign's funnel, when known and allowed.
    pub stage: Option<Stage>,
    /// The stage's bid multiplier that was applied, in thousandths
    /// (1,000 is 1x).
    pub multiplier: u32,
    /// The bid price, CPM in the answer's currency.
    pub price: Micros,
    /// The floor it cleared, in the answer's currency.
    pub floor: Micros,
    /// One impression at `price` in the campaign's currency: what a
    /// reservation holds.
    pub cost: Micros,
    /// The deal (index into the imp's `pmp.deals`), if bid through one.
    pub deal: Option<usize>,
    /// The pacing throttle's draw the budget check used; the commit step
    /// reserves with the same one.
    pub pacing_draw: u32,
}

impl Pick {
    /// The stage the bid's events and reports count under, and the one
    /// every URL of the bid names: an assembled creative's (unknown users
    /// count as unaware), else the user's as known.
    pub fn reported_stage(&self) -> Option<Stage> {
        match self.creative {
            Chosen::Assembled { stage, .. } => Some(stage),
            _ => self.stage,
        }
    }
}

/// Which creative of a campaign a pick shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Chosen {
    /// Fixed banner `k` of the campaign.
    Banner(usize),
    /// Fixed native ad `k`, with its fitting render (no tracker) in the
    /// scratch text.
    Native(usize, Range<usize>),
    /// Fixed video `k`, served as the VAST version the slot accepts
    /// (`None`: as written).
    Video(usize, Option<VastVersion>),
    /// Item `item` of the campaign's plan, drawn with probability `ppm`
    /// (parts per million) for a user at `stage`.
    Assembled {
        /// Index into the plan's items.
        item: u32,
        /// The probability it was drawn with, parts per million.
        ppm: u32,
        /// The stage it was drawn for (unknown users count as unaware).
        stage: Stage,
        /// A video item's VAST version, the newest the slot accepts.
        vast: Option<VastVersion>,
    },
}

/// Decides on `req`: at most one pick per impression, or the reason of the
/// candidate that came closest to bidding. See the module documentation.
pub fn decide<'s>(
    req: &BidRequest<'_>,
    snap: &Snapshot,
    ctx: &BidContext<'_>,
    scratch: &'s mut Scratch,
) -> Result<&'s [Pick], NoBidReason> {
    let fx = &snap.settings.fx;
    scratch.text.clear();
    scratch.picks.clear();
    let Some(cur) = answer_currency(req, ctx.exchange, fx) else {
        return Err(NoBidReason::UnsupportedCurrency);
    };
    scratch.origin = Origin::of(req, cur);
    base_candidates(req, &snap.index, &mut scratch.base);
    // The reason of the candidate that came closest to bidding.
    let mut closest: Option<NoBidReason> = None;

    // Past the exchange's caps nothing is bid: no request can reserve
    // more of a campaign's budget than `bids_per_campaign` bids, nor make
    // an answer longer than `max_imps` bids.
    for (i, imp) in req.imp.iter().enumerate().take(ctx.exchange.max_imps) {
        imp_candidates(imp, &snap.index, &scratch.base, &mut scratch.imp_set);
        for ci in ones(&scratch.imp_set) {
            let taken = scratch.picks.iter().filter(|p| p.campaign == ci).count();
            if taken >= ctx.exchange.bids_per_campaign {
                continue;
            }
            let c = &snap.campaigns[ci];
            let at = Candidate {
                imp: i,
                campaign: ci,
            };
            match consider(req, imp, c, at, ctx, snap, cur, &mut scratch.text) {
                Ok(pick) => {
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
        return Err(closest.unwrap_or(NoBidReason::NoEligibleCampaign));
    }
    Ok(&scratch.picks)
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
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin {
    pub(crate) cur: Currency,
    pub(crate) country: [u8; 3],
    pub(crate) device_type: u8,
}

impl Default for Origin {
    fn default() -> Self {
        Origin {
            cur: Currency::USD,
            country: [0; 3],
            device_type: 0,
        }
    }
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
        let country = geo
            .and_then(|g| g.country.as_deref())
            .and_then(|c| <[u8; 3]>::try_from(c.as_bytes()).ok())
            .map_or([0; 3], |c| c.map(|b| b.to_ascii_uppercase()));
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

/// Which impression and which campaign a candidate is: what its random
/// draws are mixed with.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    imp: usize,
    campaign: usize,
}

/// Checks one candidate for one impression; its pick if it would bid.
// The request, the candidate and where to write are each needed; a struct
// for them would only be taken apart again.
#[allow(clippy::too_many_arguments)]
fn consider(
    req: &BidRequest<'_>,
    imp: &Imp<'_>,
    c: &CompiledCampaign,
    at: Candidate,
    ctx: &BidContext<'_>,
    snap: &Snapshot,
    cur: Currency,
    text: &mut String,
) -> Result<Pick, NoBidReason> {
    filters::check(req, imp, c, ctx)?;
    let stage = c
        .audience
        .as_ref()
        .and_then(|a| ctx.user.stage(a.funnel_id));
    if c.audience.as_ref().is_some_and(|a| !a.admits(stage)) {
        return Err(NoBidReason::AudienceStage);
    }
    if let Some(user) = ctx.user.key {
        let f = ctx.frequency;
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
    // Every URL of a bid on a secure imp is https, the bidder's own
    // notices and trackers first.
    if imp.secure == Some(1) && !snap.secure_notices {
        return Err(NoBidReason::Insecure);
    }
    let learner_draw = draws::draw(ctx.seed, at.imp, at.campaign, draws::Purpose::Learner);
    let mut misses = Misses::default();
    let creative = choose_assembled(req, imp, c, stage, ctx, learner_draw, text, &mut misses)
        .or_else(|| choose_creative(imp, c, text, &mut misses))
        .ok_or_else(|| misses.reason())?;
    let price = converted.max(floor);
    // Last, so that only a candidate about to be picked is asked.
    let in_own = fx
        .convert_up(price, cur, c.currency)
        .ok_or(NoBidReason::UnsupportedCurrency)?;
    let cost = impression_cost(in_own);
    let pacing_draw = draws::draw(ctx.seed, at.imp, at.campaign, draws::Purpose::Pacing);
    c.account
        .check(&c.limits, cost, ctx.now, pacing_draw)
        .map_err(refusal_reason)?;
    Ok(Pick {
        imp: at.imp,
        campaign: at.campaign,
        creative,
        stage,
        multiplier,
        price,
        floor,
        cost,
        deal: priced.deal,
        pacing_draw,
    })
}

/// The no-bid reason of a budget's refusal.
pub(crate) fn refusal_reason(r: Refused) -> NoBidReason {
    match r {
        Refused::Exhausted => NoBidReason::BudgetExhausted,
        Refused::Paced => NoBidReason::Paced,
    }
}

/// Item `i` of `c`'s plan (the decision only stores indices it drew from
/// that plan).
pub(crate) fn assembled_item(c: &CompiledCampaign, i: u32) -> &creative::plan::Item {
    let plan = c
        .plan
        .as_deref()
        .expect("assembled pick of a campaign with a plan");
    &plan.items()[i as usize]
}

#[cfg(test)]
mod tests;

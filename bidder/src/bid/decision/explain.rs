//! Why each campaign did or did not bid on each impression of a request:
//! the decision replayed for a person, with what every step looked at.
//!
//! Built on [`decide`] and its own steps (the targeting index, `filters`,
//! `consider`), so every verdict is the one the bid path reaches on the
//! same inputs; this module only adds what the failing step saw (the
//! targeting value, the blocked entry, the floor after conversion, the
//! budget's state). Pure like `decide`: reads the snapshot and the
//! counters, reserves, counts and learns nothing.
//!
//! Cold path only: never called by the bid path, which stays exactly as
//! it is. It visits every campaign of the snapshot for every impression
//! (`decide` stops at the first that bids), and allocates its answer.

use audiences::Stage;
use openrtb::{BidRequest, Currency, Imp, Micros};
use serde::Serialize;

use super::candidates::{banner_sizes, base_candidates, imp_candidates, lower_into, upper3};
use super::filters::{self, category_blocked, domain_matches};
use super::pricing::deal_open_to;
use super::{BidContext, Candidate, Chosen, Pick, Scratch, answer_currency, consider, decide};
use crate::bid::snapshot::bitset::Bitset;
use crate::bid::snapshot::{CompiledCampaign, Index, Snapshot};
use crate::model::{AdvertiserId, CampaignId, NoBidReason, UnixTime};
use crate::state::budget::BudgetState;
use crate::state::frequency::Subject;

/// Why a request gets the answer it gets.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Explanation {
    /// The answer's currency; none when the request allows no currency
    /// we have a rate for (then nothing bids).
    pub currency: Option<Currency>,
    /// The no-bid reason the exchange would get, when nothing bids.
    pub no_bid: Option<&'static str>,
    /// Per impression, in request order.
    pub imps: Vec<ImpExplanation>,
    /// The catalog's campaigns that are not in the snapshot (paused,
    /// archived, finished, or without a creative it may serve): none of
    /// them is judged per impression.
    pub not_bidding: Vec<NotBidding>,
}

/// A campaign of the catalog that does not bid now.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NotBidding {
    /// The campaign.
    pub campaign: CampaignId,
    /// Its advertiser.
    pub advertiser: AdvertiserId,
    /// Why, when the caller knows (the snapshot does not say): `paused`,
    /// `archived`, `flight_ended` or `no_creative`.
    pub reason: Option<&'static str>,
}

/// One impression: what would win and why each campaign would not.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ImpExplanation {
    /// Its `id`.
    pub id: String,
    /// Beyond the exchange's `max_imps`: nothing bids on it.
    pub over_imp_cap: bool,
    /// The bid it would get.
    pub winner: Option<Winner>,
    /// It would get a bid the caller may not see (another advertiser's);
    /// set by the service layer, never here.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub won_by_another_advertiser: bool,
    /// Every campaign of the snapshot, most valuable first.
    pub campaigns: Vec<CampaignVerdict>,
}

/// The bid an impression would get.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Winner {
    /// Whose bid.
    pub campaign: CampaignId,
    /// Its advertiser.
    pub advertiser: AdvertiserId,
    /// CPM in the answer's currency.
    pub price: Micros,
    /// The floor it clears, in the answer's currency.
    pub floor: Micros,
    /// The deal id, if through a deal.
    pub deal: Option<String>,
    /// Its creative's id.
    pub crid: String,
    /// The user's stage it was priced for, when known.
    pub stage: Option<Stage>,
}

/// One campaign on one impression.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CampaignVerdict {
    /// The campaign.
    pub campaign: CampaignId,
    /// Its advertiser (what a buyer's view is scoped by).
    pub advertiser: AdvertiserId,
    /// The step it stopped at, or that it bids.
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// Where a campaign dropped out, with what that step saw.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Verdict {
    /// It is the impression's bid.
    Wins,
    /// It would bid, but a more valuable campaign takes the impression.
    Outranked {
        /// Its price, in the answer's currency.
        price: Micros,
    },
    /// The request allows no currency we can answer in.
    AnswerCurrency {
        /// What `cur` allows.
        allowed: Vec<String>,
    },
    /// A targeting rule of the campaign excludes the request.
    Targeting {
        /// `country`, `device_type`, `os`, `inventory` or `format`.
        dimension: &'static str,
        /// The request's value; none when it does not say.
        value: Option<String>,
    },
    /// Outside its flight dates.
    Flight {
        /// First second it bids.
        start: Option<UnixTime>,
        /// First second it no longer bids.
        end: Option<UnixTime>,
        /// The time it was asked at.
        now: UnixTime,
    },
    /// The request's block or allow list excludes it.
    Blocked {
        /// `bcat`, `badv`, `bapp`, `battr`, `wseat` or `bseat`.
        list: &'static str,
        /// The entry that excludes it (for `wseat`, our seat).
        entry: Option<String>,
    },
    /// Its language is not allowed, or its audience languages do not
    /// include the request's.
    Language {
        /// The campaign's ad language or audience languages.
        campaign: Vec<String>,
        /// The request's audience language, when it says.
        request: Option<String>,
    },
    /// It targets regions and the request is in none of them.
    Region {
        /// `COUNTRY-REGION` of the request, when it says.
        request: Option<String>,
    },
    /// Its site or app allow/deny list excludes the publisher.
    Publisher {
        /// `site` or `app`.
        list: &'static str,
        /// The site's domain or the app's bundle, when the request says.
        value: Option<String>,
    },
    /// Its audience rule excludes the user's stage.
    Audience {
        /// The funnel whose stage counts.
        funnel: u32,
        /// The user's stage there, when known.
        stage: Option<Stage>,
        /// Why the user could not be looked up, when consent did not
        /// allow it.
        consent: Option<&'static str>,
    },
    /// The user has seen it (or its advertiser) as often as allowed.
    FrequencyCap {
        /// `campaign` or `advertiser`.
        scope: &'static str,
    },
    /// A private auction, or a deals-only campaign, and no deal of the
    /// impression is open to it.
    Deal {
        /// The impression's `pmp.private_auction`.
        private_auction: bool,
        /// The campaign bids through deals only.
        deals_only: bool,
        /// The impression's deal ids.
        offered: Vec<String>,
    },
    /// The floor is above what it pays.
    Floor {
        /// The floor as the request gives it.
        floor: Micros,
        /// Its currency.
        floor_currency: String,
        /// The floor in the campaign's currency, rounded up.
        converted: Option<Micros>,
        /// The most it pays here (its `max_cpm` times the stage
        /// multiplier), in its currency.
        max_cpm: Micros,
        /// The campaign's currency.
        currency: Currency,
        /// The deal whose floor applied.
        deal: Option<String>,
    },
    /// A currency without a rate stands between its price and the answer.
    Currency {
        /// The campaign's currency.
        campaign: Currency,
        /// The answer's.
        answer: Currency,
    },
    /// None of its creatives fits the slot.
    NoCreative {
        /// What the slot takes: `banner 300x250`, `native`, `video`.
        slot: Vec<String>,
        /// Its fixed banners' sizes.
        banners: Vec<String>,
        /// Formats its assembled creatives come in.
        assembled: Vec<String>,
    },
    /// It has creatives of the slot's kind, but none the slot can play:
    /// the rule that refused them (a VAST version outside `protocols`, a
    /// MIME type, delivery, bit rate, API framework, duration, placement,
    /// a native image's fit, or an insecure URL for a secure imp).
    Unplayable {
        /// The rule, as in `bidder_no_bids_total{reason=...}`.
        rule: &'static str,
        /// What the slot takes.
        slot: Vec<String>,
    },
    /// Its budget or pacing holds it back.
    Budget {
        /// `exhausted` or `paced` (the pacing throttle's draw for this
        /// request, which is random on the bid path).
        state: &'static str,
        /// The account now.
        account: Box<BudgetState>,
    },
    /// It already bids on as many impressions of this request as the
    /// exchange allows one campaign.
    CampaignCap {
        /// The exchange's `bids_per_campaign`.
        bids_per_campaign: usize,
    },
}

/// Explains `req` as [`decide`] would answer it on `snap` in `ctx`.
pub fn explain(req: &BidRequest<'_>, snap: &Snapshot, ctx: &BidContext<'_>) -> Explanation {
    let mut scratch = Scratch::new();
    let decided = decide(req, snap, ctx, &mut scratch).map(<[Pick]>::to_vec);
    let picks = decided.as_deref().unwrap_or_default();
    let no_bid = decided.as_ref().err().map(|r| r.as_str());
    let fx = &snap.settings.fx;
    let Some(cur) = answer_currency(req, ctx.exchange, fx) else {
        let allowed = req.cur.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        let imps = req
            .imp
            .iter()
            .map(|imp| ImpExplanation {
                id: imp.id.to_string(),
                over_imp_cap: false,
                winner: None,
                won_by_another_advertiser: false,
                campaigns: snap
                    .campaigns
                    .iter()
                    .map(|c| {
                        verdict(
                            c,
                            Verdict::AnswerCurrency {
                                allowed: allowed.clone(),
                            },
                        )
                    })
                    .collect(),
            })
            .collect();
        return Explanation {
            currency: None,
            no_bid,
            imps,
            not_bidding: not_bidding(snap),
        };
    };
    base_candidates(req, &snap.index, &mut scratch.base);
    let looked = Looked::of(req, &snap.index);
    let mut imps = Vec::with_capacity(req.imp.len());
    for (i, imp) in req.imp.iter().enumerate() {
        let id = imp.id.to_string();
        if i >= ctx.exchange.max_imps {
            imps.push(ImpExplanation {
                id,
                over_imp_cap: true,
                winner: None,
                won_by_another_advertiser: false,
                campaigns: Vec::new(),
            });
            continue;
        }
        imp_candidates(imp, &snap.index, &scratch.base, &mut scratch.imp_set);
        let won = picks.iter().find(|p| p.imp == i);
        let mut campaigns = Vec::with_capacity(snap.campaigns.len());
        for (ci, c) in snap.campaigns.iter().enumerate() {
            let v = if !contains(&scratch.imp_set, ci) {
                looked.miss(imp, &snap.index, ci)
            } else if picks
                .iter()
                .filter(|p| p.imp < i && p.campaign == ci)
                .count()
                >= ctx.exchange.bids_per_campaign
            {
                Verdict::CampaignCap {
                    bids_per_campaign: ctx.exchange.bids_per_campaign,
                }
            } else {
                let at = Candidate {
                    imp: i,
                    campaign: ci,
                };
                match consider(req, imp, c, at, ctx, snap, cur, &mut scratch.text) {
                    Ok(_) if won.is_some_and(|w| w.campaign == ci) => Verdict::Wins,
                    Ok(p) => Verdict::Outranked { price: p.price },
                    Err(reason) => detail(reason, req, imp, c, ctx, snap, cur),
                }
            };
            campaigns.push(verdict(c, v));
        }
        imps.push(ImpExplanation {
            id,
            over_imp_cap: false,
            winner: won.map(|p| winner(p, imp, snap)),
            won_by_another_advertiser: false,
            campaigns,
        });
    }
    Explanation {
        currency: Some(cur),
        no_bid,
        imps,
        not_bidding: not_bidding(snap),
    }
}

/// The snapshot's resting campaigns, by id.
fn not_bidding(snap: &Snapshot) -> Vec<NotBidding> {
    let mut out: Vec<NotBidding> = snap
        .resting
        .iter()
        .map(|(id, r)| NotBidding {
            campaign: *id,
            advertiser: r.advertiser_id,
            reason: None,
        })
        .collect();
    out.sort_by_key(|n| n.campaign);
    out
}

fn verdict(c: &CompiledCampaign, verdict: Verdict) -> CampaignVerdict {
    CampaignVerdict {
        campaign: c.id,
        advertiser: c.advertiser_id,
        verdict,
    }
}

fn winner(p: &Pick, imp: &Imp<'_>, snap: &Snapshot) -> Winner {
    let c = &snap.campaigns[p.campaign];
    let crid = match &p.creative {
        Chosen::Banner(k) => c.banners[*k].crid.clone(),
        Chosen::Native(k, _) => c.natives[*k].crid.clone(),
        Chosen::Video(k, _) => c.videos[*k].crid.clone(),
        Chosen::Assembled { item, .. } => super::assembled_item(c, *item).crid.to_string(),
    };
    let deal = p.deal.and_then(|d| {
        imp.pmp
            .as_ref()
            .and_then(|pmp| pmp.deals.get(d))
            .map(|d| d.id.to_string())
    });
    Winner {
        campaign: c.id,
        advertiser: c.advertiser_id,
        price: p.price,
        floor: p.floor,
        deal,
        crid,
        stage: p.reported_stage(),
    }
}

/// Whether bit `i` is set.
fn contains(words: &[u64], i: usize) -> bool {
    words.get(i / 64).is_some_and(|w| (w >> (i % 64)) & 1 == 1)
}

/// The request's values the index is looked up by, as `base_candidates`
/// reads them, and the sets they select.
struct Looked<'s> {
    country: Option<String>,
    country_set: Option<&'s Bitset>,
    device_type: Option<u32>,
    device_type_set: Option<&'s Bitset>,
    os: Option<String>,
    os_set: Option<&'s Bitset>,
    inventory: (&'static str, &'s Bitset),
}

impl<'s> Looked<'s> {
    fn of(req: &BidRequest<'_>, ix: &'s Index) -> Looked<'s> {
        let device = req.device.as_ref();
        let geo = device
            .and_then(|d| d.geo.as_ref())
            .or_else(|| req.user.as_ref().and_then(|u| u.geo.as_ref()));
        let mut buf = [0u8; 3];
        let country = geo
            .and_then(|g| g.country.as_deref())
            .and_then(|c| upper3(c, &mut buf))
            .map(str::to_owned);
        let device_type = device.and_then(|d| d.devicetype);
        let mut os_buf = [0u8; 32];
        let os = device
            .and_then(|d| d.os.as_deref())
            .and_then(|o| lower_into(o, &mut os_buf))
            .map(str::to_owned);
        let inventory = if req.app.is_some() {
            ("app", &ix.app)
        } else if req.site.is_some() {
            ("site", &ix.site)
        } else {
            ("any", &ix.all)
        };
        Looked {
            country_set: country.as_deref().and_then(|c| ix.country.get(c)),
            country,
            device_type_set: device_type.and_then(|t| ix.device_type.get(&t)),
            device_type,
            os_set: os.as_deref().and_then(|o| ix.os.get(o)),
            os,
            inventory,
        }
    }

    /// The first targeting dimension that leaves campaign `ci` out of
    /// `imp`'s candidates, in the order the index is read.
    fn miss(&self, imp: &Imp<'_>, ix: &Index, ci: usize) -> Verdict {
        let admits = |named: Option<&Bitset>, any: &Bitset| {
            named.is_some_and(|s| contains(s.words(), ci)) || contains(any.words(), ci)
        };
        let targeting = |dimension, value| Verdict::Targeting { dimension, value };
        if !admits(self.country_set, &ix.country_any) {
            return targeting("country", self.country.clone());
        }
        if !admits(self.device_type_set, &ix.device_type_any) {
            return targeting("device_type", self.device_type.map(|t| t.to_string()));
        }
        if !admits(self.os_set, &ix.os_any) {
            return targeting("os", self.os.clone());
        }
        if !contains(self.inventory.1.words(), ci) {
            return targeting("inventory", Some(self.inventory.0.to_owned()));
        }
        targeting("format", Some(slot(imp).join(", ")))
    }
}

/// What `imp` takes, for people: `banner 300x250`, `banner (any size)`,
/// `native`, `video`.
fn slot(imp: &Imp<'_>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(b) = &imp.banner {
        let before = out.len();
        out.extend(banner_sizes(b).map(|(w, h)| format!("banner {w}x{h}")));
        if out.len() == before {
            out.push("banner (any size)".to_owned());
        }
    }
    if imp.native.is_some() {
        out.push("native".to_owned());
    }
    if imp.video.is_some() {
        out.push("video".to_owned());
    }
    out
}

/// What the step that answered `reason` for `c` on `imp` saw.
fn detail(
    reason: NoBidReason,
    req: &BidRequest<'_>,
    imp: &Imp<'_>,
    c: &CompiledCampaign,
    ctx: &BidContext<'_>,
    snap: &Snapshot,
    cur: Currency,
) -> Verdict {
    let blocked = |list, entry: Option<&str>| Verdict::Blocked {
        list,
        entry: entry.map(str::to_owned),
    };
    match reason {
        NoBidReason::NoEligibleCampaign
            if c.flight_start.is_some_and(|s| ctx.now < s)
                || c.flight_end.is_some_and(|e| ctx.now >= e) =>
        {
            Verdict::Flight {
                start: c.flight_start,
                end: c.flight_end,
                now: ctx.now,
            }
        }
        NoBidReason::NoEligibleCampaign => {
            let geo = req.device.as_ref().and_then(|d| d.geo.as_ref());
            let request = geo.and_then(|g| match (&g.country, &g.region) {
                (Some(c), Some(r)) => Some(format!("{c}-{r}")),
                _ => None,
            });
            Verdict::Region { request }
        }
        NoBidReason::BlockedCategory => blocked(
            "bcat",
            req.bcat
                .iter()
                .find(|b| c.cat.iter().any(|cat| category_blocked(cat, b)))
                .map(|b| b.as_ref()),
        ),
        NoBidReason::BlockedAdvertiser => blocked(
            "badv",
            req.badv
                .iter()
                .find(|b| c.adomain.iter().any(|d| domain_matches(d, b)))
                .map(|b| b.as_ref()),
        ),
        NoBidReason::BlockedApp => blocked("bapp", c.app_bundle.as_deref()),
        NoBidReason::BlockedAttribute => {
            let attr = filters::blocked_attrs(imp).find(|a| c.attr.contains(a));
            Verdict::Blocked {
                list: "battr",
                entry: attr.map(u32::to_string),
            }
        }
        NoBidReason::SeatBlocked => {
            let seat = ctx.exchange.seat.as_deref();
            if seat.is_some_and(|s| req.bseat.iter().any(|b| b == s)) {
                blocked("bseat", seat)
            } else {
                blocked("wseat", seat)
            }
        }
        NoBidReason::Language => Verdict::Language {
            campaign: c
                .language
                .iter()
                .chain(c.languages.iter())
                .cloned()
                .collect(),
            request: filters::audience_language(req).map(str::to_owned),
        },
        NoBidReason::BlockedPublisher => match (&req.site, &req.app) {
            (Some(site), _) => Verdict::Publisher {
                list: "site",
                value: site
                    .domain
                    .as_deref()
                    .or_else(|| site.page.as_deref().map(filters::host_of))
                    .map(str::to_owned),
            },
            (None, app) => Verdict::Publisher {
                list: "app",
                value: app
                    .as_ref()
                    .and_then(|a| a.bundle.as_deref())
                    .map(str::to_owned),
            },
        },
        NoBidReason::AudienceStage => {
            let funnel = c.audience.as_ref().map_or(0, |a| a.funnel_id.0);
            let stage = c
                .audience
                .as_ref()
                .and_then(|a| ctx.user.stage(a.funnel_id));
            Verdict::Audience {
                funnel,
                stage,
                consent: ctx.user.personalization.err().map(|r| r.as_str()),
            }
        }
        NoBidReason::FrequencyCapped => {
            let own = ctx.user.key.is_some_and(|user| {
                !ctx.frequency.allows(
                    user,
                    Subject::Campaign(c.id),
                    &c.frequency,
                    ctx.now,
                    &c.calendar,
                )
            });
            Verdict::FrequencyCap {
                scope: if own { "campaign" } else { "advertiser" },
            }
        }
        NoBidReason::DealMismatch => {
            let pmp = imp.pmp.as_ref();
            Verdict::Deal {
                private_auction: pmp.is_some_and(|p| p.private_auction == 1),
                deals_only: c.deals_only,
                offered: pmp
                    .map(|p| p.deals.iter().map(|d| d.id.to_string()).collect())
                    .unwrap_or_default(),
            }
        }
        NoBidReason::BelowFloor | NoBidReason::UnsupportedCurrency => {
            floor_detail(reason, imp, c, ctx, snap, cur)
        }
        NoBidReason::NoMatchingCreative => Verdict::NoCreative {
            slot: slot(imp),
            banners: c
                .banners
                .iter()
                .map(|b| format!("{}x{}", b.w, b.h))
                .collect(),
            assembled: c
                .plan
                .as_deref()
                .map(|p| {
                    creative::template::Format::ALL
                        .into_iter()
                        .filter(|f| p.has_format(*f))
                        .map(|f| f.name().to_string())
                        .collect()
                })
                .unwrap_or_default(),
        },
        NoBidReason::Paced | NoBidReason::BudgetExhausted => Verdict::Budget {
            state: if reason == NoBidReason::Paced {
                "paced"
            } else {
                "exhausted"
            },
            account: Box::new(c.account.state(ctx.now)),
        },
        NoBidReason::VideoProtocol
        | NoBidReason::VideoMime
        | NoBidReason::VideoDelivery
        | NoBidReason::VideoBitrate
        | NoBidReason::VideoApi
        | NoBidReason::VideoDuration
        | NoBidReason::VideoPlacement
        | NoBidReason::NativeImageFit
        | NoBidReason::Insecure => Verdict::Unplayable {
            rule: reason.as_str(),
            slot: slot(imp),
        },
        // The remaining reasons are the endpoint's (deadline, overload, a
        // request nothing of which can be served), never a candidate's.
        NoBidReason::Deadline | NoBidReason::Overloaded | NoBidReason::InvalidRequest => {
            Verdict::Targeting {
                dimension: "request",
                value: Some(reason.as_str().to_owned()),
            }
        }
    }
}

/// The floor `pricing` compared, as it found it: the first deal open to
/// `c`, else the impression's floor.
fn floor_detail(
    reason: NoBidReason,
    imp: &Imp<'_>,
    c: &CompiledCampaign,
    ctx: &BidContext<'_>,
    snap: &Snapshot,
    cur: Currency,
) -> Verdict {
    let fx = &snap.settings.fx;
    let deals = imp
        .pmp
        .as_ref()
        .map(|p| p.deals.as_slice())
        .unwrap_or_default();
    let seat = ctx.exchange.seat.as_deref();
    let deal = deals.iter().find(|d| deal_open_to(d, c, seat));
    let (units, code) = match deal {
        Some(d) => (d.bidfloor, d.bidfloorcur.as_deref()),
        None => (imp.bidfloor, imp.bidfloorcur.as_deref()),
    };
    let code = code.unwrap_or("USD");
    let Some(floor_cur) = Currency::parse(code) else {
        return Verdict::Floor {
            floor: Micros::from_f64(units).unwrap_or(Micros(0)),
            floor_currency: code.to_owned(),
            converted: None,
            max_cpm: c.max_cpm,
            currency: c.currency,
            deal: deal.map(|d| d.id.to_string()),
        };
    };
    let floor = Micros::from_f64(units).unwrap_or(Micros(0));
    let converted = fx.convert_up(floor, floor_cur, c.currency);
    if reason == NoBidReason::UnsupportedCurrency && converted.is_some() {
        return Verdict::Currency {
            campaign: c.currency,
            answer: cur,
        };
    }
    let stage = c
        .audience
        .as_ref()
        .and_then(|a| ctx.user.stage(a.funnel_id));
    let multiplier = stage.map_or(audiences::StageMultipliers::ONE, |s| c.multipliers.get(s));
    Verdict::Floor {
        floor,
        floor_currency: floor_cur.to_string(),
        converted,
        max_cpm: Micros(c.max_cpm.0.saturating_mul(i64::from(multiplier)) / 1_000),
        currency: c.currency,
        deal: deal.map(|d| d.id.to_string()),
    }
}

// Tests: `super::tests`, beside the decision's, on the same catalogs.

//! Explaining a bid request: who may ask (admins, and buyers for their
//! advertisers' campaigns), the live state a request is replayed against
//! (the published snapshot, the user's consent and stages, the frequency
//! counts, the exchanges) and the explanation cut to what the caller may
//! see.
//!
//! Reads only: replays through [`crate::bid::decision::explain`], which
//! reserves, counts and learns nothing. Never on the bid path.

use std::sync::Arc;

use arc_swap::ArcSwap;
use openrtb::BidRequest;

use super::{CampaignFilter, Page};
use super::{FieldError, ServiceError, Services};
use crate::bid::decision::explain::{Explanation, NotBidding, explain};
use crate::bid::sample::Samples;
use crate::bid::{BidContext, ExchangeProfile, Snapshot, UserView};
use crate::control::auth::{Permission, Principal};
use crate::model::{CampaignStatus, UnixTime};
use crate::state::audience::Audiences;
use crate::state::frequency::FrequencyCounts;

/// The live state of one instance a request is replayed against.
pub struct Explainer {
    /// The snapshot the bid path reads.
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    /// The exchanges, in config order.
    pub exchanges: Vec<ExchangeProfile>,
    /// The exchange of `POST /openrtb2/bid` without a name.
    pub default_exchange: usize,
    /// The users' funnel stages.
    pub audience: Arc<dyn Audiences>,
    /// What each user has been shown.
    pub frequency: Arc<dyn FrequencyCounts>,
    /// Our TCF vendor id, for consent.
    pub tcf_vendor_id: Option<u16>,
    /// The bid path's recent requests, stripped.
    pub samples: Arc<Samples>,
}

/// A recent request the bidder answered, with its personal data taken
/// out ([`crate::bid::sample`]), to explain again.
#[derive(Debug, Clone, PartialEq)]
pub struct RecentRequest {
    /// Its number, to pick it by.
    pub seq: u64,
    /// When it came.
    pub at: UnixTime,
    /// The exchange that sent it, by name.
    pub exchange: String,
    /// Its publisher and first slot, for people.
    pub summary: String,
    /// The stripped request, as JSON.
    pub body: String,
}

/// Explanations, for one caller.
#[derive(Clone, Copy)]
pub struct Explain<'s> {
    pub(super) s: &'s Services,
}

impl Explain<'_> {
    /// Whether `who` may ask at all (admins and buyers).
    pub fn check(&self, who: &Principal) -> Result<(), ServiceError> {
        Ok(who.require(Permission::Explain)?)
    }

    /// The exchanges the bidder answers, in configuration order, and the
    /// position of the default one (admins): which an explanation may
    /// name, and what the console's exchange page lists. None where no
    /// bidder runs beside the services.
    pub fn exchanges(
        &self,
        who: &Principal,
    ) -> Result<(Vec<ExchangeProfile>, Option<usize>), ServiceError> {
        who.require(Permission::Administer)?;
        Ok(match self.s.explainer.as_ref() {
            None => (Vec::new(), None),
            Some(e) => (e.exchanges.clone(), Some(e.default_exchange)),
        })
    }

    /// The recent requests the bid path took, newest first, stripped of
    /// personal data: to whoever may explain (admins and buyers), as they
    /// are requests, not any advertiser's campaigns. Empty where no bidder
    /// runs beside the services.
    pub fn recent(&self, who: &Principal) -> Result<Vec<RecentRequest>, ServiceError> {
        self.check(who)?;
        let Some(e) = self.s.explainer.as_ref() else {
            return Ok(Vec::new());
        };
        Ok(e.samples
            .recent()
            .iter()
            .map(|s| RecentRequest {
                seq: s.seq,
                at: s.at,
                exchange: e
                    .exchanges
                    .get(s.exchange)
                    .map(|x| x.name.clone())
                    .unwrap_or_default(),
                summary: s.summary.clone(),
                body: s.body.clone(),
            })
            .collect())
    }

    /// Why `req`, sent by the exchange named `exchange` (the default one
    /// when `None`), gets the answer it would get now. A buyer sees only
    /// its advertisers' campaigns, and of a winner of another advertiser
    /// only that there is one.
    pub fn request(
        &self,
        who: &Principal,
        req: &BidRequest<'_>,
        exchange: Option<&str>,
    ) -> Result<Explanation, ServiceError> {
        self.check(who)?;
        let e = self.s.explainer.as_ref().ok_or(ServiceError::NotFound)?;
        let index = match exchange {
            None => e.default_exchange,
            Some(name) => e
                .exchanges
                .iter()
                .position(|x| x.name == name)
                .ok_or_else(|| {
                    ServiceError::Invalid(vec![FieldError::new("exchange", "no such exchange")])
                })?,
        };
        let now = self.s.clock.now();
        let snapshot = e.snapshot.load();
        let user = UserView::resolve(
            req,
            &e.audience.table().snapshot(),
            e.audience.hasher(),
            e.tcf_vendor_id,
            snapshot.uses_audiences,
            now.0.clamp(0, i64::from(u32::MAX)) as u32,
        );
        let ctx = BidContext {
            exchange: &e.exchanges[index],
            now,
            user: &user,
            frequency: &*e.frequency,
            seed: seed_of(&req.id),
        };
        let mut explanation = explain(req, &snapshot, &ctx);
        explanation
            .not_bidding
            .retain(|n| who.is_granted(n.advertiser));
        self.why_not_bidding(who, &mut explanation.not_bidding, now)?;
        if !who.is_admin() {
            for imp in &mut explanation.imps {
                imp.campaigns.retain(|c| who.is_granted(c.advertiser));
                if imp
                    .winner
                    .as_ref()
                    .is_some_and(|w| !who.is_granted(w.advertiser))
                {
                    imp.winner = None;
                    imp.won_by_another_advertiser = true;
                }
            }
        }
        Ok(explanation)
    }
}

impl Explain<'_> {
    /// Fills in why each of `rest` does not bid, from the store: the
    /// campaigns `who` may see, a page at a time. Archived campaigns are
    /// dropped from the list: they are meant to be gone.
    fn why_not_bidding(
        &self,
        who: &Principal,
        rest: &mut Vec<NotBidding>,
        now: UnixTime,
    ) -> Result<(), ServiceError> {
        if rest.is_empty() {
            return Ok(());
        }
        let mut after = 0;
        loop {
            let filter = CampaignFilter::default();
            let page = Page { after, limit: 500 };
            let rows = self.s.campaigns().list(who, filter, page)?;
            for c in &rows.items {
                let Ok(i) = rest.binary_search_by_key(&c.id, |n| n.campaign) else {
                    continue;
                };
                rest[i].reason = Some(if c.status == CampaignStatus::Paused {
                    "paused"
                } else if c.flight_end.is_some_and(|end| end <= now) {
                    "flight_ended"
                } else {
                    "no_creative"
                });
            }
            match rows.next_after {
                Some(next) => after = next,
                None => break,
            }
        }
        rest.retain(|n| n.reason.is_some());
        Ok(())
    }
}

/// The seed of an explanation's draws (the learner's, the pacing
/// throttle's): fixed by the request id, so that explaining the same
/// request twice gives the same answer. The bid path draws a fresh seed
/// per request.
fn seed_of(id: &str) -> u64 {
    // FNV-1a.
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

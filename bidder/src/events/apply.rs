//! What a recorded event changes beyond the store's counts: the campaign's
//! budget account (a billing point books and releases the reservation, a
//! loss releases it), the user's frequency counts (impressions) and the
//! user's funnel stages (impressions, clicks, conversions, per the
//! funnel's move rules, only where consent gave the token a user key).
//!
//! Cold path. Frequency counts have a single writer: only the event worker
//! passes impressions here.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use audiences::Stage;
use audiences::keys::UserKey;
use audiences::table::FunnelId;
use openrtb::{Currency, Micros};

use crate::bid::Snapshot;
use crate::model::{AdvertiserId, CampaignId, EventKind, EventRecord, FunnelMoves, UnixTime};
use crate::state::audience::Audiences;
use crate::state::budget::{Budgets, Held, Settled, impression_cost};
use crate::state::frequency::{FrequencyCounts, Subject};
use crate::store::Recorded;

/// What happens to a funnel's members when one of these arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    /// An impression.
    Impression,
    /// A click.
    Click,
    /// A conversion.
    Conversion,
}

impl Reaction {
    fn target(self, m: &FunnelMoves) -> Option<Stage> {
        match self {
            Reaction::Impression => m.impression,
            Reaction::Click => m.click,
            Reaction::Conversion => m.conversion,
        }
    }
}

/// The state events act on.
pub struct Effects {
    /// The live snapshot (campaigns, currencies, funnel rules).
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    /// The audiences users move in.
    pub audience: Arc<dyn Audiences>,
    /// Every campaign's budget account.
    pub budgets: Arc<dyn Budgets>,
    /// Per-user impression counts.
    pub frequency: Arc<dyn FrequencyCounts>,
    /// Lifetime of memberships events create, seconds.
    pub move_ttl_secs: u32,
    /// Wins and bills booked after their reservation had expired.
    pub late: AtomicU64,
    /// Users moved forward in a funnel.
    pub moved: AtomicU64,
}

impl Effects {
    /// The campaign's currency, if any snapshot ever knew the campaign.
    pub fn currency(&self, campaign: CampaignId) -> Option<Currency> {
        let snap = self.snapshot.load();
        snap.by_id
            .get(&campaign)
            .map(|c| c.currency)
            .or_else(|| self.budgets.get(campaign).map(|a| a.currency()))
    }

    /// The advertiser of `campaign`, from the live snapshot.
    pub fn advertiser(&self, campaign: CampaignId) -> Option<AdvertiserId> {
        let snap = self.snapshot.load();
        snap.by_id.get(&campaign).map(|c| c.advertiser_id)
    }

    /// What a bid at CPM `price` in `cur` reserved for `campaign` before
    /// tokens said so (version 2): one impression at the bid price.
    pub fn reserved(&self, campaign: CampaignId, price: Micros, cur: Currency) -> Micros {
        let snap = self.snapshot.load();
        let own = self.currency(campaign).unwrap_or(cur);
        impression_cost(
            snap.settings
                .fx
                .convert_up(price, cur, own)
                .unwrap_or(price),
        )
    }

    /// Applies the budget effect of `e` (called for every recorded event,
    /// on whichever path recorded it).
    pub fn settle(&self, e: &EventRecord, r: Recorded) {
        if !r.settles {
            return;
        }
        let Some(account) = self.budgets.get(e.campaign) else {
            return;
        };
        let held = Held {
            amount: e.reserved,
            until: e.held_until,
        };
        if !e.held_here {
            // Another instance's bid: its reservation and lease are
            // there, and the fleet forwards the settle to it.
            if e.kind != EventKind::Loss {
                account.book_elsewhere(e.cost, e.at);
            }
        } else if e.kind == EventKind::Loss {
            account.release(held, e.at);
        } else if account.settle(held, e.cost, e.at) == Settled::Late {
            self.late.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts an impression for frequency caps. Event worker only.
    pub fn count_impression(&self, e: &EventRecord) {
        let (Some(user), EventKind::Impression) = (e.user_key, e.kind) else {
            return;
        };
        self.count_impression_of(UserKey(user), e.campaign, e.at);
    }

    /// Counts an impression of `campaign` to `user` at `at` for frequency
    /// caps: the event worker's, or one another instance of a fleet
    /// counted ([`crate::fleet::impressions`]). Cold path only.
    pub fn count_impression_of(&self, user: UserKey, campaign: CampaignId, at: UnixTime) {
        let snap = self.snapshot.load();
        let f = &self.frequency;
        let (advertiser, calendar, advertiser_calendar) = match snap.by_id.get(&campaign) {
            Some(c) => (c.advertiser_id, &c.calendar, &c.advertiser_calendar),
            // Not bidding now (paused, say): its advertiser's other
            // campaigns still read the caps this impression counts for.
            None => match snap.resting.get(&campaign) {
                Some(r) => (r.advertiser_id, &r.calendar, &r.advertiser_calendar),
                // Deleted since it bid: its own caps are never read
                // again, and whose it was is no longer known, so its
                // advertiser's caps miss this impression (a rare race: a
                // campaign is deleted only without fixed creatives).
                None => return,
            },
        };
        f.record(user, Subject::Campaign(campaign), at, calendar);
        f.record(
            user,
            Subject::Advertiser(advertiser),
            at,
            advertiser_calendar,
        );
    }

    /// The funnel moves `reaction` of `user` to `advertiser`'s campaign
    /// calls for, into `out`.
    pub fn moves_for(
        &self,
        advertiser: AdvertiserId,
        user: UserKey,
        reaction: Reaction,
        out: &mut Vec<(FunnelId, UserKey, Stage)>,
    ) {
        let snap = self.snapshot.load();
        for (funnel, rules) in snap.funnel_moves.get(&advertiser).into_iter().flatten() {
            if let Some(to) = reaction.target(rules) {
                out.push((*funnel, user, to));
            }
        }
    }

    /// Applies funnel moves (store first, then the table).
    pub fn advance(&self, moves: &[(FunnelId, UserKey, Stage)]) {
        if moves.is_empty() {
            return;
        }
        match self.audience.advance(moves, self.move_ttl_secs) {
            Ok(n) => {
                self.moved.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) => tracing::error!(error = %e, "funnel moves not applied"),
        }
    }
}

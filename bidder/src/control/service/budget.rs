//! A campaign's budget: what it may spend and has spent, and its pacing
//! state now, read from the shared budget accounts the bid path books in.
//!
//! Reads only; never changes an account and never encodes.

use super::{Campaigns, ServiceError};
use crate::control::auth::Principal;
use crate::model::CampaignId;
use crate::state::budget::BudgetState;

impl Campaigns<'_> {
    /// Campaign `id`'s budget and pacing state now, if `who` may see it.
    pub fn budget(&self, who: &Principal, id: CampaignId) -> Result<BudgetState, ServiceError> {
        let c = self.get(who, id)?;
        let now = self.s.clock.now();
        Ok(self.s.budgets.account(&c, now).state(now))
    }
}

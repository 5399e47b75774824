//! A bid instance's audiences: the table the bid path reads, keyed with
//! the control instance's secret so that user keys agree across the
//! fleet. Every write goes through the control instance, which persists
//! it; funnel moves that events call for are made there too, as it
//! consumes the fleet's events.
//!
//! Not yet replicated: nothing streams the control's members here, so the
//! table stays empty and campaigns that target a funnel stage do not bid
//! on a bid instance.

use audiences::keys::{KeyHasher, UserKey};
use audiences::table::{Change, FunnelId, Table};

use crate::state::StateError;
use crate::state::audience::Audiences;
use crate::state::clock::SharedClock;
use crate::store::Member;

/// The audience table of a bid instance.
pub struct FollowAudiences {
    table: Table,
    hasher: KeyHasher,
    clock: SharedClock,
}

impl FollowAudiences {
    /// An empty table hashing keys with the fleet's `secret`.
    pub fn new(secret: [u8; 16], clock: SharedClock) -> FollowAudiences {
        FollowAudiences {
            table: Table::new(),
            hasher: KeyHasher::new(secret),
            clock,
        }
    }
}

fn control_only() -> StateError {
    StateError::Unavailable("audience writes go through the control instance".into())
}

impl Audiences for FollowAudiences {
    fn table(&self) -> &Table {
        &self.table
    }

    fn hasher(&self) -> &KeyHasher {
        &self.hasher
    }

    fn now_secs(&self) -> u32 {
        self.clock.now_secs()
    }

    fn put_member(&self, _: FunnelId, _: &Member) -> Result<(), StateError> {
        Err(control_only())
    }

    fn delete_member(&self, _: FunnelId, _: UserKey) -> Result<bool, StateError> {
        Err(control_only())
    }

    /// Nothing here: the control instance moves users as it consumes the
    /// fleet's events.
    fn advance(
        &self,
        _: &[(FunnelId, UserKey, audiences::Stage)],
        _: u32,
    ) -> Result<usize, StateError> {
        Ok(0)
    }

    fn apply(&self, removed: &[FunnelId], changes: &[Change]) {
        self.table.apply(removed, changes, self.now_secs());
    }

    fn sweep(&self) -> Result<u64, StateError> {
        self.table.compact(self.now_secs());
        Ok(0)
    }
}

//! Shared state: what the bid path reads and the event path changes.
//!
//! - [`budget`]: per-campaign spend, reservations of bids in flight, pacing.
//! - [`frequency`]: per-user impression counts for frequency caps, counted
//!   in the [`calendar`] of a campaign's or advertiser's time zone.
//! - [`audience`]: the audience table kept equal to the store.
//! - [`reports`]: per-minute sums of bids and no-bids.
pub mod audience;
pub mod budget;
pub mod calendar;
pub mod frequency;
pub mod reports;

//! The hot path: what an exchange's bid request costs.
//!
//! - [`snapshot`]: the catalog compiled for bidding (targeting index,
//!   creatives with tracker holes, assembled creatives), immutable,
//!   published whole.
//! - [`decision`]: which campaign bids on which impression, at what price,
//!   with which creative. Pure: reads the snapshot and counters only.
//! - [`mod@commit`]: reserves the picks' budgets, numbers and signs them, and
//!   writes their notice URLs and markup (`notices`).
//! - [`fx`]: exchange rates between the currencies of campaigns, floors
//!   and answers.
//! - [`sample`]: a few recent requests, taken at most once a second and
//!   stripped of personal data off the bid path, for the explain page.
//! - [`endpoint`]: `POST /openrtb2/bid`: limits, gzip, parse, deadline,
//!   decide, commit, answer.
//!
//! ```text
//! bytes ─▶ parse ─▶ UserView::resolve ─▶ decide (pure) ─▶ commit ─▶ write
//!                   consent, audience     snapshot,        reserve,
//!                   table lookups         counters (read)  sign, URLs
//! ```
//!
//! Nothing here blocks, locks or does I/O.

pub mod commit;
pub mod decision;
pub mod endpoint;
pub mod fx;
mod notices;
pub mod sample;
pub mod snapshot;

pub use commit::{Decision, Outcome, commit};
pub use decision::{
    BidContext, Chosen, ExchangeProfile, Pick, Scratch, Settings, UserView, decide, origin,
};
pub use fx::{FxError, FxRates};
pub use notices::process_id;
pub use snapshot::{CompiledCampaign, NoticePrefixes, Snapshot};

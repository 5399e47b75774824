//! The hot path: what an exchange's bid request costs.
//!
//! - [`snapshot`]: the catalog compiled for bidding (targeting index,
//!   creatives with tracker holes, assembled creatives), immutable,
//!   published whole.
//! - [`decision`]: which campaign bids on which impression, at what price,
//!   with which creative.
//! - [`fx`]: exchange rates between the currencies of campaigns, floors
//!   and answers.
//! - [`endpoint`]: `POST /openrtb2/bid`: limits, gzip, parse, deadline,
//!   decide, answer.
//!
//! Nothing here blocks, locks or does I/O.

pub mod decision;
pub mod endpoint;
pub mod fx;
pub mod snapshot;

pub use decision::{
    BidContext, Decision, ExchangeProfile, NoticePrefixes, Outcome, Scratch, Settings, UserView,
    decide, origin,
};
pub use fx::{FxError, FxRates};
pub use snapshot::{CompiledCampaign, Snapshot};

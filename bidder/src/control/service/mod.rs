//! The typed service layer: what people may do to the catalog, audiences
//! and reports, whoever asks (the JSON API today, the console next).
//!
//! Every call takes the caller (a [`Principal`]) and typed inputs (model
//! drafts, typed ids, a [`Page`], the version a write expects) and returns
//! typed results or a [`ServiceError`]. Here live the authorization checks,
//! the validation calls and the publish-after-commit: a catalog write is
//! committed to the store, then [`CatalogSource::changed`] hands the bid
//! path the new catalog.
//!
//! Never speaks HTTP: no headers, status codes, responses or bytes; the
//! adapters (`control::admin`) parse requests into these inputs and encode
//! the results. Blocking (SQLite): callers on an async runtime call it
//! inside `spawn_blocking`.
//!
//! Writes take the version they replace as `Option<i64>`: `None` is
//! [`ServiceError::PreconditionRequired`], a version no longer current is
//! [`ServiceError::Stale`]. An update takes a full draft, so a partial
//! update (a merge patch) merges onto the current row and calls it.
//!
//! Each write `x` that an adapter must refuse before reading a body has a
//! `check_x` running the checks that need only the caller and the path;
//! `x` runs them again, so calling `x` alone is always safe.
//!
//! # Layout
//! - `error`: why a call was refused ([`ServiceError`]), with the
//!   [`FieldError`]s of bad inputs.
//! - `page`: [`Page`] asked for, [`ListPage`] returned.
//! - `validate`: the rules on drafts' values, all broken ones at once.
//! - One module per resource, each a handle borrowed from [`Services`]:
//!   [`Advertisers`], [`Campaigns`], [`Creatives`], [`Tokens`],
//!   [`Funnels`] (with members and upload jobs), [`Fragments`] (with
//!   reviews, exchanges' audits, learning counts and the combination
//!   report; `audits`: a campaign's creatives with each exchange's
//!   audit, [`Fragments::campaign_audits`]), [`Conversions`], [`Reports`],
//!   `budget` (a campaign's, as [`Campaigns::budget`]), [`Previews`] (the
//!   plans and markup behind previews and the gallery, with the formats
//!   a campaign cannot fill) and [`Explain`] (why a bid request gets
//!   its answer, replayed against an [`Explainer`]).
//! - `format_fit`: which formats a fragment's texts are too long for
//!   ([`format_warnings`]), told when it is saved and in the gallery.
//! - `batch`: many campaign and creative writes in one transaction and
//!   one publish ([`Campaigns::batch`]), all or nothing.

mod advertisers;
mod audits;
mod batch;
mod budget;
mod campaigns;
mod conversions;
mod creatives;
mod error;
mod explain;
mod format_fit;
mod fragments;
mod funnels;
mod page;
mod previews;
mod reports;
mod tokens;
pub(crate) mod validate;

#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use advertisers::Advertisers;
pub use audits::{CampaignAudits, CreativeAudits};
pub use batch::{BatchItem, ItemResult, MAX_BATCH_ITEMS};
pub use campaigns::{CampaignFilter, CampaignLine, Campaigns};
pub use conversions::{ConversionDraft, ConversionReceipt, Conversions};
pub use creatives::Creatives;
pub use error::{FieldError, ServiceError};
pub use explain::{Explain, Explainer, RecentRequest};
pub use format_fit::{FormatWarning, format_warnings};
pub use fragments::{
    CombinationReport, CombinationRow, FragmentDraft, FragmentHead, FragmentRow, Fragments,
    RATE_METHOD, Verdict,
};
pub use funnels::{FunnelDraft, FunnelView, Funnels, MemberMove, Membership, StageCount, UserRef};
pub use page::{ListPage, Page};
pub use previews::{Exclusion, Gallery, MissingFormat, Preview, PreviewRequest, Previews, render};
pub use reports::{Report, ReportRequest, Reports};
pub use tokens::{NewToken, Tokens};

use crate::bid::Settings;
use crate::control::auth::Principal;
use crate::state::audience::Audiences;
use crate::state::budget::Budgets;
use crate::state::catalog::CatalogSource;
use crate::state::clock::SharedClock;
use crate::store::{Scope, Store};

/// Everything the service layer acts on; hands out one handle per resource.
pub struct Services {
    store: Arc<Store>,
    audience: Arc<dyn Audiences>,
    /// Told after every committed catalog write; the bid path subscribes.
    catalog: Arc<dyn CatalogSource>,
    /// What previews are rendered with (notice URLs, learning policy), the
    /// exchange rates conversions are counted in, and how long a
    /// conversion's funnel move lasts.
    settings: Arc<Settings>,
    budgets: Arc<dyn Budgets>,
    clock: SharedClock,
    /// The live bid state explanations replay against; none where no
    /// bidder runs beside the services (then explaining is 404).
    explainer: Option<Explainer>,
    /// The bid path's counters over the last minute, for admins; none
    /// where no bidder runs beside the services.
    traffic: Option<Arc<crate::live::Traffic>>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").finish_non_exhaustive()
    }
}

impl Services {
    /// The services over `store`; `catalog` is told after every committed
    /// catalog write, and hands the bid path the new catalog.
    pub fn new(
        store: Arc<Store>,
        audience: Arc<dyn Audiences>,
        catalog: Arc<dyn CatalogSource>,
        settings: Arc<Settings>,
        budgets: Arc<dyn Budgets>,
        clock: SharedClock,
    ) -> Services {
        Services {
            store,
            audience,
            catalog,
            settings,
            budgets,
            clock,
            explainer: None,
            traffic: None,
        }
    }

    /// The same services, showing admins `traffic`.
    pub fn with_traffic(self, traffic: Arc<crate::live::Traffic>) -> Services {
        Services {
            traffic: Some(traffic),
            ..self
        }
    }

    /// The last minute of the bid path's traffic (admins); empty where
    /// no bidder runs beside the services.
    pub fn traffic(&self, who: &Principal) -> Result<crate::live::TrafficView, ServiceError> {
        who.require(crate::control::auth::Permission::Administer)?;
        Ok(self
            .traffic
            .as_ref()
            .map_or_else(|| crate::live::Traffic::new().view(), |t| t.view()))
    }

    /// The same services, explaining requests against `explainer`.
    pub fn with_explainer(self, explainer: Explainer) -> Services {
        Services {
            explainer: Some(explainer),
            ..self
        }
    }

    /// The store, for upload jobs.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The audiences, for upload jobs.
    pub fn audience(&self) -> &Arc<dyn Audiences> {
        &self.audience
    }

    /// Advertisers.
    pub fn advertisers(&self) -> Advertisers<'_> {
        Advertisers { s: self }
    }

    /// Campaigns.
    pub fn campaigns(&self) -> Campaigns<'_> {
        Campaigns { s: self }
    }

    /// Fixed creatives of campaigns.
    pub fn creatives(&self) -> Creatives<'_> {
        Creatives { s: self }
    }

    /// API tokens.
    pub fn tokens(&self) -> Tokens<'_> {
        Tokens { s: self }
    }

    /// Funnels, their members and upload jobs.
    pub fn funnels(&self) -> Funnels<'_> {
        Funnels { s: self }
    }

    /// Creative fragments, reviews, audits and learning counts.
    pub fn fragments(&self) -> Fragments<'_> {
        Fragments { s: self }
    }

    /// Advertisers' conversions.
    pub fn conversions(&self) -> Conversions<'_> {
        Conversions { s: self }
    }

    /// Reports and budgets.
    pub fn reports(&self) -> Reports<'_> {
        Reports { s: self }
    }

    /// Why a bid request gets its answer.
    pub fn explain(&self) -> Explain<'_> {
        Explain { s: self }
    }

    /// Previews and galleries.
    pub fn previews(&self) -> Previews<'_> {
        Previews { s: self }
    }

    /// After a committed catalog write: hands the bid path the new state.
    fn publish(&self) -> Result<(), ServiceError> {
        Ok(self.catalog.changed()?)
    }

    /// After a committed write that changed only the campaigns `ids` (their
    /// rows or creatives): hands the bid path the new state, at the cost
    /// of those campaigns rather than the catalog.
    fn publish_campaigns(&self, ids: &[crate::model::CampaignId]) -> Result<(), ServiceError> {
        Ok(self.catalog.campaigns_changed(ids)?)
    }
}

/// The caller's view of the store: everything for admins, else its grants.
fn scope(who: &Principal) -> Scope<'_> {
    if who.is_admin() {
        Scope::All
    } else {
        Scope::Advertisers(&who.advertisers)
    }
}

/// The version a write replaces, or why it may not go ahead.
fn expected(version: Option<i64>) -> Result<i64, ServiceError> {
    version.ok_or(ServiceError::PreconditionRequired)
}

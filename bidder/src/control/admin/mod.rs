//! The admin API: JSON over HTTP under `/api/v1/` for advertisers,
//! campaigns, creatives, fragments, funnels, tokens, conversions and
//! reports, with bearer-token auth and optimistic concurrency (`ETag`,
//! `If-Match`; `PATCH` as JSON Merge Patch), and explanations of bid
//! requests.
//!
//! A thin adapter over the typed service layer ([`crate::control::service`]):
//! each handler matches a route, authenticates the bearer token, parses
//! the query string, body and `If-Match` into typed inputs, calls the
//! service, and encodes its result with status, `ETag` and `Location`.
//! Never decides who may do what, never validates values and never writes
//! the store itself: those are the service's. Where the API refuses a
//! caller before reading its body (403 before 422), the handler calls the
//! service's `check_*` first. Errors become responses in `crate::error`.
//! Blocking (SQLite): the server calls [`Admin::handle`] inside
//! `spawn_blocking`.
//!
//! # Layout
//! - `request`: queries, pagination, preconditions, JSON in and out.
//! - `shape`: every shape error of a JSON body at once, each with its path.
//! - `input`: the strict shapes clients write, and the drafts they become.
//! - `patch`: `PATCH` as JSON Merge Patch onto what a `PUT` would send.
//! - `advertisers`, `campaigns`, `creatives`, `tokens`, `conversions`,
//!   `reports`: one resource each (`reports` also a campaign's budget).
//! - `batch`: `campaigns:batch`, many campaign and creative writes in one.
//! - `funnels`: funnels, single members, upload jobs.
//! - `fragments`: creative fragments and their review, exchanges' audits,
//!   learning counts and the combination report.
//! - `preview`: rendered previews and the gallery page.
//! - `explain`: why a bid request gets its answer.

mod advertisers;
mod batch;
mod campaigns;
mod conversions;
mod creatives;
mod explain;
mod fragments;
mod funnels;
mod input;
mod patch;
mod preview;
mod reports;
mod request;
mod shape;
mod tokens;

pub(crate) use fragments::body_of as fragment_body;

#[cfg(test)]
mod tests;
// The admin tests check the demo catalog against the service's rules.
#[cfg(test)]
use crate::control::service::validate;

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, header};
use http_body_util::Full;

pub use preview::CSP;

use crate::bid::Settings;
use crate::control::auth;
use crate::control::service::Services;
use crate::error::{ApiError, Body};
use crate::model::CampaignStatus;
use crate::state::audience::Audiences;
use crate::state::budget::Budgets;
use crate::state::catalog::CatalogSource;
use crate::state::clock::SharedClock;
use crate::store::Store;

/// Where every admin route lives.
pub const PREFIX: &str = "/api/v1/";

/// The OpenAPI description of this API, served without auth.
const OPENAPI: &str = include_str!("../../../../docs/openapi.json");

/// The admin API over one set of [`Services`].
pub struct Admin {
    services: Arc<Services>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").finish_non_exhaustive()
    }
}

/// A matched route: which resource, which id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'p> {
    OpenApi,
    Advertisers,
    Advertiser(i64),
    Campaigns,
    /// `campaigns:batch`: many writes in one.
    CampaignsBatch,
    Campaign(i64),
    CampaignCreatives(i64),
    Creative(i64),
    Tokens,
    Token(i64),
    Funnels,
    Funnel(u32),
    /// Streamed by the server; see [`Admin::start_upload`].
    FunnelUploads(u32),
    Member(u32, &'p str, &'p str),
    Jobs,
    Job(i64),
    Fragments,
    Fragment(i64),
    /// `true` for approve, `false` for reject.
    FragmentReview(i64, bool),
    FragmentHistory(i64),
    Audits,
    Audit(&'p str, &'p str),
    CampaignReactions(i64),
    CampaignCombinations(i64),
    CampaignGallery(i64),
    CampaignBudget(i64),
    /// Pause or resume.
    CampaignStatus(i64, CampaignStatus),
    Preview,
    Conversions,
    Reports,
    Explain,
}

impl<'p> Route<'p> {
    /// The route of `path`, or `None` (404). Ids that are not integers match
    /// nothing.
    fn parse(path: &'p str) -> Option<Route<'p>> {
        let rest = path.strip_prefix(PREFIX)?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let parts: Vec<&str> = rest.split('/').collect();
        let id = |s: &str| s.parse::<i64>().ok().filter(|n| *n > 0);
        let small = |s: &str| s.parse::<u32>().ok().filter(|n| *n > 0);
        Some(match parts.as_slice() {
            ["openapi.json"] => Route::OpenApi,
            ["advertisers"] => Route::Advertisers,
            ["advertisers", n] => Route::Advertiser(id(n)?),
            ["campaigns"] => Route::Campaigns,
            ["campaigns:batch"] => Route::CampaignsBatch,
            ["campaigns", n] => Route::Campaign(id(n)?),
            ["campaigns", n, "creatives"] => Route::CampaignCreatives(id(n)?),
            ["creatives", n] => Route::Creative(id(n)?),
            ["tokens"] => Route::Tokens,
            ["tokens", n] => Route::Token(id(n)?),
            ["funnels"] => Route::Funnels,
            ["funnels", n] => Route::Funnel(small(n)?),
            ["funnels", n, "uploads"] => Route::FunnelUploads(small(n)?),
            ["funnels", n, "members", kind, user] => Route::Member(small(n)?, kind, user),
            ["jobs"] => Route::Jobs,
            ["jobs", n] => Route::Job(id(n)?),
            ["fragments"] => Route::Fragments,
            ["fragments", n] => Route::Fragment(id(n)?),
            ["fragments", n, "approve"] => Route::FragmentReview(id(n)?, true),
            ["fragments", n, "reject"] => Route::FragmentReview(id(n)?, false),
            ["fragments", n, "history"] => Route::FragmentHistory(id(n)?),
            ["audits"] => Route::Audits,
            ["audits", exchange, crid] => Route::Audit(exchange, crid),
            ["campaigns", n, "reactions"] => Route::CampaignReactions(id(n)?),
            ["campaigns", n, "combinations"] => Route::CampaignCombinations(id(n)?),
            ["campaigns", n, "gallery"] => Route::CampaignGallery(id(n)?),
            ["campaigns", n, "budget"] => Route::CampaignBudget(id(n)?),
            ["campaigns", n, "pause"] => Route::CampaignStatus(id(n)?, CampaignStatus::Paused),
            ["campaigns", n, "resume"] => Route::CampaignStatus(id(n)?, CampaignStatus::Active),
            ["preview"] => Route::Preview,
            ["conversions"] => Route::Conversions,
            ["reports"] => Route::Reports,
            ["explain"] => Route::Explain,
            _ => return None,
        })
    }

    /// The methods it answers.
    fn allows(self, m: &Method) -> bool {
        let one = [Method::GET, Method::PUT, Method::DELETE];
        let patched = [Method::GET, Method::PUT, Method::PATCH, Method::DELETE];
        let coll = [Method::GET, Method::POST];
        match self {
            Route::OpenApi => m == Method::GET,
            Route::Advertisers
            | Route::Campaigns
            | Route::CampaignCreatives(_)
            | Route::Tokens
            | Route::Funnels
            | Route::Fragments => coll.contains(m),
            Route::Fragment(_) | Route::Campaign(_) | Route::Creative(_) | Route::Funnel(_) => {
                patched.contains(m)
            }
            Route::FragmentReview(..)
            | Route::CampaignReactions(_)
            | Route::Conversions
            | Route::CampaignStatus(..)
            | Route::Explain => m == Method::POST,
            Route::Audit(..) => m == Method::PUT,
            Route::FragmentHistory(_)
            | Route::Audits
            | Route::CampaignCombinations(_)
            | Route::CampaignGallery(_)
            | Route::CampaignBudget(_)
            | Route::Reports
            | Route::Preview => m == Method::GET,
            Route::Advertiser(_) | Route::Member(..) => one.contains(m),
            Route::Token(_) => m == Method::DELETE,
            Route::FunnelUploads(_) | Route::CampaignsBatch => m == Method::POST,
            Route::Jobs | Route::Job(_) => m == Method::GET,
        }
    }
}

impl Admin {
    /// The admin API over `store`; `catalog` is told after every
    /// committed catalog write, and hands the bid path the new catalog.
    pub fn new(
        store: Arc<Store>,
        audience: Arc<dyn Audiences>,
        catalog: Arc<dyn CatalogSource>,
        settings: Arc<Settings>,
        budgets: Arc<dyn Budgets>,
        clock: SharedClock,
    ) -> Admin {
        Admin::over(Arc::new(Services::new(
            store, audience, catalog, settings, budgets, clock,
        )))
    }

    /// The admin API over `services`, which other front ends may share.
    pub fn over(services: Arc<Services>) -> Admin {
        Admin { services }
    }

    /// The services it calls.
    pub fn services(&self) -> &Arc<Services> {
        &self.services
    }

    /// The path of a bulk upload route (`POST /api/v1/funnels/{id}/uploads`)
    /// with its funnel id: the server streams those bodies instead of
    /// reading them whole.
    pub fn upload_route(path: &str) -> Option<u32> {
        match Route::parse(path)? {
            Route::FunnelUploads(id) => Some(id),
            _ => None,
        }
    }

    /// The audiences, for upload jobs.
    pub fn audience(&self) -> &Arc<dyn Audiences> {
        self.services.audience()
    }

    /// The store, for upload jobs.
    pub fn store(&self) -> &Arc<Store> {
        self.services.store()
    }

    /// Answers one request under `/api/v1/`. Blocking (SQLite); the server
    /// calls it inside `spawn_blocking` and turns `Err` into a response with
    /// [`ApiError::into_response`].
    pub fn handle(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let route = Route::parse(path).ok_or(ApiError::NotFound)?;
        if !route.allows(method) {
            return Err(ApiError::MethodNotAllowed);
        }
        if route == Route::OpenApi {
            let mut resp = Response::new(Full::new(Bytes::from_static(OPENAPI.as_bytes())));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            return Ok(resp);
        }
        let who = auth::authenticate(self.services.store(), headers)?;
        let m = method;
        match route {
            Route::OpenApi => Err(ApiError::NotFound),
            Route::Advertisers if m == Method::GET => self.list_advertisers(&who, query),
            Route::Advertisers => self.create_advertiser(&who, body),
            Route::Advertiser(id) if m == Method::GET => self.get_advertiser(&who, id),
            Route::Advertiser(id) if m == Method::PUT => {
                self.update_advertiser(&who, id, headers, body)
            }
            Route::Advertiser(id) => self.delete_advertiser(&who, id, headers, body),
            Route::Campaigns if m == Method::GET => self.list_campaigns(&who, query),
            Route::Campaigns => self.create_campaign(&who, body),
            Route::CampaignsBatch => self.campaigns_batch(&who, body),
            Route::Campaign(id) if m == Method::GET => self.get_campaign(&who, id),
            Route::Campaign(id) if m == Method::PUT => {
                self.update_campaign(&who, id, headers, body)
            }
            Route::Campaign(id) if m == Method::PATCH => {
                self.patch_campaign(&who, id, headers, body)
            }
            Route::Campaign(id) => self.delete_campaign(&who, id, headers, body),
            Route::CampaignCreatives(id) if m == Method::GET => {
                self.list_creatives(&who, id, query)
            }
            Route::CampaignCreatives(id) => self.create_creative(&who, id, body),
            Route::Creative(id) if m == Method::GET => self.get_creative(&who, id),
            Route::Creative(id) if m == Method::PUT => {
                self.update_creative(&who, id, headers, body)
            }
            Route::Creative(id) if m == Method::PATCH => {
                self.patch_creative(&who, id, headers, body)
            }
            Route::Creative(id) => self.delete_creative(&who, id, headers, body),
            Route::Tokens if m == Method::GET => self.list_tokens(&who, query),
            Route::Tokens => self.create_token(&who, body),
            Route::Token(id) => self.revoke_token(&who, id),
            Route::Funnels if m == Method::GET => self.list_funnels(&who, query),
            Route::Funnels => self.create_funnel(&who, body),
            Route::Funnel(id) if m == Method::GET => self.get_funnel(&who, id),
            Route::Funnel(id) if m == Method::PUT => self.update_funnel(&who, id, headers, body),
            Route::Funnel(id) if m == Method::PATCH => self.patch_funnel(&who, id, headers, body),
            Route::Funnel(id) => self.delete_funnel(&who, id, headers, body),
            // The server streams uploads itself and never hands them here.
            Route::FunnelUploads(_) => Err(ApiError::NotFound),
            Route::Member(f, kind, user) if m == Method::GET => {
                self.get_member(&who, f, kind, user)
            }
            Route::Member(f, kind, user) if m == Method::PUT => {
                self.put_member(&who, f, kind, user, body)
            }
            Route::Member(f, kind, user) => self.delete_member(&who, f, kind, user),
            Route::Jobs => self.list_jobs(&who, query),
            Route::Job(id) => self.get_job(&who, id),
            Route::Fragments if m == Method::GET => self.list_fragments(&who, query),
            Route::Fragments => self.create_fragment(&who, body),
            Route::Fragment(id) if m == Method::GET => self.get_fragment(&who, id),
            Route::Fragment(id) if m == Method::PUT => self.edit_fragment(&who, id, headers, body),
            Route::Fragment(id) if m == Method::PATCH => {
                self.patch_fragment(&who, id, headers, body)
            }
            Route::Fragment(id) => self.archive_fragment(&who, id, headers, body),
            Route::FragmentReview(id, approve) => {
                self.review_fragment(&who, id, approve, headers, body)
            }
            Route::FragmentHistory(id) => self.fragment_history(&who, id),
            Route::Audits => self.list_audits(&who, query),
            Route::Audit(exchange, crid) => self.put_audit(&who, exchange, crid, body),
            Route::CampaignReactions(id) => self.add_reactions(&who, id, body),
            Route::CampaignCombinations(id) => self.combination_report(&who, id),
            Route::CampaignGallery(id) => self.gallery(&who, id),
            Route::Preview => self.preview(&who, query),
            Route::CampaignBudget(id) => self.budget(&who, id),
            Route::CampaignStatus(id, status) => {
                self.set_campaign_status(&who, id, status, headers)
            }
            Route::Conversions => self.conversion(&who, body),
            Route::Reports => self.report(&who, query),
            Route::Explain => self.explain(&who, query, body),
        }
    }
}

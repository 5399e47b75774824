//! The console: HTML pages under `/console` for media buyers and
//! advertisers, served by the bidder itself. Sign in with an API token once;
//! the browser then holds a session cookie.
//!
//! An adapter over the typed service layer ([`crate::control::service`]),
//! like the JSON API: a page shows only what the service returns for the
//! session's principal, and a form's write goes through the same checks
//! of roles and values. Every page is server-rendered and works without
//! script; every answer carries a Content-Security-Policy that allows
//! none, but the live view's, which allows our own script file refreshing
//! it. Every form that changes something carries the session's CSRF
//! token, and a cross-site `Origin` is refused before it is read.
//!
//! Never decides who may do what, never validates values, never writes
//! the store: those are the service's. Blocking (SQLite): the server calls
//! [`Console::handle`] inside `spawn_blocking`. Errors become status codes
//! in `crate::error`.
//!
//! # Layout
//! - `session`: sessions, their CSRF tokens and the sign-in throttle.
//! - `form`: form fields and query strings.
//! - `admin_pages`: the HTML of the funnels page and of the admins' token
//!   and exchange pages.
//! - `pages`: the HTML of the shared frame, sign-in and the campaigns list.
//! - `campaign_form`: the campaign form's fields, read onto a draft, and
//!   the service's field paths mapped to them.
//! - `campaign_pages`: the HTML of the campaign form and a campaign's page
//!   with its budget charts.
//! - `chart`: SVG line and bar charts, drawn by hand.
//! - `reports_page`: the reports page's query and HTML.
//! - `explain_page`: the explain page's samples and HTML.
//! - `live_page`: the admins' live view of the bid path's counters, and
//!   the one script of the console, which refreshes it.
//! - `routes_campaign`, `routes_insight` (reports, explain),
//!   `routes_fragment`, `routes_admin` (funnels, tokens): the handlers of
//!   those pages, over the service.
//! - `fragments_page`: the fragment library's HTML, with the formats each
//!   fragment leaves out.
//! - `multipart`, `upload_pages`, `routes_upload`: audience uploads (a
//!   file form, its job's progress and report).
//! - `audits_page`, `routes_audit`: a campaign's creatives with each
//!   exchange's audit, and the form that records one.

mod admin_pages;
mod audits_page;
mod campaign_form;
mod campaign_pages;
mod chart;
mod explain_page;
mod form;
mod fragments_page;
mod live_page;
mod multipart;
mod pages;
mod reports_page;
mod routes_admin;
mod routes_audit;
mod routes_campaign;
mod routes_fragment;
mod routes_insight;
mod routes_upload;
pub mod session;
mod upload_pages;

use std::net::IpAddr;
use std::sync::Arc;

use audiences::table::FunnelId;
use bytes::Bytes;
use creative::assembly::FragmentId;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use http_body_util::Full;
use maud::Markup;

use self::form::Form;
use self::session::{Session, Sessions};
use crate::control::admin::Admin;
use crate::control::auth::{self, AuthError, Permission, Principal, TokenDigest};
use crate::control::service::{CampaignFilter, Page, Services};
pub use crate::error::ConsoleError;
use crate::error::{ApiError, Body};
use crate::model::{AdvertiserId, CampaignId, CampaignStatus, JobId};
use crate::state::clock::SharedClock;

/// Where every console page lives.
pub const PREFIX: &str = "/console";
/// The stylesheet's path.
pub const CSS_PATH: &str = "/console/console.css";
/// The icon's path (browsers ask for one; without it every page logs a 404).
pub const ICON_PATH: &str = "/console/icon.svg";

/// The policy of every console page: nothing but this server's own
/// stylesheet and images, forms that post only here, no frames around it,
/// no script at all (the live view alone loads one file of ours:
/// `live_page::LIVE_CSP`).
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The explain page's first sample request (a banner a demo campaign
/// wins), for tests and benchmarks that explain what the page explains.
pub const EXPLAIN_SAMPLE: &str = explain_page::SAMPLES[0].2;

pub use routes_upload::MAX_UPLOAD_BYTES;

/// Campaigns per page of the list.
const PAGE_SIZE: u32 = 50;
/// A UTC day in seconds.
const DAY: i64 = 86_400;
/// The most advertisers a campaign form offers to pick from.
const MAX_ADVERTISERS: u32 = 500;
/// The longest name filter taken.
const MAX_NAME_FILTER: usize = 200;

/// One request to the console, as the server read it.
#[derive(Debug)]
pub struct ConsoleRequest<'a> {
    /// Its method.
    pub method: &'a Method,
    /// Its path, starting with [`PREFIX`].
    pub path: &'a str,
    /// Its query string.
    pub query: Option<&'a str>,
    /// Its headers (cookie, origin).
    pub headers: &'a HeaderMap,
    /// The authority of its URI: HTTP/2's `:authority`, which stands for
    /// `Host` there (an HTTP/2 client need not send `Host`).
    pub authority: Option<&'a str>,
    /// Its body (a form), read under the server's limit.
    pub body: &'a [u8],
    /// The client's address, for the sign-in throttle.
    pub peer: IpAddr,
}

/// A matched console route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Home,
    Css,
    Icon,
    SignIn,
    SignOut,
    Campaigns,
    NewCampaign,
    Campaign(CampaignId),
    EditCampaign(CampaignId),
    SetStatus(CampaignId, CampaignStatus),
    Reports,
    ReportsCsv,
    Explain,
    Fragments,
    Fragment(FragmentId),
    ReviewFragment(FragmentId, bool),
    Funnels,
    FunnelUpload(FunnelId),
    Job(JobId),
    Tokens,
    RevokeToken(i64),
    Exchanges,
    Live,
    LiveJs,
    Gallery(CampaignId),
    Audits(CampaignId),
    Preview,
}

impl Route {
    fn parse(path: &str) -> Option<Route> {
        let rest = path.strip_prefix(PREFIX)?;
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let parts: Vec<&str> = rest.split('/').collect();
        let id = |s: &str| s.parse::<i64>().ok().filter(|n| *n > 0).map(CampaignId);
        Some(match parts.as_slice() {
            [""] => Route::Home,
            ["console.css"] => Route::Css,
            ["icon.svg"] => Route::Icon,
            ["sign-in"] => Route::SignIn,
            ["sign-out"] => Route::SignOut,
            ["campaigns"] => Route::Campaigns,
            ["campaigns", "new"] => Route::NewCampaign,
            ["campaigns", n] => Route::Campaign(id(n)?),
            ["campaigns", n, "edit"] => Route::EditCampaign(id(n)?),
            ["campaigns", n, "pause"] => Route::SetStatus(id(n)?, CampaignStatus::Paused),
            ["campaigns", n, "resume"] => Route::SetStatus(id(n)?, CampaignStatus::Active),
            ["campaigns", n, "gallery"] => Route::Gallery(id(n)?),
            ["campaigns", n, "audits"] => Route::Audits(id(n)?),
            ["preview"] => Route::Preview,
            ["reports"] => Route::Reports,
            ["reports.csv"] => Route::ReportsCsv,
            ["explain"] => Route::Explain,
            ["fragments"] => Route::Fragments,
            ["funnels"] => Route::Funnels,
            ["funnels", n, "upload"] => {
                Route::FunnelUpload(FunnelId(u32::try_from(id(n)?.0).ok()?))
            }
            ["jobs", n] => Route::Job(JobId(id(n)?.0)),
            ["tokens"] => Route::Tokens,
            ["tokens", n, "revoke"] => Route::RevokeToken(id(n)?.0),
            ["exchanges"] => Route::Exchanges,
            ["live"] => Route::Live,
            ["live.js"] => Route::LiveJs,
            ["fragments", n] => Route::Fragment(FragmentId(id(n)?.0)),
            ["fragments", n, "approve"] => Route::ReviewFragment(FragmentId(id(n)?.0), true),
            ["fragments", n, "reject"] => Route::ReviewFragment(FragmentId(id(n)?.0), false),
            _ => return None,
        })
    }

    fn allows(self, m: &Method) -> bool {
        match self {
            Route::SignIn
            | Route::NewCampaign
            | Route::EditCampaign(_)
            | Route::Explain
            | Route::Fragments
            | Route::Fragment(_)
            | Route::FunnelUpload(_)
            | Route::Audits(_)
            | Route::Tokens => m == Method::GET || m == Method::POST,
            Route::SignOut
            | Route::SetStatus(..)
            | Route::ReviewFragment(..)
            | Route::RevokeToken(_) => m == Method::POST,
            Route::Home
            | Route::Css
            | Route::Icon
            | Route::Campaigns
            | Route::Campaign(_)
            | Route::Reports
            | Route::ReportsCsv
            | Route::Funnels
            | Route::Job(_)
            | Route::Exchanges
            | Route::Live
            | Route::LiveJs
            | Route::Gallery(_)
            | Route::Preview => m == Method::GET,
        }
    }
}

/// Whether `path` is a funnel's upload form, whose post is a file
/// (`multipart/form-data`, up to [`MAX_UPLOAD_BYTES`]).
pub fn is_upload_path(path: &str) -> bool {
    matches!(Route::parse(path), Some(Route::FunnelUpload(_)))
}

/// The console over one set of [`Services`].
#[derive(Debug)]
pub struct Console {
    services: Arc<Services>,
    sessions: Sessions,
    /// What "now" is for charts.
    clock: SharedClock,
    /// Whether the public URL is https: cookies are then `Secure` and
    /// `__Host-` prefixed.
    secure: bool,
}

impl Console {
    /// The console over `services`, with sessions timed by `clock`;
    /// `public_url` says whether browsers reach it over https.
    pub fn new(services: Arc<Services>, clock: SharedClock, public_url: &str) -> Console {
        Console {
            services,
            sessions: Sessions::new(Arc::clone(&clock)),
            clock,
            secure: public_url.starts_with("https://"),
        }
    }

    fn cookie_name(&self) -> &'static str {
        if self.secure {
            session::COOKIE_SECURE
        } else {
            session::COOKIE_PLAIN
        }
    }

    /// Answers one request under `/console`. Blocking (SQLite). The
    /// gallery and previews are the admin API's pages, reached through
    /// the session instead of a bearer header.
    pub fn handle(&self, admin: &Admin, req: &ConsoleRequest<'_>) -> Response<Body> {
        let Some(route) = Route::parse(req.path) else {
            return self.refusal(ApiError::NotFound.into(), None);
        };
        if !route.allows(req.method) {
            return self.refusal(ApiError::MethodNotAllowed.into(), None);
        }
        match route {
            Route::Css => return asset("text/css; charset=utf-8", pages::CSS),
            Route::Icon => return asset("image/svg+xml", pages::ICON),
            Route::LiveJs => return asset("text/javascript; charset=utf-8", live_page::LIVE_JS),
            Route::SignIn => return self.sign_in(req),
            _ => {}
        }
        let Some((id, session, who)) = self.signed_in(req.headers) else {
            return redirect("/console/sign-in", None);
        };
        if let (Route::FunnelUpload(f), &Method::POST) = (route, req.method) {
            // A file form: read and checked by its handler.
            return self
                .upload(&who, &session, f, req)
                .unwrap_or_else(|e| self.refusal(e, Some(&who)));
        }
        let posted = if *req.method == Method::POST {
            match self.checked_form(req, &session) {
                Ok(form) => Some(form),
                Err(e) => return self.refusal(e, Some(&who)),
            }
        } else {
            None
        };
        let answer = match (route, posted) {
            (Route::SignOut, _) => {
                self.sessions.end(&id);
                Ok(redirect("/console/sign-in", Some(self.clear_cookie())))
            }
            (Route::Home, _) => Ok(redirect("/console/campaigns", None)),
            (Route::Campaigns, _) => self.campaigns(&who, &session, req.query),
            (Route::NewCampaign, form) => self.new_campaign(&who, &session, form.as_ref()),
            (Route::EditCampaign(c), form) => self.edit_campaign(&who, &session, c, form.as_ref()),
            (Route::Campaign(c), _) => self.campaign(&who, &session, c),
            (Route::SetStatus(c, status), Some(form)) => self.set_status(&who, c, status, &form),
            (Route::Reports, _) => self.reports(&who, &session, req.query),
            (Route::ReportsCsv, _) => self.reports_csv(admin, &who, req.query),
            (Route::Explain, form) => self.explain(&who, &session, form.as_ref()),
            (Route::Fragments, form) => self.fragments(&who, &session, req.query, form.as_ref()),
            (Route::Fragment(f), form) => {
                self.fragment(&who, &session, f, req.query, form.as_ref())
            }
            (Route::ReviewFragment(f, approve), Some(form)) => {
                self.review_fragment(&who, f, approve, &form)
            }
            (Route::Funnels, _) => self.funnels(&who, &session, req.query),
            (Route::FunnelUpload(f), _) => self.upload_page(&who, &session, f, None),
            (Route::Job(j), _) => self.job_page(&who, &session, j),
            (Route::Tokens, form) => self.tokens(&who, &session, req.query, form.as_ref()),
            (Route::RevokeToken(t), Some(_)) => self
                .services
                .tokens()
                .revoke(&who, t)
                .map(|()| redirect("/console/tokens", None))
                .map_err(ConsoleError::from),
            (Route::Exchanges, _) => self
                .services
                .explain()
                .exchanges(&who)
                .map(|(all, default)| {
                    let page = admin_pages::exchanges(&who, &session.csrf, &all, default);
                    html(StatusCode::OK, page)
                })
                .map_err(ConsoleError::from),
            (Route::Live, _) => self
                .services
                .traffic(&who)
                .map(|v| {
                    let mut resp = html(StatusCode::OK, live_page::live(&who, &session.csrf, &v));
                    resp.headers_mut().insert(
                        header::CONTENT_SECURITY_POLICY,
                        HeaderValue::from_static(live_page::LIVE_CSP),
                    );
                    resp
                })
                .map_err(ConsoleError::from),
            (Route::Gallery(c), _) => admin.gallery(&who, c.0).map_err(ConsoleError::from),
            (Route::Audits(c), form) => self.audits(&who, &session, c, req.query, form.as_ref()),
            (Route::Preview, _) => admin.preview(&who, req.query).map_err(ConsoleError::from),
            _ => Err(ApiError::MethodNotAllowed.into()),
        };
        answer.unwrap_or_else(|e| self.refusal(e, Some(&who)))
    }

    /// The session the request's cookie names and its principal, if the
    /// session is live and its token still valid (a revoked token ends it).
    fn signed_in(&self, headers: &HeaderMap) -> Option<(String, Session, Principal)> {
        let id = cookie(headers, self.cookie_name())?;
        let session = self.sessions.get(&id)?;
        match auth::authenticate_digest(self.services.store(), &session.token) {
            Ok(who) => Some((id, session, who)),
            Err(_) => {
                self.sessions.end(&id);
                None
            }
        }
    }

    /// The posted form, if it comes from this site and carries the
    /// session's CSRF token.
    fn checked_form(&self, req: &ConsoleRequest<'_>, s: &Session) -> Result<Form, ConsoleError> {
        if !same_origin(req.headers, req.authority) {
            return Err(ConsoleError::Forgery);
        }
        let form = read_form(req.body)?;
        if !s.csrf_matches(form.get("csrf")) {
            return Err(ConsoleError::Forgery);
        }
        Ok(form)
    }

    /// `GET` shows the form (or goes on when signed in already); `POST`
    /// checks the pasted token and starts a session.
    fn sign_in(&self, req: &ConsoleRequest<'_>) -> Response<Body> {
        if *req.method == Method::GET {
            if self.signed_in(req.headers).is_some() {
                return redirect("/console/campaigns", None);
            }
            return html(StatusCode::OK, pages::sign_in(None));
        }
        let attempt = || -> Result<Response<Body>, ConsoleError> {
            if !same_origin(req.headers, req.authority) {
                return Err(ConsoleError::Forgery);
            }
            self.sessions
                .may_try(req.peer)
                .map_err(ConsoleError::Throttled)?;
            let form = read_form(req.body)?;
            let digest = form
                .non_empty("token")
                .and_then(TokenDigest::of)
                .ok_or(ConsoleError::SignInRefused);
            let who =
                digest.and_then(
                    |d| match auth::authenticate_digest(self.services.store(), &d) {
                        Ok(_) => Ok(d),
                        Err(AuthError::Unauthorized) => Err(ConsoleError::SignInRefused),
                        Err(e) => Err(e.into()),
                    },
                );
            let digest = match who {
                Err(ConsoleError::SignInRefused) => {
                    self.sessions.failed(req.peer);
                    return Err(ConsoleError::SignInRefused);
                }
                other => other?,
            };
            let started = self.sessions.start(digest);
            Ok(redirect(
                "/console/campaigns",
                Some(self.set_cookie(&started.id)),
            ))
        };
        attempt().unwrap_or_else(|e| {
            let (status, message) = e.answer();
            let mut resp = html(status, pages::sign_in(Some(&message)));
            if status == StatusCode::TOO_MANY_REQUESTS {
                resp.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(session::THROTTLE_WINDOW_SECS),
                );
            }
            resp
        })
    }

    /// `GET /console/campaigns?status=&name=&after=`.
    fn campaigns(
        &self,
        who: &Principal,
        s: &Session,
        query: Option<&str>,
    ) -> Result<Response<Body>, ConsoleError> {
        let q = Form::parse(query.unwrap_or(""))
            .ok_or_else(|| ConsoleError::BadForm("the query string is malformed".into()))?;
        let status = match q.non_empty("status") {
            None => None,
            Some("active") => Some(CampaignStatus::Active),
            Some("paused") => Some(CampaignStatus::Paused),
            Some("archived") => Some(CampaignStatus::Archived),
            Some(_) => {
                return Err(ConsoleError::BadForm(
                    "status: active, paused or archived".into(),
                ));
            }
        };
        let name = q
            .non_empty("name")
            .map(|n| n.chars().take(MAX_NAME_FILTER).collect());
        let after = match q.non_empty("after") {
            None => 0,
            Some(a) => a
                .parse::<i64>()
                .ok()
                .filter(|a| *a >= 0)
                .ok_or_else(|| ConsoleError::BadForm("after: a campaign id".into()))?,
        };
        let filter = CampaignFilter {
            status,
            name,
            ..CampaignFilter::default()
        };
        let page = self.services.campaigns().overview(
            who,
            &filter,
            Page {
                after,
                limit: PAGE_SIZE,
            },
        )?;
        Ok(html(
            StatusCode::OK,
            pages::campaigns(&pages::CampaignsView {
                who,
                csrf: &s.csrf,
                filter: &filter,
                after,
                page: &page,
                may_manage: who.holds(Permission::ManageCampaigns),
            }),
        ))
    }

    /// The advertisers `who` acts for, to pick a campaign's from.
    fn advertisers(&self, who: &Principal) -> Result<Vec<(AdvertiserId, String)>, ConsoleError> {
        let page = Page {
            after: 0,
            limit: MAX_ADVERTISERS,
        };
        Ok(self
            .services
            .advertisers()
            .list(who, page)?
            .items
            .into_iter()
            .map(|a| (a.id, a.name))
            .collect())
    }

    /// `POST /console/campaigns/{id}/pause|resume` with the version the
    /// page showed: the campaign as stored with only its status changed,
    /// through the service's update (so a change made since is a conflict,
    /// not overwritten). Then back to the list the form came from.
    fn set_status(
        &self,
        who: &Principal,
        id: CampaignId,
        status: CampaignStatus,
        form: &Form,
    ) -> Result<Response<Body>, ConsoleError> {
        let version = form
            .get("version")
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(|| ConsoleError::BadForm("version: the campaign's version".into()))?;
        let campaigns = self.services.campaigns();
        let current = campaigns.check_update(who, id)?;
        campaigns.update(
            who,
            id,
            crate::model::Campaign { status, ..current },
            Some(version),
        )?;
        let back = form
            .get("back")
            .filter(|b| b.starts_with("/console/campaigns") && !b.contains("//"))
            .unwrap_or("/console/campaigns");
        Ok(redirect(back, None))
    }

    /// The error page for `e`, its status from `crate::error`.
    fn refusal(&self, e: ConsoleError, who: Option<&Principal>) -> Response<Body> {
        let (status, message) = e.answer();
        let title = status.canonical_reason().unwrap_or("Refused");
        let back = if who.is_some() {
            "/console/campaigns"
        } else {
            "/console/sign-in"
        };
        html(status, pages::problem(title, &message, back))
    }

    fn set_cookie(&self, id: &str) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let value = format!(
            "{}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            self.cookie_name(),
            session::LIFETIME_SECS
        );
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    fn clear_cookie(&self) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let value = format!(
            "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}",
            self.cookie_name()
        );
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// The value of cookie `name` in `headers`./// The value of cookie `name` in `headers`.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// False when the browser says the request came from another site: an
/// `Origin` whose host is neither the `Host` asked for nor the URI's
/// `authority` (HTTP/2's `:authority`), or `Sec-Fetch-Site: cross-site`.
/// Clients that send neither (curl) pass; the CSRF token still guards
/// them.
fn same_origin(headers: &HeaderMap, authority: Option<&str>) -> bool {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if text(header::HeaderName::from_static("sec-fetch-site")) == Some("cross-site") {
        return false;
    }
    match text(header::ORIGIN) {
        None => true,
        Some(origin) => {
            let host = origin.split_once("://").map(|(_, h)| h);
            host.is_some() && (host == text(header::HOST) || host == authority)
        }
    }
}

fn read_form(body: &[u8]) -> Result<Form, ConsoleError> {
    std::str::from_utf8(body)
        .ok()
        .and_then(Form::parse)
        .ok_or_else(|| ConsoleError::BadForm("the form is malformed".into()))
}

/// Every console page's headers: the policy, no sniffing, no caching of
/// pages that show a principal's rows, no referrer beyond this site.
fn secured(mut resp: Response<Body>) -> Response<Body> {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The status of a page that shows a form: 422 when it shows refused
/// fields, 200 otherwise.
fn form_status(refused: bool) -> StatusCode {
    if refused {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    }
}

fn html(status: StatusCode, page: Markup) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(page.into_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secured(resp)
}

fn redirect(to: &str, cookie: Option<HeaderValue>) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(loc) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    if let Some(c) = cookie {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    secured(resp)
}

/// A static file of the console's, cacheable for an hour.
fn asset(content_type: &'static str, body: &'static str) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let mut resp = secured(resp);
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_and_refuse_other_methods() {
        assert_eq!(Route::parse("/console"), Some(Route::Home));
        assert_eq!(Route::parse("/console/"), Some(Route::Home));
        assert_eq!(
            Route::parse("/console/campaigns/7/pause"),
            Some(Route::SetStatus(CampaignId(7), CampaignStatus::Paused))
        );
        assert_eq!(Route::parse("/console/campaigns/x/pause"), None);
        assert_eq!(
            Route::parse("/console/campaigns/new"),
            Some(Route::NewCampaign)
        );
        assert_eq!(
            Route::parse("/console/campaigns/7/edit"),
            Some(Route::EditCampaign(CampaignId(7)))
        );
        assert_eq!(
            Route::parse("/console/fragments/3/reject"),
            Some(Route::ReviewFragment(FragmentId(3), false))
        );
        assert_eq!(
            Route::parse("/console/reports.csv"),
            Some(Route::ReportsCsv)
        );
        assert!(Route::EditCampaign(CampaignId(7)).allows(&Method::POST));
        assert!(!Route::ReviewFragment(FragmentId(3), true).allows(&Method::GET));
        assert!(!Route::Exchanges.allows(&Method::POST));
        assert_eq!(
            Route::parse("/console/campaigns/7/audits"),
            Some(Route::Audits(CampaignId(7)))
        );
        assert!(Route::Audits(CampaignId(7)).allows(&Method::POST));
        assert_eq!(Route::parse("/console/nowhere"), None);
        assert!(!Route::SetStatus(CampaignId(7), CampaignStatus::Paused).allows(&Method::GET));
        assert!(!Route::Campaigns.allows(&Method::POST));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; bidder_session=abc; b=2"),
        );
        assert_eq!(cookie(&h, "bidder_session").as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "bidder"), None);
    }

    #[test]
    fn a_cross_site_origin_is_refused() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&h, None), "no Origin: curl");
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(same_origin(&h, None));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&h, None));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h, None));
    }

    #[test]
    fn over_http2_the_authority_stands_for_host() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://console.example:8443"),
        );
        assert!(!same_origin(&h, None), "neither Host nor :authority");
        assert!(same_origin(&h, Some("console.example:8443")));
        assert!(!same_origin(&h, Some("evil.example")));
        h.insert(header::HOST, HeaderValue::from_static("other.example"));
        assert!(same_origin(&h, Some("console.example:8443")));
    }
}

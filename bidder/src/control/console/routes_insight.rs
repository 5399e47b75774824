//! The routes that read rather than write: reports (charts by day, a
//! table, its CSV) and the explanation of a bid request.
//!
//! Reads queries and forms and calls the service; never explains or
//! aggregates itself, never writes markup.

use http::{HeaderValue, Response, StatusCode, header};

use super::form::Form;
use super::session::Session;
use super::{Console, ConsoleError, explain_page, form_status, html, reports_page, secured};
use crate::control::admin::Admin;
use crate::control::auth::Principal;
use crate::control::service::{FieldError, ReportRequest, ServiceError};
use crate::error::{ApiError, Body};
use crate::store::Dimension;

impl Console {
    /// The reports page's ask, and why it cannot be made (the query's
    /// own errors, then the service's rule on spans).
    pub(super) fn report_ask(
        &self,
        query: Option<&str>,
    ) -> Result<(reports_page::Ask, Vec<FieldError>), ConsoleError> {
        let q = Form::parse(query.unwrap_or(""))
            .ok_or_else(|| ConsoleError::BadForm("the query string is malformed".into()))?;
        let (ask, mut errors) = reports_page::Ask::of(&q, self.clock.now());
        if errors.is_empty() {
            let (from, to) = ask.span();
            if let Err(e) = self.services.reports().span(Some(from), Some(to)) {
                errors.push(e);
            }
        }
        Ok((ask, errors))
    }

    /// `GET /console/reports?from=&to=&by=&advertiser=`: by day as
    /// charts, by the chosen grouping as a table.
    pub(super) fn reports(
        &self,
        who: &Principal,
        s: &Session,
        query: Option<&str>,
    ) -> Result<Response<Body>, ConsoleError> {
        let (ask, errors) = self.report_ask(query)?;
        let advertisers = self.advertisers(who)?;
        let reports = self.services.reports();
        let (from, to) = ask.span();
        let ask_for = |group_by| ReportRequest {
            advertiser: ask.advertiser,
            campaign: None,
            from,
            to,
            group_by,
        };
        let (by_day, table) = if errors.is_empty() {
            (
                Some(reports.report(who, &ask_for(vec![Dimension::Day]))?),
                Some(reports.report(who, &ask_for(vec![ask.by]))?),
            )
        } else {
            (None, None)
        };
        let status = form_status(!errors.is_empty());
        Ok(html(
            status,
            reports_page::reports(&reports_page::ReportsView {
                who,
                csrf: &s.csrf,
                ask: &ask,
                errors: &errors,
                advertisers: &advertisers,
                by_day: by_day.as_ref(),
                table: table.as_ref(),
            }),
        ))
    }

    /// `GET /console/reports.csv?...`: the reports page's table as the
    /// API's CSV, as a file to save.
    pub(super) fn reports_csv(
        &self,
        admin: &Admin,
        who: &Principal,
        query: Option<&str>,
    ) -> Result<Response<Body>, ConsoleError> {
        let (ask, errors) = self.report_ask(query)?;
        if !errors.is_empty() {
            return Err(ApiError::Unprocessable(errors).into());
        }
        let mut resp = admin.report(who, Some(&ask.csv_query()))?;
        let disposition = format!("attachment; filename=\"{}\"", ask.file_name());
        if let Ok(v) = HeaderValue::from_str(&disposition) {
            resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
        }
        Ok(secured(resp))
    }

    /// `GET|POST /console/explain`: the form, then the service's
    /// explanation of the pasted (or sample) request. Parsed by the bid
    /// path's parser, as the API's explain does.
    pub(super) fn explain(
        &self,
        who: &Principal,
        s: &Session,
        form: Option<&Form>,
    ) -> Result<Response<Body>, ConsoleError> {
        let explain = self.services.explain();
        let recent = explain.recent(who)?;
        let page = |status: StatusCode,
                    request: &str,
                    exchange: &str,
                    problem: Option<&str>,
                    x: Option<&crate::bid::decision::explain::Explanation>| {
            html(
                status,
                explain_page::explain(&explain_page::ExplainView {
                    who,
                    csrf: &s.csrf,
                    request,
                    exchange,
                    problem,
                    explanation: x,
                    recent: &recent,
                }),
            )
        };
        let Some(form) = form else {
            return Ok(page(
                StatusCode::OK,
                explain_page::SAMPLES[0].2,
                "",
                None,
                None,
            ));
        };
        let picked = form.non_empty("sample");
        let sample = picked.and_then(|k| explain_page::SAMPLES.iter().find(|(key, ..)| *key == k));
        let kept =
            picked.and_then(|k| recent.iter().find(|r| explain_page::recent_key(r.seq) == k));
        let mut exchange = form.non_empty("exchange").unwrap_or("");
        let request = match (sample, kept) {
            (Some(s), _) => s.2,
            (None, Some(r)) => {
                if exchange.is_empty() {
                    exchange = &r.exchange;
                }
                &r.body
            }
            (None, None) if picked.is_some_and(|k| k.starts_with("recent-")) => {
                let request = form.get("request").unwrap_or("");
                let problem = "that recent request is no longer kept: pick another";
                let status = StatusCode::UNPROCESSABLE_ENTITY;
                return Ok(page(status, request, exchange, Some(problem), None));
            }
            (None, None) => form.get("request").unwrap_or(""),
        };
        let mut parser = openrtb::Parser::new();
        let req = match parser.parse(request.as_bytes()) {
            Ok(req) => req,
            Err(e) => {
                let problem = format!("at {}: {}", e.path(), e.message());
                let status = StatusCode::UNPROCESSABLE_ENTITY;
                return Ok(page(status, request, exchange, Some(&problem), None));
            }
        };
        let asked = (!exchange.is_empty()).then_some(exchange);
        match explain.request(who, &req, asked) {
            Ok(x) => Ok(page(StatusCode::OK, request, exchange, None, Some(&x))),
            Err(ServiceError::Invalid(fields)) => {
                let problem = fields
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                let status = StatusCode::UNPROCESSABLE_ENTITY;
                Ok(page(status, request, exchange, Some(&problem), None))
            }
            Err(e) => Err(e.into()),
        }
    }
}

//! `POST /api/v1/explain[?exchange=name]`: the body is a bid request as an
//! exchange sends it; the answer says, per impression and per campaign,
//! the step at which the campaign dropped out and what would win. Admins
//! and buyers (who see their advertisers' campaigns only).
//!
//! Parses with the bid path's own parser, so a request the endpoint would
//! refuse is refused here with the same path and message. Changes nothing.

use http::{Response, StatusCode};

use super::Admin;
use super::request::json;
use crate::control::auth::Principal;
use crate::error::{ApiError, Body, FieldError};

impl Admin {
    pub(super) fn explain(
        &self,
        who: &Principal,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let explain = self.services.explain();
        explain.check(who)?;
        let mut exchange = None;
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("exchange", v)) => {
                    exchange = Some(crate::percent_decoding::decode(v).ok_or_else(|| {
                        ApiError::Unprocessable(vec![FieldError::new(
                            "exchange",
                            "invalid percent-encoding",
                        )])
                    })?)
                }
                _ => {
                    return Err(ApiError::Unprocessable(vec![FieldError::new(
                        pair.split('=').next().unwrap_or(pair),
                        "unknown query parameter",
                    )]));
                }
            }
        }
        let mut parser = openrtb::Parser::new();
        let req = parser.parse(body).map_err(|e| ApiError::BadRequest {
            path: e.path().to_owned(),
            message: e.message(),
        })?;
        let explanation = explain.request(who, &req, exchange.as_deref())?;
        json(StatusCode::OK, &explanation, None)
    }
}

//! Every error the HTTP surface can answer, the one function that turns
//! them into responses, and the one mapping of each typed error below
//! (store, shared state, auth, the control service layer) to them.
//!
//! Client mistakes (4xx) get a short JSON body naming what was wrong and are
//! not logged as errors; server faults (5xx) get a generic body and are
//! logged once, here. No internal detail reaches a client.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use serde::Serialize;

use crate::control::auth::AuthError;
use crate::control::service::ServiceError;
use crate::state::StateError;
use crate::store::StoreError;

/// One bad field of a request; defined by the service layer, which names
/// the fields it refuses.
pub use crate::control::service::FieldError;

/// The body type of every response this server writes.
pub type Body = Full<Bytes>;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed or invalid input (OpenRTB or JSON syntax); `path` names the field.
    #[error("{path}: {message}")]
    BadRequest {
        /// JSON path of the offending field; empty for the document as a whole.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A body over the configured limit.
    #[error("body larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// A body in a content type or encoding this route does not take.
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// The client took longer than allowed to send its body.
    #[error("request body not received in time")]
    RequestTimeout,
    /// No or wrong credentials.
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// Valid credentials without the right to do this.
    #[error("forbidden")]
    Forbidden,
    /// No such route or resource (or one the caller may not know exists).
    #[error("not found")]
    NotFound,
    /// The route exists, the method does not.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The write conflicts with the current state (e.g. a duplicate name).
    #[error("conflict: {0}")]
    Conflict(String),
    /// `If-Match` names a version that is no longer current.
    #[error("version {expected} is not current (current is {current})")]
    PreconditionFailed {
        /// The version the client sent.
        expected: i64,
        /// The version in the store.
        current: i64,
    },
    /// An update without `If-Match`, where one is required.
    #[error("If-Match with the resource's ETag is required")]
    PreconditionRequired,
    /// Well-formed JSON with invalid values; every bad field is listed.
    #[error("invalid fields")]
    Unprocessable(Vec<FieldError>),
    /// The server is not ready (store not loaded, shutting down).
    #[error("unavailable: {0}")]
    Unavailable(&'static str),
    /// A fault of ours; the detail is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The status code this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The response for this error: the single place errors become HTTP.
    pub fn into_response(self) -> Response<Body> {
        #[derive(Serialize)]
        struct ErrorBody<'a> {
            error: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            path: Option<&'a str>,
            message: String,
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            fields: &'a [FieldError],
        }
        let status = self.status();
        let code = match &self {
            ApiError::BadRequest { .. } => "bad_request",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden => "forbidden",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::PreconditionFailed { .. } => "precondition_failed",
            ApiError::PreconditionRequired => "precondition_required",
            ApiError::Unprocessable(_) => "unprocessable",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        };
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                "internal error".to_owned()
            }
            ApiError::BadRequest { message, .. } => message.clone(),
            other => other.to_string(),
        };
        let body = ErrorBody {
            error: code,
            path: match &self {
                ApiError::BadRequest { path, .. } => Some(path.as_str()),
                _ => None,
            },
            message,
            fields: match &self {
                ApiError::Unprocessable(fields) => fields,
                _ => &[],
            },
        };
        let json =
            serde_json::to_vec(&body).unwrap_or_else(|_| b"{\"error\":\"internal\"}".to_vec());
        let mut resp = Response::new(Full::new(Bytes::from(json)));
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if status == StatusCode::REQUEST_TIMEOUT {
            // The rest of the body may still come; the connection cannot
            // carry another request after it.
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Stale { expected, current } => {
                ApiError::PreconditionFailed { expected, current }
            }
            StoreError::InUse(why) => ApiError::Conflict(why.to_owned()),
            StoreError::MissingParent(what) => ApiError::Unprocessable(vec![FieldError::new(
                format!("{what}_id"),
                format!("no such {what}"),
            )]),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> ApiError {
        match e {
            ServiceError::NotFound => ApiError::NotFound,
            // What is missing stays out of the body for now; the answer
            // is the same for a missing role and a missing grant.
            ServiceError::Forbidden(_) => ApiError::Forbidden,
            ServiceError::Stale { expected, current } => {
                ApiError::PreconditionFailed { expected, current }
            }
            ServiceError::PreconditionRequired => ApiError::PreconditionRequired,
            ServiceError::Invalid(fields) => ApiError::Unprocessable(fields),
            ServiceError::Conflict(why) => ApiError::Conflict(why),
            ServiceError::Unavailable(why) => StateError::Unavailable(why).into(),
            ServiceError::Store(e) => e.into(),
            ServiceError::Render(e) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        match e {
            AuthError::Unauthorized => ApiError::Unauthorized,
            AuthError::Store(e) => ApiError::Internal(format!("token lookup: {e}")),
        }
    }
}

impl From<StateError> for ApiError {
    fn from(e: StateError) -> ApiError {
        match e {
            StateError::Store(e) => e.into(),
            StateError::Unavailable(why) => {
                tracing::warn!(%why, "shared state unavailable");
                ApiError::Unavailable("shared state is unavailable; try again")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_never_leak_their_detail() {
        let resp = ApiError::Internal("disk I/O error at /secret/path".into()).into_response();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = format!("{:?}", resp.body());
        assert!(!body.contains("secret"), "{body}");
    }

    #[test]
    fn unprocessable_lists_every_field() {
        let resp = ApiError::Unprocessable(vec![
            FieldError::new("name", "must not be empty"),
            FieldError::new("targeting.countries[1]", "not an ISO-3166 alpha-3 code"),
        ])
        .into_response();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = format!("{:?}", resp.body());
        assert!(body.contains("targeting.countries[1]"), "{body}");
    }

    #[test]
    fn service_errors_answer_the_statuses_the_api_always_gave() {
        use crate::control::auth::Missing;
        use crate::model::AdvertiserId;
        let cases = [
            (ServiceError::NotFound, StatusCode::NOT_FOUND),
            (
                ServiceError::Forbidden(Missing::Grant(AdvertiserId(2))),
                StatusCode::FORBIDDEN,
            ),
            (
                ServiceError::Stale {
                    expected: 1,
                    current: 2,
                },
                StatusCode::PRECONDITION_FAILED,
            ),
            (
                ServiceError::PreconditionRequired,
                StatusCode::PRECONDITION_REQUIRED,
            ),
            (
                ServiceError::invalid("name", "must not be empty"),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                ServiceError::Conflict("in use".into()),
                StatusCode::CONFLICT,
            ),
            (
                ServiceError::Unavailable("connection refused".into()),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                ServiceError::Store(StoreError::Corrupt("unknown fragment kind")),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (e, status) in cases {
            let what = format!("{e:?}");
            assert_eq!(ApiError::from(e).status(), status, "{what}");
        }
    }
}

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

use crate::control::auth::{AuthError, Missing};
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
    /// Not allowed, nothing more said (a bid or event from a source that
    /// may not send them).
    #[error("forbidden")]
    Forbidden,
    /// Valid credentials whose role or grants lack what this needs; the
    /// body says which.
    #[error("forbidden: {0}")]
    Lacking(Missing),
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
    /// One item of a batch refused the whole batch: answered as that
    /// item's refusal alone would be, with the item named.
    #[error("{path}: {message}")]
    Item {
        /// The item, e.g. `items[3]`.
        path: String,
        /// What is wrong with it (what a 403 misses, which version is
        /// current).
        message: String,
        /// The refusal it stands for: its status and code.
        error: Box<ApiError>,
    },
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
            ApiError::Forbidden | ApiError::Lacking(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Item { error, .. } => error.status(),
        }
    }

    /// The `error` code of its body.
    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "bad_request",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden | ApiError::Lacking(_) => "forbidden",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::PreconditionFailed { .. } => "precondition_failed",
            ApiError::PreconditionRequired => "precondition_required",
            ApiError::Unprocessable(_) => "unprocessable",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
            ApiError::Item { error, .. } => error.code(),
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
            #[serde(skip_serializing_if = "Option::is_none")]
            missing: Option<MissingBody>,
        }
        let status = self.status();
        let code = self.code();
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
                ApiError::BadRequest { path, .. } | ApiError::Item { path, .. } => {
                    Some(path.as_str())
                }
                _ => None,
            },
            message,
            fields: match &self {
                ApiError::Unprocessable(fields) => fields,
                _ => &[],
            },
            missing: match &self {
                ApiError::Lacking(m) => Some(MissingBody::of(m)),
                _ => None,
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

/// What a 403 says the caller lacks: `{"role": [roles that may],
/// "permission": "...", "held": "<its role>"}` or `{"grant": <advertiser
/// id>}`.
#[derive(Debug, Serialize, PartialEq)]
struct MissingBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    permission: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    held: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grant: Option<i64>,
}

impl MissingBody {
    fn of(m: &Missing) -> MissingBody {
        match m {
            Missing::Role { permission, held } => MissingBody {
                role: Some(permission.roles().iter().map(|r| r.as_str()).collect()),
                permission: Some(permission.as_str()),
                held: Some(held.as_str()),
                grant: None,
            },
            Missing::Grant(a) => MissingBody {
                role: None,
                permission: None,
                held: None,
                grant: Some(a.0),
            },
        }
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
            ServiceError::Forbidden(m) => ApiError::Lacking(m),
            ServiceError::Stale { expected, current } => {
                ApiError::PreconditionFailed { expected, current }
            }
            ServiceError::PreconditionRequired => ApiError::PreconditionRequired,
            ServiceError::Invalid(fields) => ApiError::Unprocessable(fields),
            ServiceError::Conflict(why) => ApiError::Conflict(why),
            ServiceError::Unavailable(why) => StateError::Unavailable(why).into(),
            ServiceError::Store(e) => e.into(),
            ServiceError::Render(e) => ApiError::Internal(e.to_string()),
            ServiceError::Item { index, error } => match *error {
                // Faults of ours and unreachable state are nothing the
                // item did: answered as themselves.
                e @ (ServiceError::Store(_)
                | ServiceError::Render(_)
                | ServiceError::Unavailable(_)
                | ServiceError::Item { .. }) => e.into(),
                e => ApiError::Item {
                    path: format!("items[{index}]"),
                    message: e.to_string(),
                    error: Box::new(e.into()),
                },
            },
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

/// Why a console request was refused. It lives here, beside its mapping
/// to a status ([`ConsoleError::answer`]), so that the console imports the
/// error mapping and not the other way round.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The pasted token is unknown or revoked.
    #[error("this token is unknown or revoked")]
    SignInRefused,
    /// Too many failed sign-ins from this address.
    #[error("too many failed sign-ins; try again in {0} seconds")]
    Throttled(i64),
    /// A form without its session's CSRF token, or sent from another site.
    #[error("this form is stale or was sent from another site; reload the page and try again")]
    Forgery,
    /// A form or query the console cannot read.
    #[error("{0}")]
    BadForm(String),
    /// What the service or the shared API mapping refused.
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<ServiceError> for ConsoleError {
    fn from(e: ServiceError) -> ConsoleError {
        ConsoleError::Api(e.into())
    }
}

impl From<AuthError> for ConsoleError {
    fn from(e: AuthError) -> ConsoleError {
        ConsoleError::Api(e.into())
    }
}

impl ConsoleError {
    /// The status and the sentence a console page answers with: the
    /// console's own refusals, and the API's mapping for the rest. Server
    /// faults are logged once, here, and shown without detail.
    pub fn answer(self) -> (StatusCode, String) {
        match self {
            ConsoleError::SignInRefused => (StatusCode::UNAUTHORIZED, self.to_string()),
            ConsoleError::Throttled(_) => (StatusCode::TOO_MANY_REQUESTS, self.to_string()),
            ConsoleError::Forgery => (StatusCode::FORBIDDEN, self.to_string()),
            ConsoleError::BadForm(_) => (StatusCode::BAD_REQUEST, self.to_string()),
            ConsoleError::Api(e) => {
                let status = e.status();
                let message = match e {
                    ApiError::Internal(detail) => {
                        tracing::error!(%detail, "internal error");
                        "internal error".to_owned()
                    }
                    ApiError::PreconditionFailed { .. } => {
                        "the campaign changed since this page was loaded; reload it and try again"
                            .to_owned()
                    }
                    ApiError::Unprocessable(fields) => fields
                        .iter()
                        .map(|f| format!("{}: {}", f.field, f.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                    other => other.to_string(),
                };
                (status, message)
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

    /// The body of a `Full` as JSON: it is ready at once, so collecting
    /// it needs no runtime.
    fn body_json(resp: Response<Body>) -> serde_json::Value {
        use http_body_util::BodyExt;
        use std::future::Future;
        let fut = std::pin::pin!(resp.into_body().collect());
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match fut.poll(&mut cx) {
            std::task::Poll::Ready(Ok(c)) => serde_json::from_slice(&c.to_bytes()).unwrap(),
            _ => panic!("a Full body is always ready"),
        }
    }

    #[test]
    fn a_refusal_names_the_missing_role_or_grant() {
        use crate::control::auth::{Missing, Permission, Role};
        use crate::model::AdvertiserId;
        let role = ApiError::from(ServiceError::Forbidden(Missing::Role {
            permission: Permission::ManageCampaigns,
            held: Role::Advertiser,
        }))
        .into_response();
        assert_eq!(role.status(), StatusCode::FORBIDDEN);
        let role = body_json(role);
        assert_eq!(role["error"], "forbidden");
        assert_eq!(
            role["missing"],
            serde_json::json!({"role": ["admin", "buyer"], "permission": "manage campaigns",
                "held": "advertiser"})
        );
        assert!(role["message"].as_str().unwrap().contains("admin or buyer"));
        let grant = body_json(
            ApiError::from(ServiceError::Forbidden(Missing::Grant(AdvertiserId(7))))
                .into_response(),
        );
        assert_eq!(grant["missing"], serde_json::json!({"grant": 7}));
        assert_eq!(
            grant["message"],
            "forbidden: this token does not act for advertiser 7"
        );
        let plain = body_json(ApiError::Forbidden.into_response());
        assert!(plain.get("missing").is_none(), "{plain}");
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

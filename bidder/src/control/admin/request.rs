//! The HTTP plumbing every admin route shares: query strings, pagination,
//! preconditions (`If-Match` / `version`), JSON bodies with field-path
//! errors, and JSON responses with ETags.
//!
//! Knows nothing of resources or roles.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::input::DeleteInput;
use crate::control::service::Page;
use crate::error::{ApiError, Body, FieldError};

/// Page size when the client names none.
pub(super) const DEFAULT_LIMIT: u32 = 50;
/// Largest page a client may ask for: bounds the work of one request.
pub(super) const MAX_LIMIT: u32 = 500;

/// The query parameters admin routes understand, parsed and checked.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Query {
    /// `limit` and `after`.
    pub page: Page,
    /// `advertiser_id`, where a list can be filtered by it.
    pub advertiser_id: Option<i64>,
    /// `include_archived=true`: campaign lists hide archived ones otherwise.
    pub include_archived: bool,
}

impl Default for Query {
    fn default() -> Self {
        Query {
            page: Page {
                after: 0,
                limit: DEFAULT_LIMIT,
            },
            advertiser_id: None,
            include_archived: false,
        }
    }
}

/// Parses `limit`, `after` and (when `filters` says so, for campaigns)
/// `advertiser_id` and `include_archived`;
/// every bad or unknown parameter is reported, so a typo never silently
/// widens a list.
pub(super) fn parse_query(query: Option<&str>, filters: bool) -> Result<Query, ApiError> {
    let mut out = Query::default();
    let mut errors = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "limit" => match value.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => out.page.limit = n,
                _ => errors.push(FieldError::new(
                    "limit",
                    format!("must be an integer from 1 to {MAX_LIMIT}"),
                )),
            },
            "after" => match value.parse::<i64>() {
                Ok(n) if n >= 0 => out.page.after = n,
                _ => errors.push(FieldError::new("after", "must be a non-negative id")),
            },
            "advertiser_id" if filters => match value.parse::<i64>() {
                Ok(n) => out.advertiser_id = Some(n),
                _ => errors.push(FieldError::new("advertiser_id", "must be an id")),
            },
            "include_archived" if filters => match value {
                "true" => out.include_archived = true,
                "false" => out.include_archived = false,
                _ => errors.push(FieldError::new("include_archived", "must be true or false")),
            },
            other => errors.push(FieldError::new(other, "unknown query parameter")),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ApiError::Unprocessable(errors))
    }
}

/// Parses the optional body of a delete: nothing, or the version deleted.
pub(super) fn delete_body(body: &[u8]) -> Result<DeleteInput, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(DeleteInput::default())
    } else {
        parse_json(body)
    }
}

/// Decodes a JSON body. Broken JSON is 400; well-formed JSON of the wrong
/// shape is 422 listing every wrong type, unknown field and missing field at
/// once, each with its path (see [`super::shape`]).
pub(super) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let first = match serde_path_to_error::deserialize(&mut de) {
        Ok(value) => {
            return de.end().map(|()| value).map_err(|e| malformed(&e));
        }
        Err(e) => e,
    };
    if first.inner().classify() != serde_json::error::Category::Data {
        return Err(malformed(first.inner()));
    }
    // The body is well-formed but of the wrong shape: decoded again as a
    // document, every error in it is found. Where a document cannot show
    // the error (too deep to hold as a value; a duplicate key, which a
    // value keeps once) the first error is named alone.
    let alone = || {
        ApiError::Unprocessable(vec![FieldError::new(
            first.path().to_string(),
            super::shape::strip_position(first.inner()),
        )])
    };
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(doc) => match super::shape::decode::<T>(doc) {
            Ok(_) => Err(alone()),
            Err(errors) => Err(ApiError::Unprocessable(errors)),
        },
        Err(_) => Err(alone()),
    }
}

fn malformed(e: &serde_json::Error) -> ApiError {
    ApiError::BadRequest {
        path: String::new(),
        message: format!("malformed JSON: {e}"),
    }
}

/// The version a write names: `If-Match: "<version>"`, else the body's
/// `version`; `None` when neither does (the service refuses such writes,
/// 428). An `If-Match` that is not a version is 400.
pub(super) fn named_version(
    headers: &HeaderMap,
    body_version: Option<i64>,
) -> Result<Option<i64>, ApiError> {
    if let Some(value) = headers.get(header::IF_MATCH) {
        let text = value.to_str().unwrap_or("").trim();
        let text = text.strip_prefix("W/").unwrap_or(text);
        let text = text.trim_matches('"');
        return text
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ApiError::BadRequest {
                path: "If-Match".to_owned(),
                message: "expected an ETag of the form \"<version>\"".to_owned(),
            });
    }
    Ok(body_version)
}

/// The ETag of a row at `version`.
fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// A JSON response; with `version`, also its ETag.
pub(super) fn json<T: Serialize>(
    status: StatusCode,
    value: &T,
    version: Option<i64>,
) -> Result<Response<Body>, ApiError> {
    let bytes = serde_json::to_vec(value).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut resp = Response::new(Full::new(Bytes::from(bytes)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(v) = version {
        resp.headers_mut().insert(header::ETAG, etag(v));
    }
    Ok(resp)
}

/// 201 with the new row, its ETag and `Location`.
pub(super) fn created<T: Serialize>(
    value: &T,
    location: String,
    version: Option<i64>,
) -> Result<Response<Body>, ApiError> {
    let mut resp = json(StatusCode::CREATED, value, version)?;
    if let Ok(loc) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(resp)
}

/// 204, for deletes.
pub(super) fn no_content() -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_defaults_to_fifty_from_the_start() {
        let q = parse_query(None, true).unwrap();
        assert_eq!(
            q.page,
            Page {
                after: 0,
                limit: 50
            }
        );
        assert_eq!(q.advertiser_id, None);
    }

    #[test]
    fn query_rejects_limits_outside_one_to_five_hundred_and_unknown_keys() {
        for bad in [
            "limit=0",
            "limit=501",
            "limit=x",
            "after=-1",
            "advertisr_id=1",
        ] {
            assert!(
                matches!(
                    parse_query(Some(bad), true),
                    Err(ApiError::Unprocessable(_))
                ),
                "{bad}"
            );
        }
        assert!(parse_query(Some("advertiser_id=1"), false).is_err());
        let q = parse_query(Some("limit=500&after=7&advertiser_id=3"), true).unwrap();
        assert_eq!(
            (q.page.limit, q.page.after, q.advertiser_id),
            (500, 7, Some(3))
        );
    }

    #[test]
    fn if_match_wins_over_the_body_version_and_neither_names_none() {
        let mut h = HeaderMap::new();
        assert_eq!(named_version(&h, None).unwrap(), None);
        assert_eq!(named_version(&h, Some(4)).unwrap(), Some(4));
        h.insert(header::IF_MATCH, HeaderValue::from_static("\"7\""));
        assert_eq!(named_version(&h, Some(4)).unwrap(), Some(7));
        h.insert(header::IF_MATCH, HeaderValue::from_static("*"));
        assert!(matches!(
            named_version(&h, None),
            Err(ApiError::BadRequest { .. })
        ));
    }

    #[test]
    fn json_syntax_errors_are_400_and_type_errors_422_with_the_path() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct T {
            a: Vec<u32>,
        }
        assert!(matches!(
            parse_json::<T>(b"{\"a\": [1,"),
            Err(ApiError::BadRequest { .. })
        ));
        match parse_json::<T>(b"{\"a\": [1, \"x\", 3, \"y\"]}") {
            Err(ApiError::Unprocessable(f)) => assert_eq!(
                f.iter().map(|f| f.field.as_str()).collect::<Vec<_>>(),
                ["a[1]", "a[3]"]
            ),
            other => panic!("expected 422, got {other:?}"),
        }
        match parse_json::<T>(b"{}") {
            Err(ApiError::Unprocessable(f)) => assert_eq!(f[0].field, "a"),
            other => panic!("expected 422, got {other:?}"),
        }
    }
}

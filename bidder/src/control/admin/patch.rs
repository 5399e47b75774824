//! `PATCH` as JSON Merge Patch (RFC 7396): the patch is merged onto the
//! resource's writable fields as they are now, and the result is what a
//! `PUT` would send, decoded and validated exactly as a `PUT` is.
//!
//! Only JSON: what a resource's writable fields are is each handler's, and
//! the write itself is the `PUT` handler's. A patch must name the version
//! it applies to in `If-Match`: merged onto any other version, it could
//! undo a change its author never saw.

use http::HeaderMap;
use serde::Serialize;
use serde_json::Value;

use super::request::named_version;
use crate::error::ApiError;

/// The writable fields of a campaign: what a `PUT` body holds.
pub(super) const CAMPAIGN: &[&str] = &[
    "advertiser_id",
    "name",
    "status",
    "flight_start",
    "flight_end",
    "total_budget_micros",
    "daily_budget_micros",
    "currency",
    "base_cpm_micros",
    "max_cpm_micros",
    "adomain",
    "cat",
    "attr",
    "app_bundle",
    "language",
    "targeting",
    "stage_multipliers",
    "fragment_sets",
    "pacing",
    "frequency",
    "learning",
];

/// The writable fields of a creative.
pub(super) const CREATIVE: &[&str] = &["name", "status", "body"];

/// The writable fields of a fragment (owner, set and kind are fixed; a
/// patch naming other values is refused as a `PUT` is).
pub(super) const FRAGMENT: &[&str] = &["advertiser_id", "set", "kind", "body"];

/// The writable fields of a funnel.
pub(super) const FUNNEL: &[&str] = &["advertiser_id", "name", "stage_names", "moves"];

/// The version a patch applies to: its `If-Match`, which it must have.
pub(super) fn version(headers: &HeaderMap) -> Result<i64, ApiError> {
    named_version(headers, None)?.ok_or(ApiError::PreconditionRequired)
}

/// `current`'s `writable` fields with `patch` (a JSON body) merged onto
/// them, as the body of the equivalent `PUT`. `current_version` must be
/// the one `If-Match` named (`expected`).
pub(super) fn merged<T: Serialize>(
    current: &T,
    current_version: i64,
    expected: i64,
    writable: &[&str],
    patch: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let patch: Value = serde_json::from_slice(patch).map_err(|e| ApiError::BadRequest {
        path: String::new(),
        message: format!("malformed JSON: {e}"),
    })?;
    if current_version != expected {
        return Err(ApiError::PreconditionFailed {
            expected,
            current: current_version,
        });
    }
    let mut doc = serde_json::to_value(current).map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Value::Object(fields) = &mut doc {
        fields.retain(|k, _| writable.contains(&k.as_str()));
    }
    merge(&mut doc, patch);
    serde_json::to_vec(&doc).map_err(|e| ApiError::Internal(e.to_string()))
}

/// RFC 7396 section 2: an object patch sets its members (`null` removes
/// one) recursively; any other patch replaces the target.
fn merge(target: &mut Value, patch: Value) {
    let Value::Object(patch) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let Value::Object(fields) = target else {
        return;
    };
    for (key, value) in patch {
        if value.is_null() {
            fields.remove(&key);
        } else {
            merge(fields.entry(key).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn merged_into(target: Value, patch: Value) -> Value {
        let mut t = target;
        merge(&mut t, patch);
        t
    }

    #[test]
    fn the_rfc_7396_examples_merge_as_the_rfc_says() {
        // RFC 7396, appendix A.
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (target, patch, want) in cases {
            assert_eq!(
                merged_into(target.clone(), patch.clone()),
                want,
                "{target} + {patch}"
            );
        }
    }

    #[test]
    fn only_writable_fields_are_merged_onto_and_the_version_must_match() {
        let current = json!({"id": 3, "version": 4, "name": "a", "status": "active"});
        let out = merged(
            &current,
            4,
            4,
            &["name", "status"],
            br#"{"status":"paused"}"#,
        )
        .unwrap();
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out, json!({"name": "a", "status": "paused"}));
        assert!(matches!(
            merged(&current, 4, 3, &["name"], b"{}"),
            Err(ApiError::PreconditionFailed {
                expected: 3,
                current: 4
            })
        ));
        assert!(matches!(
            merged(&current, 4, 4, &["name"], b"{"),
            Err(ApiError::BadRequest { .. })
        ));
    }

    #[test]
    fn a_patch_without_if_match_is_428() {
        assert!(matches!(
            version(&HeaderMap::new()),
            Err(ApiError::PreconditionRequired)
        ));
    }
}

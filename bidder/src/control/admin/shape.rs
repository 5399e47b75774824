//! Every shape error of a JSON body at once: values of the wrong type,
//! unknown fields and missing required fields, each with its own path.
//!
//! serde stops at the first error. [`decode`] decodes again after setting
//! each bad field aside, until the body decodes or nothing more can be
//! learnt, and reports every error it met, sorted by path. Setting a
//! field aside never invents an error: it puts a stand-in of the first
//! JSON kind the field's type accepts (a number, a string, a boolean, an
//! array, an object, or the first variant an enum names), which counts
//! only when the next error is elsewhere; else it removes the field. When
//! neither works (a required field of a type with rules of its own, such
//! as a currency) the object holding it is set aside instead, and so on
//! up; at the document itself the search ends with what it found. serde
//! checks for missing fields at the end of an object, so by then every
//! present field of that object has been checked, and a removed field
//! that was required is named once.
//!
//! Cold path only (admin bodies): each step decodes the whole body again,
//! and the steps are bounded ([`MAX_ERRORS`], [`MAX_DECODES`]).

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::FieldError;

/// Errors listed at most; a body with more gets the first ones.
const MAX_ERRORS: usize = 50;

/// Decodes tried at most for one body.
const MAX_DECODES: usize = 400;

/// One step of a path into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// A path, from the document down.
type Path = Vec<Step>;

/// `targeting.countries[1]`; `.` for the document itself.
fn display(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

/// What one decode found wrong, where.
#[derive(Debug)]
struct Problem {
    /// The field the error is about (for a missing or unknown field, the
    /// field's own path, not its object's).
    path: Path,
    kind: Kind,
    message: String,
}

#[derive(Debug, PartialEq)]
enum Kind {
    Missing,
    Unknown,
    Bad,
}

impl Problem {
    fn of(e: serde_path_to_error::Error<serde_json::Error>) -> Problem {
        let mut path: Path = Vec::new();
        for segment in e.path().iter() {
            match segment {
                serde_path_to_error::Segment::Seq { index } => path.push(Step::Index(*index)),
                serde_path_to_error::Segment::Map { key } => path.push(Step::Key(key.clone())),
                serde_path_to_error::Segment::Enum { variant } => {
                    path.push(Step::Key(variant.clone()))
                }
                serde_path_to_error::Segment::Unknown => break,
            }
        }
        let message = strip_position(e.inner());
        let named = |prefix: &str| {
            message
                .strip_prefix(prefix)
                .and_then(|rest| rest.split('`').next())
                .map(str::to_owned)
        };
        if let Some(name) = named("missing field `") {
            path.push(Step::Key(name));
            return Problem {
                path,
                kind: Kind::Missing,
                message: "missing field".to_owned(),
            };
        }
        if let Some(name) = named("unknown field `") {
            if path.last() != Some(&Step::Key(name.clone())) {
                path.push(Step::Key(name));
            }
            return Problem {
                path,
                kind: Kind::Unknown,
                message: "unknown field".to_owned(),
            };
        }
        Problem {
            path,
            kind: Kind::Bad,
            message,
        }
    }

    /// Whether it is about `at`, something inside it or something holding
    /// it: then `at` was not set aside.
    fn touches(&self, at: &[Step]) -> bool {
        self.path.starts_with(at) || at.starts_with(&self.path)
    }

    /// The first variant an "unknown variant" error names.
    fn first_variant(&self) -> Option<&str> {
        let rest = self.message.strip_prefix("unknown variant `")?;
        let expected = rest.split_once("expected ")?.1;
        expected.split('`').nth(1)
    }

    fn into_field_error(self) -> FieldError {
        FieldError::new(display(&self.path), self.message)
    }
}

/// Decodes `doc` into `T`, or every shape error found in it, each with its
/// path. See the module documentation.
pub(super) fn decode<T: DeserializeOwned>(doc: Value) -> Result<T, Vec<FieldError>> {
    let mut search = Search {
        doc,
        decodes: 0,
        errors: Vec::new(),
        removed: Vec::new(),
    };
    loop {
        let problem = match search.try_decode::<T>() {
            Ok(t) if search.errors.is_empty() => return Ok(t),
            Ok(_) => return Err(sorted(search.errors)),
            Err(p) => p,
        };
        let mut at = problem.path.clone();
        let set_aside = match problem.kind {
            Kind::Unknown => {
                search.errors.push(problem.into_field_error());
                remove(&mut search.doc, &at)
            }
            // A required field set aside by removing it: its error is
            // already listed, and its object is set aside instead.
            Kind::Missing if search.removed.contains(&at) => {
                at.pop();
                search.set_aside::<T>(at)
            }
            Kind::Missing | Kind::Bad => {
                search.errors.push(problem.into_field_error());
                search.set_aside::<T>(at)
            }
        };
        if !set_aside || search.errors.len() >= MAX_ERRORS || search.decodes >= MAX_DECODES {
            return Err(sorted(search.errors));
        }
    }
}

/// The errors by path, so that the list does not depend on the order
/// the decoder met them in.
fn sorted(mut errors: Vec<FieldError>) -> Vec<FieldError> {
    errors.sort_by(|a, b| a.field.cmp(&b.field));
    errors
}

/// The document as it is being decoded, with bad fields set aside.
struct Search {
    doc: Value,
    decodes: usize,
    errors: Vec<FieldError>,
    /// Fields set aside by removing them: if one turns out required, its
    /// "missing" error is not a new one.
    removed: Vec<Path>,
}

impl Search {
    fn try_decode<T: DeserializeOwned>(&mut self) -> Result<T, Problem> {
        self.decodes += 1;
        serde_path_to_error::deserialize::<_, T>(&self.doc).map_err(Problem::of)
    }

    /// Whether the document now decodes, or fails elsewhere than `at`.
    fn clear_of<T: DeserializeOwned>(&mut self, at: &[Step]) -> Result<(), Option<Problem>> {
        match self.try_decode::<T>() {
            Ok(_) => Ok(()),
            Err(p) if !p.touches(at) => Ok(()),
            Err(p) => Err(Some(p)),
        }
    }

    /// Sets the field at `at` aside (see the module documentation):
    /// a stand-in of a kind its type accepts, else removed, else its
    /// object set aside; `false` when even the document cannot be.
    fn set_aside<T: DeserializeOwned>(&mut self, mut at: Path) -> bool {
        loop {
            if self.decodes >= MAX_DECODES {
                return false;
            }
            let mut stand_ins = vec![
                Value::from(0),
                Value::from(""),
                Value::from(false),
                Value::Array(Vec::new()),
                Value::Object(Default::default()),
            ];
            let kept = self.doc.clone();
            let mut i = 0;
            while i < stand_ins.len() && self.decodes < MAX_DECODES {
                if !put(&mut self.doc, &at, stand_ins[i].clone()) {
                    break;
                }
                match self.clear_of::<T>(&at) {
                    Ok(()) => return true,
                    Err(Some(p)) => {
                        if let Some(v) = p.first_variant()
                            && !stand_ins.iter().any(|s| s.as_str() == Some(v))
                        {
                            stand_ins.push(Value::from(v));
                        }
                    }
                    Err(None) => {}
                }
                i += 1;
            }
            self.doc = kept;
            // Removing is tried last: a required field's absence is only
            // noticed at the end of its object.
            if matches!(at.last(), Some(Step::Key(_))) {
                let mut without = self.doc.clone();
                if remove(&mut without, &at) {
                    let kept = std::mem::replace(&mut self.doc, without);
                    if self.clear_of::<T>(&at).is_ok() {
                        self.removed.push(at);
                        return true;
                    }
                    self.doc = kept;
                }
            }
            if at.pop().is_none() {
                return false;
            }
        }
    }
}

/// The value at `path`.
fn get_mut<'v>(doc: &'v mut Value, path: &[Step]) -> Option<&'v mut Value> {
    path.iter().try_fold(doc, |v, step| match (step, v) {
        (Step::Key(k), Value::Object(m)) => m.get_mut(k),
        (Step::Index(i), Value::Array(a)) => a.get_mut(*i),
        _ => None,
    })
}

/// Removes the object member at `path`; `false` when there is none.
fn remove(doc: &mut Value, path: &[Step]) -> bool {
    let Some((Step::Key(k), parent)) = path.split_last() else {
        return false;
    };
    match get_mut(doc, parent) {
        Some(Value::Object(m)) => m.remove(k).is_some(),
        _ => false,
    }
}

/// Puts `value` at `path` (an object member, added if absent, or an
/// existing array element); `false` when the path leads nowhere.
fn put(doc: &mut Value, path: &[Step], value: Value) -> bool {
    let Some((last, parent)) = path.split_last() else {
        *doc = value;
        return true;
    };
    match (last, get_mut(doc, parent)) {
        (Step::Key(k), Some(Value::Object(m))) => {
            m.insert(k.clone(), value);
            true
        }
        (Step::Index(i), Some(Value::Array(a))) if *i < a.len() => {
            a[*i] = value;
            true
        }
        _ => false,
    }
}

/// serde_json's message without its " at line 1 column 7" suffix: the
/// field path already says where.
pub(super) fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Color {
        Red,
        Green,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        w: u32,
        #[serde(default)]
        tags: Vec<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        count: u64,
        #[serde(default)]
        color: Option<Color>,
        #[serde(default)]
        inner: Option<Inner>,
        #[serde(default)]
        sizes: Vec<u32>,
        mode: Color,
    }

    fn errors(doc: Value) -> Vec<(String, String)> {
        decode::<Outer>(doc)
            .unwrap_err()
            .into_iter()
            .map(|f| (f.field, f.message))
            .collect()
    }

    fn paths(doc: Value) -> Vec<String> {
        errors(doc).into_iter().map(|(p, _)| p).collect()
    }

    #[test]
    fn a_well_shaped_document_decodes() {
        let o: Outer = decode(json!({"name": "n", "count": 1, "mode": "red"})).unwrap();
        assert_eq!(o.name, "n");
    }

    #[test]
    fn two_type_errors_and_a_missing_field_are_listed_together() {
        let e = errors(json!({"name": 5, "count": "many", "color": "red"}));
        assert_eq!(
            e.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
            ["count", "mode", "name"],
            "{e:?}"
        );
        assert!(e[2].1.contains("expected a string"), "{e:?}");
        assert_eq!(e[1].1, "missing field");
    }

    #[test]
    fn a_missing_field_has_its_own_path_not_the_documents() {
        assert_eq!(
            paths(json!({"count": 1, "mode": "red"})),
            ["name"],
            "not `.`"
        );
        assert_eq!(
            paths(json!({"name": "n", "count": 1, "mode": "red", "inner": {}})),
            ["inner.w"]
        );
    }

    #[test]
    fn every_unknown_field_is_listed() {
        assert_eq!(
            paths(json!({"name": "n", "count": 1, "mode": "red", "nmae": 1,
                "inner": {"w": 1, "h": 2}, "extra": true})),
            ["extra", "inner.h", "nmae"]
        );
    }

    #[test]
    fn bad_elements_of_a_list_and_of_nested_objects_each_get_their_path() {
        assert_eq!(
            paths(json!({"name": "n", "count": 1, "mode": "blue",
                "sizes": [1, "x", 3, -4], "inner": {"w": "wide", "tags": ["a", 7]}})),
            ["inner.tags[1]", "inner.w", "mode", "sizes[1]", "sizes[3]"]
        );
    }

    #[test]
    fn an_unknown_variant_is_listed_and_the_search_goes_on() {
        let e = errors(json!({"name": "n", "count": 1, "color": "blue", "mode": "teal"}));
        assert_eq!(e[0].0, "color");
        assert!(e[0].1.starts_with("unknown variant `blue`"), "{e:?}");
        assert_eq!(e[1].0, "mode");
    }

    #[test]
    fn a_document_of_the_wrong_kind_is_one_error_at_the_root() {
        assert_eq!(paths(json!("text")), ["."]);
        assert_eq!(paths(json!(5)), ["."]);
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Priced {
        currency: openrtb::Currency,
        #[serde(default)]
        note: Option<String>,
    }

    #[test]
    fn a_required_field_without_a_stand_in_is_named_once() {
        let e = decode::<Priced>(json!({"currency": "dollars", "note": 3}))
            .unwrap_err()
            .into_iter()
            .map(|f| f.field)
            .collect::<Vec<_>>();
        assert_eq!(e, ["currency", "note"]);
    }

    #[test]
    fn the_search_is_bounded() {
        let many: Vec<Value> = (0..1_000).map(|_| json!("x")).collect();
        let e = errors(json!({"name": "n", "count": 1, "mode": "red", "sizes": many}));
        assert_eq!(e.len(), MAX_ERRORS);
    }
}

//! The fast way from simd-json's tape to the model: a hand-written walk
//! that reads every well-formed request exactly as the serde derives in
//! [`crate::request`] do, without serde's visitor machinery (which cost
//! more than parsing the JSON itself).
//!
//! The strict walk never decides an error. Whatever it would not take
//! exactly as serde does (a value of the wrong type, a duplicate key, a
//! struct written as an array, nesting deeper than [`MAX_DEPTH`]) it
//! declines, and the parser hands the body to serde, the reference for
//! what a request means. So the strict walk must never accept what serde
//! refuses nor read anything differently: the tests below compare the two
//! on the corpus and on every shape of native request, and check that
//! every field serde knows is walked. It never recurses deeper than
//! [`MAX_DEPTH`] either.
//!
//! What serde refuses too is walked once more, leniently
//! ([`request_lenient`]), over the same tape: a field that cannot be read
//! as its type is left out (a `null` read as absent), or read as what it
//! plainly means (a number in a string, one value for a list, a native
//! request encoded twice), and each such field is recorded in a
//! [`FieldRepair`] under its path. Only the required fields (`id`, `imp`,
//! `imp[].id`) stay errors, named by their path. The lenient branches
//! sit behind the strict walk's failures, so a request of the right
//! types never runs them.

use std::borrow::Cow;

use simd_json::prelude::*;
use simd_json::{Node, ObjectHasher, StaticNode, Tape};

use crate::depth::MAX_DEPTH;
use crate::error::Error;
use crate::native::{
    self, AssetRequest, DataRequest, EventTrackerRequest, ImageRequest, NativeRequest,
    TitleRequest, VideoRequest,
};
use crate::repair::{Action, FieldRepair};
use crate::request::*;

/// The walk met something it leaves to serde.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Declined;

type Walk<T> = Result<T, Declined>;

/// Buffers for parsing the JSON text a native request is sent as, kept
/// by the [`crate::Parser`] between requests.
#[derive(Default)]
pub(crate) struct NativeText {
    bytes: Vec<u8>,
    buffers: simd_json::Buffers,
    /// Kept empty between uses, so it borrows nothing.
    tape: Option<Tape<'static>>,
}

/// A position on the tape.
pub(crate) struct Cursor<'t, 'a, 's> {
    nodes: &'t [Node<'a>],
    at: usize,
    /// Arrays and objects open around the position.
    depth: usize,
    /// For native requests sent as text; `None` inside one.
    native: Option<&'s mut NativeText>,
    /// Set for the lenient walk: where it records what it repaired.
    lenient: Option<&'s mut Lenient>,
}

impl<'t, 'a, 's> Cursor<'t, 'a, 's> {
    pub(crate) fn new(nodes: &'t [Node<'a>], native: Option<&'s mut NativeText>) -> Self {
        Cursor {
            nodes,
            at: 0,
            depth: 0,
            native,
            lenient: None,
        }
    }

    /// Whether every node has been read (a document is one value).
    pub(crate) fn at_end(&self) -> bool {
        self.at == self.nodes.len()
    }

    fn next(&mut self) -> Walk<Node<'a>> {
        let node = *self.nodes.get(self.at).ok_or(Declined)?;
        self.at += 1;
        Ok(node)
    }

    /// Passes over one value, nested values included. Values nested
    /// deeper than [`MAX_DEPTH`] are declined here too, as everywhere: the
    /// serde path would recurse into them.
    fn skip(&mut self) -> Walk<()> {
        if let Node::Object { count, .. } | Node::Array { count, .. } = self.next()? {
            // Each level takes at least one node: most values cannot be deep.
            if self.depth + 1 + count > MAX_DEPTH {
                self.check_depth(self.at, self.at + count)?;
            }
            self.at += count;
        }
        Ok(())
    }

    /// Declines if a container just read, whose nodes are `from..end`,
    /// nests deeper than [`MAX_DEPTH`] counted from the document's root.
    fn check_depth(&self, from: usize, end: usize) -> Walk<()> {
        let level = self.depth + 1;
        if level > MAX_DEPTH {
            return Err(Declined);
        }
        // Where each container open inside it ends.
        let mut ends = [0usize; MAX_DEPTH];
        let mut open = 0;
        for i in from..end {
            while open > 0 && i >= ends[open - 1] {
                open -= 1;
            }
            if let Node::Object { count, .. } | Node::Array { count, .. } = self.nodes[i] {
                if level + open + 1 > MAX_DEPTH {
                    return Err(Declined);
                }
                ends[open] = i + 1 + count;
                open += 1;
            }
        }
        Ok(())
    }

    /// Enters an array or object.
    fn open(&mut self) -> Walk<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Declined);
        }
        Ok(())
    }

    fn close(&mut self) {
        self.depth -= 1;
    }

    /// Opens an object: the number of its keys.
    fn object(&mut self) -> Walk<usize> {
        match self.next()? {
            Node::Object { len, .. } => {
                self.open()?;
                Ok(len)
            }
            _ => Err(Declined),
        }
    }

    /// Opens an array: the number of its items.
    fn array(&mut self) -> Walk<usize> {
        match self.next()? {
            Node::Array { len, .. } => {
                self.open()?;
                Ok(len)
            }
            _ => Err(Declined),
        }
    }

    fn string(&mut self) -> Walk<&'a str> {
        match self.next()? {
            Node::String(s) => Ok(s),
            _ => Err(Declined),
        }
    }

    fn null_next(&self) -> bool {
        matches!(
            self.nodes.get(self.at),
            Some(Node::Static(StaticNode::Null))
        )
    }

    /// A field's value, from node `start` (read with `depth` containers
    /// open), could not be read. The strict walk declines; the lenient
    /// one records the field as dropped (or as a `null` read as absent),
    /// passes over its value and goes on, unless the field is required.
    #[cold]
    #[inline(never)]
    fn recover(&mut self, start: usize, depth: usize) -> Walk<()> {
        let Some(lenient) = self.lenient.as_deref_mut() else {
            return Err(Declined);
        };
        lenient.spend()?;
        let exact = lenient.path(self.nodes, start);
        if let Some(rule) = required(&normalised(&exact).0) {
            lenient.fail(exact, rule);
            return Err(Declined);
        }
        let null = matches!(self.nodes.get(start), Some(Node::Static(StaticNode::Null)));
        lenient.drop_field(&exact, if null { Action::Null } else { Action::Dropped });
        self.at = start;
        self.depth = depth;
        self.skip()
    }

    /// A key seen before in the same object. The strict walk declines
    /// (serde refuses); the lenient one keeps the first and drops the
    /// repeat, unless the key is required (which value would be meant?).
    #[cold]
    #[inline(never)]
    fn repeated(&mut self) -> Walk<()> {
        let Some(lenient) = self.lenient.as_deref_mut() else {
            return Err(Declined);
        };
        lenient.spend()?;
        let exact = lenient.path(self.nodes, self.at);
        if required(&normalised(&exact).0).is_some() {
            lenient.fail(exact, "a repeated key: which value is meant cannot be told");
            return Err(Declined);
        }
        lenient.drop_field(&exact, Action::Dropped);
        self.skip()
    }

    /// A scalar at node `at`, already passed, that `read` did not take: in
    /// the lenient walk, a number written as a string (`"1.5"`), an
    /// integer written as a float (`300.0`) or, when `flag`, a boolean
    /// (`true` for 1) is read as that number.
    #[cold]
    #[inline(never)]
    fn coerce<T>(&mut self, at: usize, flag: bool, read: fn(&StaticNode) -> Option<T>) -> Walk<T> {
        let Some(lenient) = self.lenient.as_deref_mut() else {
            return Err(Declined);
        };
        lenient.spend()?;
        let number = match self.nodes.get(at) {
            Some(Node::String(s)) => {
                let s = s.trim();
                s.parse::<i64>()
                    .map(StaticNode::I64)
                    .or_else(|_| s.parse::<u64>().map(StaticNode::U64))
                    .ok()
                    .or_else(|| {
                        s.parse::<f64>()
                            .ok()
                            .filter(|f| f.is_finite())
                            .map(StaticNode::F64)
                    })
            }
            Some(Node::Static(StaticNode::Bool(b))) if flag => Some(StaticNode::U64(u64::from(*b))),
            // Exactly an integer: no rounding hides in the conversion.
            Some(Node::Static(StaticNode::F64(f))) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                Some(StaticNode::I64(*f as i64))
            }
            _ => None,
        };
        let value = number.as_ref().and_then(read).ok_or(Declined)?;
        let exact = lenient.path(self.nodes, at);
        lenient.record(&exact, Action::Coerced);
        Ok(value)
    }

    /// A list field whose value at `start` is not an array: in the lenient
    /// walk, one value of the item's type is the list of it
    /// (`"cur":"USD"`), and a string of comma-separated items for a list of
    /// strings the list of those. Not for `null` (absent) nor for `imp`,
    /// which is required as the spec writes it.
    #[cold]
    #[inline(never)]
    fn single<T: FromTape<'a> + Default>(
        &mut self,
        start: usize,
        depth: usize,
        out: &mut Vec<T>,
    ) -> Walk<()> {
        let Some(lenient) = self.lenient.as_deref_mut() else {
            return Err(Declined);
        };
        lenient.spend()?;
        match self.nodes.get(start) {
            None | Some(Node::Array { .. }) | Some(Node::Static(StaticNode::Null)) => {
                return Err(Declined);
            }
            _ => {}
        }
        let exact = lenient.path(self.nodes, start);
        if required(&normalised(&exact).0).is_some() {
            return Err(Declined);
        }
        self.at = start;
        self.depth = depth;
        out.clear();
        if let Some(Node::String(text)) = self.nodes.get(start)
            && text.contains(',')
            && T::from_text(text).is_some()
        {
            self.at += 1;
            let items = text.split(',').map(str::trim).filter(|t| !t.is_empty());
            out.extend(items.filter_map(T::from_text));
        } else {
            out.push(T::default());
            T::walk_into(self, out.last_mut().ok_or(Declined)?)?;
        }
        if let Some(lenient) = self.lenient.as_deref_mut() {
            lenient.record(&exact, Action::Coerced);
        }
        Ok(())
    }
}

/// How many fields one request may have repaired. Finding a field's path
/// passes over the values before it, so a body of thousands of wrong
/// values would cost time quadratic in its size; no exchange sends that.
const MAX_REPAIRS: usize = 1024;

/// What the lenient walk found, and where in the document it is.
#[derive(Default)]
pub(crate) struct Lenient {
    repairs: Vec<FieldRepair>,
    /// Repairs tried, against [`MAX_REPAIRS`].
    spent: usize,
    /// The first required field that could not be read.
    error: Option<Error>,
    /// Inside a native request sent as text (a tape of its own): the
    /// exact path of that text in the request.
    prefix: String,
}

impl Lenient {
    /// Counts one repair tried; past [`MAX_REPAIRS`] the walk gives up.
    fn spend(&mut self) -> Walk<()> {
        self.spent += 1;
        if self.spent > MAX_REPAIRS {
            self.fail(
                String::from("$"),
                "more fields of the wrong type than a bid request has",
            );
            return Err(Declined);
        }
        Ok(())
    }

    /// The exact path (`imp[0].banner.format[1].w`) of node `at` of
    /// `nodes`, the current tape.
    fn path(&self, nodes: &[Node<'_>], at: usize) -> String {
        let inner = path_of(nodes, at);
        match (self.prefix.is_empty(), inner.is_empty()) {
            (true, _) => inner,
            (false, true) => self.prefix.clone(),
            (false, false) if inner.starts_with('[') => format!("{}{inner}", self.prefix),
            (false, false) => format!("{}.{inner}", self.prefix),
        }
    }

    /// Notes one repair; the same field twice in a row once.
    fn record(&mut self, exact: &str, action: Action) {
        let (path, imp) = normalised(exact);
        if self
            .repairs
            .last()
            .is_some_and(|r| r.path == path && r.imp == imp && r.action == action)
        {
            return;
        }
        self.repairs.push(FieldRepair { path, imp, action });
    }

    /// Notes a field left out, forgetting what was repaired inside it.
    fn drop_field(&mut self, exact: &str, action: Action) {
        let (path, imp) = normalised(exact);
        while self
            .repairs
            .last()
            .is_some_and(|r| r.imp == imp && is_under(&r.path, &path))
        {
            self.repairs.pop();
        }
        self.record(exact, action);
    }

    fn fail(&mut self, exact: String, rule: &str) {
        if self.error.is_none() {
            self.error = Some(Error::Json {
                path: exact,
                message: rule.to_string(),
            });
        }
    }
}

/// Whether `path` is a field inside `outer` (both normalised).
pub(crate) fn is_under(path: &str, outer: &str) -> bool {
    path.len() > outer.len()
        && path.starts_with(outer)
        && matches!(path.as_bytes()[outer.len()], b'.' | b'[')
}

/// What a required field must be, for the fields without which no answer
/// can be built; `None` for every other (normalised) path.
fn required(path: &str) -> Option<&'static str> {
    match path {
        "id" => Some("required: the request id, a string"),
        "imp" => Some("required: an array of impression objects"),
        "imp[].id" => Some("required: the impression id, a string"),
        _ => None,
    }
}

/// The exact path of node `target` of a tape whose node 0 is the root:
/// keys joined by `.`, array positions as `[i]`; empty for the root.
fn path_of(nodes: &[Node<'_>], target: usize) -> String {
    use std::fmt::Write as _;
    let mut path = String::new();
    let mut at = 0;
    'down: while at < target {
        let (object, len) = match nodes.get(at) {
            Some(Node::Object { len, .. }) => (true, *len),
            Some(Node::Array { len, .. }) => (false, *len),
            _ => break,
        };
        let mut child = at + 1;
        for i in 0..len {
            let key = if object {
                let Some(Node::String(key)) = nodes.get(child) else {
                    break 'down;
                };
                child += 1;
                Some(*key)
            } else {
                None
            };
            let end = child
                + 1
                + match nodes.get(child) {
                    Some(Node::Object { count, .. } | Node::Array { count, .. }) => *count,
                    _ => 0,
                };
            if target < end {
                match key {
                    Some(key) if path.is_empty() => path.push_str(key),
                    Some(key) => {
                        path.push('.');
                        path.push_str(key);
                    }
                    None => {
                        let _ = write!(path, "[{i}]");
                    }
                }
                at = child;
                continue 'down;
            }
            child = end;
        }
        break;
    }
    path
}

/// An exact path with its array positions left out (`imp[2].banner` is
/// `imp[].banner`), and the imp it is in.
fn normalised(exact: &str) -> (String, Option<usize>) {
    let imp = exact
        .strip_prefix("imp[")
        .and_then(|rest| rest.split(']').next())
        .and_then(|i| i.parse().ok());
    let mut path = String::with_capacity(exact.len());
    let mut in_index = false;
    for ch in exact.chars() {
        match ch {
            '[' => {
                in_index = true;
                path.push('[');
            }
            ']' => {
                in_index = false;
                path.push(']');
            }
            _ if in_index => {}
            _ => path.push(ch),
        }
    }
    (path, imp)
}

/// A value the walk can read; the counterpart of `serde::Deserialize` for
/// the types the model uses.
///
/// Values are read into place: the model's structs are large (a request is
/// over 2 KB, an impression 800 bytes), and returning them by value up
/// each level of nesting cost more memory copying than the JSON parse.
pub(crate) trait FromTape<'a> {
    /// JSON keys of a struct's fields (empty for other types).
    #[cfg(test)]
    const KEYS: &'static [&'static str] = &[];

    /// Reads the next value into `out`, which holds the default.
    fn walk_into(c: &mut Cursor<'_, 'a, '_>, out: &mut Self) -> Walk<()>;

    /// For strings: `text` as a value, so that the lenient walk can read
    /// one comma-separated string as a list of them (`"bcat":"IAB25,IAB26"`
    /// blocks both, not a category named by the whole).
    fn from_text(_text: &'a str) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }
}

/// Numbers convert as simd-json's serde deserializer converts them (the
/// same `as_*` of the node), so a value serde refuses is declined here
/// (and, in the lenient walk, read as the number it plainly is if it is
/// one). `u8` fields are the spec's flags: they also take `true`/`false`.
macro_rules! walk_number {
    ($($ty:ty => $as:ident, $flag:literal);* $(;)?) => {$(
        impl<'a> FromTape<'a> for $ty {
            fn walk_into(c: &mut Cursor<'_, 'a, '_>, out: &mut Self) -> Walk<()> {
                let at = c.at;
                if let Node::Static(s) = c.next()?
                    && let Some(n) = s.$as()
                {
                    *out = n;
                    return Ok(());
                }
                *out = c.coerce(at, $flag, |s| s.$as())?;
                Ok(())
            }
        }
    )*};
}

walk_number!(u8 => as_u8, true; u32 => as_u32, false; i32 => as_i32, false; i64 => as_i64, false);

/// simd-json's `parse_double`: floats and both integer kinds.
fn double(node: &StaticNode) -> Option<f64> {
    match *node {
        StaticNode::F64(n) => Some(n),
        StaticNode::I64(n) => Some(n as f64),
        StaticNode::U64(n) => Some(n as f64),
        _ => None,
    }
}

impl<'a> FromTape<'a> for f64 {
    fn walk_into(c: &mut Cursor<'_, 'a, '_>, out: &mut Self) -> Walk<()> {
        let at = c.at;
        if let Node::Static(s) = c.next()?
            && let Some(n) = double(&s)
        {
            *out = n;
            return Ok(());
        }
        *out = c.coerce(at, false, double)?;
        Ok(())
    }
}

impl<'a> FromTape<'a> for Cow<'a, str> {
    fn walk_into(c: &mut Cursor<'_, 'a, '_>, out: &mut Self) -> Walk<()> {
        *out = Cow::Borrowed(c.string()?);
        Ok(())
    }

    fn from_text(text: &'a str) -> Option<Self> {
        Some(Cow::Borrowed(text))
    }
}

impl<'a> FromTape<'a> for String {
    fn walk_into(c: &mut Cursor<'_, 'a, '_>, out: &mut Self) -> Walk<()> {
        *out = c.string()?.to_owned();
        Ok(())
    }

    fn from_text(text: &'a str) -> Option<Self> {
        Some(text.to_owned())
    }
}

impl<'a, T: FromTape<'a> + Default> FromTape<'a> for Option<T> {
    fn walk_into(c: &mut Cursor<'_, 'a, '_>, out: &mut Self) -> Walk<()> {
        if c.null_next() {
            c.at += 1;
            *out = None;
            return Ok(());
        }
        T::walk_into(c, out.insert(T::default()))
    }
}

impl<'a, T: FromTape<'a> + Default> FromTape<'a> for Vec<T> {
    fn walk_into(c: &mut Cursor<'_, 'a, '_>, out: &mut Self) -> Walk<()> {
        let (start, depth) = (c.at, c.depth);
        let Ok(len) = c.array() else {
            return c.single(start, depth, out);
        };
        out.clear();
        out.reserve_exact(len);
        for _ in 0..len {
            out.push(T::default());
            let last = out.last_mut().ok_or(Declined)?;
            T::walk_into(c, last)?;
        }
        c.close();
        Ok(())
    }
}

/// `ext` objects: built as simd-json's `BorrowedValue` deserializer builds
/// them (same capacity, same insertion order, a repeated key replaces).
impl<'a> FromTape<'a> for Ext<'a> {
    fn walk_into(c: &mut Cursor<'_, 'a, '_>, out: &mut Self) -> Walk<()> {
        *out = ext(c)?;
        Ok(())
    }
}

fn ext<'a>(c: &mut Cursor<'_, 'a, '_>) -> Walk<Ext<'a>> {
    let value = match c.next()? {
        Node::Static(s) => return Ok(Ext::Static(s)),
        Node::String(s) => return Ok(Ext::String(Cow::Borrowed(s))),
        Node::Array { len, .. } => {
            c.open()?;
            let mut items = Vec::with_capacity(len);
            for _ in 0..len {
                items.push(ext(c)?);
            }
            Ext::from(items)
        }
        Node::Object { len, .. } => {
            c.open()?;
            let mut map = simd_json::value::borrowed::Object::with_capacity_and_hasher(
                len,
                ObjectHasher::default(),
            );
            for _ in 0..len {
                let key = c.string()?;
                map.insert(Cow::Borrowed(key), ext(c)?);
            }
            Ext::from(map)
        }
    };
    c.close();
    Ok(value)
}

/// `imp.native.request`: read as [`native::deserialize_request`] reads it.
/// The spec's JSON string is parsed on its own tape and, like
/// [`native::from_text`], is the legacy `{"native": ...}` wrapper when its
/// first key says so. An object is the request, or wraps it (serde tries
/// the wrapper first, so a `native` key anywhere that holds a request
/// wins).
impl<'a> FromTape<'a> for NativeRequest {
    fn walk_into(c: &mut Cursor<'_, 'a, '_>, out: &mut Self) -> Walk<()> {
        let start = c.at;
        let Node::Object { len, .. } = c.next()? else {
            c.at = start;
            let text = c.string()?;
            let scratch = c.native.as_deref_mut().ok_or(Declined)?;
            return match c.lenient.as_deref_mut() {
                None => native_text(text, scratch, out, None),
                Some(lenient) => {
                    let prefix = lenient.path(c.nodes, start);
                    native_text_leniently(text, scratch, out, lenient, prefix)
                }
            };
        };
        c.open()?;
        let mut wrapped = None;
        for _ in 0..len {
            if c.string()? == "native" {
                if wrapped.is_some() {
                    return Err(Declined);
                }
                wrapped = Some(c.at);
            }
            c.skip()?;
        }
        c.close();
        let Some(at) = wrapped else {
            c.at = start;
            return native_request(c, out);
        };
        let mut inner = Cursor {
            nodes: c.nodes,
            at,
            depth: c.depth + 1,
            native: None,
            lenient: c.lenient.as_deref_mut(),
        };
        native_request(&mut inner, out)
    }
}

/// A native request sent as JSON text, read from a tape of its own.
fn native_text(
    text: &str,
    scratch: &mut NativeText,
    out: &mut NativeRequest,
    lenient: Option<&mut Lenient>,
) -> Walk<()> {
    scratch.bytes.clear();
    scratch.bytes.extend_from_slice(text.as_bytes());
    let mut tape = scratch.tape.take().unwrap_or_else(Tape::null).reset();
    let walked = match simd_json::fill_tape(&mut scratch.bytes, &mut scratch.buffers, &mut tape) {
        Ok(()) => {
            let mut c = Cursor::new(&tape.0, None);
            c.lenient = lenient;
            let walked = if native::is_wrapped(text) {
                native_wrapper(&mut c, out)
            } else {
                native_request(&mut c, out)
            };
            walked.and_then(|()| if c.at_end() { Ok(()) } else { Err(Declined) })
        }
        Err(_) => Err(Declined),
    };
    scratch.tape = Some(tape.reset());
    walked
}

/// The lenient reading of a native request sent as text, which is at
/// `prefix` in the request: as the spec's text, else as a JSON string
/// holding that text (encoded twice), else as the request's members
/// without their braces (a fragment). Either of the last two is recorded
/// as coerced; each is tried once.
fn native_text_leniently(
    text: &str,
    scratch: &mut NativeText,
    out: &mut NativeRequest,
    lenient: &mut Lenient,
    prefix: String,
) -> Walk<()> {
    let outer = std::mem::replace(&mut lenient.prefix, prefix);
    let mut walked = native_text(text, scratch, out, Some(lenient));
    if walked.is_err() {
        let trimmed = text.trim();
        let unwrapped = serde_json::from_str::<String>(trimmed).ok().or_else(|| {
            (!trimmed.starts_with('{') && !trimmed.is_empty()).then(|| format!("{{{trimmed}}}"))
        });
        if let Some(inner) = unwrapped {
            *out = NativeRequest::default();
            walked = native_text(&inner, scratch, out, Some(lenient));
            if walked.is_ok() {
                let at = lenient.prefix.clone();
                lenient.record(&at, Action::Coerced);
            }
        }
    }
    lenient.prefix = outer;
    walked
}

/// `{"native": {...}}` as serde reads its `Wrapped` struct: the key is
/// required and once only, other keys are ignored.
fn native_wrapper(c: &mut Cursor<'_, '_, '_>, out: &mut NativeRequest) -> Walk<()> {
    let mut found = false;
    for _ in 0..c.object()? {
        if c.string()? == "native" {
            if found {
                return Err(Declined);
            }
            found = true;
            native_request(c, out)?;
        } else {
            c.skip()?;
        }
    }
    c.close();
    if found { Ok(()) } else { Err(Declined) }
}

/// Implements [`FromTape`] for a struct whose serde derive has
/// `#[serde(default)]`: missing keys keep the default, unknown keys are
/// skipped, a repeated key is declined (serde refuses it). Walking
/// leniently, a field that cannot be read is recovered from instead.
macro_rules! walk_struct {
    ($name:ident<$lt:lifetime> { $($key:literal => $field:ident),+ $(,)? }) => {
        impl<$lt> FromTape<$lt> for $name<$lt> {
            #[cfg(test)]
            const KEYS: &'static [&'static str] = &[$($key),+];
            fn walk_into(c: &mut Cursor<'_, $lt, '_>, out: &mut Self) -> Walk<()> {
                walk_struct!(@body c out; $($key => $field,)+)
            }
        }
    };
    ($name:ident { $($key:literal => $field:ident),+ $(,)? }) => {
        impl<'a> FromTape<'a> for $name {
            #[cfg(test)]
            const KEYS: &'static [&'static str] = &[$($key),+];
            fn walk_into(c: &mut Cursor<'_, 'a, '_>, out: &mut Self) -> Walk<()> {
                walk_struct!(@body c out; $($key => $field,)+)
            }
        }
    };
    // A struct with its own `FromTape`: the field walk as a function.
    (fn $fn:ident -> $name:ident, keys $keys:ident { $($key:literal => $field:ident),+ $(,)? }) => {
        #[cfg(test)]
        const $keys: &[&str] = &[$($key),+];
        fn $fn(c: &mut Cursor<'_, '_, '_>, out: &mut $name) -> Walk<()> {
            walk_struct!(@body c out; $($key => $field,)+)
        }
    };
    (@body $c:ident $out:ident; $($rest:tt)+) => {{
        // One bit per field, in declaration order: a key seen twice.
        let mut seen = 0u64;
        for _ in 0..$c.object()? {
            let key = $c.string()?;
            walk_struct!(@arms $c $out seen key [] (0u32) $($rest)+);
        }
        $c.close();
        Ok(())
    }};
    (@arms $c:ident $out:ident $seen:ident $k:ident [$($arms:tt)*] ($n:expr)) => {
        match $k {
            $($arms)*
            _ => $c.skip()?,
        }
    };
    (@arms $c:ident $out:ident $seen:ident $k:ident [$($arms:tt)*] ($n:expr)
        $key:literal => $field:ident, $($rest:tt)*) => {
        walk_struct!(@arms $c $out $seen $k [$($arms)* $key => {
            let bit = 1u64 << ($n);
            if $seen & bit != 0 {
                $c.repeated()?;
            } else {
                $seen |= bit;
                let (start, depth) = ($c.at, $c.depth);
                if FromTape::walk_into($c, &mut $out.$field).is_err() {
                    // Declines unless walking leniently.
                    $c.recover(start, depth)?;
                    $out.$field = Default::default();
                }
            }
        }] ($n + 1) $($rest)*)
    };
}

walk_struct!(BidRequest<'a> {
    "id" => id, "imp" => imp, "site" => site, "app" => app, "device" => device,
    "user" => user, "test" => test, "at" => at, "tmax" => tmax, "wseat" => wseat,
    "bseat" => bseat, "allimps" => allimps, "cur" => cur, "wlang" => wlang,
    "wlangb" => wlangb, "bcat" => bcat, "cattax" => cattax, "badv" => badv,
    "bapp" => bapp, "source" => source, "regs" => regs, "ext" => ext,
});
walk_struct!(Imp<'a> {
    "id" => id, "banner" => banner, "video" => video, "audio" => audio,
    "native" => native, "pmp" => pmp, "displaymanager" => displaymanager,
    "instl" => instl, "tagid" => tagid, "bidfloor" => bidfloor,
    "bidfloorcur" => bidfloorcur, "secure" => secure, "exp" => exp, "rwdd" => rwdd,
    "ext" => ext,
});
walk_struct!(Format {
    "w" => w, "h" => h, "wratio" => wratio, "hratio" => hratio, "wmin" => wmin,
});
walk_struct!(Banner<'a> {
    "format" => format, "w" => w, "h" => h, "btype" => btype, "battr" => battr,
    "pos" => pos, "mimes" => mimes, "topframe" => topframe, "api" => api, "id" => id,
});
walk_struct!(Video<'a> {
    "mimes" => mimes, "minduration" => minduration, "maxduration" => maxduration,
    "protocols" => protocols, "w" => w, "h" => h, "startdelay" => startdelay,
    "placement" => placement, "plcmt" => plcmt, "linearity" => linearity,
    "skip" => skip, "battr" => battr, "api" => api, "pos" => pos,
    "protocol" => protocol, "rqddurs" => rqddurs, "delivery" => delivery,
    "minbitrate" => minbitrate, "maxbitrate" => maxbitrate,
});
walk_struct!(Audio<'a> {
    "mimes" => mimes, "minduration" => minduration, "maxduration" => maxduration,
    "protocols" => protocols, "battr" => battr,
});
walk_struct!(Native<'a> {
    "request" => request, "ver" => ver, "api" => api, "battr" => battr,
    "assets" => assets, "eventtrackers" => eventtrackers,
});
walk_struct!(Pmp<'a> { "private_auction" => private_auction, "deals" => deals });
walk_struct!(Deal<'a> {
    "id" => id, "bidfloor" => bidfloor, "bidfloorcur" => bidfloorcur, "at" => at,
    "wseat" => wseat, "wadomain" => wadomain,
});
walk_struct!(Publisher<'a> { "id" => id, "name" => name, "domain" => domain, "cat" => cat });
walk_struct!(Content<'a> {
    "id" => id, "title" => title, "cat" => cat, "language" => language,
    "langb" => langb, "contentrating" => contentrating, "livestream" => livestream,
});
walk_struct!(Site<'a> {
    "id" => id, "name" => name, "domain" => domain, "cat" => cat, "page" => page,
    "ref" => r#ref, "mobile" => mobile, "privacypolicy" => privacypolicy,
    "publisher" => publisher, "content" => content,
});
walk_struct!(App<'a> {
    "id" => id, "name" => name, "bundle" => bundle, "domain" => domain,
    "storeurl" => storeurl, "cat" => cat, "ver" => ver, "paid" => paid,
    "publisher" => publisher, "content" => content,
});
walk_struct!(Geo<'a> {
    "lat" => lat, "lon" => lon, "type" => kind, "country" => country,
    "region" => region, "metro" => metro, "city" => city, "zip" => zip,
    "utcoffset" => utcoffset,
});
walk_struct!(Device<'a> {
    "ua" => ua, "geo" => geo, "dnt" => dnt, "lmt" => lmt, "ip" => ip, "ipv6" => ipv6,
    "devicetype" => devicetype, "make" => make, "model" => model, "os" => os,
    "osv" => osv, "w" => w, "h" => h, "language" => language, "langb" => langb,
    "connectiontype" => connectiontype, "ifa" => ifa, "js" => js,
});
walk_struct!(Segment<'a> { "id" => id, "name" => name, "value" => value });
walk_struct!(Data<'a> { "id" => id, "name" => name, "segment" => segment });
walk_struct!(Uid<'a> { "id" => id, "atype" => atype });
walk_struct!(Eid<'a> { "source" => source, "uids" => uids });
walk_struct!(UserExt<'a> { "consent" => consent, "eids" => eids });
walk_struct!(User<'a> {
    "id" => id, "buyeruid" => buyeruid, "yob" => yob, "gender" => gender,
    "keywords" => keywords, "geo" => geo, "data" => data, "consent" => consent,
    "eids" => eids, "ext" => ext,
});
walk_struct!(SupplyChainNode<'a> { "asi" => asi, "sid" => sid, "rid" => rid, "hp" => hp });
walk_struct!(SupplyChain<'a> { "complete" => complete, "nodes" => nodes, "ver" => ver });
walk_struct!(SourceExt<'a> { "schain" => schain });
walk_struct!(Source<'a> {
    "fd" => fd, "tid" => tid, "pchain" => pchain, "schain" => schain, "ext" => ext,
});
walk_struct!(RegsExt<'a> {
    "gdpr" => gdpr, "us_privacy" => us_privacy, "gpp" => gpp, "gpp_sid" => gpp_sid,
});
walk_struct!(Regs<'a> {
    "coppa" => coppa, "gdpr" => gdpr, "us_privacy" => us_privacy, "gpp" => gpp,
    "gpp_sid" => gpp_sid, "ext" => ext,
});

walk_struct!(fn native_request -> NativeRequest, keys NATIVE_REQUEST_KEYS {
    "ver" => ver, "context" => context, "contextsubtype" => contextsubtype,
    "plcmttype" => plcmttype, "plcmtcnt" => plcmtcnt, "seq" => seq, "assets" => assets,
    "aurlsupport" => aurlsupport, "durlsupport" => durlsupport,
    "eventtrackers" => eventtrackers, "privacy" => privacy,
});
walk_struct!(AssetRequest {
    "id" => id, "required" => required, "title" => title, "img" => img,
    "video" => video, "data" => data,
});
walk_struct!(TitleRequest { "len" => len });
walk_struct!(ImageRequest {
    "type" => kind, "w" => w, "h" => h, "wmin" => wmin, "hmin" => hmin, "mimes" => mimes,
});
walk_struct!(VideoRequest {
    "mimes" => mimes, "minduration" => minduration, "maxduration" => maxduration,
    "protocols" => protocols,
});
walk_struct!(DataRequest { "type" => kind, "len" => len });
walk_struct!(EventTrackerRequest { "event" => event, "methods" => methods });

/// Reads a whole request from its tape into `req`, which holds the
/// default. On `Declined` it holds part of the request.
pub(crate) fn request<'a>(
    nodes: &[Node<'a>],
    native: &mut NativeText,
    req: &mut BidRequest<'a>,
) -> Walk<()> {
    let mut c = Cursor::new(nodes, Some(native));
    BidRequest::walk_into(&mut c, req)?;
    if !c.at_end() {
        return Err(Declined);
    }
    Ok(())
}

/// Reads a request serde refused, leniently (see the module
/// documentation), into `req`, which holds the default; the repairs go
/// to `req.repairs.fields`. Fails only for a required field, naming it,
/// or a document that is not an object.
pub(crate) fn request_lenient<'a>(
    nodes: &[Node<'a>],
    native: &mut NativeText,
    req: &mut BidRequest<'a>,
) -> Result<(), Error> {
    let mut lenient = Lenient::default();
    let walked = {
        let mut c = Cursor::new(nodes, Some(native));
        c.lenient = Some(&mut lenient);
        BidRequest::walk_into(&mut c, req)
            .and_then(|()| if c.at_end() { Ok(()) } else { Err(Declined) })
    };
    match walked {
        Ok(()) => {
            req.repairs.fields = lenient.repairs;
            Ok(())
        }
        Err(Declined) => Err(lenient.error.unwrap_or_else(|| Error::Json {
            path: "$".to_string(),
            message: "a bid request is a JSON object".to_string(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use crate::repair::Action;
    use serde::de::{Error as _, Visitor};

    use super::*;

    /// A deserializer that only notes the field list serde's derive hands
    /// to `deserialize_struct`.
    struct FieldsOf<'r>(&'r mut &'static [&'static str]);

    impl<'de> serde::Deserializer<'de> for FieldsOf<'_> {
        type Error = serde::de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(Self::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(Self::Error::custom("fields noted"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }

    fn same_keys<T: Deserialize<'static> + FromTape<'static>>() {
        same_keys_as::<T>(T::KEYS);
    }

    fn same_keys_as<T: Deserialize<'static>>(walked: &[&'static str]) {
        let mut fields: &'static [&'static str] = &[];
        let _ = T::deserialize(FieldsOf(&mut fields));
        let sorted = |keys: &[&'static str]| {
            let mut keys = keys.to_vec();
            keys.sort_unstable();
            keys
        };
        assert!(!fields.is_empty(), "{}", std::any::type_name::<T>());
        assert_eq!(
            sorted(walked),
            sorted(fields),
            "{}",
            std::any::type_name::<T>()
        );
    }

    #[test]
    fn every_field_serde_reads_is_walked() {
        same_keys::<BidRequest>();
        same_keys::<Imp>();
        same_keys::<Format>();
        same_keys::<Banner>();
        same_keys::<Video>();
        same_keys::<Audio>();
        same_keys::<Native>();
        same_keys::<Pmp>();
        same_keys::<Deal>();
        same_keys::<Publisher>();
        same_keys::<Content>();
        same_keys::<Site>();
        same_keys::<App>();
        same_keys::<Geo>();
        same_keys::<Device>();
        same_keys::<Segment>();
        same_keys::<Data>();
        same_keys::<Uid>();
        same_keys::<Eid>();
        same_keys::<UserExt>();
        same_keys::<User>();
        same_keys::<SupplyChainNode>();
        same_keys::<SupplyChain>();
        same_keys::<SourceExt>();
        same_keys::<Source>();
        same_keys::<RegsExt>();
        same_keys::<Regs>();
        same_keys_as::<NativeRequest>(NATIVE_REQUEST_KEYS);
        same_keys::<AssetRequest>();
        same_keys::<TitleRequest>();
        same_keys::<ImageRequest>();
        same_keys::<VideoRequest>();
        same_keys::<DataRequest>();
        same_keys::<EventTrackerRequest>();
    }

    /// The walk's reading, or `Declined`; and serde's, on its own copy.
    fn both(json: &[u8]) -> (Walk<String>, String) {
        let mut bytes = json.to_vec();
        let walked = simd_json::to_tape(&mut bytes)
            .map_err(|_| Declined)
            .and_then(|t| {
                let mut req = BidRequest::default();
                request(&t.0, &mut NativeText::default(), &mut req).map(|()| format!("{req:?}"))
            });
        let mut bytes = json.to_vec();
        let serde = match simd_json::serde::from_slice::<BidRequest>(&mut bytes) {
            Ok(r) => format!("{r:?}"),
            Err(e) => format!("refused: {e}"),
        };
        (walked, serde)
    }

    #[test]
    fn the_corpus_is_walked_and_read_as_serde_reads_it() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/requests");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let json = std::fs::read(&path).unwrap();
            let (walked, serde) = both(&json);
            let walked = walked.unwrap_or_else(|_| panic!("{} declined", path.display()));
            assert_eq!(walked, serde, "{}", path.display());
            seen += 1;
        }
        assert!(seen >= 30, "corpus has {seen} files");
    }

    #[test]
    fn ext_values_and_nulls_read_as_serde_reads_them() {
        let json = br#"{"id":"e","imp":[{"id":"1","banner":{"w":300,"h":250,"pos":null},"ext":{"a":[1,-2,3.5,18446744073709551615,true,null,"s\"q"],"b":{"c":{}},"a":"again"}}],"ext":null,"site":{"ref":"r","publisher":null}}"#;
        let (walked, serde) = both(json);
        assert_eq!(walked.unwrap(), serde);
    }

    #[test]
    fn native_requests_in_every_shape_read_as_serde_reads_them() {
        let bare = r#"{"ver":"1.2","assets":[{"id":7,"required":1,"title":{"len":90}},{"id":2,"img":{"type":3,"w":300,"mimes":["image/png"]}}],"eventtrackers":[{"event":1,"methods":[1,2]}]}"#;
        let text = serde_json::to_string(bare).unwrap();
        // As text, the wrapper is told by its first key; as an object, by
        // having a `native` key anywhere.
        let wrapped = format!(r#"{{"other":1,"native":{bare}}}"#);
        let wrapped_text = serde_json::to_string(&format!(r#"{{"native":{bare}}}"#)).unwrap();
        for request in [bare, &text, &wrapped, &wrapped_text] {
            let json =
                format!(r#"{{"id":"n","imp":[{{"id":"1","native":{{"request":{request}}}}}]}}"#);
            let (walked, serde) = both(json.as_bytes());
            let walked = walked.unwrap_or_else(|_| panic!("{json} declined"));
            assert_eq!(walked, serde, "{json}");
            assert!(walked.contains("TitleRequest { len: 90 }"), "{walked}");
        }
    }

    #[test]
    fn what_serde_would_convert_or_refuse_is_declined() {
        let cases: &[&str] = &[
            // a repeated key (serde: "duplicate field")
            r#"{"id":"a","id":"b","imp":[]}"#,
            // wrong types
            r#"{"id":1,"imp":[]}"#,
            r#"{"id":"a","imp":[{"id":"1","banner":{"w":"300"}}]}"#,
            r#"{"id":"a","imp":[{"id":"1","banner":{"w":1.5}}]}"#,
            r#"{"id":"a","imp":[{"id":"1","banner":{"w":-1}}]}"#,
            r#"{"id":"a","imp":[{"id":"1","banner":{"w":4294967296}}]}"#,
            r#"{"id":"a","test":256,"imp":[]}"#,
            r#"{"id":"a","test":null,"imp":[]}"#,
            r#"{"id":"a","imp":null}"#,
            r#"{"id":"a","imp":{}}"#,
            r#"{"id":"a","cur":["USD",1]}"#,
            // a struct written as an array (serde reads it by position)
            r#"{"id":"a","imp":[{"id":"1","banner":{"format":[[300,250]]}}]}"#,
            // the native request: bad text, a number, a repeated wrapper
            r#"{"id":"a","imp":[{"id":"1","native":{"request":7}}]}"#,
            r#"{"id":"a","imp":[{"id":"1","native":{"request":"{\"native\":{},\"native\":{}}"}}]}"#,
            r#"{"id":"a","imp":[{"id":"1","native":{"request":"{\"assets\":[]} x"}}]}"#,
            r#"{"id":"a","imp":[{"id":"1","native":{"request":"{\"assets\":[{\"id\":1.0}]}"}}]}"#,
            r#"{"id":"a","imp":[{"id":"1","native":{"request":{"native":{},"native":{}}}}]}"#,
            r#"{"id":"a","imp":[{"id":"1","native":{"request":"{\"assets\":7}"}}]}"#,
            // not an object at all
            r#"[]"#,
        ];
        for json in cases {
            let (walked, _) = both(json.as_bytes());
            assert_eq!(walked, Err(Declined), "{json}");
        }
    }

    #[test]
    fn a_declined_request_still_gets_serdes_reading() {
        let json = br#"{"id":"a","imp":[{"id":"1","banner":{"format":[[300,250]]}}]}"#;
        let mut parser = crate::Parser::new();
        let req = parser.parse(json).unwrap();
        let f = req.imp[0].banner.as_ref().unwrap().format[0];
        assert_eq!((f.w, f.h), (300, 250));
        assert!(req.repairs.is_empty());
        drop(req);
        // What serde refuses is walked leniently.
        let req = parser
            .parse(br#"{"id":"a","imp":[{"id":"1","banner":{"w":"300"}}]}"#)
            .unwrap();
        assert_eq!(req.imp[0].banner.as_ref().unwrap().w, Some(300));
        assert_eq!(req.repairs.fields[0].action, Action::Coerced);
    }

    #[test]
    fn paths_name_keys_and_positions_from_the_root() {
        let json = br#"{"id":"a","imp":[{"id":"1"},{"id":"2","banner":{"format":[{"w":1},{"w":2,"h":3}]}}],"x":{"y":[[],[5]]}}"#;
        let mut bytes = json.to_vec();
        let tape = simd_json::to_tape(&mut bytes).unwrap();
        let at = |want: &Node<'_>| tape.0.iter().position(|n| n == want).unwrap();
        assert_eq!(path_of(&tape.0, at(&Node::String("a"))), "id");
        assert_eq!(
            path_of(&tape.0, at(&Node::Static(StaticNode::I64(3)))),
            "imp[1].banner.format[1].h"
        );
        assert_eq!(
            path_of(&tape.0, at(&Node::Static(StaticNode::I64(5)))),
            "x.y[1][0]"
        );
        assert_eq!(path_of(&tape.0, 0), "");
        assert_eq!(
            normalised("imp[12].banner.format[1].h"),
            ("imp[].banner.format[].h".to_string(), Some(12))
        );
        assert_eq!(normalised("x.y[1][0]"), ("x.y[][]".to_string(), None));
    }

    #[test]
    fn a_body_of_thousands_of_wrong_values_is_refused_quickly() {
        let deals: Vec<String> = (0..5_000)
            .map(|i| format!(r#"{{"id":"d{i}","bidfloor":"x"}}"#))
            .collect();
        let json = format!(
            r#"{{"id":"a","imp":[{{"id":"1","banner":{{}},"pmp":{{"deals":[{}]}}}}]}}"#,
            deals.join(",")
        );
        let started = std::time::Instant::now();
        let e = crate::Parser::new().parse(json.as_bytes()).unwrap_err();
        assert_eq!(e.path(), "$", "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn a_field_left_out_forgets_what_was_repaired_inside_it() {
        let mut parser = crate::Parser::new();
        let req = parser
            .parse(br#"{"id":"a","imp":[{"id":"1","video":{"mimes":["video/mp4"]},"banner":{"format":[{"w":"300","h":250},"x"]}}]}"#)
            .unwrap();
        let paths: Vec<&str> = req.repairs.fields.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["imp[].banner.format"]);
    }
}

//! Bytes to a checked [`BidRequest`]: simd-json parses a private copy of the
//! body in place into its tape, strings borrow from it, the hand-written
//! walk in `tape` builds the model, then [`normalize`] and
//! [`validate`] run.
//!
//! The walk only reads what it is sure of. When it declines (a value of a
//! type serde would convert or refuse, a repeated key, ...), the body goes
//! through simd-json's serde deserializer, the reference for what a
//! request means. simd-json stops at the first error without saying where
//! in the document it was. Errors are rare and the exchange needs to know
//! which field to fix, so on failure the untouched input is parsed once
//! more with serde_json and `serde_path_to_error`, which names the path
//! (`imp[0].banner.format[1].w`). The happy path never pays for either.

use simd_json::Tape;

use crate::depth::check_depth;
use crate::error::Error;
use crate::normalize::normalize;
use crate::request::BidRequest;
use crate::tape;
use crate::validate::validate;

pub use crate::depth::MAX_DEPTH;

/// Reusable parse state: the copies simd-json rewrites, its index buffers
/// and its tape. One per thread; after the first few requests parsing
/// allocates only what the request's own vectors and owned strings need.
#[derive(Default)]
pub struct Parser {
    bytes: Vec<u8>,
    /// The second copy the serde path parses when the walk declines: the
    /// first was rewritten in place, and the declined walk's borrow of it
    /// lasts as long as the request would have.
    retry: Vec<u8>,
    buffers: simd_json::Buffers,
    /// Kept empty between requests, so it borrows nothing.
    tape: Option<Tape<'static>>,
    native: tape::NativeText,
}

impl std::fmt::Debug for Parser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parser")
            .field("capacity", &self.bytes.capacity())
            .finish()
    }
}

impl Parser {
    /// A parser with empty buffers.
    pub fn new() -> Parser {
        Parser::default()
    }

    /// Parses, normalises and validates `input`. The request borrows from
    /// this parser until it is dropped.
    pub fn parse<'a>(&'a mut self, input: &[u8]) -> Result<BidRequest<'a>, Error> {
        let mut req = BidRequest::default();
        self.parse_into(input, &mut req)?;
        Ok(req)
    }

    /// [`Parser::parse`] into a request the caller holds, which must be
    /// `BidRequest::default()`: the model is over 2 KB, and returning it
    /// costs a copy the bid path can do without.
    pub fn parse_into<'a>(
        &'a mut self,
        input: &[u8],
        req: &mut BidRequest<'a>,
    ) -> Result<(), Error> {
        // One copy, padded for simd-json's wide loads, which it then
        // parses in place (plain `fill_tape` would copy it once more).
        self.bytes.clear();
        self.bytes.extend_from_slice(input);
        self.bytes
            .resize(input.len() + simd_json::INPUT_PADDING, b' ');
        let mut tape: Tape<'a> = self.tape.take().unwrap_or_else(Tape::null).reset();
        let filled =
            simd_json::fill_tape_padded(&mut self.bytes, input.len(), &mut self.buffers, &mut tape);
        let walked = filled.is_ok() && tape::request(&tape.0, &mut self.native, req).is_ok();
        self.tape = Some(tape.reset());
        // simd-json builds its tape without recursing, and the walk declines
        // anything nested deeper than MAX_DEPTH, so the depth is only
        // checked on the way to the paths that recurse (serde's).
        if let Err(fast) = filled {
            check_depth(input)?;
            return Err(locate(input, &fast.to_string()));
        }
        if !walked {
            check_depth(input)?;
            *req = parse_with_serde(input, &mut self.retry, &mut self.buffers)?;
        }
        normalize(req);
        validate(req)
    }
}

/// The reference reading of `input`: simd-json's serde deserializer, on
/// its own copy in `bytes`.
fn parse_with_serde<'a>(
    input: &[u8],
    bytes: &'a mut Vec<u8>,
    buffers: &mut simd_json::Buffers,
) -> Result<BidRequest<'a>, Error> {
    bytes.clear();
    bytes.extend_from_slice(input);
    simd_json::serde::from_slice_with_buffers::<BidRequest<'a>>(bytes, buffers)
        .map_err(|fast| locate(input, &fast.to_string()))
}

/// Parses `input` with a fresh [`Parser`] kept in `scratch`; for one-off
/// callers (tools, tests). Servers keep a [`Parser`] per thread instead.
pub fn parse_request<'a>(input: &[u8], scratch: &'a mut Parser) -> Result<BidRequest<'a>, Error> {
    scratch.parse(input)
}

/// Finds where `input` goes wrong, for the error message.
fn locate(input: &[u8], fast_message: &str) -> Error {
    let mut de = serde_json::Deserializer::from_slice(input);
    let root = |message: String| Error::Json {
        path: "$".to_string(),
        message,
    };
    match serde_path_to_error::deserialize::<_, BidRequest<'_>>(&mut de) {
        Err(e) => {
            // An unknown segment (`?`) is where the input ran out or broke
            // before a key was read: name the enclosing value instead.
            let full = e.path().to_string();
            let path = full.trim_end_matches("?").trim_end_matches('.').to_string();
            if path == "." || path.is_empty() {
                root(e.into_inner().to_string())
            } else {
                Error::Json {
                    path,
                    message: e.into_inner().to_string(),
                }
            }
        }
        Ok(_) => match de.end() {
            Err(trailing) => root(trailing.to_string()),
            // serde_json accepted what simd-json refused (simd-json is
            // stricter about a few encodings): report simd-json's message.
            Ok(()) => root(fast_message.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(json: &str) -> Error {
        let mut p = Parser::new();
        match p.parse(json.as_bytes()) {
            Ok(_) => panic!("{json} parsed"),
            Err(e) => e,
        }
    }

    fn with_ext(ext: &str) -> String {
        format!(
            r#"{{"id":"x","imp":[{{"id":"1","banner":{{"w":300,"h":250}}}}],"ext":{{"e":{ext}}}}}"#
        )
    }

    #[test]
    fn nesting_past_the_limit_is_refused_without_recursing() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        // A hundred thousand levels would overflow any thread's stack.
        let e = error_of(&with_ext(&deep(100_000)));
        assert_eq!(e.path(), "$");
        assert!(e.message().contains("nested deeper than 64"), "{e}");
        // The request itself takes 3 levels to reach `ext.e`.
        assert!(
            error_of(&with_ext(&deep(MAX_DEPTH - 1)))
                .message()
                .contains("deeper")
        );
        let mut p = Parser::new();
        assert!(p.parse(with_ext(&deep(MAX_DEPTH - 2)).as_bytes()).is_ok());
        // Brackets inside strings (escaped quotes included) are not nesting.
        let text = format!("\"\\\"{}\"", "[".repeat(500));
        assert!(p.parse(with_ext(&text).as_bytes()).is_ok());
        // Many siblings are not depth either.
        let wide = format!("[{}]", vec!["[]"; 500].join(","));
        assert!(p.parse(with_ext(&wide).as_bytes()).is_ok());
    }

    #[test]
    fn nesting_is_counted_from_the_root_wherever_the_value_is() {
        // Read by the walk (ext), skipped by it (unknown keys), inside
        // structs, arrays and a native request object: the walk refuses
        // exactly what the bracket count refuses.
        let places = [
            r#"{"id":"x","imp":[{"id":"1","banner":{"w":1}}],"unknown":V}"#,
            r#"{"id":"x","imp":[{"id":"1","banner":{"w":1,"unknown":V}}]}"#,
            r#"{"id":"x","imp":[{"id":"1","banner":{"w":1},"ext":{"a":[V]}}]}"#,
            r#"{"id":"x","imp":[{"id":"1","banner":{"format":[{"w":1,"u":V}]}}]}"#,
            r#"{"id":"x","imp":[{"id":"1","native":{"request":{"assets":[{"id":1}],"u":V}}}]}"#,
            r#"{"id":"x","imp":[{"id":"1","native":{"request":{"native":{"assets":[{"id":1}]},"u":V}}}]}"#,
        ];
        let mut p = Parser::new();
        for place in places {
            for n in MAX_DEPTH - 8..MAX_DEPTH + 2 {
                let value = format!("{}{}", "[".repeat(n), "]".repeat(n));
                let json = place.replace('V', &value);
                let too_deep = match p.parse(json.as_bytes()) {
                    Ok(_) => false,
                    Err(e) => {
                        assert!(e.message().contains("nested deeper"), "{json}: {e}");
                        true
                    }
                };
                assert_eq!(too_deep, check_depth(json.as_bytes()).is_err(), "{json}");
            }
        }
    }

    #[test]
    fn native_requests_parse_as_string_or_object_wrapped_or_not() {
        let bare = r#"{"ver":"1.2","assets":[{"id":7,"required":1,"title":{"len":90}}]}"#;
        let wrapped = format!(r#"{{"native":{bare}}}"#);
        let spaced = format!(" {{ \"native\" : {bare} }}");
        let quoted = |s: &str| serde_json::to_string(s).unwrap();
        for request in [
            quoted(bare),
            quoted(&wrapped),
            quoted(&spaced),
            bare.to_string(),
            wrapped.clone(),
        ] {
            let json =
                format!(r#"{{"id":"n","imp":[{{"id":"1","native":{{"request":{request}}}}}]}}"#);
            let mut p = Parser::new();
            let req = p
                .parse(json.as_bytes())
                .unwrap_or_else(|e| panic!("{json}: {e}"));
            let native = &req.imp[0].native.as_ref().unwrap().request;
            assert_eq!(native.ver.as_deref(), Some("1.2"), "{json}");
            assert_eq!(native.assets[0].id, 7, "{json}");
            assert_eq!(native.assets[0].title.as_ref().unwrap().len, 90, "{json}");
        }
        // A string that is not a native request names the field.
        let e = error_of(r#"{"id":"n","imp":[{"id":"1","native":{"request":"{\"assets\":7}"}}]}"#);
        assert!(e.to_string().contains("imp[0].native.request"), "{e}");
    }

    #[test]
    fn well_formed_request_parses_with_borrowed_strings() {
        let mut p = Parser::new();
        let req = p
            .parse(br#"{"id":"abc","imp":[{"id":"1","banner":{"w":300,"h":250},"tagid":"top"}],"bcat":["IAB1","BSW1"]}"#)
            .unwrap();
        assert_eq!(req.id, "abc");
        assert!(matches!(
            req.imp[0].tagid,
            Some(std::borrow::Cow::Borrowed("top"))
        ));
        assert_eq!(req.bcat, ["IAB1", "BSW1"]);
    }

    #[test]
    fn wrong_type_names_the_json_path() {
        let e = error_of(
            r#"{"id":"t","imp":[{"id":"1","banner":{"format":[{"w":300,"h":250},{"w":"x","h":90}]}}]}"#,
        );
        assert_eq!(e.path(), "imp[0].banner.format[1].w", "{e}");
        assert!(matches!(e, Error::Json { .. }));
    }

    #[test]
    fn syntax_errors_are_reported_at_the_root() {
        for bad in [
            "",
            "{",
            "{\"id\":\"x\",}",
            "null",
            "{\"id\":\"1\"} trailing",
        ] {
            let e = error_of(bad);
            assert!(matches!(e, Error::Json { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn unknown_fields_are_ignored_and_unknown_enum_values_kept() {
        let mut p = Parser::new();
        let req = p
            .parse(br#"{"id":"1","imp":[{"id":"1","banner":{"w":1,"h":1},"ext":{"gpid":"/a"}}],"newfield":{"x":1},"device":{"devicetype":99},"cattax":7}"#)
            .unwrap();
        assert_eq!(req.device.as_ref().unwrap().devicetype, Some(99));
        assert_eq!(req.cattax, Some(7));
        assert!(req.imp[0].ext.is_some());
    }

    #[test]
    fn invalid_requests_name_the_rule_broken() {
        assert_eq!(
            error_of(r#"{"id":"","imp":[{"id":"1","banner":{}}]}"#).path(),
            "id"
        );
        assert_eq!(error_of(r#"{"id":"1","imp":[]}"#).path(), "imp");
        assert_eq!(
            error_of(r#"{"id":"1","imp":[{"id":"a","banner":{}},{"id":"a","banner":{}}]}"#).path(),
            "imp[1].id"
        );
        assert_eq!(
            error_of(r#"{"id":"1","imp":[{"id":"a"}]}"#).path(),
            "imp[0]"
        );
        assert_eq!(
            error_of(r#"{"id":"1","imp":[{"id":"a","banner":{},"bidfloor":-1}]}"#).path(),
            "imp[0].bidfloor"
        );
        assert_eq!(
            error_of(r#"{"id":"1","imp":[{"id":"a","banner":{},"bidfloorcur":"EURO"}]}"#).path(),
            "imp[0].bidfloorcur"
        );
        assert_eq!(
            error_of(r#"{"id":"1","imp":[{"id":"a","banner":{}}],"site":{},"app":{}}"#).path(),
            "app"
        );
    }

    #[test]
    fn native_request_as_string_and_as_object_parse_alike() {
        let inner = r#"{"ver":"1.2","assets":[{"id":1,"required":1,"title":{"len":90}}]}"#;
        let as_string = format!(
            r#"{{"id":"1","imp":[{{"id":"1","native":{{"request":{}}}}}]}}"#,
            serde_json::to_string(inner).unwrap()
        );
        let as_object =
            format!(r#"{{"id":"1","imp":[{{"id":"1","native":{{"request":{inner}}}}}]}}"#);
        let (mut a, mut b) = (Parser::new(), Parser::new());
        let ra = a.parse(as_string.as_bytes()).unwrap();
        let rb = b.parse(as_object.as_bytes()).unwrap();
        let (na, nb) = (
            &ra.imp[0].native.as_ref().unwrap().request,
            &rb.imp[0].native.as_ref().unwrap().request,
        );
        assert_eq!(na, nb);
        assert_eq!(na.assets[0].title.as_ref().unwrap().len, 90);
    }

    #[test]
    fn a_native_request_without_assets_is_invalid() {
        let e = error_of(r#"{"id":"1","imp":[{"id":"1","native":{"request":"{\"assets\":[]}"}}]}"#);
        assert_eq!(e.path(), "imp[0].native.request.assets");
    }

    #[test]
    fn duplicate_imp_ids_are_found_in_long_requests_too() {
        let imps: Vec<String> = (0..40)
            .map(|i| {
                format!(
                    r#"{{"id":"{}","banner":{{}}}}"#,
                    if i == 39 { 3 } else { i }
                )
            })
            .collect();
        let json = format!(r#"{{"id":"1","imp":[{}]}}"#, imps.join(","));
        assert_eq!(error_of(&json).path(), "imp[39].id");
    }

    #[test]
    fn a_parser_is_reusable_across_requests() {
        let mut p = Parser::new();
        for id in ["a", "bb", "ccc"] {
            let json = format!(
                r#"{{"id":"{id}","imp":[{{"id":"1","video":{{"mimes":["video/mp4"]}}}}]}}"#
            );
            assert_eq!(p.parse(json.as_bytes()).unwrap().id, id);
        }
    }
}

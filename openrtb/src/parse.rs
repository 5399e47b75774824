//! Bytes to a checked [`BidRequest`]: simd-json parses a private copy of the
//! body in place into its tape, strings borrow from it, the hand-written
//! walk in `tape` builds the model, then [`normalize`] and
//! [`validate`] run.
//!
//! The walk only reads what it is sure of. When it declines (a value of a
//! type serde would convert or refuse, a repeated key, ...), the body goes
//! through simd-json's serde deserializer, the reference for what a
//! request means. What serde refuses as well is walked once more over the
//! same tape, leniently: a field of the wrong type is left out or read as
//! what it plainly means, and recorded in [`BidRequest::repairs`]
//! (`crate::repair`). A bidder is liberal in what it accepts; only what
//! no answer can be built without (`id`, `imp`, `imp[].id`) is an error,
//! which the lenient walk names by its path.
//!
//! Bodies that are not JSON at all are refused. simd-json stops at the
//! first syntax error without saying where it was, so the untouched input
//! is parsed once more with serde_json and `serde_path_to_error`, which
//! names the enclosing value. The happy path never pays for any of this.

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
    /// first was rewritten in place, and the tape still borrows it for the
    /// lenient walk, should serde refuse.
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
    /// this parser until it is dropped. What had to be repaired, and the
    /// imps that cannot be served, are in its
    /// [`repairs`](BidRequest::repairs).
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
        // simd-json builds its tape without recursing, and the walk declines
        // anything nested deeper than MAX_DEPTH, so the depth is only
        // checked on the way to the paths that recurse (serde's).
        let read = match filled {
            Err(fast) => check_depth(input).and_then(|()| Err(locate(input, &fast.to_string()))),
            Ok(()) if walked => Ok(()),
            Ok(()) => check_depth(input).and_then(|()| {
                match parse_with_serde(input, &mut self.retry, &mut self.buffers) {
                    Some(read) => {
                        *req = read;
                        Ok(())
                    }
                    None => {
                        *req = BidRequest::default();
                        tape::request_lenient(&tape.0, &mut self.native, req)
                    }
                }
            }),
        };
        self.tape = Some(tape.reset());
        read?;
        normalize(req);
        validate(req)
    }
}

/// The reference reading of `input`: simd-json's serde deserializer, on
/// its own copy in `bytes`; `None` when serde refuses it.
fn parse_with_serde<'a>(
    input: &[u8],
    bytes: &'a mut Vec<u8>,
    buffers: &mut simd_json::Buffers,
) -> Option<BidRequest<'a>> {
    bytes.clear();
    bytes.extend_from_slice(input);
    simd_json::serde::from_slice_with_buffers::<BidRequest<'a>>(bytes, buffers).ok()
}

/// Parses `input` with a fresh [`Parser`] kept in `scratch`; for one-off
/// callers (tools, tests). Servers keep a [`Parser`] per thread instead.
pub fn parse_request<'a>(input: &[u8], scratch: &'a mut Parser) -> Result<BidRequest<'a>, Error> {
    scratch.parse(input)
}

/// Finds where `input`, which is not JSON, goes wrong, for the error
/// message.
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
    use crate::repair::{Action, SkipReason, Skipped, Unservable};

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
        // A string that is not a native request leaves the imp without
        // assets: skipped, not refused.
        let mut p = Parser::new();
        let req = p
            .parse(br#"{"id":"n","imp":[{"id":"1","native":{"request":"{\"assets\":7}"}}]}"#)
            .unwrap();
        assert!(req.imp.is_empty());
        assert_eq!(req.repairs.fields[0].path, "imp[].native.request.assets");
        assert_eq!(
            req.repairs.skipped[0].reason,
            SkipReason::NativeWithoutAssets
        );
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
    fn a_required_field_of_the_wrong_type_names_its_path() {
        for (json, path) in [
            (r#"{"id":5,"imp":[{"id":"1","banner":{}}]}"#, "id"),
            (r#"{"id":"t","imp":{"id":"1","banner":{}}}"#, "imp"),
            (r#"{"id":"t","imp":[{"id":"1","banner":{}},7]}"#, "imp"),
            (r#"{"id":"t","imp":"1"}"#, "imp"),
            (
                r#"{"source":"x","id":"t","imp":[{"id":"1","banner":{}},{"id":2,"banner":{}}]}"#,
                "imp[1].id",
            ),
            (
                r#"{"id":"t","imp":[{"id":"1","id":"2","banner":{}}]}"#,
                "imp[0].id",
            ),
            (
                r#"{"id":"t","id":"u","imp":[{"id":"1","banner":{}}]}"#,
                "id",
            ),
        ] {
            let e = error_of(json);
            assert_eq!(e.path(), path, "{json}: {e}");
            assert!(matches!(e, Error::Json { .. }), "{json}");
        }
    }

    #[test]
    fn optional_fields_of_the_wrong_type_are_dropped_and_recorded() {
        let mut p = Parser::new();
        let req = p
            .parse(
                br#"{"id":"t","imp":[{"id":"1","banner":{"w":300,"h":250,"mimes":[1,2]},"tagid":9}],
                "source":{"tid":"x","ext":"schain"},"site":{"cat":null,"name":"N"},
                "user":{"keywords":["a","b"],"id":"u"},"device":{"ua":7,"os":"iOS"},"test":"no"}"#,
            )
            .unwrap();
        let paths: Vec<(&str, Action)> = req
            .repairs
            .fields
            .iter()
            .map(|r| (r.path.as_str(), r.action))
            .collect();
        assert_eq!(
            paths,
            [
                ("imp[].banner.mimes", Action::Dropped),
                ("imp[].tagid", Action::Dropped),
                ("source.ext", Action::Dropped),
                ("site.cat", Action::Null),
                ("user.keywords", Action::Dropped),
                ("device.ua", Action::Dropped),
                ("test", Action::Dropped),
            ]
        );
        assert_eq!(req.repairs.fields[0].imp, Some(0));
        // The rest is read.
        let banner = req.imp[0].banner.as_ref().unwrap();
        assert_eq!((banner.w, banner.h), (Some(300), Some(250)));
        assert!(banner.mimes.is_empty());
        assert_eq!(req.source.as_ref().unwrap().tid.as_deref(), Some("x"));
        assert_eq!(req.site.as_ref().unwrap().name.as_deref(), Some("N"));
        assert_eq!(req.user.as_ref().unwrap().id.as_deref(), Some("u"));
        assert_eq!(req.device.as_ref().unwrap().os.as_deref(), Some("iOS"));
        assert!(req.repairs.skipped.is_empty() && req.repairs.unservable.is_none());
    }

    #[test]
    fn values_that_plainly_mean_the_type_are_read_as_it() {
        let mut p = Parser::new();
        let req = p
            .parse(
                br#"{"id":"t","imp":[{"id":"1","banner":{"w":"300","h":250.0,"battr":3},"bidfloor":"1.5","secure":true}],
                "cur":"USD","tmax":" 120 ","regs":{"coppa":"1"}}"#,
            )
            .unwrap();
        let imp = &req.imp[0];
        let banner = imp.banner.as_ref().unwrap();
        assert_eq!((banner.w, banner.h), (Some(300), Some(250)));
        assert_eq!(banner.battr, [3]);
        assert_eq!(imp.bidfloor, 1.5);
        assert_eq!(imp.secure, Some(1));
        assert_eq!(req.cur, ["USD"]);
        assert!(req.bcat.is_empty());
        assert_eq!(req.tmax, Some(120));
        assert_eq!(req.regs.as_ref().unwrap().coppa, Some(1));
        assert!(
            req.repairs
                .fields
                .iter()
                .all(|r| r.action == Action::Coerced),
            "{:?}",
            req.repairs
        );
        assert_eq!(req.repairs.fields.len(), 8, "{:?}", req.repairs);
        drop(req);
        let req = p
            .parse(br#"{"id":"t","imp":[{"id":"1","banner":{}}],"bcat":"IAB25, IAB26","badv":"a.example"}"#)
            .unwrap();
        assert_eq!(req.bcat, ["IAB25", "IAB26"]);
        assert_eq!(req.badv, ["a.example"]);
        drop(req);
        // Not plainly a number: left out.
        let req = p
            .parse(br#"{"id":"t","imp":[{"id":"1","banner":{"w":"1.5","h":"wide"}}],"tmax":true}"#)
            .unwrap();
        assert!(req.tmax.is_none());
        assert_eq!(req.repairs.fields[2].path, "tmax");
    }

    #[test]
    fn an_unreadable_floor_skips_its_imp_and_the_others_are_served() {
        let mut p = Parser::new();
        let req = p
            .parse(
                br#"{"id":"t","imp":[{"id":"1","banner":{"w":300,"h":250},"bidfloor":"high"},
                {"id":"2","banner":{"w":300,"h":250},"bidfloor":-1},
                {"id":"3","banner":{"w":300,"h":250},"bidfloorcur":"EURO"},
                {"id":"4","banner":{"w":300,"h":250},"pmp":{"deals":[{"id":"d","bidfloor":"x"}]}},
                {"id":"5","banner":{"w":300,"h":250},"bidfloor":"0.25"}]}"#,
            )
            .unwrap();
        assert_eq!(req.imp.len(), 1);
        assert_eq!((&*req.imp[0].id, req.imp[0].bidfloor), ("5", 0.25));
        let skipped: Vec<(usize, SkipReason)> = req
            .repairs
            .skipped
            .iter()
            .map(|s| (s.index, s.reason))
            .collect();
        assert_eq!(
            skipped,
            [
                (0, SkipReason::Floor),
                (1, SkipReason::Floor),
                (2, SkipReason::Floor),
                (3, SkipReason::Floor)
            ]
        );
        assert!(req.repairs.unservable.is_none());
    }

    #[test]
    fn an_unreadable_restriction_makes_the_request_unservable() {
        for (field, json) in [
            ("bcat", r#""bcat":["IAB1",7]"#),
            ("badv", r#""badv":{"a":1}"#),
            ("wseat", r#""wseat":[1]"#),
            ("cur", r#""cur":[5]"#),
            ("regs", r#""regs":{"coppa":"yes"}"#),
            ("regs", r#""regs":"gdpr""#),
            ("device.lmt", r#""device":{"lmt":"x"}"#),
            ("device.lmt", r#""device":"phone""#),
            ("app.bundle", r#""app":{"bundle":12}"#),
        ] {
            let json = format!(r#"{{"id":"t","imp":[{{"id":"1","banner":{{}}}}],{json}}}"#);
            let mut p = Parser::new();
            let req = p.parse(json.as_bytes()).unwrap();
            assert_eq!(
                req.repairs.unservable,
                Some(Unservable::NeededField(field.to_string())),
                "{json}"
            );
        }
        // A null is only absent: nothing is lost.
        let mut p = Parser::new();
        let req = p
            .parse(br#"{"id":"t","imp":[{"id":"1","banner":{}}],"bcat":null,"regs":null}"#)
            .unwrap();
        assert_eq!(req.repairs.unservable, None);
        assert_eq!(req.repairs.fields[0].action, Action::Null);
    }

    #[test]
    fn an_unreadable_size_takes_the_banner_out_and_video_still_serves() {
        let mut p = Parser::new();
        let req = p
            .parse(
                br#"{"id":"t","imp":[{"id":"1","banner":{"format":[{"w":300,"h":"x"}]},
                "video":{"mimes":["video/mp4"]}}]}"#,
            )
            .unwrap();
        assert!(req.imp[0].banner.is_none() && req.imp[0].video.is_some());
        assert_eq!(req.repairs.fields[0].path, "imp[].banner.format[].h");
        drop(req);
        let req = p
            .parse(br#"{"id":"t","imp":[{"id":"1","banner":{"w":-300,"h":250}}]}"#)
            .unwrap();
        assert_eq!(req.repairs.skipped[0].reason, SkipReason::NoMedia);
        assert_eq!(req.repairs.unservable, Some(Unservable::NoImp));
    }

    #[test]
    fn an_unreadable_video_limit_takes_the_video_out_and_secure_reads_as_1() {
        for limit in [
            r#""protocol":"vast""#,
            r#""rqddurs":"short""#,
            r#""delivery":{"a":1}"#,
            r#""maxbitrate":"fast""#,
            r#""plcmt":"instream""#,
            r#""skip":"maybe""#,
        ] {
            let json = format!(
                r#"{{"id":"t","imp":[{{"id":"1","video":{{"mimes":["video/mp4"],{limit}}},"banner":{{"w":300,"h":250}}}}]}}"#
            );
            let mut p = Parser::new();
            let req = p.parse(json.as_bytes()).unwrap();
            assert!(req.imp[0].video.is_none(), "{json}");
            assert!(req.imp[0].banner.is_some(), "{json}");
        }
        let mut p = Parser::new();
        let req = p
            .parse(br#"{"id":"t","imp":[{"id":"1","banner":{"w":300,"h":250},"secure":"yes"}]}"#)
            .unwrap();
        assert_eq!(req.imp[0].secure, Some(1));
        assert_eq!(req.repairs.fields[0].path, "imp[].secure");
    }

    #[test]
    fn a_repeated_imp_id_is_bid_on_once_only_where_the_repeats_ask_alike() {
        let mut p = Parser::new();
        // The same slot sent twice (tag ids aside): its first imp is served.
        let req = p
            .parse(
                br#"{"id":"t","imp":[{"id":"1","tagid":"a","banner":{"w":300,"h":250},"bidfloor":0.5},
                {"id":"1","tagid":"b","banner":{"w":300,"h":250},"bidfloor":0.5}]}"#,
            )
            .unwrap();
        assert_eq!(req.imp.len(), 1);
        assert_eq!(req.imp[0].tagid.as_deref(), Some("a"));
        drop(req);
        // Two slots under one id: a bid would fit one of them, and the
        // exchange could take it for the other. Neither is served.
        for second in [
            r#"{"id":"1","banner":{"w":728,"h":90}}"#,
            r#"{"id":"1","banner":{"w":300,"h":250},"bidfloor":2}"#,
            r#"{"id":"1","banner":{"w":300,"h":250},"secure":1}"#,
        ] {
            let json = format!(
                r#"{{"id":"t","imp":[{{"id":"1","banner":{{"w":300,"h":250}}}},{second},{{"id":"2","banner":{{"w":300,"h":250}}}}]}}"#
            );
            let req = p.parse(json.as_bytes()).unwrap();
            let ids: Vec<&str> = req.imp.iter().map(|i| &*i.id).collect();
            assert_eq!(ids, ["2"], "{json}");
            let skipped: Vec<(usize, SkipReason)> = req
                .repairs
                .skipped
                .iter()
                .map(|s| (s.index, s.reason))
                .collect();
            assert_eq!(
                skipped,
                [(0, SkipReason::DuplicateId), (1, SkipReason::DuplicateId)],
                "{json}"
            );
        }
    }

    #[test]
    fn a_repeated_optional_key_keeps_its_first_value() {
        let mut p = Parser::new();
        let req = p
            .parse(br#"{"id":"t","tmax":100,"imp":[{"id":"1","banner":{"w":300,"h":250},"tagid":"a","tagid":"b"}],"tmax":200}"#)
            .unwrap();
        assert_eq!(req.tmax, Some(100));
        assert_eq!(req.imp[0].tagid.as_deref(), Some("a"));
        let paths: Vec<&str> = req.repairs.fields.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["imp[].tagid", "tmax"]);
        drop(req);
        // A repeated size is an unreadable size: the banner cannot be fit.
        let req = p
            .parse(br#"{"id":"t","imp":[{"id":"1","banner":{"w":300,"w":728,"h":90}}]}"#)
            .unwrap();
        assert_eq!(req.repairs.unservable, Some(Unservable::NoImp));
    }

    #[test]
    fn only_what_no_answer_can_do_without_is_an_error() {
        assert_eq!(
            error_of(r#"{"id":"","imp":[{"id":"1","banner":{}}]}"#).path(),
            "id"
        );
        assert_eq!(error_of(r#"{"id":"1","imp":[]}"#).path(), "imp");
        assert_eq!(
            error_of(r#"{"id":"1","imp":[{"id":"a","banner":{}},{"banner":{}}]}"#).path(),
            "imp[1].id"
        );
    }

    #[test]
    fn imps_that_cannot_be_served_are_skipped_with_their_reason() {
        let mut p = Parser::new();
        let req = p
            .parse(
                br#"{"id":"1","imp":[{"id":"a","banner":{}},{"id":"a","banner":{}},
                {"id":"b"},{"id":"c","native":{"request":{"ver":"1.0","layout":3,"adunit":2}}},
                {"id":"d","native":{"request":"{}"},"banner":{"w":300,"h":250}}]}"#,
            )
            .unwrap();
        let ids: Vec<&str> = req.imp.iter().map(|i| &*i.id).collect();
        assert_eq!(ids, ["a", "d"]);
        // Served by its banner, never as a native ad of nothing.
        assert!(req.imp[1].native.is_none());
        let skipped: Vec<(usize, SkipReason)> = req
            .repairs
            .skipped
            .iter()
            .map(|s| (s.index, s.reason))
            .collect();
        assert_eq!(
            skipped,
            [
                (1, SkipReason::DuplicateId),
                (2, SkipReason::NoMedia),
                (3, SkipReason::NativeWithoutAssets)
            ]
        );
        assert!(req.repairs.fields.is_empty() && req.repairs.unservable.is_none());
        // Nothing left: unservable, still not an error.
        drop(req);
        let req = p.parse(br#"{"id":"1","imp":[{"id":"a"}]}"#).unwrap();
        assert_eq!(req.repairs.unservable, Some(Unservable::NoImp));
    }

    #[test]
    fn with_site_and_app_app_is_kept_when_it_names_a_bundle_else_site() {
        let mut p = Parser::new();
        let req = p
            .parse(
                br#"{"id":"1","imp":[{"id":"a","banner":{}}],"site":{"id":"s"},"app":{"id":"a"}}"#,
            )
            .unwrap();
        assert!(req.site.is_some() && req.app.is_none());
        assert_eq!(req.repairs.fields[0].path, "app");
        drop(req);
        let req = p
            .parse(br#"{"id":"1","imp":[{"id":"a","banner":{}}],"site":{"id":"s"},"app":{"bundle":"com.example.app"}}"#)
            .unwrap();
        assert!(req.site.is_none() && req.app.is_some());
        assert_eq!(req.repairs.fields[0].path, "site");
        assert_eq!(req.repairs.unservable, None);
    }

    #[test]
    fn native_requests_exchanges_send_outside_the_spec_are_read() {
        let assets = r#"[{"id":1,"required":1,"title":{"len":90}}]"#;
        let inner = format!(r#"{{"ver":"1.2","assets":{assets}}}"#);
        let quoted = |s: &str| serde_json::to_string(s).unwrap();
        for (native, coerced) in [
            // Assets directly in imp.native.
            (format!(r#"{{"ver":"1.2","assets":{assets}}}"#), false),
            // Encoded twice: a JSON string holding the JSON string.
            (
                format!(r#"{{"request":{}}}"#, quoted(&quoted(&inner))),
                true,
            ),
            // The members without their braces.
            (
                format!(
                    r#"{{"request":{}}}"#,
                    quoted(&format!(r#""ver":"1.2","assets":{assets}"#))
                ),
                true,
            ),
            // Twice encoded and wrapped.
            (
                format!(
                    r#"{{"request":{}}}"#,
                    quoted(&quoted(&format!(r#"{{"native":{inner}}}"#)))
                ),
                true,
            ),
        ] {
            let json = format!(r#"{{"id":"n","imp":[{{"id":"1","native":{native}}}]}}"#);
            let mut p = Parser::new();
            let req = p
                .parse(json.as_bytes())
                .unwrap_or_else(|e| panic!("{json}: {e}"));
            assert_eq!(req.imp.len(), 1, "{json}: {:?}", req.repairs);
            let request = &req.imp[0].native.as_ref().unwrap().request;
            assert_eq!(request.assets[0].title.as_ref().unwrap().len, 90, "{json}");
            let repairs: Vec<(&str, Action)> = req
                .repairs
                .fields
                .iter()
                .map(|r| (r.path.as_str(), r.action))
                .collect();
            match coerced {
                true => assert_eq!(
                    repairs,
                    [("imp[].native.request", Action::Coerced)],
                    "{json}"
                ),
                false => assert!(repairs.is_empty(), "{json}"),
            }
        }
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
        let mut p = Parser::new();
        let req = p.parse(json.as_bytes()).unwrap();
        assert_eq!(req.imp.len(), 39);
        assert_eq!(
            req.repairs.skipped,
            [Skipped {
                index: 39,
                reason: SkipReason::DuplicateId
            }]
        );
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

//! The shapes of third-party traffic that were refused with 400 and must
//! not be (`testdata/liberal/`), through the real server: each gets a bid
//! or a no-bid, never an error, and every answer keeps the specs' rules
//! (the `conformance` crate, and where `../shared` is, `ortb_check.py` on
//! the requests it can read). `/metrics` counts the fields left out or
//! converted by path, the imps skipped and the no-bids by reason; an
//! exchange configured for `nbr` hears 2 (invalid request) for a request
//! nothing of which can be served.

mod common;

use bidder::config::ExchangeConfig;
use bidder::config::source_networks::AllowList;
use common::{TestServer, fixture};
use http::Method;
use openrtb::Currency;
use serde_json::Value;

/// What the demo catalog does with a request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Answer {
    /// Bids, on the imps with these ids.
    Bid(&'static [&'static str]),
    /// Answers 204.
    NoBid,
}

/// One file of `testdata/liberal/`: what it gets, the paths it has left
/// out and those read as what they plainly mean.
struct Case {
    file: &'static str,
    answer: Answer,
    dropped: &'static [&'static str],
    coerced: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        file: "01-native10-layout-without-assets.json",
        answer: Answer::NoBid,
        dropped: &[],
        coerced: &[],
    },
    Case {
        file: "02-native10-layout-beside-banner.json",
        answer: Answer::Bid(&["1"]),
        dropped: &[],
        coerced: &[],
    },
    Case {
        file: "03-native-assets-in-imp-native.json",
        answer: Answer::Bid(&["1"]),
        dropped: &[],
        coerced: &[],
    },
    Case {
        file: "04-native-request-fragment.json",
        answer: Answer::Bid(&["1"]),
        dropped: &[],
        coerced: &["imp[].native.request"],
    },
    Case {
        file: "05-native-request-double-encoded.json",
        answer: Answer::Bid(&["1"]),
        dropped: &[],
        coerced: &["imp[].native.request"],
    },
    Case {
        file: "06-site-and-app.json",
        answer: Answer::Bid(&["1"]),
        dropped: &["site"],
        coerced: &[],
    },
    Case {
        file: "07-duplicate-imp-ids.json",
        answer: Answer::Bid(&["1"]),
        dropped: &[],
        coerced: &[],
    },
    Case {
        file: "08-source-as-string.json",
        answer: Answer::Bid(&["1"]),
        dropped: &["source"],
        coerced: &[],
    },
    Case {
        file: "09-source-ext-as-string.json",
        answer: Answer::Bid(&["1"]),
        dropped: &["source.ext"],
        coerced: &[],
    },
    Case {
        file: "10-banner-mimes-integers.json",
        answer: Answer::Bid(&["1"]),
        dropped: &["imp[].banner.mimes"],
        coerced: &[],
    },
    Case {
        file: "11-site-cat-null.json",
        answer: Answer::Bid(&["1"]),
        dropped: &["site.cat", "site.publisher.cat"],
        coerced: &[],
    },
    Case {
        file: "12-user-keywords-array.json",
        answer: Answer::Bid(&["1"]),
        dropped: &["user.keywords"],
        coerced: &["user.yob"],
    },
    Case {
        file: "13-floor-and-tmax-as-strings.json",
        answer: Answer::Bid(&["1"]),
        dropped: &[],
        coerced: &[
            "at",
            "tmax",
            "cur",
            "imp[].banner.w",
            "imp[].banner.h",
            "imp[].bidfloor",
            "imp[].secure",
            "regs.coppa",
        ],
    },
    Case {
        file: "14-floor-unreadable.json",
        answer: Answer::Bid(&["2"]),
        dropped: &["imp[].bidfloor"],
        coerced: &[],
    },
    Case {
        file: "15-optional-numbers-unreadable.json",
        answer: Answer::Bid(&["1"]),
        dropped: &["tmax", "imp[].exp", "device.connectiontype"],
        coerced: &["device.w", "device.h"],
    },
    Case {
        file: "16-nothing-servable.json",
        answer: Answer::NoBid,
        dropped: &[],
        coerced: &[],
    },
    // Once in `testdata/invalid/`, refused with 400.
    Case {
        file: "17-minimal-duplicate-imp-ids.json",
        answer: Answer::NoBid,
        dropped: &[],
        coerced: &[],
    },
    Case {
        file: "18-minimal-imp-without-media.json",
        answer: Answer::NoBid,
        dropped: &[],
        coerced: &[],
    },
    Case {
        file: "19-minimal-site-and-app-without-bundle.json",
        answer: Answer::Bid(&["1"]),
        dropped: &["app"],
        coerced: &[],
    },
    Case {
        file: "20-minimal-format-h-wrong-type.json",
        answer: Answer::NoBid,
        dropped: &["imp[].banner.format[].h"],
        coerced: &[],
    },
    Case {
        file: "21-minimal-negative-floor.json",
        answer: Answer::NoBid,
        dropped: &[],
        coerced: &[],
    },
    Case {
        file: "22-minimal-bad-floor-currency.json",
        answer: Answer::NoBid,
        dropped: &[],
        coerced: &[],
    },
    Case {
        file: "23-minimal-native-without-assets.json",
        answer: Answer::NoBid,
        dropped: &[],
        coerced: &[],
    },
    Case {
        file: "24-minimal-tmax-string.json",
        answer: Answer::Bid(&["1"]),
        dropped: &["tmax"],
        coerced: &[],
    },
];

fn request(case: &Case) -> (Vec<u8>, Value) {
    let body = fixture(&format!("liberal/{}", case.file));
    let json = serde_json::from_slice(&body).unwrap();
    (body, json)
}

/// The imp ids of an answer's bids, in order.
fn bid_imps(answer: &Value) -> Vec<String> {
    answer["seatbid"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["bid"].as_array().into_iter().flatten())
        .map(|b| b["impid"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Whether `ortb_check.py` can read the request itself: it takes `tmax`
/// and floors as numbers and a native request as an object or a JSON
/// string of one, as the spec writes them. The shapes it cannot read (a
/// number as a string, a native request encoded twice or without its
/// braces) are judged by the `conformance` crate alone.
fn checker_reads(req: &Value) -> bool {
    let number_or_absent = |v: &Value| v.is_null() || v.is_number();
    number_or_absent(&req["tmax"])
        && req["imp"].as_array().into_iter().flatten().all(|imp| {
            number_or_absent(&imp["bidfloor"])
                && match &imp["native"]["request"] {
                    Value::String(s) => {
                        serde_json::from_str::<Value>(s).is_ok_and(|v| v.is_object())
                    }
                    _ => true,
                }
        })
}

/// The value of the metrics row that starts with `row`.
fn metric(text: &str, row: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(row)?.trim().parse().ok())
}

#[test]
fn every_file_of_the_liberal_corpus_is_listed_here() {
    let mut files: Vec<String> = std::fs::read_dir(common::testdata().join("liberal"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".json"))
        .collect();
    files.sort();
    let listed: Vec<&str> = CASES.iter().map(|c| c.file).collect();
    assert_eq!(files, listed);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_shape_gets_a_bid_or_a_no_bid_and_the_repairs_are_counted() {
    // Behind https, as exchanges' secure imps require.
    let server = TestServer::demo_https().await;
    for case in CASES {
        let (body, json) = request(case);
        let reply = server.bid(body).await;
        let text = String::from_utf8_lossy(&reply.body).into_owned();
        assert_ne!(reply.status, 400, "{}: {text}", case.file);
        let verdict = conformance::check_answer(&json, reply.status, &reply.body);
        assert!(
            verdict.passes(),
            "{}: {:?}\n{text}",
            case.file,
            verdict.violations
        );
        match case.answer {
            Answer::NoBid => assert_eq!(reply.status, 204, "{}: {text}", case.file),
            Answer::Bid(imps) => {
                assert_eq!(reply.status, 200, "{}: {text}", case.file);
                assert_eq!(bid_imps(&reply.json()), imps, "{}: {text}", case.file);
            }
        }
    }

    let metrics = server
        .request(Method::GET, "/metrics", &[], Vec::new())
        .await;
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    let row = |name: &str, label: &str, value: &str| {
        format!("{name}{{exchange=\"default\",{label}=\"{value}\"}}")
    };
    for case in CASES {
        for (name, paths) in [
            ("bidder_request_fields_dropped_total", case.dropped),
            ("bidder_request_fields_coerced_total", case.coerced),
        ] {
            for path in paths {
                let row = row(name, "path", path);
                assert!(
                    metric(&text, &row).is_some_and(|n| n >= 1),
                    "{}: no {row} in\n{text}",
                    case.file
                );
            }
        }
    }
    for (reason, at_least) in [
        ("duplicate_id", 3),
        ("floor", 1),
        ("native_without_assets", 2),
        ("no_media", 1),
    ] {
        let row = row("bidder_imps_skipped_total", "reason", reason);
        assert!(
            metric(&text, &row).is_some_and(|n| n >= at_least),
            "{row} in\n{text}"
        );
    }
    // Every no-bid of the corpus is a request nothing of which can be
    // served (the demo would bid on any of them that could be).
    let no_bids = CASES.iter().filter(|c| c.answer == Answer::NoBid).count() as u64;
    let row = row("bidder_no_bids_total", "reason", "invalid_request");
    assert_eq!(metric(&text, &row), Some(no_bids), "{row} in\n{text}");
    assert_eq!(
        metric(&text, "bidder_invalid_requests_total{exchange=\"default\"}"),
        Some(0),
        "{text}"
    );
    // The shared response checker agrees, where it is, on the requests it
    // can read itself (see `checker_reads`).
    if let Some(shared) = common::shared::shared_dir("the shared response checker (ortb_check.py)")
    {
        let dir = tempfile::tempdir().unwrap();
        let mut bids = 0;
        let mut copied = 0;
        for case in CASES {
            let (body, json) = request(case);
            if checker_reads(&json) {
                std::fs::write(dir.path().join(case.file), body).unwrap();
                copied += 1;
                bids += usize::from(matches!(case.answer, Answer::Bid(_)));
            }
        }
        assert!(copied * 2 > CASES.len(), "the checker reads {copied} files");
        let output = tokio::process::Command::new("python3")
            .arg(shared.join("tools/ortb_check.py"))
            .arg(format!("{}/openrtb2/bid", server.base))
            .arg(dir.path())
            .args([
                "--min-bid-rate",
                &format!("{}", bids as f64 / copied as f64 - 0.01),
            ])
            .output()
            .await
            .expect("python3 runs");
        assert!(
            output.status.success(),
            "ortb_check failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    server.stop().await;
}

#[tokio::test]
async fn an_exchange_that_asks_for_nbr_hears_invalid_request() {
    let server = TestServer::start(true, |c| {
        c.exchanges.push(ExchangeConfig {
            name: "strict".into(),
            seat: None,
            currency: Currency::USD,
            sends_burl: true,
            nbr_on_no_bid: true,
            allowed_sources: AllowList::default(),
            max_imps: 20,
            bids_per_campaign: 1,
            sends_loss: true,
            notice_window_secs: 600,
        })
    })
    .await;
    for file in [
        "16-nothing-servable.json",
        "01-native10-layout-without-assets.json",
    ] {
        let reply = server
            .request(
                Method::POST,
                "/openrtb2/bid/strict",
                &[("content-type", "application/json")],
                fixture(&format!("liberal/{file}")),
            )
            .await;
        assert_eq!(reply.status, 200, "{file}");
        let answer = reply.json();
        assert_eq!(answer["nbr"], 2, "{file}: {answer}");
        assert!(answer.get("seatbid").is_none(), "{file}: {answer}");
    }
    // A block list as one comma-separated string is read as the list,
    // and honoured: the demo's only campaign for this slot is IAB17.
    let blocked = |bcat: &str| {
        format!(r#"{{"id":"b","imp":[{{"id":"1","banner":{{"w":300,"h":250}}}}],"bcat":{bcat}}}"#)
    };
    let reply = server
        .request(
            Method::POST,
            "/openrtb2/bid/strict",
            &[],
            blocked(r#""IAB9, IAB17""#),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["nbr"], 0, "{}", reply.json());
    // An unreadable one cannot be honoured: nothing may be bid.
    let reply = server
        .request(
            Method::POST,
            "/openrtb2/bid/strict",
            &[],
            blocked("[9, 17]"),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["nbr"], 2, "{}", reply.json());
    server.stop().await;
}

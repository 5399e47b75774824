//! The simulator against the ceiling server (a fixed 200 JSON answer): every request answered and
//! counted, over keep-alive connections, gzipped bodies included.

use std::sync::Arc;
use std::time::Duration;

use loadtest::send::{self, Mode, Payload, Plan};

/// A closed-loop plan for `url` with `payloads`, no notices, no bound on
/// requests; tests change what they are about.
fn plan(url: String, payloads: Vec<Payload>) -> Plan {
    Plan {
        url: url.parse().unwrap(),
        payloads: Arc::new(payloads),
        connections: 4,
        duration: Duration::from_millis(300),
        mode: Mode::Closed,
        max_requests: None,
        closing: None,
        seed: 1,
        progress: false,
        give_up: false,
        busy_poll: false,
    }
}

#[tokio::test]
async fn replay_against_the_ceiling_counts_every_answer_as_200() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(loadtest::ceiling::serve(listener));
    let payloads = vec![
        Payload::new(
            br#"{"id":"a","imp":[{"id":"1","banner":{"w":300,"h":250}}]}"#,
            false,
        ),
        Payload::new(
            br#"{"id":"b","imp":[{"id":"1","banner":{"w":728,"h":90}}]}"#,
            true,
        ),
    ];
    let report = send::run(plan(format!("http://{addr}/openrtb2/bid"), payloads))
        .await
        .unwrap();
    assert!(report.answered() > 0, "{report}");
    assert_eq!(
        report.statuses.keys().copied().collect::<Vec<_>>(),
        [200],
        "{report}"
    );
    assert_eq!(report.latency_us.len(), report.answered());
    assert!(report.latency(0.99) >= report.latency(0.5));
}

#[test]
fn gzip_payload_inflates_back_to_the_request() {
    use std::io::Read;
    let json = br#"{"id":"x"}"#;
    let p = Payload::new(json, true);
    assert!(p.gzip);
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&p.body[..])
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, json);
}

#[tokio::test]
async fn open_loop_sends_at_the_requested_rate() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(loadtest::ceiling::serve(listener));
    let report = send::run(Plan {
        duration: Duration::from_secs(1),
        mode: Mode::Open { rate: 400 },
        ..plan(
            format!("http://{addr}/openrtb2/bid"),
            vec![Payload::new(br#"{"id":"a","tmax":500}"#, false)],
        )
    })
    .await
    .unwrap();
    // 400/s for one second, whatever the server could do beyond that.
    let n = report.answered();
    assert!((380..=400).contains(&n), "{report}");
    assert_eq!(report.late, 0, "{report}");
    assert_eq!(report.to_json()["answered"], n);
}

#[tokio::test]
async fn only_loopback_targets_are_accepted() {
    let err = send::run(Plan {
        connections: 1,
        duration: Duration::from_millis(10),
        ..plan(
            "http://192.0.2.1:8080/openrtb2/bid".to_string(),
            vec![Payload::new(b"{}", false)],
        )
    })
    .await
    .err()
    .expect("refused");
    assert!(err.to_string().contains("loopback"), "{err}");
}

#[test]
fn payload_reads_tmax_from_the_request() {
    let p = Payload::new(br#"{"id":"x","tmax":120}"#, false);
    assert_eq!(p.tmax, Some(Duration::from_millis(120)));
}

#[tokio::test]
async fn a_request_bound_stops_the_run_at_that_count() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(loadtest::ceiling::serve(listener));
    let report = send::run(Plan {
        connections: 8,
        duration: Duration::from_secs(30),
        max_requests: Some(1_000),
        ..plan(
            format!("http://{addr}/openrtb2/bid"),
            vec![Payload::new(br#"{"id":"a"}"#, false)],
        )
    })
    .await
    .unwrap();
    assert_eq!(report.answered(), 1_000, "{report}");
    assert!(report.elapsed < Duration::from_secs(30));
}

/// A server that answers `{}` `delay_of(body)` after each request, on a
/// thread of its own: on the test's thread, its work would keep the
/// generator's runtime from ever sleeping.
fn delaying_server(delay_of: fn(&[u8]) -> Duration) -> std::net::SocketAddr {
    use http_body_util::{BodyExt, Full};
    use hyper::service::service_fn;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let service = service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| async move {
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            tokio::time::sleep(delay_of(&body)).await;
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                                bytes::Bytes::from_static(b"{}"),
                            )))
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        })
    });
    rx.recv().unwrap()
}

#[tokio::test]
async fn giving_up_keeps_late_requests_at_the_exchange_instead_of_sending_them_late() {
    let addr = delaying_server(|_| Duration::from_millis(30));
    // One connection, a request due every 10 ms, answers take 30 ms, tmax
    // 80 ms: two of every three requests find no free connection in time.
    // Sent anyway, the queue makes every later answer late; given up, those
    // sent are sent within 40 ms of their due time and answered in 80.
    let run = |give_up| {
        send::run(Plan {
            connections: 1,
            duration: Duration::from_millis(600),
            mode: Mode::Open { rate: 100 },
            give_up,
            ..plan(
                format!("http://{addr}/openrtb2/bid"),
                vec![Payload::new(br#"{"id":"a","tmax":80}"#, false)],
            )
        })
    };
    let patient = run(false).await.unwrap();
    assert!(patient.late > patient.answered() / 2, "{patient}");
    assert_eq!(patient.given_up, 0);

    let exchange = run(true).await.unwrap();
    assert_eq!(exchange.late, 0, "{exchange}");
    assert!(exchange.given_up >= 25, "{exchange}");
    assert!(exchange.answered() >= 15, "{exchange}");
    assert_eq!(exchange.to_json()["given_up"], exchange.given_up);
}

#[tokio::test]
async fn open_loop_sends_a_due_request_on_any_free_connection() {
    // Every tenth request takes 60 ms, the rest are answered at once; one
    // is due every 10 ms over two connections. An exchange sends a due
    // request on whichever connection is free, so only the slow ones take
    // long. Were each connection to keep its own share of the schedule
    // (every other due time), the next request on a slow one's connection
    // would wait for it, 40 ms after it was due, and miss its 25 ms tmax
    // (10 of the 100 did), though the other connection sat idle.
    let addr = delaying_server(|body| {
        if body.starts_with(b"{\"id\":\"slow\"") {
            Duration::from_millis(60)
        } else {
            Duration::ZERO
        }
    });
    let mut payloads = vec![Payload::new(br#"{"id":"slow","tmax":500}"#, false)];
    payloads.extend((0..9).map(|_| Payload::new(br#"{"id":"fast","tmax":25}"#, false)));
    let report = send::run(Plan {
        connections: 2,
        duration: Duration::from_millis(1_000),
        mode: Mode::Open { rate: 100 },
        ..plan(format!("http://{addr}/openrtb2/bid"), payloads)
    })
    .await
    .unwrap();
    assert!(report.answered() >= 95, "{report}");
    assert_eq!(report.late, 0, "{report}");
    // The slow tenth is still measured as slow.
    assert!(report.latency(0.95) >= 60_000, "{report}");
}

/// Times the calling thread has slept waiting for something (voluntary
/// context switches).
fn sleeps_of_this_thread() -> i64 {
    // SAFETY: getrusage writes only the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) },
        0
    );
    usage.ru_nvcsw
}

#[tokio::test(flavor = "current_thread")]
async fn a_busy_polling_generator_never_sleeps_while_the_run_lasts() {
    // A millisecond per answer: long enough that a generator waiting for
    // it goes to sleep.
    let addr = delaying_server(|_| Duration::from_millis(1));
    let run = |busy_poll| {
        send::run(Plan {
            connections: 1,
            duration: Duration::from_secs(30),
            max_requests: Some(200),
            busy_poll,
            ..plan(
                format!("http://{addr}/openrtb2/bid"),
                vec![Payload::new(br#"{"id":"a"}"#, false)],
            )
        })
    };

    // One connection, closed loop: a sleeping generator sleeps on every
    // answer it waits for.
    let before = sleeps_of_this_thread();
    assert_eq!(run(false).await.unwrap().answered(), 200);
    let sleeping = sleeps_of_this_thread() - before;
    assert!(sleeping >= 150, "{sleeping} sleeps in 200 answers");

    let before = sleeps_of_this_thread();
    assert_eq!(run(true).await.unwrap().answered(), 200);
    let busy = sleeps_of_this_thread() - before;
    assert!(busy < 10, "{busy} sleeps in 200 answers while busy polling");

    // And the polling stops with the run.
    let before = sleeps_of_this_thread();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(sleeps_of_this_thread() > before, "the thread sleeps again");
}

#[tokio::test]
async fn the_parsing_ceiling_answers_requests_that_parse_and_refuses_the_rest() {
    use loadtest::ceiling::{ANSWER, Work};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = bytes::Bytes::from_static(ANSWER.as_bytes());
    tokio::spawn(loadtest::ceiling::serve_answer(
        listener,
        answer,
        Work::Parse,
    ));
    let url = format!("http://{addr}/openrtb2/bid");
    let typical = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/typical/banner-audience-hit.json"
    ))
    .unwrap();
    let statuses =
        |report: &loadtest::report::Report| report.statuses.keys().copied().collect::<Vec<_>>();

    let valid = vec![Payload::new(&typical, false), Payload::new(&typical, true)];
    let report = send::run(plan(url.clone(), valid)).await.unwrap();
    assert!(report.answered() > 0, "{report}");
    assert_eq!(statuses(&report), [200], "{report}");

    // Valid JSON, but no OpenRTB request: `imp` must be an array.
    let invalid = vec![Payload::new(br#"{"id":"a","imp":{}}"#, false)];
    let report = send::run(plan(url, invalid)).await.unwrap();
    assert!(report.answered() > 0, "{report}");
    assert_eq!(statuses(&report), [400], "{report}");
}

#[tokio::test]
async fn a_pool_of_targets_shares_the_connections_and_closes_the_loop_across_them() {
    // `bids` answers every request with a bid (and a win URL); `quiet`
    // answers without one.
    let bids = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let quiet = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (bids_url, quiet_url) = (
        format!("http://{}/openrtb2/bid", bids.local_addr().unwrap()),
        format!("http://{}/openrtb2/bid", quiet.local_addr().unwrap()),
    );
    tokio::spawn(loadtest::ceiling::serve(bids));
    tokio::spawn(loadtest::ceiling::serve_answer(
        quiet,
        bytes::Bytes::from_static(b"{}"),
        loadtest::ceiling::Work::Read,
    ));
    let payloads = vec![Payload::new(
        br#"{"id":"a","imp":[{"id":"1","banner":{"w":300,"h":250}}]}"#,
        false,
    )];
    let mut plan = plan(bids_url.clone(), payloads);
    plan.closing = Some(loadtest::notices::Closing {
        share: 1.0,
        win_rate: 1.0,
        click_rate: 0.0,
    });
    let pool = send::run_pool(plan, &[quiet_url.parse().unwrap()])
        .await
        .unwrap();
    let [(first, at_bids), (second, at_quiet)] = &pool.targets[..] else {
        panic!("two targets");
    };
    assert_eq!((first, second), (&bids_url, &quiet_url));
    // Both get requests; the total is their sum.
    assert!(at_bids.answered() > 0 && at_quiet.answered() > 0);
    assert_eq!(
        pool.total.answered(),
        at_bids.answered() + at_quiet.answered()
    );
    // The bids of the first are noticed at the second, and the second,
    // never bidding, sends nothing to the first.
    assert_eq!(at_bids.notices.answered(), 0, "{at_bids}");
    assert!(at_quiet.notices.answered() > 0, "{at_quiet}");
    assert_eq!(pool.total.notices.answered(), at_quiet.notices.answered());
}

//! The simulator against the ceiling server (a fixed 200 JSON answer): every request answered and
//! counted, over keep-alive connections, gzipped bodies included.

use std::sync::Arc;
use std::time::Duration;

use loadtest::replay::{self, Payload, Plan};

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
    let report = replay::run(Plan {
        url: format!("http://{addr}/openrtb2/bid").parse().unwrap(),
        payloads: Arc::new(payloads),
        connections: 4,
        duration: Duration::from_millis(300),
    })
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

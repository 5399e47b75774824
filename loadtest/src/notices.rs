//! Closing the loop as an exchange and a browser would: for a share of the
//! bids answered, the win notice with `${AUCTION_PRICE}` filled in, then the
//! billing notice, the impression pixel and sometimes a click; the other
//! followed-up bids get their loss notice. Budgets, frequency caps, funnel
//! moves and creative learning are therefore under load too.
//!
//! Notices go out on their own connections, fed through bounded channels,
//! so they never delay the next bid request; when the channels are full a
//! follow-up is dropped and counted, never waited for.

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// What share of bids is followed up, and how.
#[derive(Clone, Copy, Debug)]
pub struct Closing {
    /// Share of bids that get notices at all (parsing answers costs the
    /// generator CPU, so saturation runs can follow up only some).
    pub share: f64,
    /// Of those, the share won (win, bill, impression); the rest lose.
    pub win_rate: f64,
    /// Of impressions, the share clicked.
    pub click_rate: f64,
}

/// The kinds of notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `nurl`.
    Win,
    /// `burl`.
    Bill,
    /// `lurl`.
    Loss,
    /// The impression pixel in the markup.
    Imp,
    /// The click tracker in the markup.
    Click,
}

impl Kind {
    /// Lower-case name, for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Win => "win",
            Kind::Bill => "bill",
            Kind::Loss => "loss",
            Kind::Imp => "imp",
            Kind::Click => "click",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One notice to send: a GET of `path` (path and query, macros filled).
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    /// What it is.
    pub kind: Kind,
    /// Path and query on the bidder.
    pub path: String,
    /// For billing notices: what the exchange charges.
    pub charge: Option<Charge>,
}

/// What an exchange charges for one impression.
#[derive(Clone, Debug, PartialEq)]
pub struct Charge {
    /// The campaign, `bid.cid`.
    pub campaign: String,
    /// The answer's currency.
    pub currency: String,
    /// The clearing CPM / 1000 in micros, rounded up as the bidder books it.
    pub micros: u64,
}

/// The notices for the bids of one answer, in the order an exchange and a
/// browser would send them.
pub fn follow_up(body: &[u8], closing: &Closing, rng: &mut StdRng) -> Vec<Notice> {
    let mut out = Vec::new();
    let Ok(resp) = serde_json::from_slice::<Value>(body) else {
        return out;
    };
    let auction = resp["id"].as_str().unwrap_or_default();
    let cur = resp["cur"].as_str().unwrap_or("USD");
    let bids = resp["seatbid"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["bid"].as_array().into_iter().flatten());
    for bid in bids {
        if !rng.gen_bool(closing.share) {
            continue;
        }
        let price = bid["price"].as_f64().unwrap_or(0.0);
        let imp = bid["impid"].as_str().unwrap_or_default();
        let won = rng.gen_bool(closing.win_rate);
        // Second-price-like: the clearing price is somewhat below the bid
        // when won, above it when lost.
        let clearing = if won {
            price * rng.gen_range(0.5..=1.0)
        } else {
            price * rng.gen_range(1.01..=1.5)
        };
        let clearing = format!("{clearing:.4}");
        let fill = |url: &str, loss: &str| -> String {
            path_of(url)
                .replace("${AUCTION_PRICE}", &clearing)
                .replace("${AUCTION_ID}", auction)
                .replace("${AUCTION_IMP_ID}", imp)
                .replace("${AUCTION_CURRENCY}", cur)
                .replace("${AUCTION_LOSS}", loss)
        };
        if !won {
            if let Some(lurl) = bid["lurl"].as_str() {
                out.push(Notice {
                    kind: Kind::Loss,
                    // 102: lost to a higher bid.
                    path: fill(lurl, "102"),
                    charge: None,
                });
            }
            continue;
        }
        if let Some(nurl) = bid["nurl"].as_str() {
            out.push(Notice {
                kind: Kind::Win,
                path: fill(nurl, "0"),
                charge: None,
            });
        }
        if let Some(burl) = bid["burl"].as_str() {
            let cpm_micros = (clearing.parse::<f64>().unwrap_or(0.0) * 1e6).round() as u64;
            out.push(Notice {
                kind: Kind::Bill,
                path: fill(burl, "0"),
                charge: Some(Charge {
                    campaign: bid["cid"].as_str().unwrap_or_default().to_string(),
                    currency: cur.to_string(),
                    micros: cpm_micros.div_ceil(1000),
                }),
            });
        }
        let adm = bid["adm"].as_str().unwrap_or_default();
        if let Some(pixel) = tracker(adm, "/events/imp?") {
            out.push(Notice {
                kind: Kind::Imp,
                path: fill(&pixel, "0"),
                charge: None,
            });
            // A person's click (HTML, native) or a video player's ping.
            if rng.gen_bool(closing.click_rate)
                && let Some(click) =
                    tracker(adm, "/events/click?").or_else(|| tracker(adm, "/events/clicktrack?"))
            {
                out.push(Notice {
                    kind: Kind::Click,
                    path: fill(&click, "0"),
                    charge: None,
                });
            }
        }
    }
    out
}

/// The path and query of an absolute URL (notices always go to the
/// load test's own target, which is loopback).
fn path_of(url: &str) -> &str {
    match url.find("://") {
        Some(i) => url[i + 3..].find('/').map_or("/", |j| &url[i + 3 + j..]),
        None => url,
    }
}

/// The first URL in creative markup (HTML, VAST or a native response) whose
/// path starts with `needle`, with HTML's `&amp;` undone.
fn tracker(adm: &str, needle: &str) -> Option<String> {
    let at = adm.find(needle)?;
    let start = adm[..at].rfind("http")?;
    let end = adm[at..]
        .find(|c: char| matches!(c, '"' | '\'' | '<' | ']' | '\\') || c.is_whitespace())
        .map_or(adm.len(), |e| at + e);
    Some(adm[start..end].replace("&amp;", "&"))
}

/// What the notice senders saw.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Answers by kind and HTTP status.
    pub statuses: BTreeMap<(Kind, u16), u64>,
    /// Notices that got no answer, by kind.
    pub errors: BTreeMap<Kind, u64>,
    /// Follow-ups dropped because every channel was full.
    pub dropped: u64,
    /// Charges of billing notices the bidder answered with 2xx, micros by
    /// campaign id and currency.
    pub charged: BTreeMap<(String, String), u64>,
}

impl Tally {
    /// Adds `other` to this tally.
    pub fn merge(&mut self, other: Tally) {
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        for (k, v) in other.charged {
            *self.charged.entry(k).or_default() += v;
        }
        self.dropped += other.dropped;
    }

    /// Notices answered, of every kind.
    pub fn answered(&self) -> u64 {
        self.statuses.values().sum()
    }
}

/// Senders of notices: `connections` tasks, each with its own keep-alive
/// connection and bounded queue.
pub struct Notifier {
    queues: Vec<mpsc::Sender<Vec<Notice>>>,
    tasks: Vec<tokio::task::JoinHandle<Tally>>,
}

impl Notifier {
    /// Starts `connections` senders to `addr` (`host:port`), each queueing
    /// up to `depth` follow-ups.
    pub fn start(addr: &str, connections: usize, depth: usize) -> Notifier {
        let mut queues = Vec::new();
        let mut tasks = Vec::new();
        for _ in 0..connections.max(1) {
            let (tx, rx) = mpsc::channel(depth.max(1));
            queues.push(tx);
            tasks.push(tokio::spawn(send_all(addr.to_string(), rx)));
        }
        Notifier { queues, tasks }
    }

    /// A handle for one bid connection to queue follow-ups through.
    pub fn handle(&self) -> NotifierHandle {
        NotifierHandle {
            queues: self.queues.clone(),
            next: 0,
            dropped: 0,
        }
    }

    /// Waits until every queued notice was sent and returns what the
    /// senders saw. Call it once every handle is dropped: a sender stops
    /// when its queue has no handle left.
    pub async fn finish(self) -> Tally {
        drop(self.queues);
        let mut tally = Tally::default();
        for t in self.tasks {
            if let Ok(t) = t.await {
                tally.merge(t);
            }
        }
        tally
    }
}

/// A bid connection's way into the notice queues.
pub struct NotifierHandle {
    queues: Vec<mpsc::Sender<Vec<Notice>>>,
    next: usize,
    /// Follow-ups dropped through this handle.
    pub dropped: u64,
}

impl NotifierHandle {
    /// Queues `notices` without waiting; drops them (counted) when every
    /// queue is full.
    pub fn send(&mut self, notices: Vec<Notice>) {
        if notices.is_empty() {
            return;
        }
        let mut notices = notices;
        for _ in 0..self.queues.len() {
            self.next = (self.next + 1) % self.queues.len();
            match self.queues[self.next].try_send(notices) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(back))
                | Err(mpsc::error::TrySendError::Closed(back)) => notices = back,
            }
        }
        self.dropped += 1;
    }
}

/// One sender: GETs every queued notice on one keep-alive connection.
async fn send_all(addr: String, mut rx: mpsc::Receiver<Vec<Notice>>) -> Tally {
    let mut tally = Tally::default();
    let mut sender = None;
    while let Some(batch) = rx.recv().await {
        for notice in batch {
            if sender.is_none() {
                sender = connect(&addr).await;
            }
            let Some(s) = sender.as_mut() else {
                *tally.errors.entry(notice.kind).or_default() += 1;
                continue;
            };
            let req = match Request::get(notice.path.as_str())
                .header("host", addr.as_str())
                .body(Empty::<Bytes>::new())
            {
                Ok(r) => r,
                Err(_) => {
                    *tally.errors.entry(notice.kind).or_default() += 1;
                    continue;
                }
            };
            let status = match s.send_request(req).await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    resp.into_body().collect().await.ok().map(|_| status)
                }
                Err(_) => None,
            };
            match status {
                Some(status) => {
                    *tally.statuses.entry((notice.kind, status)).or_default() += 1;
                    if let (Some(c), true) = (notice.charge, status < 300) {
                        *tally.charged.entry((c.campaign, c.currency)).or_default() += c.micros;
                    }
                }
                None => {
                    *tally.errors.entry(notice.kind).or_default() += 1;
                    sender = None;
                }
            }
        }
    }
    tally
}

async fn connect(addr: &str) -> Option<hyper::client::conn::http1::SendRequest<Empty<Bytes>>> {
    let stream = TcpStream::connect(addr).await.ok()?;
    stream.set_nodelay(true).ok()?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    Some(sender)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const ANSWER: &str = r#"{"id":"req-1","cur":"USD","seatbid":[{"bid":[{"id":"b1","impid":"2","price":2.5,"cid":"7",
        "nurl":"http://127.0.0.1:8080/events/win?auction=${AUCTION_ID}&imp=${AUCTION_IMP_ID}&price=${AUCTION_PRICE}&cur=${AUCTION_CURRENCY}&t=abc",
        "burl":"http://127.0.0.1:8080/events/bill?price=${AUCTION_PRICE}&t=abc",
        "lurl":"http://127.0.0.1:8080/events/loss?price=${AUCTION_PRICE}&loss=${AUCTION_LOSS}&t=abc",
        "adm":"<a href=\"http://127.0.0.1:8080/events/click?bid=b1&amp;t=abc\"><img></a><img src=\"http://127.0.0.1:8080/events/imp?bid=b1&amp;t=abc\">"}]}]}"#;

    /// The filled-in `price=` of a notice path.
    fn price_in(path: &str) -> f64 {
        let after = path.split("price=").nth(1).unwrap();
        after.split('&').next().unwrap().parse().unwrap()
    }

    fn closing(win_rate: f64, click_rate: f64) -> Closing {
        Closing {
            share: 1.0,
            win_rate,
            click_rate,
        }
    }

    #[test]
    fn a_won_bid_gets_win_bill_imp_and_click_with_macros_filled() {
        let mut rng = StdRng::seed_from_u64(1);
        let n = follow_up(ANSWER.as_bytes(), &closing(1.0, 1.0), &mut rng);
        let kinds: Vec<Kind> = n.iter().map(|n| n.kind).collect();
        assert_eq!(kinds, [Kind::Win, Kind::Bill, Kind::Imp, Kind::Click]);
        assert!(
            n[0].path
                .starts_with("/events/win?auction=req-1&imp=2&price="),
            "{}",
            n[0].path
        );
        assert!(n[0].path.ends_with("&cur=USD&t=abc"), "{}", n[0].path);
        let price = price_in(&n[0].path);
        assert!((1.25..=2.5).contains(&price), "{price}");
        // The bill charges the same clearing price, per impression, rounded up.
        let charge = n[1].charge.clone().unwrap();
        assert_eq!(
            (charge.campaign.as_str(), charge.currency.as_str()),
            ("7", "USD")
        );
        assert_eq!(charge.micros, ((price * 1e6).round() as u64).div_ceil(1000));
        assert_eq!(n[2].path, "/events/imp?bid=b1&t=abc");
        assert_eq!(n[3].path, "/events/click?bid=b1&t=abc");
        assert!(n.iter().all(|n| !n.path.contains("${")));
    }

    #[test]
    fn a_video_players_click_is_its_click_tracking_ping() {
        let vast = r#"<VAST><Impression><![CDATA[http://h/events/imp?t=abc]]></Impression><VideoClicks><ClickTracking><![CDATA[http://h/events/clicktrack?cid=7&t=abc]]></ClickTracking></VideoClicks></VAST>"#;
        let answer = ANSWER.replace(
            &ANSWER[ANSWER.find(r#""adm":"#).unwrap()..ANSWER.rfind("}]}]}").unwrap()],
            &format!(r#""adm":{}"#, serde_json::to_string(vast).unwrap()),
        );
        let mut rng = StdRng::seed_from_u64(1);
        let n = follow_up(answer.as_bytes(), &closing(1.0, 1.0), &mut rng);
        assert_eq!(n.last().unwrap().kind, Kind::Click);
        assert_eq!(n.last().unwrap().path, "/events/clicktrack?cid=7&t=abc");
    }

    #[test]
    fn a_lost_bid_gets_only_its_loss_notice_above_the_bid() {
        let mut rng = StdRng::seed_from_u64(1);
        let n = follow_up(ANSWER.as_bytes(), &closing(0.0, 1.0), &mut rng);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].kind, Kind::Loss);
        assert!(n[0].path.ends_with("&loss=102&t=abc"), "{}", n[0].path);
        let price = price_in(&n[0].path);
        assert!(price > 2.5, "{price}");
    }

    #[test]
    fn no_share_no_notices_and_a_no_bid_body_gives_none() {
        let mut rng = StdRng::seed_from_u64(1);
        let none = Closing {
            share: 0.0,
            ..closing(1.0, 1.0)
        };
        assert!(follow_up(ANSWER.as_bytes(), &none, &mut rng).is_empty());
        assert!(follow_up(b"", &closing(1.0, 1.0), &mut rng).is_empty());
    }

    #[test]
    fn trackers_are_found_in_vast_and_native_markup() {
        let vast = "<Impression><![CDATA[http://h/events/imp?t=1&b=2]]></Impression>\
            <VideoClicks><ClickTracking><![CDATA[http://h/events/clicktrack?t=1]]></ClickTracking>";
        assert_eq!(
            tracker(vast, "/events/imp?").unwrap(),
            "http://h/events/imp?t=1&b=2"
        );
        assert_eq!(tracker(vast, "/events/click?"), None);
        assert_eq!(
            tracker(vast, "/events/clicktrack?").unwrap(),
            "http://h/events/clicktrack?t=1"
        );
        let native = r#"{"native":{"link":{"url":"http://h/events/click?t=9"},"imptrackers":["http://h/events/imp?t=9"]}}"#;
        assert_eq!(
            tracker(native, "/events/click?").unwrap(),
            "http://h/events/click?t=9"
        );
        assert_eq!(path_of("http://h:1/events/imp?t=9"), "/events/imp?t=9");
    }
}

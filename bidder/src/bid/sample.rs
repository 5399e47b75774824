//! A small sample of recent bid requests with the personal data taken
//! out, for the explain page to start from.
//!
//! The bid path only offers each request ([`Samples::offer`]): one relaxed
//! load and a compare with the second the next sample may be taken. At
//! most one request a second is taken; its bytes are copied whole into
//! the inbox, a single lock-free slot. The cold path ([`Samples::drain`],
//! on the one-second chore and before every read) takes them out, strips
//! them ([`strip`]) and keeps the last [`KEPT`] in a ring. So raw bytes
//! live at most until the next drain (about a second), only in the inbox;
//! the ring and every reader see stripped requests only.
//!
//! Never on the bid path: parsing, stripping, formatting, the ring's
//! lock. Never keeps a request it could not strip.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwapOption;
use serde_json::{Map, Value};

use crate::model::UnixTime;

/// Stripped requests kept; the oldest goes when another comes.
pub const KEPT: usize = 20;

/// Requests larger than this are not taken: the console's form, which a
/// sample is posted back through, takes 96 KiB percent-encoded.
pub const MAX_BYTES: usize = 24 * 1024;

/// What is taken out of a request before it is kept, as documented in
/// docs/CONSOLE.md ("Recent requests"). `ext` objects go everywhere.
pub const REMOVED: &[&str] = &[
    "user (all but its geo)",
    "user.geo.lat",
    "user.geo.lon",
    "device.ip",
    "device.ipv6",
    "device.ifa",
    "device.didsha1",
    "device.didmd5",
    "device.dpidsha1",
    "device.dpidmd5",
    "device.macsha1",
    "device.macmd5",
    "device.geo.lat",
    "device.geo.lon",
    "regs.us_privacy",
    "regs.gpp",
    "every ext (regs.ext keeps its gdpr flag)",
    "the query and fragment of site.page and site.ref",
];

/// Device fields that identify a device or a person.
const DEVICE_IDS: [&str; 10] = [
    "ip", "ipv6", "ifa", "didsha1", "didmd5", "dpidsha1", "dpidmd5", "macsha1", "macmd5", "ext",
];

/// A request as the bid path handed it over.
struct Raw {
    at: UnixTime,
    exchange: usize,
    body: Box<[u8]>,
}

/// A recent request, stripped.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Its number, unique for the life of the process.
    pub seq: u64,
    /// When the bid path took it.
    pub at: UnixTime,
    /// The exchange that sent it, by its position in the configuration.
    pub exchange: usize,
    /// Its site's domain or app's bundle and its first impression's
    /// formats, for people picking one.
    pub summary: String,
    /// The request without its personal data, as indented JSON.
    pub body: String,
}

/// The recent requests of one instance. See the module documentation.
#[derive(Default)]
pub struct Samples {
    /// The first second a request may be taken again.
    next: AtomicI64,
    /// The request taken and not yet stripped.
    inbox: ArcSwapOption<Raw>,
    /// The last [`KEPT`], oldest first (cold path only).
    kept: Mutex<VecDeque<Arc<Sample>>>,
    /// The number of the next sample.
    seq: AtomicU64,
}

impl std::fmt::Debug for Samples {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Samples")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl Samples {
    /// An empty sample that takes the first request offered.
    pub fn new() -> Samples {
        Samples::default()
    }

    /// The bid path's part: takes `body`, sent by the exchange at
    /// `exchange`, when no request was taken in this second `now`. A
    /// relaxed load and a branch for every request but the one taken.
    #[inline]
    pub fn offer(&self, now: UnixTime, exchange: usize, body: &[u8]) {
        if now.0 >= self.next.load(Ordering::Relaxed) {
            self.take(now, exchange, body);
        }
    }

    /// Copies `body` into the inbox, once per second whatever the threads
    /// racing for it. Still the bid path: no lock, no parsing.
    #[cold]
    #[inline(never)]
    fn take(&self, now: UnixTime, exchange: usize, body: &[u8]) {
        let next = self.next.load(Ordering::Relaxed);
        if now.0 < next
            || self
                .next
                .compare_exchange(next, now.0 + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
            || body.len() > MAX_BYTES
        {
            return;
        }
        self.inbox.store(Some(Arc::new(Raw {
            at: now,
            exchange,
            body: body.into(),
        })));
    }

    /// The cold path's part: strips the request in the inbox, if any, and
    /// keeps it. A request that is not a JSON object is dropped.
    pub fn drain(&self) {
        let Some(raw) = self.inbox.swap(None) else {
            return;
        };
        let Some((body, summary)) = strip(&raw.body) else {
            return;
        };
        let sample = Sample {
            seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
            at: raw.at,
            exchange: raw.exchange,
            summary,
            body,
        };
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() == KEPT {
            kept.pop_front();
        }
        kept.push_back(Arc::new(sample));
    }

    /// The kept requests, newest first (after draining the inbox).
    pub fn recent(&self) -> Vec<Arc<Sample>> {
        self.drain();
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.iter().rev().cloned().collect()
    }
}

/// `body` without its personal data (see [`REMOVED`]), as indented JSON,
/// and a one-line summary; `None` when it is not a JSON object.
pub fn strip(body: &[u8]) -> Option<(String, String)> {
    let Value::Object(mut req) = serde_json::from_slice::<Value>(body).ok()? else {
        return None;
    };
    drop_ext(&mut req);
    if let Some(Value::Object(user)) = req.get_mut("user") {
        let geo = user.remove("geo");
        user.clear();
        if let Some(mut geo) = geo {
            without_position(&mut geo);
            user.insert("geo".into(), geo);
        }
    }
    if let Some(Value::Object(device)) = req.get_mut("device") {
        for key in DEVICE_IDS {
            device.remove(key);
        }
        if let Some(geo) = device.get_mut("geo") {
            without_position(geo);
        }
    }
    if let Some(Value::Object(regs)) = req.get_mut("regs") {
        regs.remove("us_privacy");
        regs.remove("gpp");
        if let Some(gdpr) = regs.get("ext").and_then(|e| e.get("gdpr")).cloned() {
            regs.insert(
                "ext".into(),
                Value::Object(Map::from_iter([("gdpr".into(), gdpr)])),
            );
        } else {
            regs.remove("ext");
        }
    }
    if let Some(Value::Object(site)) = req.get_mut("site") {
        for key in ["page", "ref"] {
            if let Some(Value::String(url)) = site.get_mut(key) {
                let end = url.find(['?', '#']).unwrap_or(url.len());
                url.truncate(end);
            }
        }
    }
    let summary = summary(&req);
    let body = serde_json::to_string_pretty(&Value::Object(req)).ok()?;
    Some((body, summary))
}

/// Removes every `ext` in `v`, at any depth, but `regs.ext` (which
/// [`strip`] filters itself).
fn drop_ext(req: &mut Map<String, Value>) {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.remove("ext");
                m.values_mut().for_each(walk);
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    req.remove("ext");
    for (key, v) in req.iter_mut() {
        if key == "regs" {
            if let Value::Object(regs) = v {
                regs.iter_mut()
                    .filter(|(k, _)| *k != "ext")
                    .for_each(|(_, v)| walk(v));
            }
        } else {
            walk(v);
        }
    }
}

fn without_position(geo: &mut Value) {
    if let Value::Object(g) = geo {
        g.remove("lat");
        g.remove("lon");
    }
}

/// `news.example · 1 imp: banner 300x250`.
fn summary(req: &Map<String, Value>) -> String {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let publisher = text(req.get("site").and_then(|s| s.get("domain")))
        .or_else(|| text(req.get("app").and_then(|a| a.get("bundle"))))
        .or_else(|| text(req.get("site").and_then(|s| s.get("page"))))
        .unwrap_or_else(|| "no site or app".into());
    let imps = req.get("imp").and_then(Value::as_array);
    let n = imps.map_or(0, Vec::len);
    let mut formats = Vec::new();
    if let Some(imp) = imps.and_then(|i| i.first()) {
        if let Some(b) = imp.get("banner") {
            let size = |v: &Value| Some((v.get("w")?.as_u64()?, v.get("h")?.as_u64()?));
            match size(b).or_else(|| b.get("format")?.as_array()?.first().and_then(size)) {
                Some((w, h)) => formats.push(format!("banner {w}x{h}")),
                None => formats.push("banner".into()),
            }
        }
        for kind in ["native", "video", "audio"] {
            if imp.get(kind).is_some() {
                formats.push(kind.into());
            }
        }
    }
    let imps = if n == 1 { "1 imp" } else { "imps" };
    format!(
        "{publisher} · {}{imps}: {}",
        if n == 1 {
            String::new()
        } else {
            format!("{n} ")
        },
        formats.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"{"id":"r1","imp":[{"id":"1","banner":{"w":300,"h":250},"ext":{"key":"k-imp"}}],
        "site":{"domain":"news.example","page":"https://news.example/a?email=x%40y.example#top","ref":"https://r.example/?q=secret","ext":{"k":"v"}},
        "device":{"ua":"Mozilla/5.0","ip":"203.0.113.7","ipv6":"2001:db8::7","ifa":"ifa-1","didsha1":"d1","didmd5":"d2","dpidsha1":"d3","dpidmd5":"d4","macsha1":"m1","macmd5":"m2",
            "os":"iOS","devicetype":4,"geo":{"country":"USA","region":"CA","lat":37.7,"lon":-122.4},"ext":{"atts":3}},
        "user":{"id":"user-1","buyeruid":"buyer-1","yob":1980,"keywords":"k","consent":"CPconsent","eids":[{"source":"s","uids":[{"id":"eid-1"}]}],
            "geo":{"country":"USA","lat":1.5,"lon":2.5},"ext":{"consent":"CPextconsent"}},
        "regs":{"gdpr":1,"us_privacy":"1YNN","gpp":"DBAgpp","gpp_sid":[2],"ext":{"gdpr":1,"us_privacy":"1YYN","gpp":"g"}},
        "source":{"tid":"t","ext":{"schain":{"nodes":[{"asi":"a.com"}]}}},
        "ext":{"apikey":"secret-key"},"at":1,"tmax":300}"#;

    #[test]
    fn personal_data_keys_and_consent_strings_are_taken_out() {
        let (body, _) = strip(FULL.as_bytes()).unwrap();
        for gone in [
            "user-1",
            "buyer-1",
            "1980",
            "CPconsent",
            "CPextconsent",
            "eid-1",
            "203.0.113.7",
            "2001:db8::7",
            "ifa-1",
            "\"d1\"",
            "\"d2\"",
            "\"d3\"",
            "\"d4\"",
            "\"m1\"",
            "\"m2\"",
            "37.7",
            "122.4",
            "1.5",
            "2.5",
            "1YNN",
            "1YYN",
            "DBAgpp",
            "secret-key",
            "k-imp",
            "email",
            "secret",
            "atts",
        ] {
            assert!(!body.contains(gone), "{gone} is kept:\n{body}");
        }
        let v: Value = serde_json::from_str(&body).unwrap();
        // What the decision reads stays.
        assert_eq!(v["device"]["geo"]["country"], "USA");
        assert_eq!(v["device"]["geo"]["region"], "CA");
        assert_eq!(v["device"]["os"], "iOS");
        assert_eq!(v["device"]["ua"], "Mozilla/5.0");
        assert_eq!(v["user"], serde_json::json!({"geo": {"country": "USA"}}));
        assert_eq!(v["regs"]["gdpr"], 1);
        assert_eq!(v["regs"]["ext"], serde_json::json!({"gdpr": 1}));
        assert_eq!(v["regs"]["gpp_sid"], serde_json::json!([2]));
        assert_eq!(v["site"]["page"], "https://news.example/a");
        assert_eq!(v["site"]["ref"], "https://r.example/");
        assert_eq!(v["imp"][0]["banner"]["w"], 300);
        assert!(v["source"].get("ext").is_none() && v.get("ext").is_none());
        // And the bid path's parser still takes it.
        assert!(openrtb::Parser::new().parse(body.as_bytes()).is_ok());
    }

    #[test]
    fn a_summary_names_the_publisher_and_the_first_slot() {
        let (_, summary) = strip(FULL.as_bytes()).unwrap();
        assert_eq!(summary, "news.example · 1 imp: banner 300x250");
        let app = br#"{"id":"a","imp":[{"id":"1","video":{}},{"id":"2","native":{}}],"app":{"bundle":"com.example"}}"#;
        assert_eq!(strip(app).unwrap().1, "com.example · 2 imps: video");
        assert!(strip(b"[1,2]").is_none());
        assert!(strip(b"{not json").is_none());
    }

    #[test]
    fn at_most_one_request_a_second_is_taken() {
        let s = Samples::new();
        s.offer(UnixTime(100), 0, br#"{"id":"a","imp":[]}"#);
        s.offer(UnixTime(100), 0, br#"{"id":"b","imp":[]}"#);
        s.offer(UnixTime(99), 0, br#"{"id":"c","imp":[]}"#);
        s.offer(UnixTime(101), 1, br#"{"id":"d","imp":[]}"#);
        let recent = s.recent();
        assert_eq!(recent.len(), 1, "the inbox holds the latest taken");
        assert!(recent[0].body.contains("\"d\""));
        assert_eq!((recent[0].at, recent[0].exchange), (UnixTime(101), 1));
        s.offer(UnixTime(101), 0, br#"{"id":"e","imp":[]}"#);
        assert_eq!(s.recent().len(), 1);
        let big = format!(r#"{{"id":"{}","imp":[]}}"#, "x".repeat(MAX_BYTES));
        s.offer(UnixTime(102), 0, big.as_bytes());
        assert_eq!(s.recent().len(), 1, "too large to be posted back");
    }

    #[test]
    fn the_ring_keeps_the_last_ones_newest_first() {
        let s = Samples::new();
        for t in 0..(KEPT as i64 + 5) {
            s.offer(
                UnixTime(t),
                0,
                format!(r#"{{"id":"n{t}","imp":[]}}"#).as_bytes(),
            );
            s.drain();
        }
        let recent = s.recent();
        assert_eq!(recent.len(), KEPT);
        assert!(recent[0].body.contains(&format!("\"n{}\"", KEPT + 4)));
        assert!(recent[KEPT - 1].body.contains("\"n5\""));
        assert_eq!(recent[0].seq, KEPT as u64 + 5);
        assert!(recent.windows(2).all(|w| w[0].seq > w[1].seq));
    }
}

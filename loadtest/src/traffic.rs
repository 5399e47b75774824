//! Generated OpenRTB 2.6 traffic: a seeded generator of bid requests that
//! look like an exchange's mix. Site and app in configurable shares; banner
//! sizes by how common they are, native and video imps, multi-imp requests;
//! countries, device types and OS; a user population with Zipf-like
//! repetition (a few users come back often, most rarely), so audience hits
//! and frequency caps happen as in production; consent as regulations make
//! it (GDPR in Europe with and without TC strings, US privacy strings in
//! the US, some COPPA); floors in USD and EUR; deals.
//!
//! The same seed gives the same requests, so two runs (the ceiling and the
//! bidder, or two commits) send the same traffic. [`crate::seed`] builds a
//! catalog from the same vocabulary (sizes, countries, deals, user ids), so
//! generated requests find campaigns and audience members.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};
use serde_json::{Value, json};

use audiences::consent::tc_writer::CoreSegment;

/// Banner sizes and their weights (roughly their share of display
/// inventory).
pub const SIZES: &[((u32, u32), u32)] = &[
    ((300, 250), 30),
    ((728, 90), 15),
    ((320, 50), 15),
    ((160, 600), 8),
    ((300, 600), 7),
    ((970, 250), 5),
    ((320, 100), 5),
    ((336, 280), 5),
    ((468, 60), 3),
    ((300, 50), 4),
    ((970, 90), 3),
];

/// Countries (ISO 3166-1 alpha-3) and their weights.
pub const COUNTRIES: &[(&str, u32)] = &[
    ("USA", 45),
    ("GBR", 10),
    ("DEU", 10),
    ("FRA", 7),
    ("CAN", 6),
    ("ESP", 4),
    ("ITA", 4),
    ("NLD", 3),
    ("BRA", 4),
    ("JPN", 4),
    ("IND", 3),
];

/// Countries where GDPR applies.
pub const GDPR_COUNTRIES: &[&str] = &["GBR", "DEU", "FRA", "ESP", "ITA", "NLD"];

/// How many deals the generator and the seeded catalog share
/// (`LT-DEAL-0` ..).
pub const DEALS: u32 = 20;

/// How many site domains and app bundles there are.
pub const PUBLISHERS: u32 = 500;

/// The `user.buyeruid` of the user of Zipf rank `rank` (1 is the most
/// frequent).
pub fn buyeruid(rank: u64) -> String {
    format!("lt-u{rank}")
}

/// The traffic mix. Shares are of requests unless said otherwise.
#[derive(Clone, Debug)]
pub struct Mix {
    /// Seed of the generator.
    pub seed: u64,
    /// Size of the user population.
    pub users: u64,
    /// Zipf exponent of how often users come back (1.0: the top user is
    /// twice as frequent as the second).
    pub zipf_exponent: f64,
    /// Requests without any user id.
    pub anonymous: f64,
    /// App (rather than site) requests.
    pub app: f64,
    /// Of imps: native.
    pub native: f64,
    /// Of imps: video.
    pub video: f64,
    /// Requests with two or three imps.
    pub multi_imp: f64,
    /// Requests with a private marketplace deal.
    pub deals: f64,
    /// Imps with a floor.
    pub floors: f64,
    /// Of requests from GDPR countries: with a TC string that gives
    /// `vendor_id` consent (the rest split between a string without it and
    /// no string at all).
    pub gdpr_consent: f64,
    /// Of US requests: a US privacy string that opts out of sale.
    pub usp_opt_out: f64,
    /// Child-directed (COPPA) requests.
    pub coppa: f64,
    /// The bidder's IAB TCF vendor id, for the consenting TC strings.
    pub vendor_id: u16,
}

impl Default for Mix {
    fn default() -> Mix {
        Mix {
            seed: 1,
            users: 2_000_000,
            zipf_exponent: 1.0,
            anonymous: 0.1,
            app: 0.35,
            native: 0.1,
            video: 0.1,
            multi_imp: 0.1,
            deals: 0.08,
            floors: 0.6,
            gdpr_consent: 0.7,
            usp_opt_out: 0.15,
            coppa: 0.01,
            vendor_id: 1234,
        }
    }
}

/// The seeded generator.
pub struct Generator {
    mix: Mix,
    rng: StdRng,
    zipf: Zipf<f64>,
    /// `Created` of the TC strings: fixed, so requests are reproducible.
    consenting_tc: String,
    refusing_tc: String,
    sent: u64,
}

impl Generator {
    /// A generator for `mix`.
    pub fn new(mix: Mix) -> anyhow::Result<Generator> {
        let zipf = Zipf::new(mix.users.max(1), mix.zipf_exponent)
            .map_err(|e| anyhow::anyhow!("zipf: {e}"))?;
        let created = 17_600_000_000; // 2025-10-09
        let tc = |purposes: &[u8], vendors: &[u16]| {
            CoreSegment {
                created,
                last_updated: created,
                purposes_consent: purposes.to_vec(),
                vendor_consents: vendors.to_vec(),
                ..CoreSegment::default()
            }
            .encode()
        };
        let consenting_tc = tc(&[1, 2, 3, 4, 7, 9, 10], &[mix.vendor_id, 755]);
        let refusing_tc = tc(&[1], &[755]);
        Ok(Generator {
            rng: StdRng::seed_from_u64(mix.seed),
            zipf,
            consenting_tc,
            refusing_tc,
            sent: 0,
            mix,
        })
    }

    /// The next request as JSON bytes.
    pub fn next_request(&mut self) -> Vec<u8> {
        let v = self.next_value();
        serde_json::to_vec(&v).unwrap_or_default()
    }

    /// The next request.
    pub fn next_value(&mut self) -> Value {
        self.sent += 1;
        let n = self.sent;
        let country = weighted(&mut self.rng, COUNTRIES);
        let app = self.rng.gen_bool(self.mix.app);
        let device = self.device(app, country);
        let imps = if self.rng.gen_bool(self.mix.multi_imp) {
            self.rng.gen_range(2..=3)
        } else {
            1
        };
        let deal = self
            .rng
            .gen_bool(self.mix.deals)
            .then(|| self.rng.gen_range(0..DEALS));
        let ctv = device["devicetype"] == 3;
        let eur = GDPR_COUNTRIES.contains(&country) && country != "GBR";
        let imp: Vec<Value> = (1..=imps).map(|i| self.imp(i, ctv, eur, deal)).collect();
        let tmax = [100, 120, 150, 200, 250][self.rng.gen_range(0..5)];
        let mut req = json!({
            "id": format!("lt-{}-{n}", self.mix.seed),
            "imp": imp,
            "device": device,
            "at": 1,
            "tmax": tmax,
            "cur": if eur { json!(["EUR", "USD"]) } else { json!(["USD"]) },
            "bcat": ["IAB25", "IAB26"],
            "source": {"tid": format!("tid-{n}")},
        });
        let publisher = self.rng.gen_range(0..PUBLISHERS);
        let cat = ["IAB1", "IAB9", "IAB12", "IAB17", "IAB19"][(publisher % 5) as usize];
        if app {
            req["app"] = json!({
                "id": format!("app-{publisher}"),
                "bundle": format!("com.example.app{publisher}"),
                "storeurl": format!("https://apps.example/app{publisher}"),
                "publisher": {"id": format!("pub-{}", publisher % 50)},
                "cat": [cat],
            });
        } else {
            req["site"] = json!({
                "id": format!("site-{publisher}"),
                "domain": format!("news{publisher}.example"),
                "page": format!("https://news{publisher}.example/article-{}", self.rng.gen_range(0..10_000)),
                "publisher": {"id": format!("pub-{}", publisher % 50)},
                "cat": [cat],
            });
        }
        let mut regs = serde_json::Map::new();
        let mut user = serde_json::Map::new();
        if !self.rng.gen_bool(self.mix.anonymous) {
            let rank = self.zipf.sample(&mut self.rng) as u64;
            user.insert("id".into(), json!(format!("x-{rank}")));
            user.insert("buyeruid".into(), json!(buyeruid(rank)));
        }
        if GDPR_COUNTRIES.contains(&country) {
            regs.insert("gdpr".into(), json!(1));
            let roll: f64 = self.rng.r#gen();
            if roll < self.mix.gdpr_consent {
                user.insert("consent".into(), json!(self.consenting_tc));
            } else if roll < (1.0 + self.mix.gdpr_consent) / 2.0 {
                user.insert("consent".into(), json!(self.refusing_tc));
            }
        } else {
            regs.insert("gdpr".into(), json!(0));
        }
        if country == "USA" {
            let opt_out = self.rng.gen_bool(self.mix.usp_opt_out);
            regs.insert(
                "us_privacy".into(),
                json!(if opt_out { "1YYN" } else { "1YNN" }),
            );
        }
        if self.rng.gen_bool(self.mix.coppa) {
            regs.insert("coppa".into(), json!(1));
        }
        if !user.is_empty() {
            req["user"] = Value::Object(user);
        }
        req["regs"] = Value::Object(regs);
        req
    }

    fn device(&mut self, app: bool, country: &str) -> Value {
        // OpenRTB device types: 2 PC, 3 connected TV, 4 phone, 5 tablet.
        let (devicetype, os, ua) = match (app, self.rng.gen_range(0..100)) {
            (false, 0..60) => (
                2,
                "Windows",
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            ),
            (false, 60..90) | (true, 0..45) => (
                4,
                "Android",
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
            ),
            (true, 45..75) => (
                4,
                "iOS",
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
            ),
            (_, 75..90) | (false, _) => (
                5,
                "iOS",
                "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
            ),
            (true, _) => (3, "Roku", "Roku/DVP-12.5 (12.5.0.4178-46)"),
        };
        let mut device = json!({
            "ua": ua,
            "ip": format!("203.0.{}.{}", self.rng.gen_range(0..=255), self.rng.gen_range(1..=254)),
            "devicetype": devicetype,
            "os": os,
            "geo": {"country": country, "type": 2},
            "language": match country { "DEU" => "de", "FRA" => "fr", "ESP" => "es", "ITA" => "it", "NLD" => "nl", "JPN" => "ja", "BRA" => "pt", _ => "en" },
        });
        if app && os != "Roku" {
            device["ifa"] = json!(format!(
                "{:08x}-0000-4000-8000-{:012x}",
                self.rng.r#gen::<u32>(),
                self.rng.gen_range(0u64..1 << 48)
            ));
        }
        device
    }

    fn imp(&mut self, i: u32, ctv: bool, eur: bool, deal: Option<u32>) -> Value {
        let roll: f64 = self.rng.r#gen();
        let mut imp = if ctv || roll < self.mix.video {
            // Players of today: VAST 2.0 to 4.2, inline and wrapper (the
            // seeded videos are 4.2 documents, served only where listed).
            json!({"video": {
                "mimes": ["video/mp4"],
                "minduration": 5,
                "maxduration": 30,
                "protocols": [2, 3, 5, 6, 7, 8, 11, 12, 13, 14],
                "w": if ctv { 1920 } else { 640 },
                "h": if ctv { 1080 } else { 360 },
                "plcmt": 1,
                "linearity": 1,
            }})
        } else if roll < self.mix.video + self.mix.native {
            let request = json!({
                "ver": "1.2", "context": 2, "plcmttype": 1,
                "assets": [
                    {"id": 1, "required": 1, "title": {"len": 90}},
                    {"id": 2, "required": 1, "img": {"type": 3, "wmin": 600, "hmin": 314}},
                    {"id": 3, "required": 0, "data": {"type": 2, "len": 140}},
                    {"id": 4, "required": 0, "data": {"type": 12, "len": 15}},
                ],
                "eventtrackers": [{"event": 1, "methods": [1]}],
            });
            json!({"native": {"request": request.to_string(), "ver": "1.2"}})
        } else {
            let first = weighted(&mut self.rng, SIZES);
            let mut format = vec![json!({"w": first.0, "h": first.1})];
            if self.rng.gen_bool(0.3) {
                let second = weighted(&mut self.rng, SIZES);
                if second != first {
                    format.push(json!({"w": second.0, "h": second.1}));
                }
            }
            json!({"banner": {"format": format, "pos": self.rng.gen_range(0..=3)}})
        };
        imp["id"] = json!(i.to_string());
        imp["secure"] = json!(1);
        if self.rng.gen_bool(self.mix.floors) {
            let cents = self.rng.gen_range(10..=300);
            imp["bidfloor"] = json!(cents as f64 / 100.0);
            imp["bidfloorcur"] = json!(if eur { "EUR" } else { "USD" });
        }
        if let Some(d) = deal {
            imp["pmp"] = json!({
                "private_auction": 0,
                "deals": [{"id": format!("LT-DEAL-{d}"), "bidfloor": 2.0, "bidfloorcur": "USD", "at": 1}],
            });
        }
        imp
    }
}

/// One of `items` by weight.
pub fn weighted<T: Copy>(rng: &mut StdRng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut pick = rng.gen_range(0..total);
    for &(item, w) in items {
        if pick < w {
            return item;
        }
        pick -= w;
    }
    items[items.len() - 1].0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(mix: Mix, n: usize) -> Vec<Value> {
        let mut g = Generator::new(mix).unwrap();
        (0..n).map(|_| g.next_value()).collect()
    }

    fn share(reqs: &[Value], f: impl Fn(&Value) -> bool) -> f64 {
        reqs.iter().filter(|r| f(r)).count() as f64 / reqs.len() as f64
    }

    #[test]
    fn the_same_seed_gives_the_same_requests_and_another_seed_others() {
        let a = sample(Mix::default(), 50);
        assert_eq!(a, sample(Mix::default(), 50));
        let b = sample(
            Mix {
                seed: 2,
                ..Mix::default()
            },
            50,
        );
        assert_ne!(a[1..], b[1..]);
    }

    #[test]
    fn every_request_parses_with_the_bidders_parser() {
        let mut g = Generator::new(Mix::default()).unwrap();
        let mut parser = openrtb::Parser::new();
        for _ in 0..2_000 {
            let bytes = g.next_request();
            if let Err(e) = parser.parse(&bytes) {
                panic!("{e}: {}", String::from_utf8_lossy(&bytes));
            }
        }
    }

    #[test]
    fn the_mix_follows_its_shares() {
        let reqs = sample(Mix::default(), 20_000);
        let near = |got: f64, want: f64| (got - want).abs() < 0.02;
        let app = share(&reqs, |r| r.get("app").is_some());
        assert!(near(app, 0.35), "app {app}");
        let multi = share(&reqs, |r| r["imp"].as_array().unwrap().len() > 1);
        assert!(near(multi, 0.10), "multi-imp {multi}");
        let deals = share(&reqs, |r| r["imp"][0].get("pmp").is_some());
        assert!(near(deals, 0.08), "deals {deals}");
        let anonymous = share(&reqs, |r| {
            r.get("user").and_then(|u| u.get("buyeruid")).is_none()
        });
        assert!(near(anonymous, 0.10), "anonymous {anonymous}");
        let us = share(&reqs, |r| r["device"]["geo"]["country"] == "USA");
        assert!(near(us, 0.45), "usa {us}");
        let gdpr = share(&reqs, |r| r["regs"]["gdpr"] == 1);
        assert!(near(gdpr, 0.38), "gdpr {gdpr}");
        // Every US request carries a US privacy string; none elsewhere.
        assert!(
            reqs.iter().all(|r| (r["device"]["geo"]["country"] == "USA")
                == r["regs"].get("us_privacy").is_some())
        );
        let native = share(&reqs, |r| r["imp"][0].get("native").is_some());
        let video = share(&reqs, |r| r["imp"][0].get("video").is_some());
        assert!(native > 0.07 && native < 0.11, "native {native}");
        // Video: 10 % of imps plus every connected-TV request.
        assert!(video > 0.10 && video < 0.16, "video {video}");
    }

    #[test]
    fn users_repeat_like_zipf() {
        let reqs = sample(Mix::default(), 20_000);
        let ids: Vec<&str> = reqs
            .iter()
            .filter_map(|r| r.get("user")?.get("buyeruid")?.as_str())
            .collect();
        let top = ids.iter().filter(|&&id| id == "lt-u1").count() as f64 / ids.len() as f64;
        // With s = 1 over 2M users the top user is 1 / H(2M) ~ 6.6 % of
        // requests, and the top 100 about a third.
        assert!(top > 0.05 && top < 0.08, "top user {top}");
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert!(
            distinct.len() > ids.len() / 3,
            "{} distinct",
            distinct.len()
        );
    }
}

//! Property: any valid bid request, in either OpenRTB spelling of its
//! consent fields, reaches our model with every value it carried: strings
//! (escapes and non-ASCII included), numbers and lists, imp by imp.

use openrtb::Parser;
use proptest::prelude::*;
use serde_json::{Value, json};

/// Text an exchange may send: ASCII, escapes that JSON must encode, and
/// characters outside the BMP.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9._-]{1,24}",
        "[ -~]{1,24}",
        "[\\u{0}-\\u{1f}\"\\\\/é中😀]{1,12}",
    ]
}

fn currency() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("USD".to_owned()),
        Just("EUR".to_owned()),
        Just("GBP".to_owned())
    ]
}

#[derive(Debug, Clone)]
struct ImpSpec {
    sizes: Vec<(u32, u32)>,
    floor_cents: u32,
    floor_cur: String,
    deals: Vec<(String, u32)>,
    tagid: Option<String>,
}

fn imp() -> impl Strategy<Value = ImpSpec> {
    (
        prop::collection::vec((1u32..2000, 1u32..2000), 1..4),
        0u32..100_000,
        currency(),
        prop::collection::vec((text(), 0u32..10_000), 0..3),
        prop::option::of(text()),
    )
        .prop_map(|(sizes, floor_cents, floor_cur, deals, tagid)| ImpSpec {
            sizes,
            floor_cents,
            floor_cur,
            deals,
            tagid,
        })
}

#[derive(Debug, Clone)]
struct Spec {
    id: String,
    imps: Vec<ImpSpec>,
    site: bool,
    domain: String,
    ua: String,
    ip: [u8; 4],
    buyeruid: Option<String>,
    tmax: Option<u32>,
    bcat: Vec<String>,
    badv: Vec<String>,
    gdpr: Option<u8>,
    consent: Option<String>,
    us_privacy: Option<String>,
    coppa: Option<u8>,
    spelling_25: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        text(),
        prop::collection::vec(imp(), 1..4),
        any::<bool>(),
        "[a-z]{1,12}\\.[a-z]{2,3}",
        text(),
        any::<[u8; 4]>(),
        prop::option::of(text()),
        prop::option::of(10u32..5000),
        prop::collection::vec("IAB[0-9]{1,2}(-[0-9]{1,2})?", 0..4),
        prop::collection::vec("[a-z]{1,10}\\.com", 0..3),
        (
            prop::option::of(0u8..=1),
            prop::option::of("[A-Za-z0-9_-]{4,40}"),
            prop::option::of("1[-YN]{3}"),
            prop::option::of(0u8..=1),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(id, imps, site, domain, ua, ip, buyeruid, tmax, bcat, badv, consent)| Spec {
                id,
                imps,
                site,
                domain,
                ua,
                ip,
                buyeruid,
                tmax,
                bcat,
                badv,
                gdpr: consent.0,
                consent: consent.1,
                us_privacy: consent.2,
                coppa: consent.3,
                spelling_25: consent.4,
            },
        )
}

fn to_json(s: &Spec) -> Value {
    let imps: Vec<Value> = s
        .imps
        .iter()
        .enumerate()
        .map(|(i, imp)| {
            let mut v = json!({
                "id": format!("imp-{i}"),
                "banner": {"format": imp.sizes.iter().map(|(w, h)| json!({"w": w, "h": h})).collect::<Vec<_>>()},
                "bidfloor": f64::from(imp.floor_cents) / 100.0,
                "bidfloorcur": imp.floor_cur,
            });
            if !imp.deals.is_empty() {
                v["pmp"] = json!({"private_auction": 0, "deals": imp.deals.iter().enumerate()
                    .map(|(d, (id, cents))| json!({"id": format!("{d}-{id}"), "bidfloor": f64::from(*cents) / 100.0}))
                    .collect::<Vec<_>>()});
            }
            if let Some(t) = &imp.tagid {
                v["tagid"] = json!(t);
            }
            v
        })
        .collect();
    let mut v = json!({
        "id": s.id,
        "imp": imps,
        "device": {"ua": s.ua, "ip": format!("{}.{}.{}.{}", s.ip[0], s.ip[1], s.ip[2], s.ip[3])},
        "bcat": s.bcat,
        "badv": s.badv,
    });
    if s.site {
        v["site"] = json!({"domain": s.domain, "page": format!("https://{}/a", s.domain)});
    } else {
        v["app"] = json!({"bundle": s.domain});
    }
    if let Some(t) = s.tmax {
        v["tmax"] = json!(t);
    }
    let mut user = json!({});
    if let Some(b) = &s.buyeruid {
        user["buyeruid"] = json!(b);
    }
    let mut regs = json!({});
    if let Some(c) = s.coppa {
        regs["coppa"] = json!(c);
    }
    let (regs_consent, user_consent) = if s.spelling_25 {
        (&mut regs["ext"], &mut user["ext"])
    } else {
        (&mut regs, &mut user)
    };
    if let Some(g) = s.gdpr {
        regs_consent["gdpr"] = json!(g);
    }
    if let Some(u) = &s.us_privacy {
        regs_consent["us_privacy"] = json!(u);
    }
    if let Some(c) = &s.consent {
        user_consent["consent"] = json!(c);
    }
    if user != json!({}) {
        v["user"] = user;
    }
    if regs != json!({}) {
        v["regs"] = regs;
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_valid_request_reaches_the_model_with_its_values(s in spec()) {
        let bytes = serde_json::to_vec(&to_json(&s)).unwrap();
        let mut parser = Parser::default();
        let req = parser.parse(&bytes).map_err(|e| TestCaseError::fail(format!("{}: {}", e.path(), e.message())))?;
        prop_assert_eq!(&*req.id, s.id.as_str());
        prop_assert_eq!(req.imp.len(), s.imps.len());
        for (i, (got, want)) in req.imp.iter().zip(&s.imps).enumerate() {
            prop_assert_eq!(got.id.to_string(), format!("imp-{i}"));
            let sizes: Vec<(u32, u32)> = got.banner.as_ref().unwrap().format.iter().map(|f| (f.w, f.h)).collect();
            prop_assert_eq!(&sizes, &want.sizes);
            prop_assert_eq!(got.bidfloor, f64::from(want.floor_cents) / 100.0);
            prop_assert_eq!(got.bidfloorcur.as_deref(), Some(want.floor_cur.as_str()));
            prop_assert_eq!(got.tagid.as_deref(), want.tagid.as_deref());
            let deals: Vec<(String, f64)> = got.pmp.iter().flat_map(|p| &p.deals).map(|d| (d.id.to_string(), d.bidfloor)).collect();
            let want_deals: Vec<(String, f64)> = want.deals.iter().enumerate().map(|(d, (id, c))| (format!("{d}-{id}"), f64::from(*c) / 100.0)).collect();
            prop_assert_eq!(deals, want_deals);
        }
        if s.site {
            prop_assert_eq!(req.site.as_ref().and_then(|x| x.domain.as_deref()), Some(s.domain.as_str()));
            prop_assert!(req.app.is_none());
        } else {
            prop_assert_eq!(req.app.as_ref().and_then(|x| x.bundle.as_deref()), Some(s.domain.as_str()));
            prop_assert!(req.site.is_none());
        }
        let device = req.device.as_ref().unwrap();
        prop_assert_eq!(device.ua.as_deref(), Some(s.ua.as_str()));
        let ip = format!("{}.{}.{}.{}", s.ip[0], s.ip[1], s.ip[2], s.ip[3]);
        prop_assert_eq!(device.ip.as_deref(), Some(ip.as_str()));
        prop_assert_eq!(req.tmax, s.tmax);
        let bcat: Vec<&str> = req.bcat.iter().map(|c| &**c).collect();
        prop_assert_eq!(bcat, s.bcat.iter().map(String::as_str).collect::<Vec<_>>());
        let badv: Vec<&str> = req.badv.iter().map(|c| &**c).collect();
        prop_assert_eq!(badv, s.badv.iter().map(String::as_str).collect::<Vec<_>>());
        let user = req.user.as_ref();
        prop_assert_eq!(user.and_then(|u| u.buyeruid.as_deref()), s.buyeruid.as_deref());
        prop_assert_eq!(user.and_then(|u| u.consent.as_deref()), s.consent.as_deref());
        let regs = req.regs.as_ref();
        prop_assert_eq!(regs.and_then(|r| r.gdpr), s.gdpr);
        prop_assert_eq!(regs.and_then(|r| r.us_privacy.as_deref()), s.us_privacy.as_deref());
        prop_assert_eq!(regs.and_then(|r| r.coppa), s.coppa);
    }
}

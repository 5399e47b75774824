//! Loads a test catalog into a running bidder through its admin API, as a
//! media buyer would: advertisers, each with a funnel and approved creative
//! fragments; campaigns with their fixed creatives, some also assembling
//! from the fragments; and an audience of users uploaded as gzipped CSV.
//!
//! The catalog is drawn from the same vocabulary as [`crate::traffic`]
//! (sizes, countries, device types, deals, `buyeruid`s), with a seeded
//! generator, so generated requests find campaigns to bid and users to
//! look up. It goes through the real API, so every campaign is validated,
//! persisted and published as any other; campaigns and their creatives go
//! in batches (`POST /api/v1/campaigns:batch`), one transaction and one
//! publish per batch.

use std::io::Write;
use std::time::Instant;

use anyhow::Context;
use bytes::Bytes;
use http::Method;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::api::Api;
use crate::traffic::{self, COUNTRIES, DEALS, SIZES, weighted};

/// What to load.
#[derive(Clone, Debug)]
pub struct Catalog {
    /// Seed of the catalog's generator.
    pub seed: u64,
    /// Campaigns to create (spread over one advertiser per 50).
    pub campaigns: u32,
    /// Users to upload: ranks 1..=users of the traffic's population.
    pub users: u64,
    /// Share of campaigns with a small daily budget and `asap` pacing, to
    /// see budgets run out under load.
    pub small_budgets: f64,
    /// That small daily budget, micros.
    pub small_daily_budget_micros: i64,
}

/// What was created.
#[derive(Debug, Default)]
pub struct Seeded {
    /// Advertiser ids.
    pub advertisers: Vec<i64>,
    /// Campaign ids.
    pub campaigns: Vec<i64>,
    /// Campaigns with a small daily budget.
    pub small_budget_campaigns: Vec<i64>,
    /// Creatives created.
    pub creatives: u64,
    /// Fragments created and approved.
    pub fragments: u64,
    /// Audience rows accepted by the bidder.
    pub members: u64,
}

/// Creates `catalog` on the bidder at `base` (e.g. `http://127.0.0.1:8080`)
/// with an admin `token`. Progress goes to stderr.
pub async fn load(base: &str, token: &str, catalog: &Catalog) -> anyhow::Result<Seeded> {
    let mut api = Api::connect(base, token).await?;
    let mut rng = StdRng::seed_from_u64(catalog.seed);
    let mut out = Seeded::default();
    let started = Instant::now();
    let advertisers = catalog.campaigns.div_ceil(50).clamp(1, 100);
    let mut funnels = Vec::new();
    for a in 0..advertisers {
        let adv = api
            .call(
                Method::POST,
                "/api/v1/advertisers",
                json!({"name": format!("Loadtest advertiser {a}"), "domain": format!("lt-adv{a}.example")}),
            )
            .await?;
        let id = adv["id"].as_i64().context("advertiser id")?;
        out.advertisers.push(id);
        let funnel = api
            .call(
                Method::POST,
                "/api/v1/funnels",
                json!({"advertiser_id": id, "name": format!("Loadtest shoppers {a}")}),
            )
            .await?;
        funnels.push(funnel["id"].as_i64().context("funnel id")?);
        for body in fragments(a as usize) {
            let mut body = body;
            body["advertiser_id"] = json!(id);
            let f = api.call(Method::POST, "/api/v1/fragments", body).await?;
            let fid = f["id"].as_i64().context("fragment id")?;
            api.call(
                Method::POST,
                &format!("/api/v1/fragments/{fid}/approve"),
                json!({"version": 1}),
            )
            .await?;
            out.fragments += 1;
        }
    }
    eprintln!(
        "seed: {} advertisers, {} fragments ({:.1} s)",
        out.advertisers.len(),
        out.fragments,
        started.elapsed().as_secs_f64()
    );
    // Campaigns with their creatives, many per call: each batch is one
    // transaction and one publish on the bidder.
    let mut items = Vec::with_capacity(SEED_BATCH);
    let mut pending_small = Vec::with_capacity(SEED_BATCH);
    for c in 0..catalog.campaigns {
        let a = (c % advertisers) as usize;
        let small = rng.gen_bool(catalog.small_budgets);
        let budget = small.then_some(catalog.small_daily_budget_micros);
        let (body, creatives) = campaign(&mut rng, c, a, out.advertisers[a], funnels[a], budget);
        items.push(json!({"op": "create", "campaign": body, "creatives": creatives}));
        pending_small.push(small);
        if items.len() == SEED_BATCH || c + 1 == catalog.campaigns {
            let sent = json!({"items": std::mem::take(&mut items)});
            let written = api
                .call(Method::POST, "/api/v1/campaigns:batch", sent)
                .await?;
            let results = written["results"].as_array().context("batch results")?;
            anyhow::ensure!(
                results.len() == pending_small.len(),
                "{} results for {} campaigns",
                results.len(),
                pending_small.len()
            );
            for (r, small) in results.iter().zip(pending_small.drain(..)) {
                let id = r["id"].as_i64().context("campaign id")?;
                out.campaigns.push(id);
                if small {
                    out.small_budget_campaigns.push(id);
                }
                out.creatives += r["creatives"].as_array().map_or(0, |c| c.len() as u64);
            }
            eprintln!(
                "seed: {} campaigns, {} creatives ({:.1} s)",
                c + 1,
                out.creatives,
                started.elapsed().as_secs_f64()
            );
        }
    }
    // Users: rank r is in its advertiser's funnel (r mod advertisers), and
    // every other user in a second one, so lookups find one or two funnels.
    for (a, &funnel) in funnels.iter().enumerate() {
        let mut csv = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        writeln!(csv, "key_type,id,stage")?;
        for r in 1..=catalog.users {
            let second = r % 2 == 0 && (r * 7 + 3) % advertisers as u64 == a as u64;
            if r % advertisers as u64 == a as u64 || second {
                writeln!(csv, "buyeruid,{},{}", traffic::buyeruid(r), stage_of(r))?;
            }
        }
        let body = csv.finish()?;
        let job = api
            .send(
                Method::POST,
                &format!("/api/v1/funnels/{funnel}/uploads?mode=add&format=csv"),
                "text/csv",
                Bytes::from(body),
            )
            .await?;
        out.members += job["rows_accepted"].as_u64().unwrap_or(0);
        eprintln!(
            "seed: funnel {funnel}: {} members ({:.1} s)",
            job["rows_accepted"],
            started.elapsed().as_secs_f64()
        );
    }
    Ok(out)
}

/// Campaigns per `campaigns:batch` call: half the bidder's limit, so a
/// batch of video campaigns (about 2 KB each) stays well inside the
/// default admin body limit of 4 MiB.
const SEED_BATCH: usize = 500;

/// The fragment set every seeded advertiser has.
pub const FRAGMENT_SET: &str = "lt";

/// Advertiser `a`'s fragments: three messages (one per part of the
/// funnel), two contents, two tones; twelve combinations.
fn fragments(a: usize) -> Vec<Value> {
    let domain = format!("lt-adv{a}.example");
    let message = |stages: Value, headline: &str| {
        json!({"set": FRAGMENT_SET, "kind": "message", "body": {"language": "en", "stages": stages,
            "headline": headline, "subline": "Made to last, priced to move"}})
    };
    let content = |body: &str, path: &str| {
        json!({"set": FRAGMENT_SET, "kind": "content", "body": {"language": "en", "body": body,
            "landing_url": format!("https://{domain}/{path}?src=rtb"),
            "images": [
                {"url": format!("https://cdn.{domain}/f/{path}-1200x627.jpg"), "w": 1200, "h": 627, "mime": "image/jpeg"},
                {"url": format!("https://cdn.{domain}/f/{path}-600x600.jpg"), "w": 600, "h": 600, "mime": "image/jpeg"}]}})
    };
    let tone = |cta: &str, voice: &str, bg: &str| {
        json!({"set": FRAGMENT_SET, "kind": "tone", "body": {"language": "en", "cta": cta, "voice": voice,
            "palette": {"background": bg, "foreground": "#1d2b1f", "accent": "#e4572e"},
            "font_stack": "Arial, sans-serif"}})
    };
    vec![
        message(
            json!(["unaware", "awareness"]),
            "Meet the lamp that lights a room",
        ),
        message(
            json!(["consideration"]),
            "Four hours of light on one charge",
        ),
        message(json!(["intent", "customer", "loyal"]), "Yours ships today"),
        content("Warm light, anywhere you need it.", "lamps"),
        content("Solar charged, storm proof, built to last.", "outdoor"),
        tone("Shop now", "casual", "#fffaf3"),
        tone("See the details", "formal", "#ffffff"),
    ]
}

/// A funnel stage for user rank `r`: most users early in the funnel.
fn stage_of(r: u64) -> &'static str {
    match r.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58 {
        0..=25 => "awareness",
        26..=44 => "consideration",
        45..=54 => "intent",
        55..=61 => "customer",
        _ => "loyal",
    }
}

/// Campaigns' time zones, taken in turn (not drawn, so the rest of a seed's
/// catalog stays what it was): their budget days and frequency caps start
/// at these midnights.
const ZONES: [&str; 5] = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Asia/Tokyo",
    "America/Los_Angeles",
];

/// Campaign `c` of advertiser `a` and its creatives' bodies.
fn campaign(
    rng: &mut StdRng,
    c: u32,
    a: usize,
    advertiser: i64,
    funnel: i64,
    small_budget: Option<i64>,
) -> (Value, Vec<Value>) {
    let domain = format!("lt-adv{a}.example");
    let roll: f64 = rng.r#gen();
    let format = if roll < 0.75 {
        "banner"
    } else if roll < 0.87 {
        "native"
    } else {
        "video"
    };
    let mut targeting = json!({"formats": [format]});
    let mut creatives = Vec::new();
    match format {
        "banner" => {
            let mut sizes: Vec<(u32, u32)> = Vec::new();
            for _ in 0..rng.gen_range(1..=3) {
                let s = weighted(rng, SIZES);
                if !sizes.contains(&s) {
                    sizes.push(s);
                }
            }
            targeting["sizes"] = json!(
                sizes
                    .iter()
                    .map(|(w, h)| json!({"w": w, "h": h}))
                    .collect::<Vec<_>>()
            );
            for (w, h) in sizes {
                creatives.push(json!({"name": format!("{w}x{h}"), "status": "active", "body": {
                    "kind": "html", "w": w, "h": h,
                    "landing_url": format!("https://{domain}/?c={c}"),
                    "markup": format!("<a href=\"${{CLICK_URL}}\" target=\"_blank\"><img src=\"https://cdn.{domain}/{c}/{w}x{h}.png\" width=\"{w}\" height=\"{h}\" alt=\"\"></a>"),
                }}));
            }
        }
        "native" => creatives.push(json!({"name": "native", "status": "active", "body": {
            "kind": "native",
            "title": format!("Campaign {c} of advertiser {a}: worth a look"),
            "landing_url": format!("https://{domain}/?c={c}"),
            "description": "A product description long enough to fill a feed card's second line.",
            "image": {"url": format!("https://cdn.{domain}/{c}/1200x627.jpg"), "w": 1200, "h": 627},
            "cta": "Learn more",
            "sponsored": format!("Advertiser {a}"),
        }})),
        _ => creatives.push(json!({"name": "video", "status": "active", "body": {
            "kind": "vast",
            "document": vast(c, &domain),
            "duration_secs": 15,
            "mimes": ["video/mp4"],
            "w": 640,
            "h": 360,
        }})),
    }
    if rng.gen_bool(0.5) {
        let mut countries: Vec<&str> = Vec::new();
        for _ in 0..rng.gen_range(1..=3) {
            let country = weighted(rng, COUNTRIES);
            if !countries.contains(&country) {
                countries.push(country);
            }
        }
        targeting["countries"] = json!(countries);
    }
    if rng.gen_bool(0.3) {
        targeting["device_types"] = match rng.gen_range(0..3) {
            0 => json!([2]),
            1 => json!([4, 5]),
            _ => json!([3, 4, 5]),
        };
    }
    if rng.gen_bool(0.05) {
        let d = rng.gen_range(0..DEALS);
        targeting["deal_ids"] = json!([
            format!("LT-DEAL-{d}"),
            format!("LT-DEAL-{}", (d + 1) % DEALS)
        ]);
        targeting["deals_only"] = json!(true);
    }
    let mut stage_multipliers = json!({});
    if rng.gen_bool(0.3) {
        targeting["audience"] = json!({"funnel_id": funnel, "stages": [], "exclude_stages": ["loyal"], "unknown_users": true});
        stage_multipliers = json!({"intent": 1.5, "customer": 0.7});
    }
    let base_cents: i64 = rng.gen_range(50..=400);
    let mut body = json!({
        "advertiser_id": advertiser,
        "name": format!("Loadtest campaign {c}"),
        "status": "active",
        "total_budget_micros": 0,
        "daily_budget_micros": small_budget.unwrap_or(0),
        "currency": if rng.gen_bool(0.1) { "EUR" } else { "USD" },
        "base_cpm_micros": base_cents * 10_000,
        "max_cpm_micros": base_cents * 20_000,
        "adomain": [domain],
        "cat": ["IAB17"],
        "targeting": targeting,
        "stage_multipliers": stage_multipliers,
        "fragment_sets": if format != "video" && rng.gen_bool(0.3) { json!([FRAGMENT_SET]) } else { json!([]) },
        "pacing": {"mode": if small_budget.is_some() { "asap" } else { "even" }, "time_zone": ZONES[c as usize % ZONES.len()]},
    });
    if rng.gen_bool(0.3) {
        body["frequency"] = json!({"caps": [{"impressions": 3, "window": "day"}, {"impressions": 10, "window": "week"}], "min_gap_secs": 30});
    }
    (body, creatives)
}

fn vast(c: u32, domain: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<VAST version="4.2" xmlns="http://www.iab.com/VAST">
  <Ad id="lt-{c}">
    <InLine>
      <AdSystem version="1">loadtest</AdSystem>
      <Impression id="imp"><![CDATA[https://track.{domain}/imp?c={c}]]></Impression>
      <AdServingId>lt-{c}</AdServingId>
      <AdTitle>Campaign {c}</AdTitle>
      <Creatives>
        <Creative id="lt-{c}" sequence="1">
          <Linear>
            <Duration>00:00:15</Duration>
            <MediaFiles>
              <MediaFile delivery="progressive" type="video/mp4" width="640" height="360" bitrate="1500"><![CDATA[https://cdn.{domain}/{c}.mp4]]></MediaFile>
            </MediaFiles>
            <VideoClicks>
              <ClickThrough id="click"><![CDATA[https://{domain}/?c={c}]]></ClickThrough>
            </VideoClicks>
          </Linear>
          <UniversalAdId idRegistry="loadtest">lt-{c}</UniversalAdId>
        </Creative>
      </Creatives>
    </InLine>
  </Ad>
</VAST>"#
    )
}

/// A keep-alive connection to the admin API.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_spread_with_most_users_early_in_the_funnel() {
        let mut counts = std::collections::BTreeMap::new();
        for r in 1..=10_000 {
            *counts.entry(stage_of(r)).or_insert(0) += 1;
        }
        assert!(counts["awareness"] > counts["consideration"]);
        assert!(counts["consideration"] > counts["intent"]);
        assert!(counts["loyal"] > 0);
    }

    #[test]
    fn campaigns_carry_a_creative_for_every_size_they_target() {
        let mut rng = StdRng::seed_from_u64(3);
        for c in 0..200 {
            let (body, creatives) = campaign(&mut rng, c, 0, 1, 1, None);
            assert!(!creatives.is_empty());
            if let Some(sizes) = body["targeting"]["sizes"].as_array() {
                assert_eq!(sizes.len(), creatives.len(), "{body}");
            }
        }
    }
}

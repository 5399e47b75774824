//! Campaign writes at a steady rate through the admin API, as media buyers
//! editing campaigns while the bidder serves: what the bid path's tail and
//! the bidder's memory do while the cold path publishes.
//!
//! Each write reads a campaign (its body and `version`), changes its base
//! CPM and `PUT`s it back guarded by `If-Match`, so every write is a real
//! change that the bid snapshot must publish. Campaigns are taken in a
//! seeded order over all of the bidder's campaigns. Writes are paced from
//! their due times (open loop): a slow write delays the next ones, never
//! drops them; writes run one at a time, as one buyer's console would.

use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::Method;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::api::Api;

/// What to write.
#[derive(Clone, Debug)]
pub struct Writes {
    /// Writes per second.
    pub rate: f64,
    /// How long to write.
    pub duration: Duration,
    /// Writes at most (then stop early).
    pub max_writes: Option<u64>,
    /// Seed of the order campaigns are written in.
    pub seed: u64,
}

/// What the writes measured.
#[derive(Debug)]
pub struct WriteReport {
    /// Campaigns the bidder listed.
    pub campaigns: usize,
    /// Writes answered 200.
    pub written: u64,
    /// Writes answered otherwise (a 412 when someone else wrote first).
    pub refused: u64,
    /// Seconds the writes took.
    pub seconds: f64,
    /// Latency of the `PUT`s alone, microseconds: p50, p99, max.
    pub put_us: (u64, u64, u64),
}

impl std::fmt::Display for WriteReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (p50, p99, max) = self.put_us;
        write!(
            f,
            "{} writes over {} campaigns in {:.1} s ({} refused); PUT p50 {p50} us, p99 {p99} us, max {max} us",
            self.written, self.campaigns, self.seconds, self.refused
        )
    }
}

/// Lists every campaign id of the bidder at `base`.
async fn campaign_ids(api: &mut Api) -> anyhow::Result<Vec<i64>> {
    let mut ids = Vec::new();
    let mut after = 0_i64;
    loop {
        let page = api
            .call(
                Method::GET,
                &format!("/api/v1/campaigns?limit=500&after={after}"),
                Value::Null,
            )
            .await?;
        let items = page["items"].as_array().context("campaign list items")?;
        ids.extend(items.iter().filter_map(|c| c["id"].as_i64()));
        match page["next_after"].as_i64() {
            Some(next) => after = next,
            None => return Ok(ids),
        }
    }
}

/// Writes campaigns of the bidder at `base` with an admin `token` as
/// `plan` says, one at a time.
pub async fn run(base: &str, token: &str, plan: &Writes) -> anyhow::Result<WriteReport> {
    anyhow::ensure!(plan.rate > 0.0, "--rate must be above 0");
    let mut api = Api::connect(base, token).await?;
    let ids = campaign_ids(&mut api).await?;
    anyhow::ensure!(!ids.is_empty(), "the bidder has no campaign to write");
    // Said once listing is done, so a script can start what it measures
    // after the listing rather than beside it.
    eprintln!("listed {} campaigns; writing", ids.len());
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let mut put = Histogram::<u64>::new(3)?;
    let (mut written, mut refused) = (0_u64, 0_u64);
    let interval = Duration::from_secs_f64(1.0 / plan.rate);
    let started = Instant::now();
    let mut due = started;
    while started.elapsed() < plan.duration && plan.max_writes.is_none_or(|m| written + refused < m)
    {
        tokio::time::sleep_until(due.into()).await;
        due += interval;
        let id = ids[rng.gen_range(0..ids.len())];
        let path = format!("/api/v1/campaigns/{id}");
        let mut campaign = api.call(Method::GET, &path, Value::Null).await?;
        let version = campaign["version"].as_i64().context("campaign version")?;
        let cpm = campaign["base_cpm_micros"].as_i64().unwrap_or(1_000_000);
        // Up or down by a cent, so the price stays near the seeded one.
        campaign["base_cpm_micros"] = json!(if cpm > 10_000 && rng.gen_bool(0.5) {
            cpm - 10_000
        } else {
            cpm + 10_000
        });
        if let Some(fields) = campaign.as_object_mut() {
            for read_only in [
                "id",
                "created_at",
                "updated_at",
                "version",
                "serving_version",
            ] {
                fields.remove(read_only);
            }
        }
        let if_match = format!("\"{version}\"");
        let headers = [
            ("content-type", "application/json"),
            ("if-match", if_match.as_str()),
        ];
        let body = Bytes::from(serde_json::to_vec(&campaign)?);
        let sent = Instant::now();
        let (status, answer) = api.exchange(Method::PUT, &path, &headers, body).await?;
        put.record(sent.elapsed().as_micros() as u64)?;
        if status.is_success() {
            written += 1;
        } else {
            refused += 1;
            if refused == 1 {
                eprintln!("PUT {path}: {status}: {}", String::from_utf8_lossy(&answer));
            }
        }
    }
    Ok(WriteReport {
        campaigns: ids.len(),
        written,
        refused,
        seconds: started.elapsed().as_secs_f64(),
        put_us: (
            put.value_at_quantile(0.5),
            put.value_at_quantile(0.99),
            put.max(),
        ),
    })
}

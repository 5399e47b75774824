//! The event log and what it counts: spend per campaign and day, and the
//! learning counts of assembled creatives. Recording, deduplicating and
//! counting happen in one transaction, so an event is counted exactly once
//! even when the exchange replays it or the bidder crashes half-way.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::model::{CampaignId, EventKind, EventRecord, UnixTime};
use openrtb::Micros;

const DAY: i64 = 86_400;

/// The key event tokens are signed with when the configuration names
/// none, made on first use.
pub(crate) fn token_key_in(conn: &rusqlite::Connection) -> Result<[u8; 32], StoreError> {
    let found: Option<Vec<u8>> = conn
        .query_row(
            "SELECT value FROM settings WHERE name = 'event_token_key'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(key) = found.and_then(|v| <[u8; 32]>::try_from(v).ok()) {
        return Ok(key);
    }
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
    conn.execute(
        "INSERT OR REPLACE INTO settings (name, value) VALUES ('event_token_key', ?1)",
        [&key[..]],
    )?;
    Ok(key)
}

impl Store {
    /// The store's own event token key.
    pub fn event_token_key(&self) -> Result<[u8; 32], StoreError> {
        self.write(|tx| token_key_in(tx))
    }

    /// Records `events` in one transaction and counts each one not seen
    /// before: its cost into the day's spend, impressions and clicks into
    /// the combination's learning counts. Returns, per event, whether it
    /// was new (`false`: a replay, counted before).
    pub fn record_events(&self, events: &[EventRecord]) -> Result<Vec<bool>, StoreError> {
        self.write(|tx| {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO events (bid, kind, campaign_id, exchange, stage,
                   combination, user_key, bid_micros, price_micros, cost_micros, issued, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            let mut spend = tx.prepare_cached(
                "INSERT INTO spend (campaign_id, day, micros) VALUES (?1, ?2, ?3)
                 ON CONFLICT (campaign_id, day) DO UPDATE SET micros = micros + excluded.micros",
            )?;
            let mut learn = tx.prepare_cached(
                "INSERT INTO combination_stats (campaign_id, stage, combination, impressions, clicks)
                 SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM campaigns WHERE id = ?1)
                 ON CONFLICT (campaign_id, stage, combination) DO UPDATE SET
                   impressions = impressions + excluded.impressions,
                   clicks = clicks + excluded.clicks",
            )?;
            let mut fresh = Vec::with_capacity(events.len());
            for e in events {
                let combo = e.combo.map(|k| k.to_string());
                let n = insert.execute(params![
                    e.bid,
                    e.kind.as_str(),
                    e.campaign.0,
                    e.exchange,
                    e.stage.map(|s| s.as_str()),
                    combo,
                    e.user_key.map(|k| k as i64),
                    e.bid_price.0,
                    e.price.map(|p| p.0),
                    e.cost.0,
                    e.issued.0,
                    e.at.0,
                ])?;
                fresh.push(n == 1);
                if n == 0 {
                    continue;
                }
                if e.cost.0 > 0 {
                    spend.execute(params![e.campaign.0, e.at.0.div_euclid(DAY), e.cost.0])?;
                }
                let counts = match e.kind {
                    EventKind::Impression => Some((1, 0)),
                    EventKind::Click => Some((0, 1)),
                    _ => None,
                };
                if let (Some((imps, clicks)), Some(stage), Some(combo)) = (counts, e.stage, &combo)
                {
                    learn.execute(params![e.campaign.0, stage.as_str(), combo, imps, clicks])?;
                }
            }
            Ok(fresh)
        })
    }

    /// What `campaign` spent on the UTC day of `at`, and in all.
    pub fn spend(
        &self,
        campaign: CampaignId,
        at: UnixTime,
    ) -> Result<(Micros, Micros), StoreError> {
        self.read(|tx| {
            let (day, total): (Option<i64>, Option<i64>) = tx.query_row(
                "SELECT SUM(CASE WHEN day = ?2 THEN micros END), SUM(micros)
                 FROM spend WHERE campaign_id = ?1",
                params![campaign.0, at.0.div_euclid(DAY)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok((Micros(day.unwrap_or(0)), Micros(total.unwrap_or(0))))
        })
    }

    /// How many events of `kind` the log holds for `campaign`.
    pub fn event_count(&self, campaign: CampaignId, kind: EventKind) -> Result<u64, StoreError> {
        self.read(|tx| {
            let n: i64 = tx.query_row(
                "SELECT COUNT(*) FROM events WHERE campaign_id = ?1 AND kind = ?2",
                params![campaign.0, kind.as_str()],
                |r| r.get(0),
            )?;
            Ok(n as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audiences::Stage;
    use creative::assembly::{ComboKey, FragmentId};

    fn event(bid: &str, kind: EventKind, cost: i64) -> EventRecord {
        EventRecord {
            bid: bid.into(),
            kind,
            campaign: CampaignId(1),
            exchange: "default".into(),
            stage: Some(Stage::Intent),
            combo: Some(ComboKey {
                message: FragmentId(1),
                content: FragmentId(2),
                tone: None,
            }),
            user_key: None,
            bid_price: Micros(2_000_000),
            price: Some(Micros(1_500_000)),
            cost: Micros(cost),
            issued: UnixTime(86_400 * 3 + 10),
            at: UnixTime(86_400 * 3 + 20),
        }
    }

    #[test]
    fn replays_are_recorded_once_and_counted_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let bill = event("a-1", EventKind::Bill, 1_500);
        let fresh = store
            .record_events(&[bill.clone(), bill.clone(), event("a-1", EventKind::Win, 0)])
            .unwrap();
        assert_eq!(fresh, vec![true, false, true]);
        assert_eq!(store.record_events(&[bill]).unwrap(), vec![false]);
        let (day, total) = store
            .spend(CampaignId(1), UnixTime(86_400 * 3 + 100))
            .unwrap();
        assert_eq!((day, total), (Micros(1_500), Micros(1_500)));
        let (yesterday_seen_today, _) = store
            .spend(CampaignId(1), UnixTime(86_400 * 4 + 100))
            .unwrap();
        assert_eq!(yesterday_seen_today, Micros(0), "spend is per UTC day");
        assert_eq!(
            store.event_count(CampaignId(1), EventKind::Bill).unwrap(),
            1
        );
    }

    #[test]
    fn the_store_keeps_one_token_key() {
        let dir = tempfile::tempdir().unwrap();
        let a = Store::open(dir.path()).unwrap().event_token_key().unwrap();
        let b = Store::open(dir.path()).unwrap().event_token_key().unwrap();
        assert_eq!(a, b);
        assert_ne!(a, [0; 32]);
    }
}

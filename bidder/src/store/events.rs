//! The event log and what it counts: spend per campaign and day, and the
//! learning counts of assembled creatives. Recording, deduplicating and
//! counting happen in one transaction, so an event is counted exactly once
//! even when the exchange replays it or the bidder crashes half-way.

use rusqlite::{OptionalExtension, params};

use super::reports::{ReportCounts, ReportKey};
use super::{Store, StoreError};
use crate::model::{CampaignId, EventKind, EventRecord, UnixTime};
use openrtb::Micros;

/// Spend is kept per quarter hour: every time zone's midnight is on one.
const SLOT: i64 = 900;

/// What recording one event found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recorded {
    /// Not seen before: counted now (unless it is a conflict).
    pub fresh: bool,
    /// The first event to settle its bid's reservation (a billing point or
    /// a loss): the caller books or releases it, once.
    pub settles: bool,
    /// A new outcome that contradicts the bid's first one (a loss after a
    /// win or bill, or the other way round): kept, counted for nothing.
    pub conflict: bool,
}

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
    /// before: its cost into spend, impressions and clicks into the
    /// combination's learning counts, all of it into the per-minute report
    /// aggregates. Returns, per event, whether it was new (a replay was
    /// counted before) and whether it is the first event to settle its
    /// bid's budget reservation.
    pub fn record_events(&self, events: &[EventRecord]) -> Result<Vec<Recorded>, StoreError> {
        self.write(|tx| {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO events (bid, kind, campaign_id, exchange, stage,
                   combination, user_key, bid_micros, price_micros, cost_micros, issued, at,
                   settles, country, device_type, conflict)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )?;
            let mut outcome_before = tx.prepare_cached(
                "SELECT COUNT(*) FROM events
                 WHERE bid = ?1 AND kind IN (?2, ?3) AND conflict = 0",
            )?;
            let mut settled_before = tx.prepare_cached(
                "SELECT COUNT(*) FROM events WHERE bid = ?1 AND kind != ?2 AND settles = 1",
            )?;
            let mut spend = tx.prepare_cached(
                "INSERT INTO spend_slots (campaign_id, slot, micros) VALUES (?1, ?2, ?3)
                 ON CONFLICT (campaign_id, slot) DO UPDATE SET micros = micros + excluded.micros",
            )?;
            let mut learn = tx.prepare_cached(
                "INSERT INTO combination_stats (campaign_id, stage, combination, impressions, clicks)
                 SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM campaigns WHERE id = ?1)
                 ON CONFLICT (campaign_id, stage, combination) DO UPDATE SET
                   impressions = impressions + excluded.impressions,
                   clicks = clicks + excluded.clicks",
            )?;
            let mut out = Vec::with_capacity(events.len());
            for e in events {
                let combo = e.combo.map(|k| k.to_string());
                // The kinds whose outcome this event's contradicts.
                let opposite = match e.kind {
                    EventKind::Loss => Some((EventKind::Win, EventKind::Bill)),
                    EventKind::Win | EventKind::Bill => Some((EventKind::Loss, EventKind::Loss)),
                    _ => None,
                };
                let conflict = match opposite {
                    Some((a, b)) => {
                        outcome_before.query_row(params![e.bid, a.as_str(), b.as_str()], |r| {
                            r.get::<_, i64>(0)
                        })? > 0
                    }
                    None => false,
                };
                let cost = if conflict { 0 } else { e.cost.0 };
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
                    cost,
                    e.issued.0,
                    e.at.0,
                    e.settles && !conflict,
                    e.country,
                    e.device_type,
                    conflict,
                ])?;
                if n == 0 {
                    out.push(Recorded::default());
                    continue;
                }
                if conflict {
                    out.push(Recorded {
                        fresh: true,
                        settles: false,
                        conflict: true,
                    });
                    continue;
                }
                let settles = e.settles
                    && settled_before.query_row(params![e.bid, e.kind.as_str()], |r| {
                        r.get::<_, i64>(0)
                    })? == 0;
                out.push(Recorded {
                    fresh: true,
                    settles,
                    conflict: false,
                });
                if e.cost.0 > 0 {
                    spend.execute(params![e.campaign.0, e.at.0.div_euclid(SLOT), e.cost.0])?;
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
                let mut row = ReportCounts::default();
                match e.kind {
                    EventKind::Win => row.wins = 1,
                    EventKind::Impression => row.impressions = 1,
                    EventKind::Click => row.clicks = 1,
                    EventKind::Bill | EventKind::Loss => {}
                }
                row.spend_micros = e.cost.0;
                if row != ReportCounts::default() {
                    let key = ReportKey {
                        minute: e.at.0.div_euclid(60),
                        campaign: e.campaign,
                        stage: e.stage,
                        combo: e.combo,
                        exchange: e.exchange.clone(),
                        country: e.country.clone(),
                        device_type: e.device_type,
                    };
                    super::reports::add_in(tx, &key, &row)?;
                }
            }
            Ok(out)
        })
    }

    /// What `campaign` booked from `from` on, and in all.
    pub fn spend_since(
        &self,
        campaign: CampaignId,
        from: UnixTime,
    ) -> Result<(Micros, Micros), StoreError> {
        self.read(|tx| {
            let (since, total): (Option<i64>, Option<i64>) = tx.query_row(
                "SELECT SUM(CASE WHEN slot >= ?2 THEN micros END), SUM(micros)
                 FROM spend_slots WHERE campaign_id = ?1",
                params![campaign.0, from.0.div_euclid(SLOT)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok((Micros(since.unwrap_or(0)), Micros(total.unwrap_or(0))))
        })
    }

    /// Replaces the checkpoint of reservations held for bids in flight.
    pub fn save_reservations(
        &self,
        held: &[(CampaignId, Micros)],
        at: UnixTime,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute("DELETE FROM budget_reservations", [])?;
            let mut put = tx.prepare_cached(
                "INSERT INTO budget_reservations (campaign_id, micros, at) VALUES (?1, ?2, ?3)",
            )?;
            for (c, m) in held {
                put.execute(params![c.0, m.0, at.0])?;
            }
            Ok(())
        })
    }

    /// The last checkpoint of reservations, if taken since `since`.
    pub fn reservations_since(
        &self,
        since: UnixTime,
    ) -> Result<Vec<(CampaignId, Micros)>, StoreError> {
        self.read(|tx| {
            let mut q =
                tx.prepare("SELECT campaign_id, micros FROM budget_reservations WHERE at >= ?1")?;
            let rows = q.query_map([since.0], |r| {
                Ok((CampaignId(r.get(0)?), Micros(r.get(1)?)))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Impressions to users with a key since `since`, oldest first (to
    /// rebuild frequency counts at start).
    pub fn impressions_since(
        &self,
        since: UnixTime,
    ) -> Result<Vec<(u64, CampaignId, UnixTime)>, StoreError> {
        self.read(|tx| {
            let mut q = tx.prepare(
                "SELECT user_key, campaign_id, at FROM events
                 WHERE kind = 'imp' AND user_key IS NOT NULL AND at >= ?1 ORDER BY at",
            )?;
            let rows = q.query_map([since.0], |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    CampaignId(r.get(1)?),
                    UnixTime(r.get(2)?),
                ))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Deletes events that arrived before `before` (their tokens have
    /// expired, so no replay of them can be accepted any more); how many.
    pub fn prune_events(&self, before: UnixTime) -> Result<u64, StoreError> {
        self.write(|tx| {
            let n = tx.execute("DELETE FROM events WHERE at < ?1", [before.0])?;
            Ok(n as u64)
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
            reserved: Micros(2_000),
            held_until: UnixTime(0),
            held_here: true,
            issued: UnixTime(86_400 * 3 + 10),
            at: UnixTime(86_400 * 3 + 20),
            settles: matches!(kind, EventKind::Bill | EventKind::Loss),
            country: "DEU".into(),
            device_type: 2,
        }
    }

    fn fresh(r: &[Recorded]) -> Vec<bool> {
        r.iter().map(|r| r.fresh).collect()
    }

    #[test]
    fn replays_are_recorded_once_and_counted_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let bill = event("a-1", EventKind::Bill, 1_500);
        let got = store
            .record_events(&[bill.clone(), bill.clone(), event("a-1", EventKind::Win, 0)])
            .unwrap();
        assert_eq!(fresh(&got), vec![true, false, true]);
        assert_eq!(fresh(&store.record_events(&[bill]).unwrap()), vec![false]);
        let (day, total) = store
            .spend_since(CampaignId(1), UnixTime(86_400 * 3))
            .unwrap();
        assert_eq!((day, total), (Micros(1_500), Micros(1_500)));
        let (since_next_day, _) = store
            .spend_since(CampaignId(1), UnixTime(86_400 * 4))
            .unwrap();
        assert_eq!(
            since_next_day,
            Micros(0),
            "spend is counted from the day's start"
        );
        assert_eq!(
            store.event_count(CampaignId(1), EventKind::Bill).unwrap(),
            1
        );
    }

    #[test]
    fn only_the_first_settling_event_of_a_bid_settles() {
        let store = Store::open_in_memory().unwrap();
        let got = store
            .record_events(&[
                event("b-1", EventKind::Loss, 0),
                event("b-1", EventKind::Bill, 1_000),
                event("b-2", EventKind::Win, 0),
                event("b-2", EventKind::Bill, 1_000),
                event("b-2", EventKind::Bill, 1_000),
            ])
            .unwrap();
        let settles: Vec<bool> = got.iter().map(|r| r.settles).collect();
        assert_eq!(settles, vec![true, false, false, true, false]);
    }

    #[test]
    fn reservations_checkpoint_replaces_the_last_one() {
        let store = Store::open_in_memory().unwrap();
        store
            .save_reservations(
                &[(CampaignId(1), Micros(5)), (CampaignId(2), Micros(7))],
                UnixTime(100),
            )
            .unwrap();
        store
            .save_reservations(&[(CampaignId(2), Micros(9))], UnixTime(200))
            .unwrap();
        assert_eq!(
            store.reservations_since(UnixTime(150)).unwrap(),
            vec![(CampaignId(2), Micros(9))]
        );
        assert!(store.reservations_since(UnixTime(201)).unwrap().is_empty());
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

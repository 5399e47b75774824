//! Schema migrations, versioned in code: `PRAGMA user_version` is the number
//! of scripts applied. Scripts are only ever appended, never edited, so a
//! database at version N is the same everywhere.
//!
//! Never opens a database newer than it knows: a downgraded bidder could
//! otherwise write rows a newer schema does not expect.

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// The migrations, in order; index + 1 is the version a script brings the
/// schema to.
const MIGRATIONS: &[&str] = &[
    // 1: the catalog and API tokens. Nested values are JSON text; money is
    // integer micros; times are Unix seconds.
    r#"
    CREATE TABLE advertisers (
        id          INTEGER PRIMARY KEY,
        name        TEXT    NOT NULL,
        domain      TEXT    NOT NULL,
        version     INTEGER NOT NULL,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    );
    CREATE TABLE campaigns (
        id                  INTEGER PRIMARY KEY,
        advertiser_id       INTEGER NOT NULL REFERENCES advertisers(id) ON DELETE RESTRICT,
        name                TEXT    NOT NULL,
        status              TEXT    NOT NULL,
        flight_start        INTEGER,
        flight_end          INTEGER,
        total_budget_micros INTEGER NOT NULL,
        daily_budget_micros INTEGER NOT NULL,
        currency            TEXT    NOT NULL,
        base_cpm_micros     INTEGER NOT NULL,
        max_cpm_micros      INTEGER NOT NULL,
        adomain             TEXT    NOT NULL,
        cat                 TEXT    NOT NULL,
        attr                TEXT    NOT NULL,
        app_bundle          TEXT,
        language            TEXT,
        targeting           TEXT    NOT NULL,
        stage_multipliers   TEXT    NOT NULL,
        version             INTEGER NOT NULL,
        created_at          INTEGER NOT NULL,
        updated_at          INTEGER NOT NULL
    );
    CREATE INDEX campaigns_by_advertiser ON campaigns(advertiser_id, id);
    CREATE TABLE creatives (
        id          INTEGER PRIMARY KEY,
        campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE RESTRICT,
        name        TEXT    NOT NULL,
        status      TEXT    NOT NULL,
        body        TEXT    NOT NULL,
        version     INTEGER NOT NULL,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    );
    CREATE INDEX creatives_by_campaign ON creatives(campaign_id, id);
    CREATE TABLE tokens (
        id          INTEGER PRIMARY KEY,
        hash        BLOB    NOT NULL UNIQUE,
        role        TEXT    NOT NULL,
        label       TEXT    NOT NULL,
        created_at  INTEGER NOT NULL,
        revoked     INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE token_advertisers (
        token_id      INTEGER NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
        advertiser_id INTEGER NOT NULL REFERENCES advertisers(id) ON DELETE CASCADE,
        PRIMARY KEY (token_id, advertiser_id)
    );
    "#,
    // 2: funnels, their members and upload jobs, and settings the server
    // generates once (the audience key secret). Members are keyed by the
    // keyed hash of the user id, never the raw id, with the sign bit
    // flipped so that SQLite's signed order is the hash's unsigned order:
    // the table is read back in key order at start.
    r#"
    CREATE TABLE settings (
        name   TEXT PRIMARY KEY,
        value  BLOB NOT NULL
    );
    CREATE TABLE funnels (
        id            INTEGER PRIMARY KEY,
        advertiser_id INTEGER NOT NULL REFERENCES advertisers(id) ON DELETE RESTRICT,
        name          TEXT    NOT NULL,
        stage_names   TEXT    NOT NULL,
        version       INTEGER NOT NULL,
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL
    );
    CREATE INDEX funnels_by_advertiser ON funnels(advertiser_id, id);
    CREATE TABLE audience_members (
        key         INTEGER NOT NULL,
        funnel_id   INTEGER NOT NULL REFERENCES funnels(id) ON DELETE CASCADE,
        stage       INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        job_id      INTEGER NOT NULL,
        PRIMARY KEY (key, funnel_id)
    ) WITHOUT ROWID;
    CREATE INDEX audience_members_by_funnel ON audience_members(funnel_id, job_id);
    CREATE TABLE jobs (
        id            INTEGER PRIMARY KEY,
        funnel_id     INTEGER NOT NULL REFERENCES funnels(id) ON DELETE CASCADE,
        advertiser_id INTEGER NOT NULL,
        mode          TEXT    NOT NULL,
        status        TEXT    NOT NULL,
        rows_read     INTEGER NOT NULL DEFAULT 0,
        rows_accepted INTEGER NOT NULL DEFAULT 0,
        rows_rejected INTEGER NOT NULL DEFAULT 0,
        rows_removed  INTEGER NOT NULL DEFAULT 0,
        last_line     INTEGER NOT NULL DEFAULT 0,
        rejections    TEXT    NOT NULL DEFAULT '[]',
        message       TEXT,
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL,
        finished_at   INTEGER
    );
    CREATE INDEX jobs_by_funnel ON jobs(funnel_id, id);
    "#,
    // 3: creative fragments, their versions and review log, exchanges'
    // creative audits, and what was learnt per combination. A fragment's
    // `version` is its latest version (the ETag); `serving_version` the
    // approved one that serves.
    r#"
    ALTER TABLE campaigns ADD COLUMN fragment_sets TEXT NOT NULL DEFAULT '[]';
    CREATE TABLE fragments (
        id              INTEGER PRIMARY KEY,
        advertiser_id   INTEGER NOT NULL REFERENCES advertisers(id) ON DELETE RESTRICT,
        kind            TEXT    NOT NULL,
        set_name        TEXT    NOT NULL,
        archived        INTEGER NOT NULL DEFAULT 0,
        version         INTEGER NOT NULL,
        serving_version INTEGER,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL
    );
    CREATE INDEX fragments_by_advertiser ON fragments(advertiser_id, set_name);
    CREATE TABLE fragment_versions (
        fragment_id INTEGER NOT NULL REFERENCES fragments(id) ON DELETE CASCADE,
        version     INTEGER NOT NULL,
        body        TEXT    NOT NULL,
        status      TEXT    NOT NULL,
        reason      TEXT,
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (fragment_id, version)
    ) WITHOUT ROWID;
    CREATE TABLE fragment_history (
        id          INTEGER PRIMARY KEY,
        fragment_id INTEGER NOT NULL REFERENCES fragments(id) ON DELETE CASCADE,
        version     INTEGER NOT NULL,
        action      TEXT    NOT NULL,
        token_id    INTEGER NOT NULL,
        role        TEXT    NOT NULL,
        reason      TEXT,
        at          INTEGER NOT NULL
    );
    CREATE INDEX fragment_history_by_fragment ON fragment_history(fragment_id, id);
    CREATE TABLE creative_audits (
        exchange    TEXT    NOT NULL,
        crid        TEXT    NOT NULL,
        status      TEXT    NOT NULL,
        reason      TEXT,
        updated_at  INTEGER NOT NULL,
        PRIMARY KEY (exchange, crid)
    ) WITHOUT ROWID;
    CREATE TABLE combination_stats (
        campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
        stage       TEXT    NOT NULL,
        combination TEXT    NOT NULL,
        impressions INTEGER NOT NULL DEFAULT 0,
        clicks      INTEGER NOT NULL DEFAULT 0,
        conversions INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (campaign_id, stage, combination)
    ) WITHOUT ROWID;
    "#,
    // 4: the event log (one row per bid and kind: replays are ignored by
    // the key) and spend per campaign and UTC day.
    r#"
    CREATE TABLE events (
        bid         TEXT    NOT NULL,
        kind        TEXT    NOT NULL,
        campaign_id INTEGER NOT NULL,
        exchange    TEXT    NOT NULL,
        stage       TEXT,
        combination TEXT,
        user_key    INTEGER,
        bid_micros  INTEGER NOT NULL,
        price_micros INTEGER,
        cost_micros INTEGER NOT NULL DEFAULT 0,
        issued      INTEGER NOT NULL,
        at          INTEGER NOT NULL,
        PRIMARY KEY (bid, kind)
    ) WITHOUT ROWID;
    CREATE INDEX events_by_time ON events(at);
    CREATE TABLE spend (
        campaign_id INTEGER NOT NULL,
        day         INTEGER NOT NULL,
        micros      INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (campaign_id, day)
    ) WITHOUT ROWID;
    "#,
    // 5: closing the loop. Pacing and frequency rules, funnel moves; spend
    // per quarter hour (a campaign's day starts at its own midnight, and
    // every time zone's midnight falls on a quarter hour); which events
    // settle a reservation; the reservations of bids in flight (restored
    // after a crash); conversions; per-minute report aggregates.
    r#"
    ALTER TABLE campaigns ADD COLUMN pacing TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE campaigns ADD COLUMN frequency TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE advertisers ADD COLUMN frequency TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE funnels ADD COLUMN moves TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE events ADD COLUMN settles INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE events ADD COLUMN country TEXT NOT NULL DEFAULT '';
    ALTER TABLE events ADD COLUMN device_type INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX events_by_user ON events(user_key, at) WHERE user_key IS NOT NULL;
    CREATE TABLE spend_slots (
        campaign_id INTEGER NOT NULL,
        slot        INTEGER NOT NULL,
        micros      INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (campaign_id, slot)
    ) WITHOUT ROWID;
    INSERT INTO spend_slots (campaign_id, slot, micros)
        SELECT campaign_id, day * 96, micros FROM spend;
    DROP TABLE spend;
    CREATE TABLE budget_reservations (
        campaign_id INTEGER PRIMARY KEY,
        micros      INTEGER NOT NULL,
        at          INTEGER NOT NULL
    );
    CREATE TABLE conversions (
        advertiser_id INTEGER NOT NULL,
        id            TEXT    NOT NULL,
        bid           TEXT,
        campaign_id   INTEGER,
        user_key      INTEGER,
        value_micros  INTEGER NOT NULL,
        currency      TEXT    NOT NULL,
        at            INTEGER NOT NULL,
        PRIMARY KEY (advertiser_id, id)
    ) WITHOUT ROWID;
    CREATE TABLE report_minutes (
        minute       INTEGER NOT NULL,
        campaign_id  INTEGER NOT NULL,
        stage        TEXT    NOT NULL,
        combination  TEXT    NOT NULL,
        exchange     TEXT    NOT NULL,
        country      TEXT    NOT NULL,
        device_type  INTEGER NOT NULL,
        bids         INTEGER NOT NULL DEFAULT 0,
        wins         INTEGER NOT NULL DEFAULT 0,
        spend_micros INTEGER NOT NULL DEFAULT 0,
        impressions  INTEGER NOT NULL DEFAULT 0,
        clicks       INTEGER NOT NULL DEFAULT 0,
        conversions  INTEGER NOT NULL DEFAULT 0,
        conversion_value_micros INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (campaign_id, minute, stage, combination, exchange, country, device_type)
    ) WITHOUT ROWID;
    CREATE TABLE nobid_minutes (
        minute      INTEGER NOT NULL,
        exchange    TEXT    NOT NULL,
        country     TEXT    NOT NULL,
        device_type INTEGER NOT NULL,
        reason      TEXT    NOT NULL,
        count       INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (minute, exchange, country, device_type, reason)
    ) WITHOUT ROWID;
    "#,
    // 6: what a campaign's assembled creatives learn to serve (clicks or
    // conversions).
    r#"
    ALTER TABLE campaigns ADD COLUMN learning TEXT NOT NULL DEFAULT '{}';
    "#,
    // 7: the time zone an advertiser's own frequency caps count in.
    r#"
    ALTER TABLE advertisers ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
    "#,
    // 8: an outcome that contradicts the bid's first one (a loss after a
    // win or bill, a win or bill after a loss) is kept for the record but
    // counts for nothing.
    r#"
    ALTER TABLE events ADD COLUMN conflict INTEGER NOT NULL DEFAULT 0;
    "#,
    // 9: upload rows land here first, in arrival order, and move into
    // audience_members in key order once per job (store/audience.rs).
    r#"
    CREATE TABLE audience_staged (
        seq         INTEGER PRIMARY KEY,
        key         INTEGER NOT NULL,
        funnel_id   INTEGER NOT NULL REFERENCES funnels(id) ON DELETE CASCADE,
        stage       INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        job_id      INTEGER NOT NULL
    );
    "#,
];

/// The schema version this build brings every database to.
#[cfg(test)]
pub(super) const LATEST: i64 = MIGRATIONS.len() as i64;

/// Applies every script the database has not seen, each in its own
/// transaction together with the `user_version` bump, so a crash leaves the
/// schema at a whole version.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    apply(conn, MIGRATIONS)
}

fn apply(conn: &mut Connection, scripts: &[&str]) -> Result<(), StoreError> {
    let known = scripts.len() as i64;
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > known {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    for (done, script) in scripts.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(script)?;
        tx.pragma_update(None, "user_version", done as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_fresh_database_reaches_the_latest_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn), LATEST);
    }

    #[test]
    fn migrating_an_up_to_date_database_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO advertisers (id, name, domain, version, created_at, updated_at)
             VALUES (1, 'a', 'a.example', 1, 0, 0)",
            [],
        )
        .unwrap();
        // Re-running script 1 would fail on CREATE TABLE; it must not run.
        migrate(&mut conn).unwrap();
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM advertisers", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(version(&conn), LATEST);
    }

    #[test]
    fn only_scripts_newer_than_the_database_are_applied() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn, &["CREATE TABLE a (x INTEGER);"]).unwrap();
        apply(
            &mut conn,
            &["CREATE TABLE a (x INTEGER);", "CREATE TABLE b (y INTEGER);"],
        )
        .unwrap();
        assert_eq!(version(&conn), 2);
        conn.execute("INSERT INTO b VALUES (1)", []).unwrap();
    }

    #[test]
    fn a_failing_script_leaves_the_previous_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        let err = apply(
            &mut conn,
            &["CREATE TABLE a (x INTEGER);", "CREATE TABLE a (x INTEGER);"],
        );
        assert!(err.is_err());
        assert_eq!(version(&conn), 1);
    }

    #[test]
    fn a_database_newer_than_this_build_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", LATEST + 1)
            .unwrap();
        match migrate(&mut conn) {
            Err(StoreError::SchemaTooNew { found, known }) => {
                assert_eq!((found, known), (LATEST + 1, LATEST));
            }
            other => panic!("expected SchemaTooNew, got {other:?}"),
        }
    }
}

//! What a restart takes back from the store: the reservations of bids that
//! may still win (from the last checkpoint) and a week of impressions for
//! the frequency counts. Runs once, before the first bid.

use std::collections::{HashMap, HashSet};

use crate::model::{Catalog, UnixTime};
use crate::state::budget::Budgets;
use crate::state::calendar::Calendar;
use crate::state::frequency::{FrequencyCounts, Subject};
use crate::store::{Store, StoreError};

/// After a restart: holds the reservations the last checkpoint found (bids
/// that may still win), and replays the last week's impressions into the
/// frequency table.
pub(super) fn restore_counts(
    store: &Store,
    catalog: &Catalog,
    reservation_ttl_secs: u32,
    (budgets, frequency): (&dyn Budgets, &dyn FrequencyCounts),
    now: UnixTime,
) -> Result<(), StoreError> {
    let ttl = i64::from(reservation_ttl_secs);
    budgets.restore(&store.reservations_since(UnixTime(now.0 - ttl))?, now);
    replay_impressions(store, catalog, frequency, now)
}

/// Counts the week's impressions before `now` again, each in the windows
/// its caps are read in: its campaign's time zone, and its advertiser's.
fn replay_impressions(
    store: &Store,
    catalog: &Catalog,
    frequency: &dyn FrequencyCounts,
    now: UnixTime,
) -> Result<(), StoreError> {
    // Each zone once: a catalog has a few zones and many campaigns.
    let zones: HashSet<&str> = catalog
        .campaigns
        .iter()
        .map(|c| c.pacing.time_zone.as_str())
        .chain(catalog.advertisers.iter().map(|a| a.time_zone.as_str()))
        .collect();
    let calendars: HashMap<&str, Calendar> = zones
        .into_iter()
        .map(|z| (z, Calendar::named(z, now)))
        .collect();
    let advertiser_zone: HashMap<_, _> = catalog
        .advertisers
        .iter()
        .map(|a| (a.id, a.time_zone.as_str()))
        .collect();
    let campaign: HashMap<_, _> = catalog
        .campaigns
        .iter()
        .map(|c| {
            let theirs = advertiser_zone.get(&c.advertiser_id).copied();
            let zones = (c.pacing.time_zone.as_str(), theirs.unwrap_or("UTC"));
            (c.id, (c.advertiser_id, zones))
        })
        .collect();
    let of = |zone: &str| calendars.get(zone).unwrap_or(&Calendar::Utc);
    for (user, id, at) in store.impressions_since(UnixTime(now.0 - 7 * 86_400))? {
        let user = audiences::keys::UserKey(user);
        let Some(&(advertiser, (own, theirs))) = campaign.get(&id) else {
            frequency.record(user, Subject::Campaign(id), at, &Calendar::Utc);
            continue;
        };
        frequency.record(user, Subject::Campaign(id), at, of(own));
        frequency.record(user, Subject::Advertiser(advertiser), at, of(theirs));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CapWindow, EventRecord, FrequencyCap, FrequencyRules};
    use crate::state::frequency::Frequency;

    #[test]
    fn replayed_impressions_count_in_their_campaigns_and_advertisers_time_zones() {
        let store = Store::open_in_memory().unwrap();
        crate::control::demo::seed_if_empty(&store, "http://bidder.test").unwrap();
        let mut catalog = store.load_catalog().unwrap();
        // UTC-12 all year: its days run from 12:00 to 12:00 UTC.
        let zone = "Etc/GMT+12";
        catalog.campaigns[0].pacing.time_zone = zone.into();
        let (id, advertiser) = (catalog.campaigns[0].id, catalog.campaigns[0].advertiser_id);
        for a in catalog
            .advertisers
            .iter_mut()
            .filter(|a| a.id == advertiser)
        {
            a.time_zone = zone.into();
        }
        let now = UnixTime::now();
        let noon = (now.0 / 86_400 - 2) * 86_400 + 43_200;
        // Shown at 23:00 and 01:00 UTC: two UTC days, one day of the zone.
        let shown = |at: i64| EventRecord::test_impression(id, 7, UnixTime(at));
        store
            .record_events(&[shown(noon + 11 * 3_600), shown(noon + 13 * 3_600)])
            .unwrap();
        let frequency = Frequency::new(1024);
        replay_impressions(&store, &catalog, &frequency, now).unwrap();
        let two_a_day = FrequencyRules {
            caps: vec![FrequencyCap {
                impressions: 2,
                window: CapWindow::Day,
            }],
            min_gap_secs: 0,
        };
        let user = audiences::keys::UserKey(7);
        let later = UnixTime(noon + 14 * 3_600);
        let own = Calendar::named(zone, now);
        let next_day = UnixTime(noon + 24 * 3_600);
        for subject in [Subject::Campaign(id), Subject::Advertiser(advertiser)] {
            assert!(
                !frequency.allows(user, subject, &two_a_day, later, &own),
                "{subject:?}"
            );
            // The zone's next day starts at noon UTC.
            assert!(
                frequency.allows(user, subject, &two_a_day, next_day, &own),
                "{subject:?}"
            );
        }
    }
}

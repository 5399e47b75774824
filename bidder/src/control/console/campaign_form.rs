//! The campaign form: a campaign's editable fields as the text a form
//! holds, read back onto a draft with every unreadable field named, and
//! the service's field paths (`daily_budget_micros`,
//! `targeting.countries[2]`) mapped to the form's fields, so each refusal
//! is shown at its field.
//!
//! Pure text and values: never calls the service (which alone decides
//! what is valid), never renders. Fields the form does not hold (frequency,
//! regions, audience, learning ...) keep the draft's base: the stored
//! campaign when editing, the defaults when creating.

use std::collections::BTreeMap;

use openrtb::{Currency, Micros};

use crate::control::service::FieldError;
use crate::model::{AdvertiserId, Campaign, CampaignStatus, PacingMode, UnixTime};

/// How a field is written in the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text.
    Text,
    /// An amount in the campaign's currency, e.g. `12.50`.
    Money,
    /// A UTC time `2026-12-07T10:00`; blank for none.
    Time,
    /// Entries separated by commas.
    List,
    /// One of the given `(value, label)` pairs.
    Choice(&'static [(&'static str, &'static str)]),
    /// An advertiser the principal acts for.
    Advertiser,
}

/// One field of the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Its form name.
    pub name: &'static str,
    /// What the page calls it.
    pub label: &'static str,
    /// How it is written.
    pub kind: Kind,
    /// A hint shown under it.
    pub hint: &'static str,
    /// The service paths it holds: the field's own, and lists' entries
    /// (`path[n]`).
    path: &'static str,
}

const STATUSES: &[(&str, &str)] = &[
    ("active", "active"),
    ("paused", "paused"),
    ("archived", "archived"),
];
const PACING: &[(&str, &str)] = &[
    ("even", "even through the day"),
    ("front_loaded", "front-loaded"),
    ("asap", "as fast as bids win"),
];

/// Every field, in the order the page shows them.
pub const FIELDS: &[Field] = &[
    field(
        "advertiser_id",
        "Advertiser",
        Kind::Advertiser,
        "",
        "advertiser_id",
    ),
    field("name", "Name", Kind::Text, "", "name"),
    field("status", "Status", Kind::Choice(STATUSES), "", "status"),
    field(
        "currency",
        "Currency",
        Kind::Text,
        "ISO-4217, e.g. USD",
        "currency",
    ),
    field(
        "daily_budget",
        "Daily budget",
        Kind::Money,
        "0 for no daily limit",
        "daily_budget_micros",
    ),
    field(
        "total_budget",
        "Total budget",
        Kind::Money,
        "0 for no lifetime limit",
        "total_budget_micros",
    ),
    field(
        "base_cpm",
        "Base CPM",
        Kind::Money,
        "bid per thousand impressions before multipliers",
        "base_cpm_micros",
    ),
    field("max_cpm", "Maximum CPM", Kind::Money, "", "max_cpm_micros"),
    field(
        "pacing_mode",
        "Pacing",
        Kind::Choice(PACING),
        "",
        "pacing.mode",
    ),
    field(
        "time_zone",
        "Day's time zone",
        Kind::Text,
        "IANA, e.g. Europe/Berlin; the campaign's day starts at its midnight",
        "pacing.time_zone",
    ),
    field(
        "flight_start",
        "Flight starts (UTC)",
        Kind::Time,
        "blank: from now",
        "flight_start",
    ),
    field(
        "flight_end",
        "Flight ends (UTC)",
        Kind::Time,
        "blank: open-ended",
        "flight_end",
    ),
    field(
        "adomain",
        "Advertiser domains",
        Kind::List,
        "comma-separated, e.g. acme.example",
        "adomain",
    ),
    field(
        "cat",
        "IAB categories",
        Kind::List,
        "comma-separated, e.g. IAB17",
        "cat",
    ),
    field(
        "language",
        "Language of the ads",
        Kind::Text,
        "ISO-639-1, e.g. en; blank when none matters",
        "language",
    ),
    field(
        "countries",
        "Countries",
        Kind::List,
        "ISO-3166 alpha-3, comma-separated; blank for all",
        "targeting.countries",
    ),
    field(
        "languages",
        "Users' languages",
        Kind::List,
        "ISO-639-1, comma-separated; blank for all",
        "targeting.languages",
    ),
    field(
        "fragment_sets",
        "Fragment sets",
        Kind::List,
        "names of the advertiser's sets; blank for fixed creatives only",
        "fragment_sets",
    ),
];

const fn field(
    name: &'static str,
    label: &'static str,
    kind: Kind,
    hint: &'static str,
    path: &'static str,
) -> Field {
    Field {
        name,
        label,
        kind,
        hint,
        path,
    }
}

/// The form's field called `name`.
pub fn field_named(name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.name == name)
}

/// The values of the form's fields, as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignForm(BTreeMap<&'static str, String>);

/// A field whose stored value changed since a form was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The field.
    pub field: &'static Field,
    /// Its value when the form was opened.
    pub was: String,
    /// Its value stored now.
    pub now: String,
}

impl CampaignForm {
    /// The form of campaign `c`.
    pub fn of(c: &Campaign) -> CampaignForm {
        let mut m = BTreeMap::new();
        let money = |m: Micros| amount(m);
        for f in FIELDS {
            let v = match f.name {
                "advertiser_id" => c.advertiser_id.0.to_string(),
                "name" => c.name.clone(),
                "status" => status_name(c.status).to_owned(),
                "currency" => c.currency.as_str().to_owned(),
                "daily_budget" => money(c.daily_budget_micros),
                "total_budget" => money(c.total_budget_micros),
                "base_cpm" => money(c.base_cpm_micros),
                "max_cpm" => money(c.max_cpm_micros),
                "pacing_mode" => pacing_name(c.pacing.mode).to_owned(),
                "time_zone" => c.pacing.time_zone.clone(),
                "flight_start" => c.flight_start.map(time).unwrap_or_default(),
                "flight_end" => c.flight_end.map(time).unwrap_or_default(),
                "adomain" => c.adomain.join(", "),
                "cat" => c.cat.join(", "),
                "language" => c.language.clone().unwrap_or_default(),
                "countries" => c.targeting.countries.join(", "),
                "languages" => c.targeting.languages.join(", "),
                "fragment_sets" => c.fragment_sets.join(", "),
                _ => String::new(),
            };
            m.insert(f.name, v);
        }
        CampaignForm(m)
    }

    /// The fields as posted, each under `prefix` + its name (`""` for
    /// the user's values, `was_` for those of the version the form was
    /// opened at); a field not posted is blank.
    pub fn posted(get: impl Fn(&str) -> Option<String>, prefix: &str) -> CampaignForm {
        CampaignForm(
            FIELDS
                .iter()
                .map(|f| {
                    (
                        f.name,
                        get(&format!("{prefix}{}", f.name)).unwrap_or_default(),
                    )
                })
                .collect(),
        )
    }

    /// The value of field `name`.
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }

    /// The fields whose value differs between `self` (as the form was
    /// opened) and `now` (as stored now).
    pub fn changes(&self, now: &CampaignForm) -> Vec<Change> {
        FIELDS
            .iter()
            .filter(|f| self.get(f.name) != now.get(f.name))
            .map(|f| Change {
                field: f,
                was: self.get(f.name).to_owned(),
                now: now.get(f.name).to_owned(),
            })
            .collect()
    }

    /// After a conflict: the user's values (`self`) moved onto the version
    /// stored `now`. A field the user left as it was when the form opened
    /// (`was`) takes the stored value, so saving again does not undo
    /// someone else's change; a field the user changed keeps the user's.
    pub fn rebase(&self, was: &CampaignForm, now: &CampaignForm) -> CampaignForm {
        CampaignForm(
            FIELDS
                .iter()
                .map(|f| {
                    let mine = self.get(f.name);
                    let v = if mine == was.get(f.name) {
                        now.get(f.name)
                    } else {
                        mine
                    };
                    (f.name, v.to_owned())
                })
                .collect(),
        )
    }

    /// `base` with the form's values, and an error for each field that
    /// cannot be read (that field then keeps `base`'s value).
    pub fn draft(&self, base: &Campaign) -> (Campaign, Vec<FieldError>) {
        let mut c = base.clone();
        let mut errors = Vec::new();
        let mut bad = |name: &str, message: &str| errors.push(FieldError::new(name, message));
        let list = |s: &str| -> Vec<String> {
            s.split([',', '\n'])
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(str::to_owned)
                .collect()
        };
        for f in FIELDS {
            let v = self.get(f.name).trim();
            match f.name {
                "advertiser_id" => match v.parse::<i64>() {
                    Ok(n) if n > 0 => c.advertiser_id = AdvertiserId(n),
                    _ => bad(f.name, "pick an advertiser"),
                },
                "name" => c.name = v.to_owned(),
                "status" => match STATUSES.iter().position(|(s, _)| *s == v) {
                    Some(0) => c.status = CampaignStatus::Active,
                    Some(1) => c.status = CampaignStatus::Paused,
                    Some(_) => c.status = CampaignStatus::Archived,
                    None => bad(f.name, "active, paused or archived"),
                },
                "currency" => match Currency::parse(v) {
                    Some(cur) => c.currency = cur,
                    None => bad(f.name, "three letters, e.g. USD"),
                },
                "daily_budget" | "total_budget" | "base_cpm" | "max_cpm" => match parse_amount(v) {
                    Some(m) => match f.name {
                        "daily_budget" => c.daily_budget_micros = m,
                        "total_budget" => c.total_budget_micros = m,
                        "base_cpm" => c.base_cpm_micros = m,
                        _ => c.max_cpm_micros = m,
                    },
                    None => bad(f.name, "an amount like 12.50 (at most six decimals)"),
                },
                "pacing_mode" => match v {
                    "even" => c.pacing.mode = PacingMode::Even,
                    "front_loaded" => c.pacing.mode = PacingMode::FrontLoaded,
                    "asap" => c.pacing.mode = PacingMode::Asap,
                    _ => bad(f.name, "even, front-loaded or as fast as bids win"),
                },
                "time_zone" => c.pacing.time_zone = v.to_owned(),
                "flight_start" | "flight_end" => match parse_time(v) {
                    Some(t) if f.name == "flight_start" => c.flight_start = t,
                    Some(t) => c.flight_end = t,
                    None => bad(f.name, "a UTC time like 2026-12-07T10:00, or blank"),
                },
                "adomain" => c.adomain = list(v),
                "cat" => c.cat = list(v),
                "language" => c.language = (!v.is_empty()).then(|| v.to_owned()),
                "countries" => c.targeting.countries = list(v),
                "languages" => c.targeting.languages = list(v),
                "fragment_sets" => c.fragment_sets = list(v),
                _ => {}
            }
        }
        (c, errors)
    }
}

/// A new campaign's starting point: active, in US dollars, paced evenly
/// over UTC days, for `advertiser` when there is one to pick.
pub fn blank(advertiser: Option<AdvertiserId>) -> Campaign {
    Campaign::blank(advertiser.unwrap_or(AdvertiserId(0)))
}

/// The form field and message of a service error: `targeting.countries[2]`
/// is the third entry of `countries`. `None` for a path the form does not
/// hold (shown above the form instead).
pub fn at_field(e: &FieldError) -> Option<(&'static str, String)> {
    let (path, index) = match e.field.strip_suffix(']').and_then(|p| p.rsplit_once('[')) {
        Some((p, i)) => (p, i.parse::<usize>().ok()),
        None => (e.field.as_str(), None),
    };
    let f = FIELDS.iter().find(|f| f.path == path || f.name == path)?;
    let message = match index {
        Some(i) => format!("entry {}: {}", i + 1, e.message),
        None => e.message.clone(),
    };
    Some((f.name, message))
}

fn status_name(s: CampaignStatus) -> &'static str {
    match s {
        CampaignStatus::Active => "active",
        CampaignStatus::Paused => "paused",
        CampaignStatus::Archived => "archived",
    }
}

fn pacing_name(m: PacingMode) -> &'static str {
    match m {
        PacingMode::Even => "even",
        PacingMode::FrontLoaded => "front_loaded",
        PacingMode::Asap => "asap",
    }
}

/// `m` as a decimal amount, with at least two places and no trailing
/// zeros beyond them: `12.5` is `12.50`, `0.000125` stays exact.
pub fn amount(m: Micros) -> String {
    let sign = if m.0 < 0 { "-" } else { "" };
    let n = m.0.unsigned_abs();
    let mut frac = format!("{:06}", n % 1_000_000);
    while frac.len() > 2 && frac.ends_with('0') {
        frac.pop();
    }
    format!("{sign}{}.{frac}", n / 1_000_000)
}

/// A decimal amount as micros: digits, an optional sign and at most six
/// decimals.
fn parse_amount(s: &str) -> Option<Micros> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && frac.is_empty()
        || !all_digits(whole)
        || !all_digits(frac)
        || frac.len() > 6
        || whole.len() > 12
    {
        return None;
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let frac: i64 = format!("{frac:0<6}").parse().ok()?;
    let n = whole.checked_mul(1_000_000)?.checked_add(frac)?;
    Some(Micros(if neg { -n } else { n }))
}

/// A time as a `datetime-local` field shows it, in UTC.
fn time(t: UnixTime) -> String {
    jiff::Timestamp::from_second(t.0)
        .map(|ts| {
            ts.to_zoned(jiff::tz::TimeZone::UTC)
                .strftime("%Y-%m-%dT%H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// A `datetime-local` value read as UTC; `Some(None)` when blank.
fn parse_time(s: &str) -> Option<Option<UnixTime>> {
    if s.is_empty() {
        return Some(None);
    }
    let dt = s.parse::<jiff::civil::DateTime>().ok()?;
    let z = dt.to_zoned(jiff::tz::TimeZone::UTC).ok()?;
    Some(Some(UnixTime(z.timestamp().as_second())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Campaign {
        let mut c = blank(Some(AdvertiserId(3)));
        c.name = "Spring".into();
        c.daily_budget_micros = Micros(12_500_000);
        c.base_cpm_micros = Micros(125);
        c.flight_end = Some(UnixTime(1_796_601_600));
        c.targeting.countries = vec!["DEU".into(), "AUT".into()];
        c
    }

    #[test]
    fn a_campaigns_form_reads_back_to_the_same_campaign() {
        let c = sample();
        let form = CampaignForm::of(&c);
        assert_eq!(form.get("daily_budget"), "12.50");
        assert_eq!(form.get("base_cpm"), "0.000125");
        assert_eq!(form.get("countries"), "DEU, AUT");
        assert_eq!(form.get("flight_end"), "2026-12-07T00:00");
        let (back, errors) = form.draft(&blank(None));
        assert_eq!(errors, vec![]);
        assert_eq!(back, c);
    }

    #[test]
    fn every_unreadable_field_is_named_and_keeps_its_base() {
        let mut form = CampaignForm::of(&sample());
        form.0.insert("daily_budget", "12,50".into());
        form.0.insert("max_cpm", "1.0000001".into());
        form.0.insert("flight_start", "tomorrow".into());
        form.0.insert("currency", "US".into());
        let (c, errors) = form.draft(&sample());
        let names: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            names,
            ["currency", "daily_budget", "max_cpm", "flight_start"]
        );
        assert_eq!(c.daily_budget_micros, Micros(12_500_000));
    }

    #[test]
    fn service_paths_land_on_their_form_fields() {
        let e = FieldError::new("targeting.countries[1]", "not an ISO-3166-1 alpha-3 code");
        assert_eq!(
            at_field(&e),
            Some((
                "countries",
                "entry 2: not an ISO-3166-1 alpha-3 code".into()
            ))
        );
        let e = FieldError::new("daily_budget_micros", "must not be negative");
        assert_eq!(at_field(&e).unwrap().0, "daily_budget");
        assert_eq!(
            at_field(&FieldError::new("pacing.time_zone", "x"))
                .unwrap()
                .0,
            "time_zone"
        );
        assert_eq!(at_field(&FieldError::new("frequency.caps[0]", "x")), None);
    }

    #[test]
    fn changes_name_each_field_that_differs() {
        let was = CampaignForm::of(&sample());
        let mut c = sample();
        c.name = "Summer".into();
        c.daily_budget_micros = Micros(20_000_000);
        let changes = was.changes(&CampaignForm::of(&c));
        let names: Vec<&str> = changes.iter().map(|c| c.field.name).collect();
        assert_eq!(names, ["name", "daily_budget"]);
        assert_eq!(
            (changes[1].was.as_str(), changes[1].now.as_str()),
            ("12.50", "20.00")
        );
    }

    #[test]
    fn after_a_conflict_untouched_fields_take_the_stored_value() {
        let was = CampaignForm::of(&sample());
        let mut theirs = sample();
        theirs.name = "Theirs".into();
        theirs.max_cpm_micros = Micros(9_000_000);
        let now = CampaignForm::of(&theirs);
        let mut mine = was.clone();
        mine.0.insert("max_cpm", "7.00".into());
        mine.0.insert("cat", "IAB1".into());
        let rebased = mine.rebase(&was, &now);
        assert_eq!(rebased.get("name"), "Theirs", "untouched: theirs");
        assert_eq!(rebased.get("max_cpm"), "7.00", "changed by both: mine");
        assert_eq!(rebased.get("cat"), "IAB1", "changed by me only: mine");
    }

    #[test]
    fn amounts_are_exact_decimals() {
        assert_eq!(parse_amount("12.5"), Some(Micros(12_500_000)));
        assert_eq!(parse_amount(".5"), Some(Micros(500_000)));
        assert_eq!(parse_amount("-1"), Some(Micros(-1_000_000)));
        assert_eq!(parse_amount(""), None);
        assert_eq!(parse_amount("1e3"), None);
        assert_eq!(parse_amount("9999999999999"), None);
        assert_eq!(amount(Micros(-1_500_000)), "-1.50");
    }
}

//! The rules on values of what clients write: every broken rule is
//! collected with its field path, so one refusal lists them all.
//!
//! Pure functions over drafts; never reads the store (callers pass what they
//! looked up, such as whether an advertiser exists) and never decides who
//! may write.

use creative::{CLICK_URL_MACRO, FixedCreative, Image};

use super::FieldError;
use crate::model::{Advertiser, AdvertiserId, Campaign, FrequencyRules};

/// Longest display name.
const MAX_NAME: usize = 200;
/// Largest HTML or VAST document: bigger ones bloat every bid response.
const MAX_MARKUP_BYTES: usize = 100 * 1024;
/// Largest banner or video side in pixels.
const MAX_SIDE: u32 = 4096;
/// Highest OpenRTB device type (AdCOM 1.0 list: 1..=7).
const MAX_DEVICE_TYPE: u32 = 7;
/// Highest OpenRTB creative attribute code kept plausible.
const MAX_ATTR: u32 = 255;
/// Highest CPM a campaign may bid, micros: 10,000 currency units a
/// thousand impressions, past any real price, far from overflowing sums.
pub(super) const MAX_CPM_MICROS: i64 = 10_000 * 1_000_000;
/// Highest daily or total budget, micros: a billion currency units.
pub(super) const MAX_BUDGET_MICROS: i64 = 1_000_000_000 * 1_000_000;

/// The most entries each list of a campaign may hold. Every entry is
/// compiled into the bid snapshot (lowercased copies, index bitsets), so
/// these bound what one campaign can cost in memory and per bid.
pub(super) mod limits {
    /// `adomain`, `cat`, `attr`: what one bid declares.
    pub const DECLARED: usize = 50;
    /// `targeting.countries`: every ISO-3166 code fits.
    pub const COUNTRIES: usize = 300;
    /// `targeting.regions`.
    pub const REGIONS: usize = 1_000;
    /// `targeting.device_types`, `targeting.os`, `targeting.sizes`,
    /// `fragment_sets`, a video's `mimes`.
    pub const SHORT: usize = 50;
    /// `targeting.languages`.
    pub const LANGUAGES: usize = 200;
    /// Each of `targeting.site_domains.{allow,deny}` and
    /// `targeting.app_bundles.{allow,deny}`: a buyer's block list.
    pub const INVENTORY: usize = 5_000;
    /// `targeting.deal_ids`.
    pub const DEALS: usize = 1_000;
}

/// ISO-4217 codes a campaign may be priced in: the currencies exchanges
/// actually send in `cur`.
const CURRENCIES: &[&str] = &[
    "AED", "ARS", "AUD", "BGN", "BRL", "CAD", "CHF", "CLP", "CNY", "COP", "CZK", "DKK", "EGP",
    "EUR", "GBP", "HKD", "HUF", "IDR", "ILS", "INR", "ISK", "JPY", "KRW", "MXN", "MYR", "NGN",
    "NOK", "NZD", "PEN", "PHP", "PKR", "PLN", "RON", "RUB", "SAR", "SEK", "SGD", "THB", "TRY",
    "TWD", "UAH", "USD", "VND", "ZAR",
];

/// The field errors found so far.
#[derive(Debug, Default)]
pub(crate) struct Errors(pub Vec<FieldError>);

impl Errors {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(path, message));
    }

    /// Whether `list` at `path` holds at most `max` entries; one error
    /// naming the field and the limit when it does not (its entries are
    /// then not checked one by one: a list of 100,000 bad entries gets
    /// one error, not 100,000).
    pub(super) fn at_most<T>(&mut self, path: &str, list: &[T], max: usize) -> bool {
        if list.len() <= max {
            return true;
        }
        self.push(
            path,
            format!("at most {max} entries (this list has {})", list.len()),
        );
        false
    }

    /// `Ok` when no rule is broken, else every broken one.
    pub(super) fn into_result(self) -> Result<(), super::ServiceError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(super::ServiceError::Invalid(self.0))
        }
    }
}

fn name(e: &mut Errors, path: &str, value: &str) {
    if value.trim().is_empty() {
        e.push(path, "must not be empty");
    } else if value.chars().count() > MAX_NAME {
        e.push(path, format!("must be at most {MAX_NAME} characters"));
    }
}

/// A DNS name of at least two labels, lowercase, with an alphabetic TLD.
fn is_domain(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    s.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_lowercase()))
}

fn domain(e: &mut Errors, path: &str, value: &str) {
    if !is_domain(value) {
        e.push(path, "not a lowercase domain name like example.com");
    }
}

fn is_https_url(s: &str) -> bool {
    s.strip_prefix("https://").is_some_and(|rest| {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control())
    })
}

fn https(e: &mut Errors, path: &str, value: &str) {
    if !is_https_url(value) {
        e.push(path, "must be an https URL");
    }
}

fn side(e: &mut Errors, path: &str, value: u32) {
    if !(1..=MAX_SIDE).contains(&value) {
        e.push(path, format!("must be from 1 to {MAX_SIDE}"));
    }
}

fn non_empty_each(e: &mut Errors, path: &str, values: &[String]) {
    for (i, v) in values.iter().enumerate() {
        if v.trim().is_empty() {
            e.push(format!("{path}[{i}]"), "must not be empty");
        }
    }
}

fn is_alpha3(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())
}

fn is_region(s: &str) -> bool {
    s.split_once('-').is_some_and(|(country, sub)| {
        is_alpha3(country)
            && (1..=3).contains(&sub.len())
            && sub
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    })
}

fn is_language(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_lowercase())
}

/// Every broken rule of an advertiser.
pub(crate) fn advertiser(a: &Advertiser) -> Errors {
    let mut e = Errors::default();
    name(&mut e, "name", &a.name);
    domain(&mut e, "domain", &a.domain);
    frequency(&mut e, "frequency", &a.frequency);
    time_zone(&mut e, "time_zone", &a.time_zone);
    e
}

fn time_zone(e: &mut Errors, path: &str, zone: &str) {
    if jiff::tz::TimeZone::get(zone).is_err() {
        e.push(path, "not an IANA time zone like Europe/Berlin or UTC");
    }
}

/// Caps count at most 255 per window (the table's counters); one cap per
/// window.
fn frequency(e: &mut Errors, path: &str, f: &FrequencyRules) {
    for (i, cap) in f.caps.iter().enumerate() {
        if !(1..=255).contains(&cap.impressions) {
            e.push(
                format!("{path}.caps[{i}].impressions"),
                "must be from 1 to 255",
            );
        }
        if f.caps[..i].iter().any(|c| c.window == cap.window) {
            e.push(
                format!("{path}.caps[{i}].window"),
                "a window may have one cap",
            );
        }
    }
    if f.min_gap_secs > 7 * 86_400 {
        e.push(
            format!("{path}.min_gap_secs"),
            "must be at most a week (604800)",
        );
    }
}

/// Every broken rule of a campaign; `advertiser_exists` and the owner of
/// the audience funnel (`None`: no such funnel) are looked up by the caller.
pub(crate) fn campaign(
    c: &Campaign,
    advertiser_exists: bool,
    funnel_owner: Option<AdvertiserId>,
) -> Errors {
    let mut e = Errors::default();
    if !advertiser_exists {
        e.push("advertiser_id", "no such advertiser");
    }
    name(&mut e, "name", &c.name);
    if !CURRENCIES.contains(&c.currency.as_str()) {
        e.push("currency", "not a supported ISO-4217 currency code");
    }
    for (path, m, max) in [
        (
            "total_budget_micros",
            c.total_budget_micros,
            MAX_BUDGET_MICROS,
        ),
        (
            "daily_budget_micros",
            c.daily_budget_micros,
            MAX_BUDGET_MICROS,
        ),
        ("base_cpm_micros", c.base_cpm_micros, MAX_CPM_MICROS),
        ("max_cpm_micros", c.max_cpm_micros, MAX_CPM_MICROS),
    ] {
        if m.0 < 0 {
            e.push(path, "must not be negative");
        } else if m.0 > max {
            e.push(path, format!("must be at most {max}"));
        }
    }
    if c.base_cpm_micros > c.max_cpm_micros {
        e.push("base_cpm_micros", "must not exceed max_cpm_micros");
    }
    if c.total_budget_micros.0 > 0 && c.daily_budget_micros > c.total_budget_micros {
        e.push("daily_budget_micros", "must not exceed total_budget_micros");
    }
    time_zone(&mut e, "pacing.time_zone", &c.pacing.time_zone);
    frequency(&mut e, "frequency", &c.frequency);
    if matches!((c.flight_start, c.flight_end), (Some(start), Some(end)) if start >= end) {
        e.push("flight_end", "must be after flight_start");
    }
    if e.at_most("adomain", &c.adomain, limits::DECLARED) {
        for (i, d) in c.adomain.iter().enumerate() {
            domain(&mut e, &format!("adomain[{i}]"), d);
        }
    }
    if e.at_most("cat", &c.cat, limits::DECLARED) {
        non_empty_each(&mut e, "cat", &c.cat);
    }
    if e.at_most("attr", &c.attr, limits::DECLARED) {
        for (i, a) in c.attr.iter().enumerate() {
            if !(1..=MAX_ATTR).contains(a) {
                e.push(
                    format!("attr[{i}]"),
                    format!("must be from 1 to {MAX_ATTR}"),
                );
            }
        }
    }
    e.at_most("fragment_sets", &c.fragment_sets, limits::SHORT);
    if c.app_bundle.as_deref().is_some_and(|b| b.trim().is_empty()) {
        e.push("app_bundle", "must not be empty when present");
    }
    if c.language.as_deref().is_some_and(|l| !is_language(l)) {
        e.push("language", "not an ISO-639-1 code like en");
    }
    let t = &c.targeting;
    let countries = e.at_most("targeting.countries", &t.countries, limits::COUNTRIES);
    for (i, country) in t.countries.iter().enumerate().filter(|_| countries) {
        if !is_alpha3(country) {
            e.push(
                format!("targeting.countries[{i}]"),
                "not an ISO-3166-1 alpha-3 code",
            );
        }
    }
    let regions = e.at_most("targeting.regions", &t.regions, limits::REGIONS);
    for (i, r) in t.regions.iter().enumerate().filter(|_| regions) {
        if !is_region(r) {
            e.push(
                format!("targeting.regions[{i}]"),
                "not a region like USA-CA (alpha-3 country, dash, subdivision)",
            );
        }
    }
    let device_types = e.at_most("targeting.device_types", &t.device_types, limits::SHORT);
    for (i, d) in t.device_types.iter().enumerate().filter(|_| device_types) {
        if !(1..=MAX_DEVICE_TYPE).contains(d) {
            e.push(
                format!("targeting.device_types[{i}]"),
                format!("not an OpenRTB device type (1 to {MAX_DEVICE_TYPE})"),
            );
        }
    }
    if e.at_most("targeting.os", &t.os, limits::SHORT) {
        non_empty_each(&mut e, "targeting.os", &t.os);
    }
    for (list, path) in [
        (&t.site_domains.allow, "targeting.site_domains.allow"),
        (&t.site_domains.deny, "targeting.site_domains.deny"),
    ] {
        if e.at_most(path, list, limits::INVENTORY) {
            for (i, d) in list.iter().enumerate() {
                domain(&mut e, &format!("{path}[{i}]"), d);
            }
        }
    }
    for (list, path) in [
        (&t.app_bundles.allow, "targeting.app_bundles.allow"),
        (&t.app_bundles.deny, "targeting.app_bundles.deny"),
    ] {
        if e.at_most(path, list, limits::INVENTORY) {
            non_empty_each(&mut e, path, list);
        }
    }
    if e.at_most("targeting.sizes", &t.sizes, limits::SHORT) {
        for (i, s) in t.sizes.iter().enumerate() {
            side(&mut e, &format!("targeting.sizes[{i}].w"), s.w);
            side(&mut e, &format!("targeting.sizes[{i}].h"), s.h);
        }
    }
    if e.at_most("targeting.deal_ids", &t.deal_ids, limits::DEALS) {
        non_empty_each(&mut e, "targeting.deal_ids", &t.deal_ids);
    }
    if t.deals_only && t.deal_ids.is_empty() {
        e.push(
            "targeting.deal_ids",
            "must name at least one deal when deals_only is set",
        );
    }
    let languages = e.at_most("targeting.languages", &t.languages, limits::LANGUAGES);
    for (i, l) in t.languages.iter().enumerate().filter(|_| languages) {
        if !is_language(l) {
            e.push(
                format!("targeting.languages[{i}]"),
                "not an ISO-639-1 code like en",
            );
        }
    }
    match &t.audience {
        Some(a) => {
            if funnel_owner != Some(c.advertiser_id) {
                e.push(
                    "targeting.audience.funnel_id",
                    "no such funnel for this advertiser",
                );
            }
            for (i, s) in a.stages.iter().enumerate() {
                if a.exclude_stages.contains(s) {
                    e.push(
                        format!("targeting.audience.stages[{i}]"),
                        "is also in exclude_stages",
                    );
                }
            }
        }
        None if !c.stage_multipliers.is_neutral() => e.push(
            "stage_multipliers",
            "need targeting.audience: the funnel whose stage they apply to",
        ),
        None => {}
    }
    e
}

fn image(e: &mut Errors, path: &str, img: &Image) {
    https(e, &format!("{path}.url"), &img.url);
    side(e, &format!("{path}.w"), img.w);
    side(e, &format!("{path}.h"), img.h);
    for (i, crop) in img.crops.iter().enumerate() {
        let path = format!("{path}.crops[{i}]");
        https(e, &format!("{path}.url"), &crop.url);
        side(e, &format!("{path}.w"), crop.w);
        side(e, &format!("{path}.h"), crop.h);
    }
}

/// Highest OpenRTB 2.6 video placement subtype (`plcmt`: 1 instream to 4
/// standalone).
const MAX_PLCMT: u32 = 4;

/// A VAST document exchanges can be told the version of: protocols name
/// versions, so one without a known version would never be served.
fn vast_version(e: &mut Errors, path: &str, document: &str) {
    let named = crate::vast::read(document).and_then(|r| r.version);
    if named.is_none() {
        e.push(
            path,
            "<VAST> must name its version: 2.0, 3.0, 4.0, 4.1 or 4.2 (exchanges take the versions they list)",
        );
    }
}

fn markup(e: &mut Errors, path: &str, text: &str) {
    if text.trim().is_empty() {
        e.push(path, "must not be empty");
    } else if text.len() > MAX_MARKUP_BYTES {
        e.push(path, format!("must be at most {MAX_MARKUP_BYTES} bytes"));
    }
}

/// Every broken rule of a creative's name and body.
pub(crate) fn creative(creative_name: &str, body: &FixedCreative) -> Errors {
    let mut e = Errors::default();
    name(&mut e, "name", creative_name);
    match body {
        FixedCreative::Html(h) => {
            side(&mut e, "body.w", h.w);
            side(&mut e, "body.h", h.h);
            markup(&mut e, "body.markup", &h.markup);
            // Each half without the other loses clicks: a macro with nowhere
            // to land would 404 the person, a landing page without the macro
            // would never be reached through the tracker.
            let has_macro = h.markup.contains(CLICK_URL_MACRO);
            match &h.landing_url {
                Some(url) => {
                    https(&mut e, "body.landing_url", url);
                    if !has_macro {
                        e.push(
                            "body.markup",
                            format!("must contain {CLICK_URL_MACRO} where the link goes, since landing_url is given"),
                        );
                    }
                }
                None if has_macro => e.push(
                    "body.landing_url",
                    format!("is required when the markup contains {CLICK_URL_MACRO}"),
                ),
                None => {}
            }
        }
        FixedCreative::Native(n) => {
            name(&mut e, "body.title", &n.title);
            https(&mut e, "body.landing_url", &n.landing_url);
            if let Some(img) = &n.image {
                image(&mut e, "body.image", img);
            }
            if let Some(icon) = &n.icon {
                image(&mut e, "body.icon", icon);
            }
            if let Some(url) = &n.privacy_url {
                https(&mut e, "body.privacy_url", url);
            }
            for (path, text) in [
                ("body.description", &n.description),
                ("body.cta", &n.cta),
                ("body.sponsored", &n.sponsored),
            ] {
                if text.as_deref().is_some_and(|t| t.trim().is_empty()) {
                    e.push(path, "must not be empty when present");
                }
            }
        }
        FixedCreative::Vast(v) => {
            markup(&mut e, "body.document", &v.document);
            if !v.document.trim().is_empty() {
                match crate::vast::check(&v.document) {
                    Ok(()) => vast_version(&mut e, "body.document", &v.document),
                    Err(why) => e.push("body.document", why),
                }
            }
            for (i, p) in v.plcmt.iter().enumerate() {
                if !(1..=MAX_PLCMT).contains(p) {
                    e.push(
                        format!("body.plcmt[{i}]"),
                        format!("not a video placement subtype (1 to {MAX_PLCMT})"),
                    );
                }
            }
            if v.duration_secs == 0 {
                e.push("body.duration_secs", "must be greater than 0");
            }
            if v.mimes.is_empty() {
                e.push("body.mimes", "must name at least one MIME type");
            }
            let listed = e.at_most("body.mimes", &v.mimes, limits::SHORT);
            for (i, m) in v.mimes.iter().enumerate().filter(|_| listed) {
                if !m.contains('/') || m.trim() != m {
                    e.push(format!("body.mimes[{i}]"), "not a MIME type like video/mp4");
                }
            }
            side(&mut e, "body.w", v.w);
            side(&mut e, "body.h", v.h);
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_need_two_lowercase_labels_and_an_alphabetic_tld() {
        assert!(is_domain("acme-outdoor.example"));
        assert!(is_domain("cdn.a1.co"));
        for bad in [
            "acme", "Acme.com", "-a.com", "a..com", "a.c0m", "a b.com", "",
        ] {
            assert!(!is_domain(bad), "{bad}");
        }
    }

    #[test]
    fn https_urls_need_a_host_and_no_spaces() {
        assert!(is_https_url("https://a.example/x?y"));
        for bad in [
            "http://a.example",
            "https://",
            "https:// a.example",
            "a.example",
        ] {
            assert!(!is_https_url(bad), "{bad}");
        }
    }

    #[test]
    fn regions_are_alpha3_dash_subdivision() {
        assert!(is_region("USA-CA"));
        assert!(is_region("DEU-BY"));
        assert!(!is_region("US-CA"));
        assert!(!is_region("USA-"));
        assert!(!is_region("usa-ca"));
    }
}

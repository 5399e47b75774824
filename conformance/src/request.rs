//! What a bid request allows, read from its JSON with the spec's defaults:
//! its imps and the kinds of ad each offers, sizes, floors, deals, and the
//! buyer, advertiser, category, app and attribute block lists.
//!
//! Reads leniently: a field of the wrong type counts as absent. Whether
//! the request itself is valid is the bidder's parser's question, not
//! this crate's.

use serde_json::Value;

/// The currency of floors and answers when none is named (OpenRTB 2.6
/// §3.2.4, §4.2.1).
pub(crate) const DEFAULT_CURRENCY: &str = "USD";

/// The category taxonomy assumed when `cattax` is absent: IAB Content
/// Category Taxonomy 1.0 (AdCOM list "Category Taxonomies", value 1).
const CONTENT_TAXONOMY_1: i64 = 1;

/// A kind of ad, as `Bid.mtype` numbers them (OpenRTB 2.6 §4.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Banner,
    Video,
    Audio,
    Native,
}

impl Kind {
    /// All kinds, in `mtype` order.
    pub(crate) const ALL: [Kind; 4] = [Kind::Banner, Kind::Video, Kind::Audio, Kind::Native];

    /// The kind `mtype` names, if any.
    pub(crate) fn from_mtype(mtype: i64) -> Option<Kind> {
        match mtype {
            1 => Some(Kind::Banner),
            2 => Some(Kind::Video),
            3 => Some(Kind::Audio),
            4 => Some(Kind::Native),
            _ => None,
        }
    }

    /// The imp's key for this kind's object.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Kind::Banner => "banner",
            Kind::Video => "video",
            Kind::Audio => "audio",
            Kind::Native => "native",
        }
    }
}

/// A bid request's JSON.
#[derive(Clone, Copy)]
pub(crate) struct Request<'a>(pub(crate) &'a Value);

impl<'a> Request<'a> {
    /// The request's `id`.
    pub(crate) fn id(self) -> Option<&'a str> {
        text(self.0, "id")
    }

    /// The imp with `id`.
    pub(crate) fn imp(self, id: &str) -> Option<Imp<'a>> {
        array(self.0, "imp")
            .iter()
            .find(|imp| text(imp, "id") == Some(id))
            .map(Imp)
    }

    /// The currencies bids may use: `cur`, or USD when it names none.
    pub(crate) fn currencies(self) -> Vec<&'a str> {
        let named = strings(self.0, "cur");
        match named.is_empty() {
            true => vec![DEFAULT_CURRENCY],
            false => named,
        }
    }

    /// Blocked advertiser domains.
    pub(crate) fn badv(self) -> Vec<&'a str> {
        strings(self.0, "badv")
    }

    /// Blocked app bundles.
    pub(crate) fn bapp(self) -> Vec<&'a str> {
        strings(self.0, "bapp")
    }

    /// Blocked and allowed advertiser categories, in the request's
    /// taxonomy.
    pub(crate) fn categories(self) -> Categories<'a> {
        Categories {
            blocked: strings(self.0, "bcat"),
            allowed: strings(self.0, "acat"),
            taxonomy: integer(self.0, "cattax").unwrap_or(CONTENT_TAXONOMY_1),
        }
    }

    /// Allowed buyer seats; empty means no restriction.
    pub(crate) fn wseat(self) -> Vec<&'a str> {
        strings(self.0, "wseat")
    }

    /// Blocked buyer seats.
    pub(crate) fn bseat(self) -> Vec<&'a str> {
        strings(self.0, "bseat")
    }
}

/// One imp of a request.
#[derive(Clone, Copy)]
pub(crate) struct Imp<'a>(pub(crate) &'a Value);

impl<'a> Imp<'a> {
    /// The kinds of ad this imp offers, in `mtype` order.
    pub(crate) fn kinds(self) -> Vec<Kind> {
        Kind::ALL
            .into_iter()
            .filter(|k| self.object(*k).is_some())
            .collect()
    }

    /// The imp's object for `kind` (`banner`, `video`, ...).
    pub(crate) fn object(self, kind: Kind) -> Option<&'a Value> {
        self.0.get(kind.key()).filter(|o| o.is_object())
    }

    /// The imp's own floor.
    pub(crate) fn floor(self) -> Floor<'a> {
        Floor::of(self.0)
    }

    /// Whether only bids on the imp's deals are accepted.
    pub(crate) fn is_private(self) -> bool {
        self.0
            .get("pmp")
            .and_then(|pmp| integer(pmp, "private_auction"))
            == Some(1)
    }

    /// The deal of the imp's `pmp` with `id`.
    pub(crate) fn deal(self, id: &str) -> Option<Deal<'a>> {
        let pmp = self.0.get("pmp")?;
        array(pmp, "deals")
            .iter()
            .find(|d| text(d, "id") == Some(id))
            .map(Deal)
    }

    /// Whether the imp needs secure (https) markup and notices
    /// (`secure` 1).
    pub(crate) fn is_secure(self) -> bool {
        integer(self.0, "secure") == Some(1)
    }

    /// Blocked creative attributes of the imp's object for `kind`.
    pub(crate) fn battr(self, kind: Kind) -> Vec<i64> {
        self.object(kind)
            .map(|o| integers(o, "battr"))
            .unwrap_or_default()
    }
}

/// A deal of an imp's `pmp`.
#[derive(Clone, Copy)]
pub(crate) struct Deal<'a>(pub(crate) &'a Value);

impl<'a> Deal<'a> {
    /// The deal's floor (its own `bidfloor`, default 0).
    pub(crate) fn floor(self) -> Floor<'a> {
        Floor::of(self.0)
    }

    /// Seats allowed on the deal; empty means no restriction.
    pub(crate) fn wseat(self) -> Vec<&'a str> {
        strings(self.0, "wseat")
    }

    /// Advertiser domains allowed on the deal; empty means no restriction.
    pub(crate) fn wadomain(self) -> Vec<&'a str> {
        strings(self.0, "wadomain")
    }
}

/// A minimum price in a currency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Floor<'a> {
    /// CPM.
    pub(crate) amount: f64,
    /// ISO-4217 code.
    pub(crate) currency: &'a str,
}

impl<'a> Floor<'a> {
    /// The `bidfloor` and `bidfloorcur` of an imp or deal.
    fn of(obj: &'a Value) -> Floor<'a> {
        Floor {
            amount: number(obj, "bidfloor").unwrap_or(0.0),
            currency: text(obj, "bidfloorcur").unwrap_or(DEFAULT_CURRENCY),
        }
    }
}

/// A request's category restrictions.
pub(crate) struct Categories<'a> {
    blocked: Vec<&'a str>,
    allowed: Vec<&'a str>,
    taxonomy: i64,
}

impl Categories<'_> {
    /// Why category `cat` of a bid in taxonomy `taxonomy` is refused, if
    /// it is.
    pub(crate) fn refusal(&self, cat: &str, taxonomy: i64) -> Option<String> {
        let tiered = taxonomy == CONTENT_TAXONOMY_1 && self.taxonomy == CONTENT_TAXONOMY_1;
        let covers = |listed: &str| match tiered {
            true => under_tier(listed, cat),
            false => listed == cat,
        };
        if let Some(b) = self.blocked.iter().find(|b| covers(b)) {
            return Some(format!("category {cat} is blocked by bcat {b}"));
        }
        let comparable = taxonomy == self.taxonomy;
        if comparable && !self.allowed.is_empty() && !self.allowed.iter().any(|a| covers(a)) {
            return Some(format!(
                "category {cat} is not among acat {:?}",
                self.allowed
            ));
        }
        None
    }

    /// Whether the request restricts categories to an allowed list.
    pub(crate) fn has_allowed_list(&self) -> bool {
        !self.allowed.is_empty()
    }
}

/// Whether IAB Content Category 1.0 code `cat` is `listed` or one of its
/// subcategories (`IAB17` covers `IAB17-12`).
fn under_tier(listed: &str, cat: &str) -> bool {
    cat.strip_prefix(listed)
        .is_some_and(|rest| rest.is_empty() || (rest.starts_with('-') && !listed.contains('-')))
}

/// Whether advertiser domain `domain` is `listed` or one of its
/// subdomains (`ford.com` covers `www.ford.com`), ignoring case.
pub(crate) fn domain_is_under(listed: &str, domain: &str) -> bool {
    let (listed, domain) = (listed.to_ascii_lowercase(), domain.to_ascii_lowercase());
    domain == listed || domain.ends_with(&format!(".{listed}"))
}

/// The sizes a banner asks for: fixed `w`×`h` pairs from `format` and the
/// banner's own `w`/`h`, and flexible formats (ratio and minimum width).
#[derive(Debug, Default)]
pub(crate) struct Sizes {
    fixed: Vec<(u64, u64)>,
    flexible: Vec<Flex>,
}

/// A flexible format: any size of ratio `wratio`:`hratio` at least `wmin`
/// wide (OpenRTB 2.6 §3.2.10).
#[derive(Debug, Clone, Copy)]
struct Flex {
    wratio: u64,
    hratio: u64,
    wmin: u64,
}

impl Sizes {
    /// The sizes `banner` asks for.
    pub(crate) fn of(banner: &Value) -> Sizes {
        let mut sizes = Sizes::default();
        for format in array(banner, "format") {
            match (unsigned(format, "w"), unsigned(format, "h")) {
                (Some(w), Some(h)) => sizes.fixed.push((w, h)),
                _ => {
                    if let (Some(wratio), Some(hratio)) =
                        (unsigned(format, "wratio"), unsigned(format, "hratio"))
                    {
                        let wmin = unsigned(format, "wmin").unwrap_or(0);
                        sizes.flexible.push(Flex {
                            wratio,
                            hratio,
                            wmin,
                        });
                    }
                }
            }
        }
        if let (Some(w), Some(h)) = (unsigned(banner, "w"), unsigned(banner, "h")) {
            sizes.fixed.push((w, h));
        }
        sizes
    }

    /// Whether the banner names no size at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.fixed.is_empty() && self.flexible.is_empty()
    }

    /// Whether a `w`×`h` creative is one of the sizes.
    pub(crate) fn admits(&self, w: u64, h: u64) -> bool {
        self.fixed.contains(&(w, h))
            || self
                .flexible
                .iter()
                .any(|f| w >= f.wmin && w * f.hratio == h * f.wratio && w > 0)
    }

    /// The sizes, for a message.
    pub(crate) fn describe(&self) -> String {
        let mut parts: Vec<String> = self.fixed.iter().map(|(w, h)| format!("{w}x{h}")).collect();
        parts.extend(
            self.flexible
                .iter()
                .map(|f| format!("{}:{} from {} wide", f.wratio, f.hratio, f.wmin)),
        );
        parts.join(", ")
    }
}

/// `obj[key]` as text.
pub(crate) fn text<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

/// `obj[key]` as a number.
pub(crate) fn number(obj: &Value, key: &str) -> Option<f64> {
    obj.get(key).and_then(Value::as_f64)
}

/// `obj[key]` as an integer.
pub(crate) fn integer(obj: &Value, key: &str) -> Option<i64> {
    obj.get(key).and_then(Value::as_i64)
}

/// `obj[key]` as a non-negative integer.
pub(crate) fn unsigned(obj: &Value, key: &str) -> Option<u64> {
    obj.get(key).and_then(Value::as_u64)
}

/// `obj[key]` as an array; empty when absent or not an array.
pub(crate) fn array<'a>(obj: &'a Value, key: &str) -> &'a [Value] {
    obj.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The strings of the array `obj[key]`.
pub(crate) fn strings<'a>(obj: &'a Value, key: &str) -> Vec<&'a str> {
    array(obj, key).iter().filter_map(Value::as_str).collect()
}

/// The integers of the array `obj[key]`.
pub(crate) fn integers(obj: &Value, key: &str) -> Vec<i64> {
    array(obj, key).iter().filter_map(Value::as_i64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_request_without_cur_allows_usd_only() {
        assert_eq!(Request(&json!({"id": "r"})).currencies(), ["USD"]);
        assert_eq!(Request(&json!({"cur": ["EUR"]})).currencies(), ["EUR"]);
    }

    #[test]
    fn an_imp_offers_the_kinds_it_has_objects_for() {
        let imp = json!({"id": "1", "banner": {}, "video": {"mimes": []}});
        assert_eq!(Imp(&imp).kinds(), [Kind::Banner, Kind::Video]);
    }

    #[test]
    fn a_floor_defaults_to_zero_usd() {
        let imp = json!({"id": "1"});
        let floor = Imp(&imp).floor();
        assert_eq!(
            floor,
            Floor {
                amount: 0.0,
                currency: "USD"
            }
        );
    }

    #[test]
    fn a_tier_one_category_covers_its_subcategories_only() {
        assert!(under_tier("IAB17", "IAB17"));
        assert!(under_tier("IAB17", "IAB17-12"));
        assert!(!under_tier("IAB1", "IAB17"));
        assert!(!under_tier("IAB7-39", "IAB7-3"));
        assert!(!under_tier("IAB7-3", "IAB7-39"));
    }

    #[test]
    fn categories_of_another_taxonomy_block_only_by_exact_code() {
        let req = json!({"bcat": ["IAB17"], "cattax": 7});
        let cats = Request(&req).categories();
        assert!(cats.refusal("IAB17-1", 1).is_none());
        assert!(cats.refusal("IAB17", 1).is_some());
    }

    #[test]
    fn acat_refuses_categories_outside_it() {
        let req = json!({"acat": ["IAB1"]});
        let cats = Request(&req).categories();
        assert!(cats.refusal("IAB1-2", 1).is_none());
        assert!(cats.refusal("IAB2", 1).is_some());
    }

    #[test]
    fn a_blocked_domain_covers_its_subdomains_but_not_lookalikes() {
        assert!(domain_is_under("ford.com", "www.Ford.com"));
        assert!(domain_is_under("ford.com", "ford.com"));
        assert!(!domain_is_under("ford.com", "notford.com"));
    }

    #[test]
    fn banner_sizes_come_from_format_and_the_banners_own_size() {
        let sizes = Sizes::of(&json!({"format": [{"w": 300, "h": 250}], "w": 728, "h": 90}));
        assert!(sizes.admits(300, 250));
        assert!(sizes.admits(728, 90));
        assert!(!sizes.admits(320, 50));
    }

    #[test]
    fn a_flexible_format_admits_its_ratio_from_its_minimum_width() {
        let sizes = Sizes::of(&json!({"format": [{"wratio": 16, "hratio": 9, "wmin": 320}]}));
        assert!(sizes.admits(640, 360));
        assert!(!sizes.admits(160, 90));
        assert!(!sizes.admits(640, 480));
    }
}

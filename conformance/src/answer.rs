//! A bidder's answer to one bid request: the HTTP status, the body, and
//! every bid in it against what the request allows (OpenRTB 2.6 §4.2 and
//! the restrictions of §3.2), each bid's markup by the spec of its kind.

use std::collections::HashMap;

use serde_json::Value;

use crate::native::check_native;
use crate::request::{
    DEFAULT_CURRENCY, Deal, Imp, Kind, Request, Sizes, array, domain_is_under, integer, integers,
    number, strings, text, unsigned,
};
use crate::vast;
use crate::violation::{Rule, Violation};

/// Slack when comparing wire floats with a limit (a floor, a duration):
/// far below any amount or time that matters, above rounding noise.
const TOLERANCE: f64 = 1e-9;

/// The outcome of [`check_answer`]: how many bids the answer made, and
/// every rule it broke.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Verdict {
    /// Bid objects in the answer (0 for a no-bid).
    pub bids: usize,
    /// Every broken rule; empty when the answer conforms.
    pub violations: Vec<Violation>,
}

impl Verdict {
    /// Whether the answer bid at all.
    pub fn is_bid(&self) -> bool {
        self.bids > 0
    }

    /// Whether the answer broke no rule.
    pub fn passes(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Checks the answer to `request` (a valid bid request's JSON): `status`
/// and raw `body` as the bidder sent them.
///
/// A `204` without a body, and a `200` whose response has no bids (`{}`,
/// an empty `seatbid`, an `nbr`), are no-bids (OpenRTB 2.6 §7.1). A `200`
/// with bids is held to every rule of [`Rule`] that applies to it.
///
/// ```
/// use serde_json::json;
/// let request = json!({"id": "r1", "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}]});
/// let answer = json!({"id": "r1", "seatbid": [{"bid": [{
///     "id": "b1", "impid": "1", "price": 1.5, "adm": "<div>ad</div>",
///     "crid": "c1", "adomain": ["acme.example"], "w": 300, "h": 250}]}]});
/// let verdict = conformance::check_answer(&request, 200, answer.to_string().as_bytes());
/// assert!(verdict.is_bid() && verdict.passes(), "{:?}", verdict.violations);
/// ```
pub fn check_answer(request: &Value, status: u16, body: &[u8]) -> Verdict {
    let mut verdict = Verdict::default();
    let mut answer = Answer {
        request: Request(request),
        found: &mut verdict.violations,
    };
    match status {
        204 if body.is_empty() => {}
        204 => answer.add(
            "",
            Rule::NoContentBody,
            format!("a 204 with a {}-byte body", body.len()),
        ),
        200 => match serde_json::from_slice::<Value>(body) {
            Ok(response) if response.is_object() => verdict.bids = answer.response(&response),
            Ok(_) => answer.add("", Rule::Body, "the body is JSON but not an object"),
            Err(e) => answer.add("", Rule::Body, format!("the body is not JSON: {e}")),
        },
        other => answer.add(
            "",
            Rule::Status,
            format!("status {other}; a valid request is answered 200 or 204"),
        ),
    }
    verdict
}

/// One answer being checked.
struct Answer<'r, 'f> {
    request: Request<'r>,
    found: &'f mut Vec<Violation>,
}

/// Where a bid stands: its path, its seat, the answer's currency.
struct Place<'a> {
    at: String,
    seat: Option<&'a str>,
    currency: &'a str,
}

impl Answer<'_, '_> {
    fn add(&mut self, path: impl Into<String>, rule: Rule, message: impl Into<String>) {
        self.found.push(Violation::new(path, rule, message));
    }

    /// A BidResponse object; returns how many bids it holds.
    fn response(&mut self, response: &Value) -> usize {
        let seatbids = match response.get("seatbid") {
            None => &[][..],
            Some(Value::Array(seatbids)) => seatbids.as_slice(),
            Some(_) => {
                self.add("seatbid", Rule::SeatBid, "not an array");
                &[][..]
            }
        };
        let bids: usize = seatbids.iter().map(|s| array(s, "bid").len()).sum();
        let wanted = self.request.id().unwrap_or_default();
        match response.get("id") {
            Some(Value::String(id)) if id == wanted => {}
            Some(other) => self.add(
                "id",
                Rule::ResponseId,
                format!("{other}; the request's id is {wanted:?}"),
            ),
            None if bids > 0 => self.add(
                "id",
                Rule::ResponseId,
                "missing; a response with bids echoes the request's id",
            ),
            None => {}
        }
        let currency = match response.get("cur") {
            None => DEFAULT_CURRENCY,
            Some(Value::String(cur)) => cur.as_str(),
            Some(other) => {
                self.add(
                    "cur",
                    Rule::Currency,
                    format!("{other} is not a currency code"),
                );
                DEFAULT_CURRENCY
            }
        };
        let allowed = self.request.currencies();
        if bids > 0 && !allowed.iter().any(|c| c.eq_ignore_ascii_case(currency)) {
            self.add(
                "cur",
                Rule::Currency,
                format!("{currency}; the request allows {allowed:?}"),
            );
        }
        let mut per_imp: HashMap<&str, Vec<String>> = HashMap::new();
        for (i, seatbid) in seatbids.iter().enumerate() {
            let at = format!("seatbid[{i}]");
            let seat = text(seatbid, "seat");
            match seatbid.get("bid").and_then(Value::as_array) {
                Some(list) if !list.is_empty() => {
                    self.seat(seat, &at);
                    for (j, bid) in list.iter().enumerate() {
                        let place = Place {
                            at: format!("{at}.bid[{j}]"),
                            seat,
                            currency,
                        };
                        if let Some(impid) = text(bid, "impid") {
                            per_imp.entry(impid).or_default().push(place.at.clone());
                        }
                        self.bid(bid, &place);
                    }
                }
                _ => self.add(&at, Rule::SeatBid, "a seat bid holds a non-empty bid array"),
            }
        }
        let mut repeated: Vec<_> = per_imp.into_iter().filter(|(_, at)| at.len() > 1).collect();
        repeated.sort();
        for (impid, places) in repeated {
            for at in &places[1..] {
                self.add(
                    at,
                    Rule::OneBidPerImp,
                    format!("another bid for imp {impid:?}, first at {}", places[0]),
                );
            }
        }
        bids
    }

    /// A seat bid's buyer against the request's seat lists.
    fn seat(&mut self, seat: Option<&str>, at: &str) {
        let wseat = self.request.wseat();
        match seat {
            Some(s) if self.request.bseat().contains(&s) => self.add(
                format!("{at}.seat"),
                Rule::Seat,
                format!("seat {s:?} is blocked by bseat"),
            ),
            Some(s) if !wseat.is_empty() && !wseat.contains(&s) => self.add(
                format!("{at}.seat"),
                Rule::Seat,
                format!("seat {s:?} is not among wseat {wseat:?}"),
            ),
            None if !wseat.is_empty() => self.add(
                at,
                Rule::Seat,
                format!("no seat; the request allows only the seats {wseat:?}"),
            ),
            _ => {}
        }
    }

    /// One bid.
    fn bid(&mut self, bid: &Value, place: &Place) {
        let at = place.at.as_str();
        if !bid.is_object() {
            self.add(at, Rule::BidFields, "a bid is an object");
            return;
        }
        if text(bid, "id").is_none_or(str::is_empty) {
            self.add(
                format!("{at}.id"),
                Rule::BidFields,
                "a bid needs its id (a string)",
            );
        }
        let price = number(bid, "price");
        if price.is_none() {
            self.add(
                format!("{at}.price"),
                Rule::BidFields,
                "a bid needs a price (a number)",
            );
        }
        let Some(impid) = text(bid, "impid") else {
            self.add(
                format!("{at}.impid"),
                Rule::BidFields,
                "a bid needs the impid (a string) it bids on",
            );
            return;
        };
        let Some(imp) = self.request.imp(impid) else {
            self.add(
                format!("{at}.impid"),
                Rule::ImpId,
                format!("imp {impid:?} is not in the request"),
            );
            return;
        };
        let deal = self.deal(bid, imp, at);
        if let Some(price) = price {
            self.price(price, imp, deal, place);
        }
        if ["adm", "nurl"]
            .iter()
            .all(|k| text(bid, k).is_none_or(|s| s.trim().is_empty()))
        {
            self.add(at, Rule::Markup, "neither adm nor nurl: no way to the ad");
        }
        if text(bid, "crid").is_none_or(|c| c.trim().is_empty()) {
            self.add(format!("{at}.crid"), Rule::Crid, "a bid names its creative");
        }
        self.advertiser(bid, deal, at);
        self.categories(bid, at);
        if let Some(bundle) = text(bid, "bundle")
            && self.request.bapp().contains(&bundle)
        {
            self.add(
                format!("{at}.bundle"),
                Rule::BlockedApp,
                format!("{bundle:?} is in bapp"),
            );
        }
        if let Some(deal) = deal {
            let allowed = deal.wseat();
            if !allowed.is_empty() && !place.seat.is_some_and(|s| allowed.contains(&s)) {
                self.add(
                    at,
                    Rule::Seat,
                    format!(
                        "seat {:?} is not among the deal's wseat {allowed:?}",
                        place.seat
                    ),
                );
            }
        }
        if imp.is_secure() {
            self.secure(bid, at);
        }
        if let Some(kind) = self.kind(bid, imp, at) {
            let blocked = imp.battr(kind);
            for attr in integers(bid, "attr") {
                if blocked.contains(&attr) {
                    self.add(
                        format!("{at}.attr"),
                        Rule::BlockedAttribute,
                        format!("attribute {attr} is in the {}'s battr", kind.key()),
                    );
                }
            }
            self.markup(bid, imp, kind, at);
        }
    }

    /// On a secure imp: https notices, and no `http://` URL in the
    /// markup but a namespace's name.
    fn secure(&mut self, bid: &Value, at: &str) {
        for key in ["nurl", "burl", "lurl"] {
            if let Some(url) = text(bid, key)
                && !url
                    .trim_start()
                    .to_ascii_lowercase()
                    .starts_with("https://")
            {
                self.add(
                    format!("{at}.{key}"),
                    Rule::Secure,
                    format!("{url:?} on a secure imp; https only"),
                );
            }
        }
        if let Some(url) = text(bid, "adm").and_then(insecure_url) {
            self.add(
                format!("{at}.adm"),
                Rule::Secure,
                format!("the markup names {url:?} on a secure imp; https only"),
            );
        }
    }

    /// The deal a bid names, which must be the imp's; a private auction
    /// takes deal bids only.
    fn deal<'r>(&mut self, bid: &Value, imp: Imp<'r>, at: &str) -> Option<Deal<'r>> {
        match bid.get("dealid") {
            Some(Value::String(id)) => {
                let deal = imp.deal(id);
                if deal.is_none() {
                    self.add(
                        format!("{at}.dealid"),
                        Rule::Deal,
                        format!("deal {id:?} is not among the imp's deals"),
                    );
                }
                deal
            }
            Some(other) => {
                self.add(
                    format!("{at}.dealid"),
                    Rule::Deal,
                    format!("{other} is not a deal id"),
                );
                None
            }
            None => {
                if imp.is_private() {
                    self.add(
                        at,
                        Rule::Deal,
                        "the imp's auction is private to its deals (pmp.private_auction 1); the bid names none",
                    );
                }
                None
            }
        }
    }

    /// A positive price, at least the floor that applies when the
    /// currencies are the same (no exchange rate is assumed).
    fn price(&mut self, price: f64, imp: Imp, deal: Option<Deal>, place: &Place) {
        let at = format!("{}.price", place.at);
        if !(price.is_finite() && price > 0.0) {
            self.add(
                &at,
                Rule::Price,
                format!("{price}; a bid offers a positive price"),
            );
            return;
        }
        let (floor, whose) = match deal {
            Some(deal) => (deal.floor(), "the deal's"),
            None => (imp.floor(), "the imp's"),
        };
        if floor.currency.eq_ignore_ascii_case(place.currency) && price < floor.amount - TOLERANCE {
            self.add(
                at,
                Rule::Floor,
                format!(
                    "{price} {} is under {whose} floor {} {}",
                    place.currency, floor.amount, floor.currency
                ),
            );
        }
    }

    /// The advertiser: named, not blocked, allowed on the deal.
    fn advertiser(&mut self, bid: &Value, deal: Option<Deal>, at: &str) {
        let domains = strings(bid, "adomain");
        if domains.iter().all(|d| d.trim().is_empty()) {
            self.add(
                format!("{at}.adomain"),
                Rule::Adomain,
                "a bid names its advertiser's domain",
            );
            return;
        }
        let badv = self.request.badv();
        for domain in &domains {
            if let Some(blocked) = badv.iter().find(|b| domain_is_under(b, domain)) {
                self.add(
                    format!("{at}.adomain"),
                    Rule::BlockedAdvertiser,
                    format!("{domain:?} is blocked by badv {blocked:?}"),
                );
            }
        }
        let allowed = deal.map(|d| d.wadomain()).unwrap_or_default();
        for domain in &domains {
            if !allowed.is_empty() && !allowed.iter().any(|a| domain_is_under(a, domain)) {
                self.add(
                    format!("{at}.adomain"),
                    Rule::BlockedAdvertiser,
                    format!("{domain:?} is not among the deal's wadomain {allowed:?}"),
                );
            }
        }
    }

    /// The bid's categories against `bcat` and `acat`.
    fn categories(&mut self, bid: &Value, at: &str) {
        let rules = self.request.categories();
        let cats = strings(bid, "cat");
        let taxonomy = integer(bid, "cattax").unwrap_or(1);
        for cat in &cats {
            if let Some(why) = rules.refusal(cat, taxonomy) {
                self.add(format!("{at}.cat"), Rule::BlockedCategory, why);
            }
        }
        if cats.is_empty() && rules.has_allowed_list() {
            self.add(
                at,
                Rule::BlockedCategory,
                "the request allows listed categories only (acat); the bid states none",
            );
        }
    }

    /// The kind of ad the bid is: its `mtype`, or for a 2.5-style bid
    /// without one, the imp's only kind or what the markup is.
    fn kind(&mut self, bid: &Value, imp: Imp, at: &str) -> Option<Kind> {
        let offered = imp.kinds();
        let names = || {
            offered
                .iter()
                .map(|k| k.key())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match bid.get("mtype") {
            Some(mtype) => match mtype.as_i64().and_then(Kind::from_mtype) {
                Some(kind) if offered.contains(&kind) => Some(kind),
                Some(kind) => {
                    self.add(
                        format!("{at}.mtype"),
                        Rule::MediaType,
                        format!("{mtype} ({}); the imp offers {}", kind.key(), names()),
                    );
                    None
                }
                None => {
                    self.add(
                        format!("{at}.mtype"),
                        Rule::MediaType,
                        format!("{mtype} is not 1-4"),
                    );
                    None
                }
            },
            None => match offered.as_slice() {
                [] => None,
                [only] => Some(*only),
                _ => match text(bid, "adm").and_then(|adm| sniff(adm, &offered)) {
                    Some(kind) if offered.contains(&kind) => Some(kind),
                    Some(kind) => {
                        self.add(
                            format!("{at}.adm"),
                            Rule::MediaType,
                            format!("the markup is {}; the imp offers {}", kind.key(), names()),
                        );
                        None
                    }
                    None => {
                        self.add(
                            at,
                            Rule::MediaType,
                            format!("the imp offers {}; without mtype or markup the bid answers none of them", names()),
                        );
                        None
                    }
                },
            },
        }
    }

    /// The markup against the imp's object for its kind.
    fn markup(&mut self, bid: &Value, imp: Imp, kind: Kind, at: &str) {
        let Some(object) = imp.object(kind) else {
            return;
        };
        let adm = text(bid, "adm").filter(|a| !a.trim().is_empty());
        match kind {
            Kind::Banner => self.banner_size(bid, object, at),
            Kind::Native => {
                if let Some(adm) = adm {
                    let outer = format!("{at}.adm");
                    let found = check_native(object, adm)
                        .into_iter()
                        .map(|v| v.within(&outer));
                    self.found.extend(found);
                }
            }
            Kind::Video | Kind::Audio => {
                if let Some(seconds) = number(bid, "dur") {
                    self.duration(seconds, object, kind, &format!("{at}.dur"));
                }
                if let Some(adm) = adm {
                    self.vast(adm, object, kind, &format!("{at}.adm"));
                }
            }
        }
    }

    /// A banner bid's size is one the banner asked for.
    fn banner_size(&mut self, bid: &Value, banner: &Value, at: &str) {
        let sizes = Sizes::of(banner);
        if sizes.is_empty() {
            return;
        }
        match (unsigned(bid, "w"), unsigned(bid, "h")) {
            (Some(w), Some(h)) if sizes.admits(w, h) => {}
            (Some(w), Some(h)) => self.add(
                at,
                Rule::BannerSize,
                format!(
                    "{w}x{h} is not among the requested sizes {}",
                    sizes.describe()
                ),
            ),
            _ => self.add(
                at,
                Rule::BannerSize,
                format!(
                    "a banner bid states its w and h; requested {}",
                    sizes.describe()
                ),
            ),
        }
    }

    /// Video or audio markup: a VAST document whose linear ads fit the
    /// object's durations and MIME types.
    fn vast(&mut self, adm: &str, object: &Value, kind: Kind, at: &str) {
        if !adm.contains("<VAST") {
            self.add(
                at,
                Rule::VastMarkup,
                format!("{} markup is not a VAST document", kind.key()),
            );
            return;
        }
        let inspection = vast::inspect(adm);
        self.found
            .extend(inspection.violations.into_iter().map(|v| v.within(at)));
        if let Some(version) = inspection.version {
            self.protocol(version, (inspection.inline, inspection.wrapper), object, at);
        }
        let mimes = strings(object, "mimes");
        let deliveries = integers(object, "delivery");
        for linear in inspection.linears {
            let here = format!("{at}:{}", linear.path);
            if let Some(seconds) = linear.seconds {
                self.duration(seconds, object, kind, &here);
            }
            let playable = linear
                .mimes
                .iter()
                .any(|m| mimes.iter().any(|w| w.eq_ignore_ascii_case(m.trim())));
            if !mimes.is_empty() && !linear.mimes.is_empty() && !playable {
                self.add(
                    &here,
                    Rule::MimeType,
                    format!(
                        "media of types {:?}; the {} object takes {mimes:?}",
                        linear.mimes,
                        kind.key()
                    ),
                );
            }
            let delivered = linear.deliveries.iter().any(|d| {
                let code = match d.trim() {
                    "streaming" => 1,
                    "progressive" => 2,
                    _ => 0,
                };
                deliveries.contains(&code)
            });
            if !deliveries.is_empty() && !linear.deliveries.is_empty() && !delivered {
                self.add(
                    &here,
                    Rule::Delivery,
                    format!(
                        "media delivered {:?}; the {} object takes delivery {deliveries:?}",
                        linear.deliveries,
                        kind.key()
                    ),
                );
            }
            let (min, max) = (
                number(object, "minbitrate").unwrap_or(0.0),
                number(object, "maxbitrate").filter(|m| *m > 0.0),
            );
            let within = linear.bitrates.iter().any(|b| {
                b.is_none_or(|(low, high)| high >= min && max.is_none_or(|max| low <= max))
            });
            if !linear.bitrates.is_empty() && !within {
                self.add(
                    &here,
                    Rule::Bitrate,
                    format!(
                        "media of {:?} Kbps; the {} object takes {min} to {}",
                        linear.bitrates,
                        kind.key(),
                        max.map_or("any".to_owned(), |m| m.to_string())
                    ),
                );
            }
        }
    }

    /// The document's version, as inline ad and as wrapper, is among the
    /// object's protocols when it lists any.
    fn protocol(
        &mut self,
        version: vast::Version,
        (inline, wrapper): (bool, bool),
        object: &Value,
        at: &str,
    ) {
        let mut listed = integers(object, "protocols");
        listed.extend(integer(object, "protocol"));
        if listed.is_empty() {
            return;
        }
        let name = format!("VAST {}.{}", version.0, version.1);
        let Some((inline_code, wrapper_code)) = version.protocols() else {
            self.add(
                at,
                Rule::VastProtocol,
                format!("{name} has no protocol code; the object lists {listed:?}"),
            );
            return;
        };
        for (has, code, kind) in [
            (inline, inline_code, "inline"),
            (wrapper, wrapper_code, "wrapper"),
        ] {
            if has && !listed.contains(&code) {
                self.add(
                    at,
                    Rule::VastProtocol,
                    format!("{name} {kind} is protocol {code}; the object lists {listed:?}"),
                );
            }
        }
    }

    /// An ad of `seconds` fits the object's `minduration`..`maxduration`,
    /// or is exactly one of its `rqddurs`.
    fn duration(&mut self, seconds: f64, object: &Value, kind: Kind, at: &str) {
        let key = kind.key();
        let required = integers(object, "rqddurs");
        if !required.is_empty() {
            if !required
                .iter()
                .any(|d| (seconds - *d as f64).abs() <= TOLERANCE)
            {
                self.add(
                    at,
                    Rule::AdDuration,
                    format!("plays {seconds}s; the {key} takes exactly one of {required:?} s"),
                );
            }
            return;
        }
        if let Some(max) = number(object, "maxduration").filter(|m| *m > 0.0)
            && seconds > max + TOLERANCE
        {
            self.add(
                at,
                Rule::AdDuration,
                format!("plays {seconds}s; the {key} allows at most {max}s"),
            );
        }
        if let Some(min) = number(object, "minduration")
            && seconds < min - TOLERANCE
        {
            self.add(
                at,
                Rule::AdDuration,
                format!("plays {seconds}s; the {key} wants at least {min}s"),
            );
        }
    }
}

/// The first `http://` URL in markup, case-insensitively and with JSON's
/// escaped slashes, that is not the value of an `xmlns` or
/// `schemaLocation` attribute (names, never fetched).
fn insecure_url(markup: &str) -> Option<String> {
    let unescaped = markup.replace("\\/", "/");
    let lower = unescaped.to_ascii_lowercase();
    lower.match_indices("http://").find_map(|(at, _)| {
        let before = lower[..at].trim_end_matches(['"', '\'']).trim_end();
        let before = before.strip_suffix('=').unwrap_or(before).trim_end();
        let name_start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == ':' || c == '-' || c == '_'))
            .map_or(0, |i| i + 1);
        let name = &before[name_start..];
        if name.starts_with("xmlns") || name.ends_with("schemalocation") {
            return None;
        }
        let url = unescaped[at..]
            .split(|c: char| c.is_whitespace() || "\"'<>)]".contains(c))
            .next()
            .unwrap_or_default();
        Some(url.to_owned())
    })
}

/// The kind markup evidently is, for a multi-format imp and a bid without
/// `mtype`: VAST is video (audio when the imp offers audio and no video),
/// a JSON object native, anything else banner.
fn sniff(adm: &str, offered: &[Kind]) -> Option<Kind> {
    let adm = adm.trim_start();
    if adm.is_empty() {
        None
    } else if adm.starts_with('<') && adm.contains("<VAST") {
        match offered.contains(&Kind::Audio) && !offered.contains(&Kind::Video) {
            true => Some(Kind::Audio),
            false => Some(Kind::Video),
        }
    } else if adm.starts_with('{') {
        Some(Kind::Native)
    } else {
        Some(Kind::Banner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A request with a banner imp (300x250 or 728x90, floor 1.00 USD) and
    /// a video imp (mp4, 5-30 s, floor 4.00 EUR).
    fn request() -> Value {
        json!({
            "id": "req-1",
            "imp": [
                {"id": "1", "banner": {"format": [{"w": 300, "h": 250}, {"w": 728, "h": 90}], "battr": [3]}, "bidfloor": 1.0},
                {"id": "2", "video": {"mimes": ["video/mp4"], "minduration": 5, "maxduration": 30}, "bidfloor": 4.0, "bidfloorcur": "EUR"}
            ],
            "cur": ["USD", "EUR"],
            "bcat": ["IAB25"],
            "badv": ["casino.example"],
            "bapp": ["com.example.casino"]
        })
    }

    fn banner_bid() -> Value {
        json!({
            "id": "b1", "impid": "1", "price": 1.25, "adm": "<div>ad</div>",
            "crid": "c1", "adomain": ["acme.example"], "cat": ["IAB17"],
            "w": 300, "h": 250, "mtype": 1
        })
    }

    fn response(bids: Vec<Value>) -> Value {
        json!({"id": "req-1", "seatbid": [{"seat": "s1", "bid": bids}]})
    }

    fn check(request: &Value, response: &Value) -> Verdict {
        check_answer(request, 200, response.to_string().as_bytes())
    }

    fn rules(request: &Value, response: &Value) -> Vec<Rule> {
        check(request, response)
            .violations
            .into_iter()
            .map(|v| v.rule)
            .collect()
    }

    /// The banner bid with `change` applied, checked alone.
    fn banner_rules(change: impl FnOnce(&mut Value)) -> Vec<Rule> {
        let mut bid = banner_bid();
        change(&mut bid);
        rules(&request(), &response(vec![bid]))
    }

    const VAST_15S: &str = r#"<VAST version="4.2"><Ad><InLine><AdSystem>a</AdSystem>
        <Impression>https://t.example/i</Impression><AdServingId>s</AdServingId><AdTitle>t</AdTitle>
        <Creatives><Creative><Linear><Duration>00:00:15</Duration><MediaFiles>
        <MediaFile delivery="progressive" type="video/mp4" width="640" height="360">https://cdn.example/v.mp4</MediaFile>
        </MediaFiles></Linear><UniversalAdId idRegistry="a">u</UniversalAdId></Creative></Creatives>
        </InLine></Ad></VAST>"#;

    fn video_bid(adm: &str) -> Value {
        json!({
            "id": "b2", "impid": "2", "price": 5.0, "adm": adm, "crid": "v1",
            "adomain": ["acme.example"], "mtype": 2
        })
    }

    #[test]
    fn a_valid_answer_passes() {
        let verdict = check(&request(), &response(vec![banner_bid()]));
        assert_eq!(verdict.violations, []);
        assert_eq!(verdict.bids, 1);
    }

    #[test]
    fn a_valid_video_answer_passes() {
        let mut answer = response(vec![video_bid(VAST_15S)]);
        answer["cur"] = json!("EUR");
        assert_eq!(check(&request(), &answer).violations, []);
    }

    #[test]
    fn no_bids_come_as_an_empty_204_or_a_200_without_bids() {
        let verdict = check_answer(&request(), 204, b"");
        assert!(verdict.passes() && !verdict.is_bid());
        for body in [
            json!({}),
            json!({"id": "req-1", "seatbid": []}),
            json!({"id": "req-1", "nbr": 2}),
        ] {
            let verdict = check(&request(), &body);
            assert!(verdict.passes() && !verdict.is_bid(), "{body}: {verdict:?}");
        }
    }

    #[test]
    fn a_204_with_a_body_is_caught() {
        assert_eq!(
            check_answer(&request(), 204, b"{}").violations[0].rule,
            Rule::NoContentBody
        );
    }

    #[test]
    fn other_statuses_and_bodies_that_are_not_json_objects_are_caught() {
        assert_eq!(
            check_answer(&request(), 500, b"").violations[0].rule,
            Rule::Status
        );
        assert_eq!(
            check_answer(&request(), 200, b"<html>").violations[0].rule,
            Rule::Body
        );
        assert_eq!(
            check_answer(&request(), 200, b"[]").violations[0].rule,
            Rule::Body
        );
    }

    #[test]
    fn a_response_id_other_than_the_requests_is_caught() {
        let mut answer = response(vec![banner_bid()]);
        answer["id"] = json!("req-2");
        assert_eq!(rules(&request(), &answer), [Rule::ResponseId]);
        answer.as_object_mut().unwrap().remove("id");
        assert_eq!(rules(&request(), &answer), [Rule::ResponseId]);
    }

    #[test]
    fn a_currency_the_request_does_not_allow_is_caught() {
        let mut answer = response(vec![banner_bid()]);
        answer["cur"] = json!("GBP");
        assert_eq!(rules(&request(), &answer), [Rule::Currency]);
        let mut usd_only = request();
        usd_only.as_object_mut().unwrap().remove("cur");
        answer["cur"] = json!("EUR");
        assert_eq!(rules(&usd_only, &answer), [Rule::Currency]);
    }

    #[test]
    fn an_empty_seat_bid_is_caught() {
        let answer = json!({"id": "req-1", "seatbid": [{"bid": []}]});
        assert_eq!(rules(&request(), &answer), [Rule::SeatBid]);
    }

    #[test]
    fn a_bid_without_its_required_fields_is_caught() {
        assert_eq!(
            banner_rules(|b| b["price"] = json!("1.25")),
            [Rule::BidFields]
        );
        assert_eq!(
            banner_rules(|b| {
                b.as_object_mut().unwrap().remove("id");
            }),
            [Rule::BidFields]
        );
    }

    #[test]
    fn a_bid_on_a_missing_imp_is_caught() {
        assert_eq!(banner_rules(|b| b["impid"] = json!("9")), [Rule::ImpId]);
    }

    #[test]
    fn two_bids_on_one_imp_are_caught() {
        let mut second = banner_bid();
        second["id"] = json!("b9");
        let found = check(&request(), &response(vec![banner_bid(), second])).violations;
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].rule, Rule::OneBidPerImp);
        assert_eq!(found[0].path, "seatbid[0].bid[1]");
    }

    #[test]
    fn a_price_that_is_not_positive_is_caught() {
        assert_eq!(banner_rules(|b| b["price"] = json!(0)), [Rule::Price]);
        assert_eq!(banner_rules(|b| b["price"] = json!(-1.0)), [Rule::Price]);
    }

    #[test]
    fn a_price_under_a_same_currency_floor_is_caught() {
        assert_eq!(banner_rules(|b| b["price"] = json!(0.99)), [Rule::Floor]);
        assert_eq!(banner_rules(|b| b["price"] = json!(1.0)), []);
    }

    #[test]
    fn a_floor_in_another_currency_is_not_compared() {
        // 4.00 EUR floor; a USD answer of 3.00 may be above it.
        let answer = response(vec![video_bid(VAST_15S)]);
        let mut bid = answer.clone();
        bid["seatbid"][0]["bid"][0]["price"] = json!(3.0);
        assert_eq!(rules(&request(), &bid), []);
        bid["cur"] = json!("EUR");
        assert_eq!(rules(&request(), &bid), [Rule::Floor]);
    }

    #[test]
    fn a_bid_without_markup_crid_or_adomain_is_caught() {
        assert_eq!(
            banner_rules(|b| {
                b.as_object_mut().unwrap().remove("adm");
            }),
            [Rule::Markup]
        );
        assert_eq!(
            banner_rules(|b| {
                b.as_object_mut().unwrap().remove("adm");
                b["nurl"] = json!("https://bidder.example/win");
            }),
            []
        );
        assert_eq!(banner_rules(|b| b["crid"] = json!("")), [Rule::Crid]);
        assert_eq!(banner_rules(|b| b["adomain"] = json!([])), [Rule::Adomain]);
    }

    #[test]
    fn blocked_advertisers_categories_apps_and_attributes_are_caught() {
        assert_eq!(
            banner_rules(|b| b["adomain"] = json!(["www.casino.example"])),
            [Rule::BlockedAdvertiser]
        );
        assert_eq!(
            banner_rules(|b| b["cat"] = json!(["IAB25-3"])),
            [Rule::BlockedCategory]
        );
        assert_eq!(
            banner_rules(|b| b["bundle"] = json!("com.example.casino")),
            [Rule::BlockedApp]
        );
        assert_eq!(
            banner_rules(|b| b["attr"] = json!([1, 3])),
            [Rule::BlockedAttribute]
        );
        assert_eq!(banner_rules(|b| b["attr"] = json!([1])), []);
    }

    fn deal_request(private: u8) -> Value {
        let mut req = request();
        req["imp"][0]["pmp"] = json!({
            "private_auction": private,
            "deals": [{"id": "D1", "bidfloor": 3.0, "wseat": ["s1"], "wadomain": ["acme.example"]}]
        });
        req
    }

    #[test]
    fn a_private_auction_takes_deal_bids_only() {
        let open = response(vec![banner_bid()]);
        assert_eq!(rules(&deal_request(0), &open), []);
        assert_eq!(rules(&deal_request(1), &open), [Rule::Deal]);
        let mut deal = banner_bid();
        deal["dealid"] = json!("D1");
        deal["price"] = json!(3.5);
        assert_eq!(rules(&deal_request(1), &response(vec![deal])), []);
    }

    #[test]
    fn a_deal_the_imp_does_not_have_is_caught() {
        let mut bid = banner_bid();
        bid["dealid"] = json!("D2");
        assert_eq!(rules(&deal_request(0), &response(vec![bid])), [Rule::Deal]);
    }

    #[test]
    fn a_deal_bid_meets_the_deals_floor_seats_and_advertisers() {
        let mut bid = banner_bid();
        bid["dealid"] = json!("D1");
        assert_eq!(
            rules(&deal_request(1), &response(vec![bid.clone()])),
            [Rule::Floor]
        );
        bid["price"] = json!(3.0);
        bid["adomain"] = json!(["other.example"]);
        assert_eq!(
            rules(&deal_request(1), &response(vec![bid.clone()])),
            [Rule::BlockedAdvertiser]
        );
        bid["adomain"] = json!(["acme.example"]);
        let mut answer = response(vec![bid]);
        answer["seatbid"][0]["seat"] = json!("s2");
        assert_eq!(rules(&deal_request(1), &answer), [Rule::Seat]);
    }

    #[test]
    fn seats_outside_wseat_or_in_bseat_are_caught() {
        let mut req = request();
        req["wseat"] = json!(["s9"]);
        assert_eq!(rules(&req, &response(vec![banner_bid()])), [Rule::Seat]);
        let mut req = request();
        req["bseat"] = json!(["s1"]);
        assert_eq!(rules(&req, &response(vec![banner_bid()])), [Rule::Seat]);
    }

    #[test]
    fn a_banner_of_a_size_not_requested_is_caught() {
        assert_eq!(banner_rules(|b| b["w"] = json!(320)), [Rule::BannerSize]);
        assert_eq!(
            banner_rules(|b| {
                b.as_object_mut().unwrap().remove("h");
            }),
            [Rule::BannerSize]
        );
        assert_eq!(
            banner_rules(|b| {
                b["w"] = json!(728);
                b["h"] = json!(90);
            }),
            []
        );
    }

    #[test]
    fn an_mtype_the_imp_does_not_offer_is_caught() {
        assert_eq!(banner_rules(|b| b["mtype"] = json!(4)), [Rule::MediaType]);
        assert_eq!(banner_rules(|b| b["mtype"] = json!(7)), [Rule::MediaType]);
    }

    #[test]
    fn without_mtype_a_multi_format_imp_is_told_by_the_markup() {
        let mut req = request();
        req["imp"][1]["banner"] = json!({"w": 300, "h": 250});
        let mut bid = video_bid(VAST_15S);
        bid.as_object_mut().unwrap().remove("mtype");
        let mut answer = response(vec![bid]);
        answer["cur"] = json!("EUR");
        assert_eq!(rules(&req, &answer), []);
        answer["seatbid"][0]["bid"][0]["adm"] = json!("<div>banner</div>");
        assert_eq!(rules(&req, &answer), [Rule::BannerSize]);
    }

    #[test]
    fn video_markup_that_is_not_vast_is_caught() {
        let answer = response(vec![video_bid("<div>not video</div>")]);
        assert_eq!(rules(&request(), &answer), [Rule::VastMarkup]);
    }

    #[test]
    fn vast_violations_are_reported_inside_the_adm() {
        let broken = VAST_15S.replace("<AdTitle>t</AdTitle>", "");
        let found = check(&request(), &response(vec![video_bid(&broken)])).violations;
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].rule, Rule::VastRequired);
        assert_eq!(found[0].path, "seatbid[0].bid[0].adm:VAST/Ad/InLine");
    }

    #[test]
    fn a_video_outside_the_durations_or_mimes_is_caught() {
        let long = VAST_15S.replace("00:00:15", "00:00:31");
        assert_eq!(
            rules(&request(), &response(vec![video_bid(&long)])),
            [Rule::AdDuration]
        );
        let short = VAST_15S.replace("00:00:15", "00:00:04");
        assert_eq!(
            rules(&request(), &response(vec![video_bid(&short)])),
            [Rule::AdDuration]
        );
        let webm = VAST_15S.replace("video/mp4", "video/webm");
        assert_eq!(
            rules(&request(), &response(vec![video_bid(&webm)])),
            [Rule::MimeType]
        );
        let mut dur = video_bid(VAST_15S);
        dur["dur"] = json!(45);
        assert_eq!(rules(&request(), &response(vec![dur])), [Rule::AdDuration]);
    }

    /// The request with its video object changed by `change`.
    fn video_request(change: impl FnOnce(&mut Value)) -> Value {
        let mut req = request();
        change(&mut req["imp"][1]["video"]);
        req
    }

    fn video_rules(change: impl FnOnce(&mut Value), adm: &str) -> Vec<Rule> {
        let mut answer = response(vec![video_bid(adm)]);
        answer["cur"] = json!("EUR");
        rules(&video_request(change), &answer)
    }

    #[test]
    fn a_vast_version_the_player_does_not_list_is_caught() {
        // The known bug: 4.2 served to a player of 2.0 to 4.0.
        let old_players = |v: &mut Value| v["protocols"] = json!([2, 3, 5, 6, 7, 8]);
        assert_eq!(video_rules(old_players, VAST_15S), [Rule::VastProtocol]);
        assert_eq!(
            video_rules(|v| v["protocols"] = json!([3, 13]), VAST_15S),
            []
        );
        assert_eq!(video_rules(|v| v["protocol"] = json!(13), VAST_15S), []);
        // Inline and wrapper are different protocols.
        let wrappers_only = |v: &mut Value| v["protocols"] = json!([14]);
        assert_eq!(video_rules(wrappers_only, VAST_15S), [Rule::VastProtocol]);
        let wrapper = r#"<VAST version="3.0"><Ad><Wrapper><AdSystem>a</AdSystem><Impression>https://t.example/i</Impression><VASTAdTagURI>https://ads.example/v.xml</VASTAdTagURI></Wrapper></Ad></VAST>"#;
        assert_eq!(
            video_rules(|v| v["protocols"] = json!([3]), wrapper),
            [Rule::VastProtocol]
        );
        assert_eq!(video_rules(|v| v["protocols"] = json!([6]), wrapper), []);
        // Without protocols, any version.
        assert_eq!(video_rules(|_| {}, VAST_15S), []);
    }

    #[test]
    fn media_delivered_or_encoded_as_the_player_cannot_take_is_caught() {
        assert_eq!(
            video_rules(|v| v["delivery"] = json!([1]), VAST_15S),
            [Rule::Delivery]
        );
        assert_eq!(video_rules(|v| v["delivery"] = json!([2]), VAST_15S), []);
        let rated = VAST_15S.replace("height=\"360\"", "height=\"360\" bitrate=\"2000\"");
        assert_eq!(
            video_rules(|v| v["maxbitrate"] = json!(1500), &rated),
            [Rule::Bitrate]
        );
        assert_eq!(
            video_rules(|v| v["minbitrate"] = json!(2500), &rated),
            [Rule::Bitrate]
        );
        assert_eq!(video_rules(|v| v["maxbitrate"] = json!(2000), &rated), []);
        // A file that states no bit rate is not held to one.
        assert_eq!(video_rules(|v| v["maxbitrate"] = json!(1500), VAST_15S), []);
    }

    #[test]
    fn required_durations_are_exact() {
        let exact = |v: &mut Value| {
            let o = v.as_object_mut().unwrap();
            o.remove("minduration");
            o.remove("maxduration");
            o.insert("rqddurs".into(), json!([15, 30]));
        };
        assert_eq!(video_rules(exact, VAST_15S), []);
        let other = |v: &mut Value| v["rqddurs"] = json!([6, 30]);
        assert_eq!(video_rules(other, VAST_15S), [Rule::AdDuration]);
    }

    #[test]
    fn an_http_url_in_a_bid_on_a_secure_imp_is_caught() {
        let mut req = request();
        req["imp"][0]["secure"] = json!(1);
        let mut bid = banner_bid();
        bid["nurl"] = json!("https://b.example/win");
        bid["adm"] = json!(
            "<svg xmlns='http://www.w3.org/2000/svg'></svg><img src=\"https://cdn.example/a.png\">"
        );
        assert_eq!(rules(&req, &response(vec![bid.clone()])), []);
        bid["lurl"] = json!("http://b.example/loss");
        bid["adm"] = json!("<img src=\"HTTP://cdn.example/a.png\">");
        let found = check(&req, &response(vec![bid])).violations;
        let paths: Vec<&str> = found.iter().map(|v| v.path.as_str()).collect();
        assert_eq!(
            paths,
            ["seatbid[0].bid[0].lurl", "seatbid[0].bid[0].adm"],
            "{found:?}"
        );
        assert!(found.iter().all(|v| v.rule == Rule::Secure));
        // Not secure: not held to https.
        let mut plain = banner_bid();
        plain["adm"] = json!("<img src=\"http://cdn.example/a.png\">");
        assert_eq!(rules(&request(), &response(vec![plain])), []);
    }

    #[test]
    fn native_markup_is_checked_against_the_imps_native_request() {
        let req = json!({
            "id": "req-1",
            "imp": [{"id": "1", "native": {"request": "{\"assets\":[{\"id\":1,\"required\":1,\"title\":{\"len\":10}}]}"}}]
        });
        let adm = json!({"link": {"url": "https://acme.example/"}, "assets": [{"id": 1, "title": {"text": "short"}}]});
        let bid = json!({"id": "b", "impid": "1", "price": 1.0, "adm": adm.to_string(), "crid": "n", "adomain": ["acme.example"], "mtype": 4});
        assert_eq!(rules(&req, &response(vec![bid.clone()])), []);
        let mut long = bid;
        long["adm"] = json!(
            json!({"link": {"url": "u"}, "assets": [{"id": 1, "title": {"text": "far too long"}}]})
                .to_string()
        );
        let found = check(&req, &response(vec![long])).violations;
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].rule, Rule::NativeLength);
        assert_eq!(found[0].path, "seatbid[0].bid[0].adm:assets[0].title.text");
    }
}

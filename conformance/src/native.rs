//! Native 1.2: a native bid's markup against the native request of its
//! imp. The response must answer every required asset with an asset of
//! the same `id` and kind, within the request's limits, link somewhere,
//! and track only in the ways the request offered.
//!
//! Both sides are read bare or under a `native` key: before Native 1.1
//! the root object was wrapped that way, and exchanges still send and
//! accept it (Native 1.2 §4.1, §5.1 notes).

use serde_json::Value;

use crate::request::{array, integer, text, unsigned};
use crate::vast;
use crate::violation::{Rule, Violation};

/// Event tracking methods that fetch a URL: image pixel (1) and
/// JavaScript (2) (Native 1.2 "Event Tracking Methods").
const URL_METHODS: [i64; 2] = [1, 2];

/// How far an image's aspect ratio may be from an exact requested size's,
/// as a share of the requested ratio.
const IMAGE_RATIO_TOLERANCE: f64 = 0.2;

/// Checks `adm`, the markup of a bid on an imp whose `native` object is
/// `native` (with its `request`, a JSON string or an object), by the rules
/// of Native 1.2. Paths are into the native response; none means it
/// passes.
///
/// ```
/// use serde_json::json;
/// let native = json!({"request": r#"{"assets":[{"id":1,"required":1,"title":{"len":25}}]}"#});
/// let adm = r#"{"native":{"link":{"url":"https://acme.example/"},
///               "assets":[{"id":1,"title":{"text":"Acme boots"}}]}}"#;
/// assert!(conformance::check_native(&native, adm).is_empty());
/// ```
pub fn check_native(native: &Value, adm: &str) -> Vec<Violation> {
    let mut found = Vec::new();
    let request = match request_of(native) {
        Ok(request) => request,
        Err(why) => {
            found.push(Violation::new("request", Rule::NativeMarkup, why));
            return found;
        }
    };
    let response = match serde_json::from_str::<Value>(adm) {
        Ok(v) => unwrap(v),
        Err(e) => {
            found.push(Violation::new(
                "",
                Rule::NativeMarkup,
                format!("not JSON: {e}"),
            ));
            return found;
        }
    };
    if !response.is_object() {
        found.push(Violation::new("", Rule::NativeMarkup, "not a JSON object"));
        return found;
    }
    Check {
        request: &request,
        response: &response,
        version: version_of(&request, native),
        found: &mut found,
    }
    .all();
    found
}

/// A Native markup version, major and minor.
type NativeVersion = (u64, u64);

/// The version `text` names (`1`, `1.1`, `1.2`); `None` for anything else.
fn parse_version(text: &str) -> Option<NativeVersion> {
    let mut parts = text.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map_or(Some(0), |m| m.parse().ok())?;
    Some((major, minor))
}

/// The version of the native request: its own `ver`, else the imp's
/// `native.ver`, else 1.2 (the spec's default).
fn version_of(request: &Value, native: &Value) -> NativeVersion {
    text(request, "ver")
        .or_else(|| text(native, "ver"))
        .and_then(parse_version)
        .unwrap_or((1, 2))
}

/// The native request object of an imp's `native`: `request` parsed when
/// it is a string, unwrapped from a `native` key. Read leniently, as
/// exchanges send it: a string encoded twice (a JSON string holding the
/// text), the request's members without their braces, or, without any
/// `request`, assets placed in the `native` object itself. What the
/// request asks of the answer is the same in each.
fn request_of(native: &Value) -> Result<Value, String> {
    match native.get("request") {
        Some(Value::String(s)) => match serde_json::from_str(s) {
            Ok(Value::String(inner)) => serde_json::from_str(&inner),
            Err(_) if !s.trim_start().starts_with('{') => serde_json::from_str(&format!("{{{s}}}")),
            parsed => parsed,
        }
        .map(unwrap)
        .map_err(|e| format!("the imp's native.request is not JSON: {e}")),
        Some(obj @ Value::Object(_)) => Ok(unwrap(obj.clone())),
        None if native.get("assets").is_some() => Ok(native.clone()),
        _ => Err("the imp's native object has no request".into()),
    }
}

/// `v["native"]` when `v` is the pre-1.1 wrapper, else `v`.
fn unwrap(mut v: Value) -> Value {
    match v.get_mut("native") {
        Some(inner) if inner.is_object() => inner.take(),
        _ => v,
    }
}

/// One response against one request.
struct Check<'a> {
    request: &'a Value,
    response: &'a Value,
    /// The request's Native version.
    version: NativeVersion,
    found: &'a mut Vec<Violation>,
}

impl Check<'_> {
    fn add(&mut self, path: impl Into<String>, rule: Rule, message: impl Into<String>) {
        self.found.push(Violation::new(path, rule, message));
    }

    fn all(&mut self) {
        self.link(self.response.get("link"), "link", true);
        self.assets();
        self.trackers();
        self.ver();
    }

    /// The response's `ver` is not newer than the request's.
    fn ver(&mut self) {
        let (major, minor) = self.version;
        let said = match self.response.get("ver") {
            Some(Value::String(v)) => parse_version(v),
            Some(Value::Number(n)) => n.as_f64().and_then(|v| parse_version(&v.to_string())),
            _ => return,
        };
        if said.is_some_and(|v| v > self.version) {
            self.add(
                "ver",
                Rule::NativeVersion,
                format!(
                    "{}; the request is Native {major}.{minor}",
                    self.response["ver"]
                ),
            );
        }
    }

    /// A link object: present when `required`, with a `url`.
    fn link(&mut self, link: Option<&Value>, at: &str, required: bool) {
        match link {
            None if required => self.add(at, Rule::NativeLink, "no link: the ad leads nowhere"),
            None => {}
            Some(link) if text(link, "url").is_none_or(|u| u.trim().is_empty()) => {
                self.add(format!("{at}.url"), Rule::NativeLink, "a link needs a url")
            }
            Some(_) => {}
        }
    }

    /// The response's assets against the request's.
    fn assets(&mut self) {
        let Some(answered) = self.response.get("assets").and_then(Value::as_array) else {
            let elsewhere = ["assetsurl", "dcourl"]
                .iter()
                .any(|k| text(self.response, k).is_some_and(|u| !u.is_empty()));
            if !elsewhere {
                self.add(
                    "assets",
                    Rule::NativeAsset,
                    "no assets, and no assetsurl or dcourl",
                );
            }
            return;
        };
        let requested = array(self.request, "assets");
        for (i, asset) in answered.iter().enumerate() {
            let at = format!("assets[{i}]");
            match integer(asset, "id") {
                None => self.add(&at, Rule::NativeAsset, "an embedded asset needs its id"),
                Some(id) if !requested.iter().any(|r| integer(r, "id") == Some(id)) => self.add(
                    &at,
                    Rule::NativeAsset,
                    format!("asset {id} was not requested"),
                ),
                Some(_) => {}
            }
            self.link(asset.get("link"), &format!("{at}.link"), false);
        }
        for want in requested {
            let Some(id) = integer(want, "id") else {
                continue;
            };
            let got = answered
                .iter()
                .enumerate()
                .find(|(_, a)| integer(a, "id") == Some(id));
            match got {
                Some((i, asset)) => self.asset(want, asset, &format!("assets[{i}]")),
                None if integer(want, "required") == Some(1) => self.add(
                    "assets",
                    Rule::NativeAsset,
                    format!("required asset {id} is missing"),
                ),
                None => {}
            }
        }
    }

    /// One answered asset against the asset it answers.
    fn asset(&mut self, want: &Value, got: &Value, at: &str) {
        let id = integer(want, "id").unwrap_or_default();
        for kind in ["title", "img", "video", "data"] {
            let Some(spec) = want.get(kind) else {
                continue;
            };
            let Some(value) = got.get(kind) else {
                self.add(
                    at,
                    Rule::NativeAsset,
                    format!("asset {id} is a {kind} in the request; the response has no {kind}"),
                );
                continue;
            };
            let at = format!("{at}.{kind}");
            match kind {
                "title" => self.title(spec, value, &at),
                "img" => self.image(spec, value, &at),
                "video" => self.video(value, &at),
                _ => self.data(spec, value, &at),
            }
        }
    }

    fn title(&mut self, spec: &Value, got: &Value, at: &str) {
        match text(got, "text") {
            None | Some("") => self.add(
                format!("{at}.text"),
                Rule::NativeAsset,
                "a title needs text",
            ),
            Some(t) => self.within(spec, t, &format!("{at}.text")),
        }
    }

    fn data(&mut self, spec: &Value, got: &Value, at: &str) {
        self.same_type(spec, got, at);
        match text(got, "value") {
            None => self.add(
                format!("{at}.value"),
                Rule::NativeAsset,
                "a data asset needs a string value",
            ),
            Some(v) => self.within(spec, v, &format!("{at}.value")),
        }
    }

    /// Text no longer than the request's `len`, in characters.
    fn within(&mut self, spec: &Value, value: &str, at: &str) {
        if let Some(len) = unsigned(spec, "len") {
            let chars = value.chars().count();
            if chars as u64 > len {
                self.add(
                    at,
                    Rule::NativeLength,
                    format!("{chars} characters; the request allows {len}"),
                );
            }
        }
    }

    fn image(&mut self, spec: &Value, got: &Value, at: &str) {
        self.same_type(spec, got, at);
        if text(got, "url").is_none_or(|u| u.trim().is_empty()) {
            self.add(
                format!("{at}.url"),
                Rule::NativeAsset,
                "an image needs a url",
            );
        }
        for (side, min) in [("w", "wmin"), ("h", "hmin")] {
            let Some(size) = unsigned(got, side) else {
                continue;
            };
            let least = unsigned(spec, min)
                .filter(|m| *m > 0)
                .or_else(|| unsigned(spec, side));
            if let Some(least) = least.filter(|l| size < *l) {
                self.add(
                    format!("{at}.{side}"),
                    Rule::NativeImageSize,
                    format!("{size} pixels; the request wants at least {least}"),
                );
            }
        }
        let exact = (unsigned(spec, "w"), unsigned(spec, "h"));
        let size = (unsigned(got, "w"), unsigned(got, "h"));
        if let ((Some(w), Some(h)), (Some(gw), Some(gh))) = (exact, size)
            && w > 0
            && h > 0
            && gh > 0
        {
            let (asked, given) = (w as f64 / h as f64, gw as f64 / gh as f64);
            if (given - asked).abs() > asked * IMAGE_RATIO_TOLERANCE {
                self.add(
                    at,
                    Rule::NativeImageSize,
                    format!(
                        "{gw}x{gh} is {given:.2}:1; the request's {w}x{h} is {asked:.2}:1, more than 20 % away"
                    ),
                );
            }
        }
    }

    fn video(&mut self, got: &Value, at: &str) {
        match text(got, "vasttag") {
            None | Some("") => self.add(
                format!("{at}.vasttag"),
                Rule::NativeAsset,
                "a video asset needs a vasttag",
            ),
            Some(tag) => {
                let outer = format!("{at}.vasttag");
                let inner = vast::check_vast(tag).into_iter().map(|v| v.within(&outer));
                self.found.extend(inner);
            }
        }
    }

    /// An image or data asset that states its `type` states the requested
    /// one.
    fn same_type(&mut self, spec: &Value, got: &Value, at: &str) {
        if let (Some(want), Some(have)) = (integer(spec, "type"), integer(got, "type"))
            && want != have
        {
            self.add(
                format!("{at}.type"),
                Rule::NativeAsset,
                format!("type {have}; the request asked for type {want}"),
            );
        }
    }

    /// Event trackers: only events and methods the request offered (none
    /// when it offers none), with the URL their method fetches. Native 1.1
    /// and earlier have no `eventtrackers`: an answer to them that tracks
    /// impressions there only is never counted, and eventtrackers it also
    /// carries are not held to an offer.
    fn trackers(&mut self) {
        let legacy = self.version < (1, 2);
        let has = |key: &str| match self.response.get(key) {
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::String(s)) => !s.trim().is_empty(),
            _ => false,
        };
        if legacy && has("eventtrackers") && !has("imptrackers") && !has("jstracker") {
            let (major, minor) = self.version;
            self.add(
                "eventtrackers",
                Rule::NativeTracker,
                format!(
                    "a Native {major}.{minor} exchange reads imptrackers or jstracker, not eventtrackers: the impression is never tracked"
                ),
            );
        }
        let offered: Vec<(i64, i64)> = array(self.request, "eventtrackers")
            .iter()
            .filter_map(|t| Some((integer(t, "event")?, array(t, "methods"))))
            .flat_map(|(event, methods)| {
                methods
                    .iter()
                    .filter_map(Value::as_i64)
                    .map(move |m| (event, m))
            })
            .collect();
        for (i, tracker) in array(self.response, "eventtrackers").iter().enumerate() {
            let at = format!("eventtrackers[{i}]");
            let (Some(event), Some(method)) =
                (integer(tracker, "event"), integer(tracker, "method"))
            else {
                self.add(
                    at,
                    Rule::NativeTracker,
                    "a tracker needs an event and a method",
                );
                continue;
            };
            if !legacy && !offered.contains(&(event, method)) {
                self.add(
                    &at,
                    Rule::NativeTracker,
                    format!("event {event} by method {method} was not offered by the request"),
                );
            }
            if URL_METHODS.contains(&method)
                && text(tracker, "url").is_none_or(|u| u.trim().is_empty())
            {
                self.add(
                    format!("{at}.url"),
                    Rule::NativeTracker,
                    format!("method {method} fetches a url; none given"),
                );
            }
        }
        for (i, url) in array(self.response, "imptrackers").iter().enumerate() {
            if url.as_str().is_none_or(|u| u.trim().is_empty()) {
                self.add(
                    format!("imptrackers[{i}]"),
                    Rule::NativeTracker,
                    "an empty impression tracker",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A native imp asking for a required title (90), a required main
    /// image (at least 600x314), an optional sponsor (25) and image
    /// trackers on impressions.
    fn imp_native() -> Value {
        let request = json!({
            "ver": "1.2",
            "assets": [
                {"id": 1, "required": 1, "title": {"len": 90}},
                {"id": 2, "required": 1, "img": {"type": 3, "wmin": 600, "hmin": 314}},
                {"id": 3, "data": {"type": 1, "len": 25}}
            ],
            "eventtrackers": [{"event": 1, "methods": [1]}]
        });
        json!({"request": request.to_string(), "ver": "1.2"})
    }

    fn answer() -> Value {
        json!({
            "ver": "1.2",
            "link": {"url": "https://acme.example/"},
            "assets": [
                {"id": 1, "title": {"text": "Boots for every trail"}},
                {"id": 2, "img": {"type": 3, "url": "https://cdn.example/m.jpg", "w": 1200, "h": 627}},
                {"id": 3, "data": {"value": "Acme"}}
            ],
            "eventtrackers": [{"event": 1, "method": 1, "url": "https://t.example/imp"}]
        })
    }

    fn rules(native: &Value, adm: &Value) -> Vec<Rule> {
        check_native(native, &adm.to_string())
            .into_iter()
            .map(|v| v.rule)
            .collect()
    }

    #[test]
    fn a_complete_answer_passes_bare_and_wrapped() {
        assert_eq!(check_native(&imp_native(), &answer().to_string()), []);
        let wrapped = json!({"native": answer()});
        assert_eq!(check_native(&imp_native(), &wrapped.to_string()), []);
    }

    #[test]
    fn a_request_given_as_an_object_or_wrapped_is_read_too() {
        let request: Value =
            serde_json::from_str(imp_native()["request"].as_str().unwrap()).unwrap();
        let object = json!({"request": request});
        assert_eq!(check_native(&object, &answer().to_string()), []);
        let wrapped = json!({"request": json!({"native": request}).to_string()});
        assert_eq!(check_native(&wrapped, &answer().to_string()), []);
    }

    #[test]
    fn a_request_sent_outside_the_spec_is_read_as_the_bidder_reads_it() {
        let text = imp_native()["request"].as_str().unwrap().to_owned();
        let request: Value = serde_json::from_str(&text).unwrap();
        let twice = json!({"request": Value::String(text.clone()).to_string()});
        let members = json!({"request": text.trim()[1..text.trim().len() - 1].to_string()});
        let inline = request.clone();
        for native in [twice, members, inline] {
            assert_eq!(check_native(&native, &answer().to_string()), [], "{native}");
        }
        assert_eq!(
            rules(&json!({"ver": "1.2"}), &answer()),
            [Rule::NativeMarkup]
        );
    }

    #[test]
    fn markup_that_is_not_json_is_caught() {
        assert_eq!(
            check_native(&imp_native(), "<div>ad</div>")[0].rule,
            Rule::NativeMarkup
        );
    }

    #[test]
    fn a_missing_required_asset_is_caught_and_a_missing_optional_one_is_not() {
        let mut adm = answer();
        adm["assets"].as_array_mut().unwrap().remove(2);
        assert_eq!(rules(&imp_native(), &adm), []);
        adm["assets"].as_array_mut().unwrap().remove(0);
        let found = check_native(&imp_native(), &adm.to_string());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].rule, Rule::NativeAsset);
        assert!(found[0].message.contains("required asset 1"), "{found:?}");
    }

    #[test]
    fn an_asset_of_the_wrong_kind_is_caught() {
        let mut adm = answer();
        adm["assets"][0] = json!({"id": 1, "data": {"value": "not a title"}});
        assert_eq!(rules(&imp_native(), &adm), [Rule::NativeAsset]);
    }

    #[test]
    fn an_asset_the_request_did_not_ask_for_is_caught() {
        let mut adm = answer();
        adm["assets"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": 9, "data": {"value": "x"}}));
        assert_eq!(rules(&imp_native(), &adm), [Rule::NativeAsset]);
    }

    #[test]
    fn a_title_longer_than_len_is_caught_counting_characters() {
        let mut adm = answer();
        adm["assets"][0]["title"]["text"] = json!("é".repeat(90));
        assert_eq!(rules(&imp_native(), &adm), []);
        adm["assets"][0]["title"]["text"] = json!("é".repeat(91));
        assert_eq!(rules(&imp_native(), &adm), [Rule::NativeLength]);
    }

    #[test]
    fn a_data_value_longer_than_len_is_caught() {
        let mut adm = answer();
        adm["assets"][2]["data"]["value"] = json!("a sponsor name far too long");
        assert_eq!(rules(&imp_native(), &adm), [Rule::NativeLength]);
    }

    #[test]
    fn an_image_below_the_minimum_size_is_caught() {
        let mut adm = answer();
        adm["assets"][1]["img"]["h"] = json!(300);
        let found = check_native(&imp_native(), &adm.to_string());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].rule, Rule::NativeImageSize);
        assert_eq!(found[0].path, "assets[1].img.h");
    }

    #[test]
    fn an_exact_size_takes_an_image_as_large_within_a_fifth_of_its_shape() {
        let request =
            json!({"assets": [{"id": 2, "required": 1, "img": {"type": 3, "w": 1000, "h": 600}}]});
        let native = json!({"request": request.to_string()});
        let image = |w: u32, h: u32| json!({"link": {"url": "u"}, "assets": [{"id": 2, "img": {"url": "i", "w": w, "h": h}}]});
        assert_eq!(rules(&native, &image(1000, 600)), []);
        // 1.91:1 is 15 % from 5:3; larger is fine.
        assert_eq!(rules(&native, &image(1200, 627)), []);
        assert_eq!(rules(&native, &image(1200, 1200)), [Rule::NativeImageSize]);
        assert_eq!(
            rules(&native, &image(800, 480)),
            [Rule::NativeImageSize, Rule::NativeImageSize]
        );
    }

    #[test]
    fn an_image_without_url_or_of_another_type_is_caught() {
        let mut adm = answer();
        adm["assets"][1]["img"]["type"] = json!(1);
        adm["assets"][1]["img"]
            .as_object_mut()
            .unwrap()
            .remove("url");
        assert_eq!(
            rules(&imp_native(), &adm),
            [Rule::NativeAsset, Rule::NativeAsset]
        );
    }

    #[test]
    fn an_answer_without_a_link_url_is_caught() {
        let mut adm = answer();
        adm.as_object_mut().unwrap().remove("link");
        assert_eq!(rules(&imp_native(), &adm), [Rule::NativeLink]);
        adm["link"] = json!({"clicktrackers": []});
        assert_eq!(rules(&imp_native(), &adm), [Rule::NativeLink]);
    }

    #[test]
    fn trackers_must_use_offered_events_and_methods_with_a_url() {
        let mut adm = answer();
        adm["eventtrackers"] = json!([{"event": 1, "method": 2, "url": "https://t.example/j.js"}]);
        assert_eq!(rules(&imp_native(), &adm), [Rule::NativeTracker]);
        adm["eventtrackers"] = json!([{"event": 1, "method": 1}]);
        assert_eq!(rules(&imp_native(), &adm), [Rule::NativeTracker]);
    }

    #[test]
    fn a_native_11_answer_tracks_impressions_where_a_11_exchange_reads_them() {
        let native = json!({"request": json!({"ver": "1.1", "assets": []}).to_string()});
        let tracker = json!([{"event": 1, "method": 1, "url": "https://t.example/i"}]);
        let mut adm = json!({"ver": "1.1", "link": {"url": "u"}, "assets": [],
            "eventtrackers": tracker});
        assert_eq!(rules(&native, &adm), [Rule::NativeTracker]);
        adm["imptrackers"] = json!(["https://t.example/i"]);
        assert_eq!(rules(&native, &adm), []);
        adm.as_object_mut().unwrap().remove("eventtrackers");
        assert_eq!(rules(&native, &adm), []);
        // The version comes from the imp when the request has none.
        let unversioned = json!({"request": json!({"assets": []}).to_string(), "ver": "1.1"});
        adm["ver"] = json!("1.2");
        assert_eq!(rules(&unversioned, &adm), [Rule::NativeVersion]);
    }

    #[test]
    fn a_12_request_offering_no_trackers_takes_no_event_tracker() {
        let native = json!({"request": json!({"ver": "1.2", "assets": []}).to_string()});
        let mut adm = json!({"link": {"url": "u"}, "assets": [],
            "eventtrackers": [{"event": 1, "method": 1, "url": "https://t.example/i"}]});
        assert_eq!(rules(&native, &adm), [Rule::NativeTracker]);
        adm.as_object_mut().unwrap().remove("eventtrackers");
        adm["imptrackers"] = json!(["https://t.example/i"]);
        assert_eq!(rules(&native, &adm), []);
    }

    #[test]
    fn a_video_asset_carries_a_valid_vast_tag() {
        let request =
            json!({"assets": [{"id": 4, "required": 1, "video": {"mimes": ["video/mp4"]}}]});
        let native = json!({"request": request.to_string()});
        let adm = json!({"link": {"url": "u"}, "assets": [{"id": 4, "video": {"vasttag": "<VAST version=\"4.2\"/>"}}]});
        let found = check_native(&native, &adm.to_string());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].rule, Rule::VastAd);
        assert_eq!(found[0].path, "assets[0].video.vasttag:VAST");
    }

    #[test]
    fn assets_may_live_at_an_assetsurl() {
        let adm = json!({"link": {"url": "u"}, "assetsurl": "https://acme.example/assets.json"});
        assert_eq!(rules(&imp_native(), &adm), []);
        let neither = json!({"link": {"url": "u"}});
        assert_eq!(rules(&imp_native(), &neither), [Rule::NativeAsset]);
    }
}

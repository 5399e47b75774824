//! Tests of the admin API through [`Admin::handle`], as the server calls it.

use std::sync::{Arc, Mutex};

use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};

use super::Admin;
use crate::control::auth::{self, Role};
use crate::model::{AdvertiserId, Catalog};
use crate::state::catalog::CatalogSource;
use crate::store::Store;

/// A store with advertisers A (one campaign with a creative, one empty
/// campaign) and B (nothing), and a token per kind of caller.
struct Fixture {
    store: Arc<Store>,
    admin: Admin,
    published: Arc<Mutex<Vec<Catalog>>>,
    admin_token: String,
    buyer_granted: String,
    buyer_other: String,
    advertiser: String,
    adv_a: i64,
    adv_b: i64,
    campaign: i64,
    empty_campaign: i64,
    creative: i64,
    advertiser_token_id: i64,
}

/// What a call answered.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    json: Value,
}

fn campaign_body(advertiser: i64) -> Value {
    json!({
        "advertiser_id": advertiser,
        "name": "Spring sale",
        "status": "active",
        "total_budget_micros": 10_000_000_000i64,
        "daily_budget_micros": 1_000_000_000i64,
        "currency": "USD",
        "base_cpm_micros": 2_500_000,
        "max_cpm_micros": 8_000_000,
        "adomain": ["acme.example"],
        "cat": ["IAB17"],
        "targeting": {"countries": ["USA"], "sizes": [{"w": 300, "h": 250}]}
    })
}

fn html_creative_body() -> Value {
    json!({
        "name": "MPU",
        "body": {"kind": "html", "w": 300, "h": 250, "markup": "<a href=\"https://acme.example\">x</a>"}
    })
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with_store(Arc::new(Store::open_in_memory().unwrap()))
    }

    fn with_store(store: Arc<Store>) -> Fixture {
        let published = Arc::new(Mutex::new(Vec::new()));
        let sink = published.clone();
        let clock: crate::state::clock::SharedClock = Arc::new(crate::state::clock::SystemClock);
        let (audience, _) =
            crate::state::audience::Audience::open(store.clone(), Arc::clone(&clock)).unwrap();
        let catalog = crate::state::catalog::StoreCatalog::new(store.clone());
        catalog.subscribe(Box::new(move |c: &Catalog, _| {
            sink.lock().unwrap().push(c.clone())
        }));
        let admin = Admin::new(
            store.clone(),
            Arc::new(audience),
            Arc::new(catalog),
            Arc::new(crate::bid::Settings {
                public_url: "https://bidder.test".into(),
                fx: crate::bid::FxRates::from_map(&Default::default()).unwrap(),
                bid_ttl_secs: None,
                creative: Default::default(),
                move_ttl_secs: 86_400,
                privacy_url: None,
            }),
            Arc::new(crate::state::budget::Ledger::new(600, None)),
            clock,
        );
        let admin_token = auth::create_token(&store, Role::Admin, &[], "t")
            .unwrap()
            .secret;
        let mut f = Fixture {
            store,
            admin,
            published,
            admin_token,
            buyer_granted: String::new(),
            buyer_other: String::new(),
            advertiser: String::new(),
            adv_a: 0,
            adv_b: 0,
            campaign: 0,
            empty_campaign: 0,
            creative: 0,
            advertiser_token_id: 0,
        };
        let t = f.admin_token.clone();
        f.adv_a = f.id(f.call(
            Method::POST,
            "/api/v1/advertisers",
            None,
            Some(&t),
            json!({"name": "Acme", "domain": "acme.example"}),
        ));
        f.adv_b = f.id(f.call(
            Method::POST,
            "/api/v1/advertisers",
            None,
            Some(&t),
            json!({"name": "Other", "domain": "other.example"}),
        ));
        f.campaign = f.id(f.call(
            Method::POST,
            "/api/v1/campaigns",
            None,
            Some(&t),
            campaign_body(f.adv_a),
        ));
        f.empty_campaign = f.id(f.call(
            Method::POST,
            "/api/v1/campaigns",
            None,
            Some(&t),
            campaign_body(f.adv_a),
        ));
        let path = format!("/api/v1/campaigns/{}/creatives", f.campaign);
        f.creative = f.id(f.call(Method::POST, &path, None, Some(&t), html_creative_body()));
        let (a, b) = (AdvertiserId(f.adv_a), AdvertiserId(f.adv_b));
        f.buyer_granted = auth::create_token(&f.store, Role::Buyer, &[a], "bg")
            .unwrap()
            .secret;
        f.buyer_other = auth::create_token(&f.store, Role::Buyer, &[b], "bo")
            .unwrap()
            .secret;
        let adv = auth::create_token(&f.store, Role::Advertiser, &[a], "ad").unwrap();
        f.advertiser = adv.secret;
        f.advertiser_token_id = adv.id;
        f.published.lock().unwrap().clear();
        f
    }

    fn id(&self, a: Answer) -> i64 {
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.json);
        a.json["id"].as_i64().unwrap()
    }

    fn call_with(
        &self,
        method: Method,
        path: &str,
        query: Option<&str>,
        token: Option<&str>,
        mut headers: HeaderMap,
        body: &[u8],
    ) -> Answer {
        if let Some(t) = token {
            headers.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
            );
        }
        let resp = match self.admin.handle(&method, path, query, &headers, body) {
            Ok(r) => r,
            Err(e) => e.into_response(),
        };
        let (parts, body) = resp.into_parts();
        let bytes = futures_lite_collect(body);
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        Answer {
            status: parts.status,
            headers: parts.headers,
            json,
        }
    }

    fn call(
        &self,
        method: Method,
        path: &str,
        query: Option<&str>,
        token: Option<&str>,
        body: Value,
    ) -> Answer {
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(&body).unwrap()
        };
        self.call_with(method, path, query, token, HeaderMap::new(), &bytes)
    }

    fn admin_call(&self, method: Method, path: &str, body: Value) -> Answer {
        let t = self.admin_token.clone();
        self.call(method, path, None, Some(&t), body)
    }

    fn if_match(version: i64) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_MATCH,
            HeaderValue::from_str(&format!("\"{version}\"")).unwrap(),
        );
        h
    }

    fn publishes(&self) -> usize {
        self.published.lock().unwrap().len()
    }
}

/// The body of a `Full` is ready at once; collecting it needs no runtime.
fn futures_lite_collect(body: crate::error::Body) -> Vec<u8> {
    let fut = body.collect();
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Ok(c)) => c.to_bytes().to_vec(),
        _ => panic!("a Full body is always ready"),
    }
}

fn fields(a: &Answer) -> Vec<String> {
    a.json["fields"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn advertisers_round_trip_through_create_read_update_delete() {
    let f = Fixture::new();
    let created = f.admin_call(
        Method::POST,
        "/api/v1/advertisers",
        json!({"name": "New", "domain": "new.example"}),
    );
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.headers[header::ETAG], "\"1\"");
    let id = created.json["id"].as_i64().unwrap();
    assert_eq!(
        created.headers[header::LOCATION],
        format!("/api/v1/advertisers/{id}").as_str()
    );
    let path = format!("/api/v1/advertisers/{id}");
    let got = f.admin_call(Method::GET, &path, Value::Null);
    assert_eq!(got.json["name"], "New");
    assert_eq!(got.json["time_zone"], "UTC");
    assert_eq!(got.headers[header::ETAG], "\"1\"");
    let nowhere = f.admin_call(
        Method::PUT,
        &path,
        json!({"name": "Renamed", "domain": "new.example", "time_zone": "Mars/Olympus", "version": 1}),
    );
    assert_eq!(nowhere.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&nowhere), vec!["time_zone"]);
    let updated = f.admin_call(
        Method::PUT,
        &path,
        json!({"name": "Renamed", "domain": "new.example", "time_zone": "America/New_York", "version": 1}),
    );
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.json);
    assert_eq!(updated.json["name"], "Renamed");
    assert_eq!(updated.json["time_zone"], "America/New_York");
    assert_eq!(updated.json["version"], 2);
    let t = f.admin_token.clone();
    let deleted = f.call_with(
        Method::DELETE,
        &path,
        None,
        Some(&t),
        Fixture::if_match(2),
        b"",
    );
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        f.admin_call(Method::GET, &path, Value::Null).status,
        StatusCode::NOT_FOUND
    );
}

#[test]
fn campaigns_round_trip_with_every_field_kept() {
    let f = Fixture::new();
    let path = format!("/api/v1/campaigns/{}", f.campaign);
    let got = f.admin_call(Method::GET, &path, Value::Null);
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json["targeting"]["countries"], json!(["USA"]));
    assert_eq!(got.json["stage_multipliers"], json!({}));
    assert_eq!(got.json["max_cpm_micros"], 8_000_000);
    let mut body = campaign_body(f.adv_a);
    body["name"] = json!("Summer sale");
    body["currency"] = json!("EUR");
    body["version"] = json!(1);
    let updated = f.admin_call(Method::PUT, &path, body);
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.json);
    assert_eq!(updated.json["currency"], "EUR");
    assert_eq!(updated.headers[header::ETAG], "\"2\"");
    let empty = format!("/api/v1/campaigns/{}", f.empty_campaign);
    let deleted = f.admin_call(Method::DELETE, &empty, json!({"version": 1}));
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        f.admin_call(Method::GET, &empty, Value::Null).status,
        StatusCode::NOT_FOUND
    );
}

#[test]
fn creatives_round_trip_in_their_campaign() {
    let f = Fixture::new();
    let list = f.admin_call(
        Method::GET,
        &format!("/api/v1/campaigns/{}/creatives", f.campaign),
        Value::Null,
    );
    assert_eq!(list.json["items"][0]["id"], f.creative);
    let path = format!("/api/v1/creatives/{}", f.creative);
    let mut body = json!({
        "name": "Native",
        "status": "paused",
        "body": {"kind": "native", "title": "Tents", "landing_url": "https://acme.example/t",
                 "icon": {"url": "https://cdn.acme.example/i.png", "w": 128, "h": 128}},
        "version": 1
    });
    let updated = f.admin_call(Method::PUT, &path, body.clone());
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.json);
    assert_eq!(updated.json["body"]["kind"], "native");
    assert_eq!(updated.json["status"], "paused");
    assert_eq!(updated.json["campaign_id"], f.campaign);
    body["version"] = json!(2);
    let deleted = f.admin_call(Method::DELETE, &path, json!({"version": 2}));
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        f.admin_call(Method::GET, &path, Value::Null).status,
        StatusCode::NOT_FOUND
    );
}

#[test]
fn tokens_are_issued_once_listed_without_secrets_and_revoked() {
    let f = Fixture::new();
    let issued = f.admin_call(
        Method::POST,
        "/api/v1/tokens",
        json!({"role": "buyer", "advertisers": [f.adv_a], "label": "agency"}),
    );
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.json);
    let secret = issued.json["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("bdr_"));
    let id = issued.json["id"].as_i64().unwrap();
    let list = f.admin_call(Method::GET, "/api/v1/tokens", Value::Null);
    assert!(!list.json.to_string().contains(&secret));
    assert!(
        list.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == id && t["label"] == "agency")
    );
    let ok = f.call(
        Method::GET,
        "/api/v1/campaigns",
        None,
        Some(&secret),
        Value::Null,
    );
    assert_eq!(ok.status, StatusCode::OK);
    let revoked = f.admin_call(Method::DELETE, &format!("/api/v1/tokens/{id}"), Value::Null);
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let denied = f.call(
        Method::GET,
        "/api/v1/campaigns",
        None,
        Some(&secret),
        Value::Null,
    );
    assert_eq!(denied.status, StatusCode::UNAUTHORIZED);
    assert_eq!(denied.headers[header::WWW_AUTHENTICATE], "Bearer");
}

#[test]
fn token_grants_must_fit_the_role_and_exist() {
    let f = Fixture::new();
    let bad = f.admin_call(
        Method::POST,
        "/api/v1/tokens",
        json!({"role": "advertiser", "advertisers": [f.adv_a, 999]}),
    );
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&bad), vec!["advertisers", "advertisers[1]"]);
}

#[test]
fn an_invalid_campaign_is_refused_naming_every_bad_field() {
    let f = Fixture::new();
    let mut body = campaign_body(999);
    body["name"] = json!("");
    body["currency"] = json!("XYZ");
    body["base_cpm_micros"] = json!(9_000_000);
    body["daily_budget_micros"] = json!(20_000_000_000i64);
    body["flight_start"] = json!(200);
    body["flight_end"] = json!(100);
    body["adomain"] = json!(["not a domain"]);
    body["targeting"] = json!({
        "countries": ["USA", "us"],
        "regions": ["USA-CA", "California"],
        "device_types": [1, 9],
        "sizes": [{"w": 0, "h": 250}],
        "deal_ids": [""],
        "languages": ["EN"]
    });
    let a = f.admin_call(Method::POST, "/api/v1/campaigns", body);
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.json);
    let got = fields(&a);
    for want in [
        "advertiser_id",
        "name",
        "currency",
        "base_cpm_micros",
        "daily_budget_micros",
        "flight_end",
        "adomain[0]",
        "targeting.countries[1]",
        "targeting.regions[1]",
        "targeting.device_types[1]",
        "targeting.sizes[0].w",
        "targeting.deal_ids[0]",
        "targeting.languages[0]",
    ] {
        assert!(got.iter().any(|g| g == want), "missing {want} in {got:?}");
    }
    assert_eq!(got.len(), 13, "{got:?}");
    assert_eq!(f.publishes(), 0);
}

#[test]
fn an_invalid_creative_is_refused_naming_every_bad_field() {
    let f = Fixture::new();
    let path = format!("/api/v1/campaigns/{}/creatives", f.campaign);
    let native = f.admin_call(
        Method::POST,
        &path,
        json!({
            "name": "n",
            "body": {"kind": "native", "title": "", "landing_url": "http://acme.example",
                     "image": {"url": "https://cdn.acme.example/x.jpg", "w": 0, "h": 627}}
        }),
    );
    assert_eq!(
        fields(&native),
        vec!["body.title", "body.landing_url", "body.image.w"]
    );
    let vast = f.admin_call(Method::POST, &path, json!({
        "name": "v",
        "body": {"kind": "vast", "document": "<xml/>", "duration_secs": 0, "mimes": ["mp4"], "w": 640, "h": 360}
    }));
    assert_eq!(
        fields(&vast),
        vec!["body.document", "body.duration_secs", "body.mimes[0]"]
    );
    let html = f.admin_call(Method::POST, &path, json!({
        "name": "h", "body": {"kind": "html", "w": 300, "h": 250, "markup": "x".repeat(100 * 1024 + 1)}
    }));
    assert_eq!(fields(&html), vec!["body.markup"]);
}

#[test]
fn a_vast_upload_is_parsed_and_its_broken_shape_named() {
    let f = Fixture::new();
    let path = format!("/api/v1/campaigns/{}/creatives", f.campaign);
    let vast = |document: &str| {
        json!({"name": "v", "body": {"kind": "vast", "document": document,
            "duration_secs": 15, "mimes": ["video/mp4"], "w": 640, "h": 360}})
    };
    // The old check looked for the tags as text: these two passed it.
    for (document, says) in [
        (
            "<VAST><Ad><Wrapper><MediaFile></Wrapper></Ad></VAST>",
            "not well-formed XML",
        ),
        (
            "<VAST><Ad><InLine><AdParameters><![CDATA[<MediaFile>]]></AdParameters></InLine></Ad></VAST>",
            "<Ad> 1: an <InLine> needs a linear ad with a media file",
        ),
    ] {
        let refused = f.admin_call(Method::POST, &path, vast(document));
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(fields(&refused), vec!["body.document"]);
        let message = refused.json["fields"][0]["message"].as_str().unwrap();
        assert!(message.starts_with(says), "{message}");
    }
    let wrapper = "<VAST version=\"4.2\"><Ad><Wrapper><AdSystem>s</AdSystem><Impression>https://t.example/i</Impression><VASTAdTagURI>https://ads.example/v.xml</VASTAdTagURI></Wrapper></Ad></VAST>";
    let ok = f.admin_call(Method::POST, &path, vast(wrapper));
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.json);
}

#[test]
fn an_html_click_macro_and_its_landing_page_come_together() {
    let f = Fixture::new();
    let path = format!("/api/v1/campaigns/{}/creatives", f.campaign);
    let html = |markup: &str, landing: Option<&str>| {
        let mut body = json!({"kind": "html", "w": 300, "h": 250, "markup": markup});
        if let Some(url) = landing {
            body["landing_url"] = json!(url);
        }
        json!({"name": "h", "body": body})
    };
    let linked = r#"<a href="${CLICK_URL}">x</a>"#;
    let no_landing = f.admin_call(Method::POST, &path, html(linked, None));
    assert_eq!(no_landing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&no_landing), vec!["body.landing_url"]);
    let no_macro = f.admin_call(
        Method::POST,
        &path,
        html("<b>x</b>", Some("https://acme.example/tents")),
    );
    assert_eq!(fields(&no_macro), vec!["body.markup"]);
    let plain_http = f.admin_call(
        Method::POST,
        &path,
        html(linked, Some("http://acme.example")),
    );
    assert_eq!(fields(&plain_http), vec!["body.landing_url"]);
    let ok = f.admin_call(
        Method::POST,
        &path,
        html(linked, Some("https://acme.example/tents")),
    );
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.json);
    assert_eq!(ok.json["body"]["landing_url"], "https://acme.example/tents");
}

#[test]
fn wrong_json_types_and_unknown_fields_are_422_with_their_path_and_broken_json_400() {
    let f = Fixture::new();
    let mut body = campaign_body(f.adv_a);
    body["targeting"]["device_types"] = json!([1, "phone"]);
    let a = f.admin_call(Method::POST, "/api/v1/campaigns", body);
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&a), vec!["targeting.device_types[1]"]);
    let mut body = campaign_body(f.adv_a);
    body["targeting"]["countrys"] = json!(["USA"]);
    let a = f.admin_call(Method::POST, "/api/v1/campaigns", body);
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.json.to_string().contains("countrys"), "{}", a.json);
    let t = f.admin_token.clone();
    let a = f.call_with(
        Method::POST,
        "/api/v1/campaigns",
        None,
        Some(&t),
        HeaderMap::new(),
        b"{\"name\":",
    );
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
}

#[test]
fn a_422_lists_every_bad_field_at_once_type_errors_included() {
    let f = Fixture::new();
    let mut body = campaign_body(f.adv_a);
    body["name"] = json!(7);
    body["base_cpm_micros"] = json!("cheap");
    body["targeting"]["countrys"] = json!(["USA"]);
    body["targeting"]["sizes"] = json!([{"w": 300, "h": 250}, {"w": "wide", "h": 90}]);
    body.as_object_mut().unwrap().remove("currency");
    let a = f.admin_call(Method::POST, "/api/v1/campaigns", body);
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.json);
    let mut got = fields(&a);
    got.sort();
    assert_eq!(
        got,
        [
            "base_cpm_micros",
            "currency",
            "name",
            "targeting.countrys",
            "targeting.sizes[1].w"
        ],
        "{}",
        a.json
    );
}

#[test]
fn a_fragment_body_lists_its_bad_fields_under_body() {
    let f = Fixture::new();
    let a = f.admin_call(
        Method::POST,
        "/api/v1/fragments",
        json!({"advertiser_id": f.adv_a, "set": "s", "kind": "message",
            "body": {"language": "en", "stages": ["nowhere"], "subline": 3}}),
    );
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.json);
    let mut got = fields(&a);
    got.sort();
    assert_eq!(
        got,
        ["body.headline", "body.stages[0]", "body.subline"],
        "{}",
        a.json
    );
}

#[test]
fn a_typo_inside_a_creative_body_is_422_not_dropped() {
    let f = Fixture::new();
    let path = format!("/api/v1/campaigns/{}/creatives", f.campaign);
    let a = f.admin_call(
        Method::POST,
        &path,
        json!({"name": "h", "body": {"kind": "html", "w": 300, "h": 250, "markup": "<b>x</b>", "markpu": "y"}}),
    );
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.json.to_string().contains("markpu"), "{}", a.json);
}

#[test]
fn a_stale_version_is_412_naming_both_versions() {
    let f = Fixture::new();
    let path = format!("/api/v1/advertisers/{}", f.adv_a);
    let t = f.admin_token.clone();
    let body = serde_json::to_vec(&json!({"name": "Acme 2", "domain": "acme.example"})).unwrap();
    let ok = f.call_with(
        Method::PUT,
        &path,
        None,
        Some(&t),
        Fixture::if_match(1),
        &body,
    );
    assert_eq!(ok.status, StatusCode::OK);
    let stale = f.call_with(
        Method::PUT,
        &path,
        None,
        Some(&t),
        Fixture::if_match(1),
        &body,
    );
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert!(
        stale.json["message"]
            .as_str()
            .unwrap()
            .contains("current is 2"),
        "{}",
        stale.json
    );
    let del = f.call_with(
        Method::DELETE,
        &format!("/api/v1/creatives/{}", f.creative),
        None,
        Some(&t),
        Fixture::if_match(5),
        b"",
    );
    assert_eq!(del.status, StatusCode::PRECONDITION_FAILED);
}

#[test]
fn a_write_without_any_version_is_428() {
    let f = Fixture::new();
    let put = f.admin_call(
        Method::PUT,
        &format!("/api/v1/advertisers/{}", f.adv_a),
        json!({"name": "X", "domain": "x.example"}),
    );
    assert_eq!(put.status, StatusCode::PRECONDITION_REQUIRED);
    let del = f.admin_call(
        Method::DELETE,
        &format!("/api/v1/creatives/{}", f.creative),
        Value::Null,
    );
    assert_eq!(del.status, StatusCode::PRECONDITION_REQUIRED);
    assert_eq!(f.publishes(), 0);
}

#[test]
fn lists_page_with_a_cursor_until_the_end() {
    let f = Fixture::new();
    for i in 0..3 {
        f.admin_call(
            Method::POST,
            "/api/v1/advertisers",
            json!({"name": format!("P{i}"), "domain": "p.example"}),
        );
    }
    let t = f.admin_token.clone();
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let q = format!("limit=2&after={after}");
        let page = f.call(
            Method::GET,
            "/api/v1/advertisers",
            Some(&q),
            Some(&t),
            Value::Null,
        );
        assert_eq!(page.status, StatusCode::OK);
        let items = page.json["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|a| a["id"].as_i64().unwrap()));
        match page.json["next_after"].as_i64() {
            Some(n) => after = n,
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    let bad = f.call(
        Method::GET,
        "/api/v1/advertisers",
        Some("limit=501"),
        Some(&t),
        Value::Null,
    );
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[test]
fn campaign_lists_filter_by_advertiser_and_scope_to_grants() {
    let f = Fixture::new();
    let t = f.admin_token.clone();
    f.admin_call(Method::POST, "/api/v1/campaigns", campaign_body(f.adv_b));
    let q = format!("advertiser_id={}", f.adv_b);
    let only_b = f.call(
        Method::GET,
        "/api/v1/campaigns",
        Some(&q),
        Some(&t),
        Value::Null,
    );
    assert_eq!(only_b.json["items"].as_array().unwrap().len(), 1);
    let bg = f.buyer_granted.clone();
    let mine = f.call(
        Method::GET,
        "/api/v1/campaigns",
        None,
        Some(&bg),
        Value::Null,
    );
    let items = mine.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|c| c["advertiser_id"] == f.adv_a));
}

#[test]
fn archived_campaigns_are_listed_only_on_request() {
    let f = Fixture::new();
    let mut body = campaign_body(f.adv_a);
    body["status"] = json!("archived");
    let archived = f.admin_call(Method::POST, "/api/v1/campaigns", body).json["id"].clone();
    let t = f.admin_token.clone();
    let listed = |q: Option<&str>| {
        f.call(Method::GET, "/api/v1/campaigns", q, Some(&t), Value::Null)
            .json["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == archived)
    };
    assert!(!listed(None));
    assert!(listed(Some("include_archived=true")));
}

#[test]
fn every_write_publishes_the_new_catalog_and_reads_publish_nothing() {
    let f = Fixture::new();
    f.admin_call(Method::GET, "/api/v1/campaigns", Value::Null);
    assert_eq!(f.publishes(), 0);
    let a = f.admin_call(
        Method::POST,
        "/api/v1/advertisers",
        json!({"name": "Pub", "domain": "pub.example"}),
    );
    assert_eq!(f.publishes(), 1);
    let last = f.published.lock().unwrap().last().cloned().unwrap();
    assert!(last.advertisers.iter().any(|x| x.name == "Pub"));
    assert_eq!(last, f.store.load_catalog().unwrap());
    let id = a.json["id"].as_i64().unwrap();
    f.admin_call(
        Method::PUT,
        &format!("/api/v1/advertisers/{id}"),
        json!({"name": "Pub2", "domain": "pub.example", "version": 1}),
    );
    assert_eq!(f.publishes(), 2);
    assert!(
        f.published.lock().unwrap()[1]
            .advertisers
            .iter()
            .any(|x| x.name == "Pub2")
    );
    f.admin_call(
        Method::DELETE,
        &format!("/api/v1/advertisers/{id}"),
        json!({"version": 2}),
    );
    assert_eq!(f.publishes(), 3);
    assert!(
        !f.published.lock().unwrap()[2]
            .advertisers
            .iter()
            .any(|x| x.id.0 == id)
    );
}

#[test]
fn a_campaign_with_creatives_cannot_be_deleted() {
    let f = Fixture::new();
    let a = f.admin_call(
        Method::DELETE,
        &format!("/api/v1/campaigns/{}", f.campaign),
        json!({"version": 1}),
    );
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.json);
}

#[test]
fn a_campaign_for_a_missing_advertiser_is_422_on_advertiser_id() {
    let f = Fixture::new();
    let a = f.admin_call(Method::POST, "/api/v1/campaigns", campaign_body(12345));
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&a), vec!["advertiser_id"]);
}

#[test]
fn an_advertiser_with_campaigns_cannot_be_deleted() {
    let f = Fixture::new();
    let a = f.admin_call(
        Method::DELETE,
        &format!("/api/v1/advertisers/{}", f.adv_a),
        json!({"version": 1}),
    );
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.json);
}

#[test]
fn unknown_routes_are_404_wrong_methods_405_and_openapi_needs_no_token() {
    let f = Fixture::new();
    assert_eq!(
        f.admin_call(Method::GET, "/api/v1/nope", Value::Null)
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        f.admin_call(Method::GET, "/api/v1/campaigns/abc", Value::Null)
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        f.admin_call(Method::GET, "/api/v1/campaigns/999", Value::Null)
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        f.admin_call(Method::PATCH, "/api/v1/campaigns", Value::Null)
            .status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    let spec = f.call(Method::GET, "/api/v1/openapi.json", None, None, Value::Null);
    assert_eq!(spec.status, StatusCode::OK);
    assert!(spec.json["openapi"].is_string());
}

#[test]
fn a_reopened_store_serves_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let (adv, campaign) = {
        let f = Fixture::with_store(Arc::new(Store::open(dir.path()).unwrap()));
        (f.adv_a, f.campaign)
    };
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let catalog = store.load_catalog().unwrap();
    assert_eq!(catalog.advertisers.len(), 2);
    assert_eq!(catalog.advertisers[0].id.0, adv);
    assert_eq!(catalog.campaigns[0].id.0, campaign);
    assert_eq!(catalog.creatives.len(), 1);
}

#[test]
fn the_demo_catalog_passes_the_admin_validation() {
    let store = Store::open_in_memory().unwrap();
    crate::control::demo::seed_if_empty(&store, "https://bidder.test")
        .unwrap()
        .unwrap();
    let c = store.load_catalog().unwrap();
    for a in &c.advertisers {
        assert!(super::validate::advertiser(a).0.is_empty(), "{}", a.name);
    }
    for k in &c.campaigns {
        let funnel_owner = k
            .targeting
            .audience
            .as_ref()
            .and_then(|a| store.funnel(a.funnel_id).unwrap())
            .map(|f| f.advertiser_id);
        let errs = super::validate::campaign(k, true, funnel_owner).0;
        assert!(errs.is_empty(), "{}: {errs:?}", k.name);
    }
    for k in &c.creatives {
        let errs = super::validate::creative(&k.name, &k.body).0;
        assert!(errs.is_empty(), "{}: {errs:?}", k.name);
    }
}

/// Who calls, in the access table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    NoToken,
    WrongToken,
    Admin,
    BuyerGranted,
    BuyerOther,
    Advertiser,
}

const CALLERS: [Caller; 6] = [
    Caller::NoToken,
    Caller::WrongToken,
    Caller::Admin,
    Caller::BuyerGranted,
    Caller::BuyerOther,
    Caller::Advertiser,
];

/// Expected outcome class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    /// 2xx.
    Ok,
    /// 401.
    Unauthorized,
    /// 403.
    Forbidden,
}

#[test]
fn every_route_answers_each_kind_of_caller_as_documented() {
    use Want::{Forbidden as F, Ok as O};
    // Expectations for [admin, buyer granted A, buyer granted B, advertiser A];
    // no token and a wrong token are always 401, except for the open spec.
    type Build = fn(&Fixture) -> (Method, String, Value, HeaderMap);
    let table: Vec<(&str, Build, [Want; 4])> = vec![
        (
            "list advertisers",
            |_| {
                (
                    Method::GET,
                    "/api/v1/advertisers".into(),
                    Value::Null,
                    HeaderMap::new(),
                )
            },
            [O, O, O, O],
        ),
        (
            "create advertiser",
            |_| {
                (
                    Method::POST,
                    "/api/v1/advertisers".into(),
                    json!({"name": "N", "domain": "n.example"}),
                    HeaderMap::new(),
                )
            },
            [O, F, F, F],
        ),
        (
            "get advertiser",
            |f| {
                (
                    Method::GET,
                    format!("/api/v1/advertisers/{}", f.adv_a),
                    Value::Null,
                    HeaderMap::new(),
                )
            },
            [O, O, F, O],
        ),
        (
            "update advertiser",
            |f| {
                (
                    Method::PUT,
                    format!("/api/v1/advertisers/{}", f.adv_a),
                    json!({"name": "N", "domain": "n.example"}),
                    Fixture::if_match(1),
                )
            },
            [O, O, F, F],
        ),
        (
            "delete advertiser",
            |f| {
                (
                    Method::DELETE,
                    format!("/api/v1/advertisers/{}", f.adv_b),
                    Value::Null,
                    Fixture::if_match(1),
                )
            },
            [O, F, F, F],
        ),
        (
            "list campaigns",
            |_| {
                (
                    Method::GET,
                    "/api/v1/campaigns".into(),
                    Value::Null,
                    HeaderMap::new(),
                )
            },
            [O, O, O, O],
        ),
        (
            "list campaigns of A",
            |f| {
                (
                    Method::GET,
                    format!("/api/v1/campaigns?advertiser_id={}", f.adv_a),
                    Value::Null,
                    HeaderMap::new(),
                )
            },
            [O, O, F, O],
        ),
        (
            "create campaign",
            |f| {
                (
                    Method::POST,
                    "/api/v1/campaigns".into(),
                    campaign_body(f.adv_a),
                    HeaderMap::new(),
                )
            },
            [O, O, F, F],
        ),
        (
            "get campaign",
            |f| {
                (
                    Method::GET,
                    format!("/api/v1/campaigns/{}", f.campaign),
                    Value::Null,
                    HeaderMap::new(),
                )
            },
            [O, O, F, O],
        ),
        (
            "update campaign",
            |f| {
                (
                    Method::PUT,
                    format!("/api/v1/campaigns/{}", f.campaign),
                    campaign_body(f.adv_a),
                    Fixture::if_match(1),
                )
            },
            [O, O, F, F],
        ),
        (
            "delete campaign",
            |f| {
                (
                    Method::DELETE,
                    format!("/api/v1/campaigns/{}", f.empty_campaign),
                    Value::Null,
                    Fixture::if_match(1),
                )
            },
            [O, O, F, F],
        ),
        (
            "list creatives",
            |f| {
                (
                    Method::GET,
                    format!("/api/v1/campaigns/{}/creatives", f.campaign),
                    Value::Null,
                    HeaderMap::new(),
                )
            },
            [O, O, F, O],
        ),
        (
            "create creative",
            |f| {
                (
                    Method::POST,
                    format!("/api/v1/campaigns/{}/creatives", f.campaign),
                    html_creative_body(),
                    HeaderMap::new(),
                )
            },
            [O, O, F, O],
        ),
        (
            "get creative",
            |f| {
                (
                    Method::GET,
                    format!("/api/v1/creatives/{}", f.creative),
                    Value::Null,
                    HeaderMap::new(),
                )
            },
            [O, O, F, O],
        ),
        (
            "update creative",
            |f| {
                (
                    Method::PUT,
                    format!("/api/v1/creatives/{}", f.creative),
                    html_creative_body(),
                    Fixture::if_match(1),
                )
            },
            [O, O, F, O],
        ),
        (
            "delete creative",
            |f| {
                (
                    Method::DELETE,
                    format!("/api/v1/creatives/{}", f.creative),
                    Value::Null,
                    Fixture::if_match(1),
                )
            },
            [O, O, F, O],
        ),
        (
            "list tokens",
            |_| {
                (
                    Method::GET,
                    "/api/v1/tokens".into(),
                    Value::Null,
                    HeaderMap::new(),
                )
            },
            [O, F, F, F],
        ),
        (
            "create token",
            |_| {
                (
                    Method::POST,
                    "/api/v1/tokens".into(),
                    json!({"role": "admin"}),
                    HeaderMap::new(),
                )
            },
            [O, F, F, F],
        ),
        (
            "revoke token",
            |f| {
                (
                    Method::DELETE,
                    format!("/api/v1/tokens/{}", f.advertiser_token_id),
                    Value::Null,
                    HeaderMap::new(),
                )
            },
            [O, F, F, F],
        ),
    ];
    for (name, build, wants) in &table {
        for caller in CALLERS {
            // A fresh store per cell, so a delete in one cell cannot change
            // what the next one sees.
            let f = Fixture::new();
            let (method, full_path, body, headers) = build(&f);
            let (path, query) = match full_path.split_once('?') {
                Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
                None => (full_path.clone(), None),
            };
            let token = match caller {
                Caller::NoToken => None,
                Caller::WrongToken => Some("bdr_00000000000000000000000000000000".to_owned()),
                Caller::Admin => Some(f.admin_token.clone()),
                Caller::BuyerGranted => Some(f.buyer_granted.clone()),
                Caller::BuyerOther => Some(f.buyer_other.clone()),
                Caller::Advertiser => Some(f.advertiser.clone()),
            };
            let want = match caller {
                Caller::NoToken | Caller::WrongToken => Want::Unauthorized,
                Caller::Admin => wants[0],
                Caller::BuyerGranted => wants[1],
                Caller::BuyerOther => wants[2],
                Caller::Advertiser => wants[3],
            };
            let bytes = if body.is_null() {
                Vec::new()
            } else {
                serde_json::to_vec(&body).unwrap()
            };
            let a = f.call_with(
                method,
                &path,
                query.as_deref(),
                token.as_deref(),
                headers,
                &bytes,
            );
            let got = if a.status.is_success() {
                Want::Ok
            } else if a.status == StatusCode::UNAUTHORIZED {
                Want::Unauthorized
            } else if a.status == StatusCode::FORBIDDEN {
                Want::Forbidden
            } else {
                panic!("{name} as {caller:?}: unexpected {} {}", a.status, a.json)
            };
            assert_eq!(got, want, "{name} as {caller:?}: {} {}", a.status, a.json);
            assert_eq!(
                f.publishes() > 0,
                got == Want::Ok && !matches!(build(&f).0, Method::GET) && !name.contains("token"),
                "{name} as {caller:?} publish"
            );
        }
    }
}

#[test]
fn the_openapi_document_is_served_to_every_caller() {
    let f = Fixture::new();
    let tokens = [
        None,
        Some("bdr_wrong".to_owned()),
        Some(f.admin_token.clone()),
        Some(f.buyer_granted.clone()),
        Some(f.buyer_other.clone()),
        Some(f.advertiser.clone()),
    ];
    for token in &tokens {
        let a = f.call(
            Method::GET,
            "/api/v1/openapi.json",
            None,
            token.as_deref(),
            Value::Null,
        );
        assert_eq!(a.status, StatusCode::OK, "{token:?}");
    }
}

impl Fixture {
    /// An admin `PATCH` of `path` with `patch` at `If-Match: version`.
    fn patch(&self, path: &str, version: Option<i64>, patch: Value) -> Answer {
        let t = self.admin_token.clone();
        let headers = version.map(Fixture::if_match).unwrap_or_default();
        let body = serde_json::to_vec(&patch).unwrap();
        self.call_with(Method::PATCH, path, None, Some(&t), headers, &body)
    }
}

#[test]
fn a_merge_patch_changes_only_what_it_names_and_publishes() {
    let f = Fixture::new();
    let path = format!("/api/v1/campaigns/{}", f.campaign);
    let before = f.admin_call(Method::GET, &path, Value::Null).json;
    let a = f.patch(
        &path,
        Some(1),
        json!({"name": "Summer sale", "targeting": {"countries": ["DEU"]}, "app_bundle": null}),
    );
    assert_eq!(a.status, StatusCode::OK, "{}", a.json);
    assert_eq!(a.json["name"], "Summer sale");
    assert_eq!(a.json["targeting"]["countries"], json!(["DEU"]));
    assert_eq!(a.json["targeting"]["sizes"], before["targeting"]["sizes"]);
    assert_eq!(a.json["max_cpm_micros"], before["max_cpm_micros"]);
    assert_eq!(a.json["version"], 2);
    assert_eq!(a.headers[header::ETAG], "\"2\"");
    assert_eq!(f.publishes(), 1);
}

#[test]
fn a_merge_patch_needs_the_current_version_and_is_validated_like_a_put() {
    let f = Fixture::new();
    let path = format!("/api/v1/campaigns/{}", f.campaign);
    let a = f.patch(&path, None, json!({"name": "x"}));
    assert_eq!(a.status, StatusCode::PRECONDITION_REQUIRED, "{}", a.json);
    let a = f.patch(&path, Some(7), json!({"name": "x"}));
    assert_eq!(a.status, StatusCode::PRECONDITION_FAILED, "{}", a.json);
    let a = f.patch(
        &path,
        Some(1),
        json!({"name": null, "base_cpm_micros": "cheap", "id": 9, "max_cpm_micros": 1}),
    );
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.json);
    assert_eq!(fields(&a), ["base_cpm_micros", "id", "name"], "{}", a.json);
    // Well-shaped but breaking a rule: the service's validation, as PUT.
    let a = f.patch(&path, Some(1), json!({"max_cpm_micros": 1}));
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.json);
    assert!(fields(&a).iter().any(|p| p.contains("cpm")), "{}", a.json);
    let a = f.call(
        Method::PATCH,
        &path,
        None,
        Some(&f.advertiser.clone()),
        json!({"name": "x"}),
    );
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.json);
    assert_eq!(f.publishes(), 0);
}

#[test]
fn creatives_fragments_and_funnels_take_merge_patches() {
    let f = Fixture::new();
    let creative = format!("/api/v1/creatives/{}", f.creative);
    let a = f.patch(&creative, Some(1), json!({"name": "Renamed"}));
    assert_eq!(a.status, StatusCode::OK, "{}", a.json);
    assert_eq!(a.json["name"], "Renamed");
    assert_eq!(a.json["body"]["w"], 300);

    let made = f.admin_call(
        Method::POST,
        "/api/v1/funnels",
        json!({"advertiser_id": f.adv_a, "name": "Buyers"}),
    );
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.json);
    let funnel = format!("/api/v1/funnels/{}", made.json["id"]);
    let a = f.patch(&funnel, Some(1), json!({"name": "Shoppers"}));
    assert_eq!(a.status, StatusCode::OK, "{}", a.json);
    assert_eq!(a.json["name"], "Shoppers");

    let made = f.admin_call(
        Method::POST,
        "/api/v1/fragments",
        json!({"advertiser_id": f.adv_a, "set": "s", "kind": "message",
            "body": {"language": "en", "headline": "Tents"}}),
    );
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.json);
    let fragment = format!("/api/v1/fragments/{}", made.json["id"]);
    let a = f.patch(
        &fragment,
        Some(1),
        json!({"body": {"headline": "Light tents"}}),
    );
    assert_eq!(a.status, StatusCode::OK, "{}", a.json);
    assert_eq!(a.json["body"]["headline"], "Light tents");
    assert_eq!(a.json["body"]["language"], "en");
    assert_eq!(a.json["version"], 2);
    let a = f.patch(&fragment, Some(2), json!({"set": "other"}));
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.json);
}

#[test]
fn pause_and_resume_need_no_body_and_write_only_a_change() {
    let f = Fixture::new();
    let pause = format!("/api/v1/campaigns/{}/pause", f.campaign);
    let resume = format!("/api/v1/campaigns/{}/resume", f.campaign);
    let a = f.admin_call(Method::POST, &pause, Value::Null);
    assert_eq!(a.status, StatusCode::OK, "{}", a.json);
    assert_eq!(
        (a.json["status"].clone(), a.json["version"].clone()),
        (json!("paused"), json!(2))
    );
    let a = f.admin_call(Method::POST, &pause, Value::Null);
    assert_eq!(a.json["version"], 2, "already paused: nothing written");
    assert_eq!(f.publishes(), 1);
    let t = f.admin_token.clone();
    let stale = f.call_with(
        Method::POST,
        &resume,
        None,
        Some(&t),
        Fixture::if_match(1),
        b"",
    );
    assert_eq!(
        stale.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        stale.json
    );
    let a = f.call_with(
        Method::POST,
        &resume,
        None,
        Some(&t),
        Fixture::if_match(2),
        b"",
    );
    assert_eq!(a.status, StatusCode::OK, "{}", a.json);
    assert_eq!(a.json["status"], "active");
    let a = f.call(
        Method::POST,
        &pause,
        None,
        Some(&f.advertiser.clone()),
        Value::Null,
    );
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(a.json["missing"]["permission"], "manage campaigns");
    let a = f.call(
        Method::POST,
        &pause,
        None,
        Some(&f.buyer_other.clone()),
        Value::Null,
    );
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(a.json["missing"]["grant"], f.adv_a);
}

//! A real bidder on an ephemeral port with a fresh store, and a small HTTP
//! client to talk to it. Every integration test starts its own.
#![allow(dead_code)] // each test binary uses a different part of this module

pub mod process;
pub mod redis;
pub mod shared;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bidder::config::Config;
use bidder::control::demo::{self, DemoTokens};
use bidder::state::clock::{SharedClock, SystemClock};
use bidder::store::Store;
use bidder::{Instance, run};
use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The workspace's shared fixtures.
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

/// Reads `testdata/<rel>`.
pub fn fixture(rel: &str) -> Vec<u8> {
    let path = testdata().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One answer, fully read.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The public URL of [`TestServer::demo_https`].
pub const PUBLIC_HTTPS: &str = "https://bidder.example";

/// A running bidder.
pub struct TestServer {
    pub base: String,
    pub tokens: Option<DemoTokens>,
    pub data_dir: PathBuf,
    client: Client<HttpConnector, Full<Bytes>>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// A bidder with the demo data, default settings.
    pub async fn demo() -> TestServer {
        TestServer::start(true, |_| {}).await
    }

    /// A bidder with the demo data whose public URL is https, as behind
    /// TLS in production, so that secure imps (`imp.secure` 1) can get
    /// bids. Nothing fetches that URL: tests call the paths of notice URLs
    /// on `base` ([`filled`]).
    pub async fn demo_https() -> TestServer {
        TestServer::start(true, |c| c.public_url = PUBLIC_HTTPS.into()).await
    }

    /// A bidder on a fresh store, seeded with the demo data when `demo`,
    /// with `tweak` applied to the default configuration.
    pub async fn start(demo: bool, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut server = TestServer::start_in(dir.path(), demo, tweak).await;
        server._dir = Some(dir);
        server
    }

    /// A bidder with the demo data whose every piece of state reads time
    /// from `clock`.
    pub async fn demo_with_clock(clock: SharedClock) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut server = TestServer::start_with_clock(dir.path(), true, |_| {}, clock).await;
        server._dir = Some(dir);
        server
    }

    /// A bidder on the store in `data_dir` (kept after it stops).
    pub async fn start_in(
        data_dir: &Path,
        demo: bool,
        tweak: impl FnOnce(&mut Config),
    ) -> TestServer {
        TestServer::start_with_clock(data_dir, demo, tweak, Arc::new(SystemClock)).await
    }

    /// [`TestServer::start_in`] with `clock` for every piece of state.
    pub async fn start_with_clock(
        data_dir: &Path,
        demo: bool,
        tweak: impl FnOnce(&mut Config),
        clock: SharedClock,
    ) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = Config::for_tests(data_dir);
        config.listen = addr;
        config.public_url = format!("http://{addr}");
        tweak(&mut config);
        let store = Store::open(data_dir).unwrap();
        let tokens = if demo {
            demo::seed_if_empty(&store, &config.public_url).unwrap()
        } else {
            None
        };
        let app = Arc::new(Instance::with_clock(config, Arc::new(store), clock).unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(run(listener, app, async {
            let _ = rx.await;
        }));
        TestServer {
            base: format!("http://{addr}"),
            tokens,
            data_dir: data_dir.to_path_buf(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            shutdown: Some(tx),
            task: Some(task),
            _dir: None,
        }
    }

    /// Sends a request and reads the whole answer (still compressed if the
    /// server compressed it).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        read_reply(&self.client, req.body(Full::new(body.into())).unwrap()).await
    }

    /// `POST` a bid request to `/openrtb2/bid`.
    pub async fn bid(&self, body: impl Into<Bytes>) -> Reply {
        self.request(
            Method::POST,
            "/openrtb2/bid",
            &[("content-type", "application/json")],
            body,
        )
        .await
    }

    /// An admin API call with `token` (if any) and a JSON body.
    /// Uploads `fragment` with the `advertiser` token and approves it with
    /// the `reviewer`'s; returns its id.
    pub async fn approved_fragment(
        &self,
        advertiser: &str,
        reviewer: &str,
        fragment: Value,
    ) -> i64 {
        let made = self
            .api(
                Method::POST,
                "/api/v1/fragments",
                Some(advertiser),
                Some(fragment),
            )
            .await;
        assert_eq!(made.status, 201, "{}", made.json());
        let id = made.json()["id"].as_i64().unwrap();
        let approve = format!("/api/v1/fragments/{id}/approve");
        let ok = self
            .api(
                Method::POST,
                &approve,
                Some(reviewer),
                Some(json!({"version": 1})),
            )
            .await;
        assert_eq!(ok.status, 200, "{}", ok.json());
        id
    }

    pub async fn api(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Reply {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("authorization", a.as_str()));
        }
        let body = body
            .map(|b| serde_json::to_vec(&b).unwrap())
            .unwrap_or_default();
        self.request(method, path, &headers, body).await
    }

    /// The demo admin token.
    pub fn admin_token(&self) -> &str {
        &self.tokens.as_ref().expect("demo server").admin
    }

    /// POSTs `body` to `path` with the demo admin token, asserts 201 and
    /// returns what was created.
    pub async fn created(&self, path: &str, body: Value) -> Value {
        let reply = self
            .api(Method::POST, path, Some(self.admin_token()), Some(body))
            .await;
        assert_eq!(reply.status, 201, "{path}: {}", reply.json());
        reply.json()
    }

    /// The row of campaign `campaign`'s combination report, read with
    /// `token`, that has every `(field, value)` of `matching`.
    pub async fn combination_row(
        &self,
        campaign: i64,
        token: &str,
        matching: &[(&str, &str)],
    ) -> Value {
        let path = format!("/api/v1/campaigns/{campaign}/combinations");
        let reply = self.api(Method::GET, &path, Some(token), None).await;
        assert_eq!(reply.status, 200, "{}", reply.json());
        let report = reply.json();
        report["combinations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| matching.iter().all(|(k, v)| r[*k] == *v))
            .unwrap_or_else(|| panic!("no row with {matching:?} in {report}"))
            .clone()
    }

    /// Replaces campaign `id` with `change` applied to its current body,
    /// with the demo admin token; asserts 200.
    pub async fn edit_campaign(&self, id: i64, change: impl FnOnce(&mut Value)) {
        let path = format!("/api/v1/campaigns/{id}");
        let token = self.admin_token();
        let mut body = self.api(Method::GET, &path, Some(token), None).await.json();
        for k in ["id", "created_at", "updated_at"] {
            body.as_object_mut().unwrap().remove(k);
        }
        change(&mut body);
        let reply = self.api(Method::PUT, &path, Some(token), Some(body)).await;
        assert_eq!(reply.status, 200, "{}", reply.json());
    }

    /// Stops the server gracefully and waits for it; the store's folder
    /// is handed back to read after the stop (deleted when dropped).
    pub async fn stop_keeping_data(mut self) -> Option<tempfile::TempDir> {
        let dir = self._dir.take();
        self.stop().await;
        dir
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

/// A campaign create/update body with every field, for advertiser
/// `advertiser_id`, bidding 20.00 USD (max 30.00) on a 123x45 banner only.
pub fn campaign_body(advertiser_id: i64, name: &str) -> Value {
    json!({
        "advertiser_id": advertiser_id,
        "name": name,
        "status": "active",
        "flight_start": null,
        "flight_end": null,
        "total_budget_micros": 1_000_000_000i64,
        "daily_budget_micros": 100_000_000i64,
        "currency": "USD",
        "base_cpm_micros": 20_000_000i64,
        "max_cpm_micros": 30_000_000i64,
        "adomain": ["acme-outdoor.example"],
        "cat": ["IAB17"],
        "attr": [],
        "app_bundle": null,
        "language": null,
        "targeting": {"sizes": [{"w": 123, "h": 45}]},
        "stage_multipliers": {}
    })
}

/// One request to `base` with a bearer token and a JSON body, on a fresh
/// client (for servers started outside `TestServer`).
pub async fn send(
    base: &str,
    method: Method,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> Reply {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let body = body
        .map(|b| serde_json::to_vec(&b).unwrap())
        .unwrap_or_default();
    let req = Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    read_reply(&client, req).await
}

/// A banner request the demo's campaign 1 bids on, for its intent user
/// (a 300x250 on a news site).
pub fn demo_banner(id: &str) -> Value {
    json!({
        "id": id,
        "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}],
        "site": {"id": "s1", "domain": "news.example", "page": "https://news.example/a"},
        "device": {"ua": "Mozilla/5.0", "ip": "203.0.113.7", "language": "en"},
        "user": {"buyeruid": "demo-intent"},
        "at": 1,
        "tmax": 1000
    })
}

/// GETs every path of `paths` on `base` at once, as an exchange and
/// browsers would, and asserts each is answered 200.
pub async fn all_acknowledged(base: &str, paths: Vec<String>) {
    let mut sent = tokio::task::JoinSet::new();
    for path in paths {
        let base = base.to_string();
        sent.spawn(async move { try_send(&base, Method::GET, &path).await });
    }
    while let Some(status) = sent.join_next().await {
        assert_eq!(status.unwrap(), Some(200), "every notice acknowledged");
    }
}

/// Counts by kind, as [`process::events_by_kind`] reads them.
pub fn by_kind(counts: &[(&str, i64)]) -> std::collections::BTreeMap<String, i64> {
    counts.iter().map(|&(k, n)| (k.to_string(), n)).collect()
}

/// The status of a body-less request, or `None` when nothing answers yet.
pub async fn try_send(base: &str, method: Method, path: &str) -> Option<u16> {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let req = Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .body(Full::new(Bytes::new()))
        .ok()?;
    client.request(req).await.ok().map(|r| r.status().as_u16())
}

/// A JSON request with a bearer token on a fresh client; `None` when the
/// server did not answer in full (connection refused, reset or cut off).
pub async fn try_call(
    base: &str,
    method: Method,
    path: &str,
    token: &str,
    body: Value,
) -> Option<(u16, Value)> {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let req = Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(&body).unwrap())))
        .ok()?;
    let resp = client.request(req).await.ok()?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.ok()?.to_bytes();
    Some((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

/// Sends `req` and reads the whole answer.
async fn read_reply(
    client: &Client<HttpConnector, Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> Reply {
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body,
    }
}

/// Gunzips a body.
pub fn gunzip(data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Gzips a body.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// A notice URL as the exchange calls it: macros filled (auction
/// `request_id`, imp 1, clearing `price` in USD), path and query only.
pub fn filled(url: &str, request_id: &str, price: &str) -> String {
    let url = url
        .replace("${AUCTION_ID}", request_id)
        .replace("${AUCTION_IMP_ID}", "1")
        .replace("${AUCTION_PRICE}", price)
        .replace("${AUCTION_CURRENCY}", "USD")
        .replace("${AUCTION_LOSS}", "102");
    url[url.find("/events/").unwrap()..].to_string()
}

/// The tracker in `adm` whose URL starts with `path`, unescaped.
pub fn tracker(adm: &str, path: &str) -> String {
    let at = adm.find(path).unwrap_or_else(|| panic!("{path} in {adm}"));
    let rest = &adm[at..];
    rest[..rest.find(['"', '\'']).unwrap()].replace("&amp;", "&")
}

/// Asserts that every VAST document in `files` keeps the VAST rules of the
/// `conformance` crate and, when `../shared` is there (see
/// [`shared::shared_dir`]), that those of version 4.1 or 4.2 are valid
/// against the IAB's VAST 4.2 schema (`../shared/schemas/vast_4.2.xsd`),
/// checked by python's `xmlschema` (`tests/tools/vast_xsd.py`). Older
/// versions have requirements of their own that schema would misjudge
/// (no `<AdServingId>` before 4.1, `<UniversalAdId idValue>` in 4.0,
/// no namespace before 4.0); the conformance crate holds them to theirs.
/// Returns how many documents the schema judged (0 without `../shared`).
pub async fn assert_vast_schema(files: &[PathBuf]) -> usize {
    let mut judged = Vec::new();
    for file in files {
        let doc = std::fs::read_to_string(file).unwrap();
        assert_conforms(&file.display().to_string(), conformance::check_vast(&doc));
        let version = roxmltree::Document::parse(&doc)
            .ok()
            .and_then(|d| d.root_element().attribute("version").map(str::to_owned));
        if version.is_some_and(|v| v.starts_with("4.1") || v.starts_with("4.2")) {
            judged.push(file);
        }
    }
    let Some(shared) = shared::shared_dir("the VAST documents' check against the IAB's XSD") else {
        return 0;
    };
    if judged.is_empty() {
        return 0;
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let output = tokio::process::Command::new("python3")
        .arg(here.join("tests/tools/vast_xsd.py"))
        .arg(shared.join("schemas/vast_4.2.xsd"))
        .args(&judged)
        .output()
        .await
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "VAST documents against the schema:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    judged.len()
}

/// Panics listing `violations` of `what`, if there are any.
pub fn assert_conforms(what: &str, violations: Vec<conformance::Violation>) {
    if violations.is_empty() {
        return;
    }
    let list: Vec<String> = violations.iter().map(|v| format!("  {v}")).collect();
    panic!("{what} breaks the specs:\n{}", list.join("\n"));
}

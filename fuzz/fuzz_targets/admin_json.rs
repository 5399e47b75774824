//! Any bytes as the JSON body of a campaign and a fragment update, through
//! the real admin API over a real store: a 4xx naming what is wrong, never
//! a panic or a 5xx, and the stored rows never change (the update carries
//! a stale version, so even a valid body stops at the precondition, after
//! parsing and validation have run).
#![no_main]

use std::sync::{Arc, OnceLock};

use bidder::Instance;
use bidder::config::Config;
use bidder::control::demo;
use bidder::store::Store;
use http::{HeaderMap, HeaderValue, Method};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;

struct Fixture {
    app: Arc<Instance>,
    headers: HeaderMap,
    runtime: tokio::runtime::Runtime,
    before: Vec<(String, Vec<u8>)>,
    _dir: tempfile::TempDir,
}

const ROWS: [&str; 2] = ["/api/v1/campaigns/1", "/api/v1/fragments/1"];

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let tokens = demo::seed_if_empty(&store, "https://bidder.example")
            .unwrap()
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let app = runtime.block_on(async {
            Arc::new(Instance::new(Config::for_tests(dir.path()), Arc::new(store)).unwrap())
        });
        let mut headers = HeaderMap::new();
        let bearer = format!("Bearer {}", tokens.admin);
        headers.insert("authorization", HeaderValue::from_str(&bearer).unwrap());
        let mut f = Fixture {
            app,
            headers,
            runtime,
            before: Vec::new(),
            _dir: dir,
        };
        f.before = ROWS.iter().map(|p| (p.to_string(), get(&f, p))).collect();
        f
    })
}

fn get(f: &Fixture, path: &str) -> Vec<u8> {
    let resp = f
        .app
        .admin
        .handle(&Method::GET, path, None, &f.headers, b"")
        .unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    let body = f.runtime.block_on(resp.into_body().collect()).unwrap();
    body.to_bytes().to_vec()
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let mut headers = f.headers.clone();
    headers.insert("if-match", HeaderValue::from_static("\"0\""));
    for path in ROWS {
        let status = match f.app.admin.handle(&Method::PUT, path, None, &headers, data) {
            Ok(resp) => resp.status(),
            Err(e) => e.status(),
        };
        assert!(status.is_client_error(), "{path}: {status}");
    }
    for (path, before) in &f.before {
        assert_eq!(&get(f, path), before, "{path} changed");
    }
});

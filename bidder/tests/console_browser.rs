//! The console in a real browser: headless Chromium (driven by
//! `tests/browser/console.mjs` through playwright-core) signs in by
//! pasting a token, pauses a campaign with its button and opens its
//! gallery through the session, with no console error (a blocked script
//! or style would be one) and a cookie no script can read; sees a field
//! error, creates a campaign and opens its charts; explains a no-bid; and
//! visits every console page as a buyer, an admin and signed out, each
//! without a console error and without an axe-core violation.
//!
//! Screenshots are kept in `target/tmp/console/`. `scripts/test` installs
//! Chromium and the node modules; without them this test fails and says so.

mod common;

use std::path::Path;
use std::process::Command;

use common::TestServer;
use http::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn a_buyer_signs_in_and_pauses_a_campaign_in_chromium() {
    let server = TestServer::demo().await;
    let buyer = server.tokens.as_ref().unwrap().buyer.clone();
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists()
            && browser_dir.join("node_modules/playwright-core").exists()
            && browser_dir.join("node_modules/axe-core").exists(),
        "this test needs {chromium}, playwright-core and axe-core (scripts/test installs \
         them: `apt-get install chromium` and `npm ci --prefix bidder/tests/browser`)"
    );
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console");
    let _ = std::fs::remove_dir_all(&shots);
    let mut command = Command::new("node");
    command
        .arg(browser_dir.join("console.mjs"))
        .arg(&server.base)
        .arg(&buyer)
        .arg("Acme run-of-network banner")
        .arg(&shots)
        .arg(server.admin_token())
        .env("CHROMIUM", &chromium);
    // Off the runtime's thread: the server answers the browser from it.
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("node runs (scripts/test installs it)");
    assert!(
        out.status.success(),
        "console.mjs failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "console.mjs printed no report ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });

    assert_eq!(report["landedOn"], "/console/sign-in", "{report}");
    assert_eq!(report["afterSignIn"], "/console/campaigns", "{report}");
    assert_eq!(report["consolePages"], serde_json::json!([]), "{report}");
    let cookie = &report["cookies"][0];
    assert_eq!(cookie["httpOnly"], true, "{report}");
    assert_eq!(cookie["sameSite"], "Strict", "{report}");
    assert_eq!(report["scriptVisibleCookie"], "", "{report}");
    assert_eq!(report["statusBefore"], "active", "{report}");
    assert_eq!(report["statusAfter"], "paused", "{report}");
    assert_eq!(report["resumeOffered"], 1, "{report}");
    assert_eq!(report["galleryStatus"], 200, "{report}");
    assert!(report["galleryFrames"].as_u64().unwrap() > 0, "{report}");
    let pictures = &report["galleryPictures"];
    assert!(pictures["total"].as_u64().unwrap_or(0) > 0, "{report}");
    assert_eq!(
        pictures["broken"],
        serde_json::json!([]),
        "every picture in the gallery loads from the bidder: {report}"
    );
    assert_eq!(report["screenshots"].as_array().unwrap().len(), 7);
    let error = report["fieldError"].as_str().unwrap_or("");
    assert!(
        error.contains("12.50"),
        "the error sits at its field: {report}"
    );
    assert_eq!(report["keptName"], "Browser spring sale", "{report}");
    let created = report["createdAt"].as_str().unwrap_or("");
    assert!(created.starts_with("/console/campaigns/"), "{report}");
    assert_eq!(report["charts"], 2, "{report}");
    assert!(
        report["explained"]
            .as_str()
            .unwrap_or("")
            .starts_with("No bid"),
        "{report}"
    );
    assert!(report["steps"].as_u64().unwrap_or(0) > 0, "{report}");

    // Every page: no console error (so nothing the policy blocked) and no
    // accessibility violation.
    let pages = report["pages"].as_object().expect("the page tour ran");
    assert_eq!(pages.len(), 18, "{report}");
    assert_eq!(report["liveRefreshed"], true, "{report}");
    for (path, p) in pages {
        assert_eq!(p["console"], serde_json::json!([]), "{path}: {p}");
        assert_eq!(p["violations"], serde_json::json!([]), "{path}: {p}");
        let checked = p["rulesPassed"].as_u64().unwrap_or(0);
        assert!(checked > 10, "axe-core checked {path}: {p}");
    }
    assert_eq!(pages["admin /console/tokens"]["status"], 200, "{report}");
    assert_eq!(
        pages["buyer /console/campaigns/999"]["status"], 404,
        "{report}"
    );

    let c = server
        .api(
            Method::GET,
            "/api/v1/campaigns/1",
            Some(server.admin_token()),
            None,
        )
        .await
        .json();
    assert_eq!(c["status"], "paused", "the store has it paused");
    eprintln!("screenshots in {}", shots.display());
    server.stop().await;
}

/// The end-to-end day (`tests/browser/scenario.mjs`): a buyer
/// creates a campaign past a field error and a version conflict, uploads a
/// funnel CSV and watches the job end; an advertiser saves a fragment too
/// long for two banners and is warned; the buyer approves it and opens the
/// gallery, which shows it; traffic with notices moves the
/// reports' and the pacing chart; a no-bid is explained. axe-core finds no
/// serious violation on any page, and no console page logs an error.
/// Screenshots are kept in `target/tmp/scenario/`.
#[tokio::test]
async fn a_working_day_in_the_console_end_to_end_in_chromium() {
    let server = TestServer::demo().await;
    let tokens = server.tokens.clone().unwrap();
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists() && browser_dir.join("node_modules/axe-core").exists(),
        "this test needs {chromium}, playwright-core and axe-core (scripts/test installs them)"
    );
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("scenario");
    let _ = std::fs::remove_dir_all(&shots);
    let mut command = Command::new("node");
    command
        .arg(browser_dir.join("scenario.mjs"))
        .arg(&server.base)
        .arg(&tokens.buyer)
        .arg(&tokens.advertiser)
        .arg(&shots)
        .env("CHROMIUM", &chromium);
    let started = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("node runs (scripts/test installs it)");
    assert!(
        out.status.success(),
        "scenario.mjs failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "scenario.mjs printed no report ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let s = &report["steps"];
    assert!(
        s["fieldError"].as_str().unwrap_or("").contains("12.50"),
        "{s}"
    );
    assert!(
        s["created"]
            .as_str()
            .unwrap_or("")
            .starts_with("/console/campaigns/"),
        "{s}"
    );
    assert!(s["conflictRows"].as_u64().unwrap_or(0) > 0, "{s}");
    assert!(
        s["conflictText"].as_str().unwrap_or("").contains("renamed"),
        "the conflict shows the other tab's change: {s}"
    );
    let job = &s["job"];
    assert_eq!(job["state"], "completed", "{s}");
    assert_eq!(
        (&job["read"], &job["committed"], &job["rejected"]),
        (&json!("201"), &json!("200"), &json!("1")),
        "{s}"
    );
    let rejected = job["report"][0].as_str().unwrap_or("");
    assert!(rejected.starts_with("202"), "line 202 is refused: {s}");
    assert!(
        s["warning"]
            .as_str()
            .unwrap_or("")
            .contains("61 characters; 300x250 and 728x90 show at most 60"),
        "{s}"
    );
    assert_eq!(s["approved"], "approved", "{s}");
    let gallery = &s["gallery"];
    assert_eq!(gallery["status"], 200, "{s}");
    assert!(gallery["frames"].as_u64().unwrap_or(0) > 0, "{s}");
    assert_eq!(gallery["approvedShown"], true, "{s}");
    let traffic = &s["traffic"];
    assert!(traffic["bids"].as_u64().unwrap_or(0) > 0, "{s}");
    assert!(traffic["notices"].as_u64().unwrap_or(0) > 0, "{s}");
    let charts = &s["charts"];
    assert_ne!(charts["pacingBefore"], charts["pacingAfter"], "{s}");
    assert_ne!(charts["reportsBefore"], charts["reportsAfter"], "{s}");
    assert!(
        s["explained"].as_str().unwrap_or("").starts_with("No bid"),
        "{s}"
    );
    assert!(!s["reason"].as_str().unwrap_or("").is_empty(), "{s}");

    assert_eq!(report["console"], json!([]), "{report}");
    let pages = report["pages"].as_array().unwrap();
    assert!(pages.len() >= 14, "{report}");
    for p in pages {
        assert!(p["passes"].as_u64().unwrap_or(0) > 10, "axe-core ran: {p}");
        let serious: Vec<&Value> = p["violations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["impact"] == "serious" || v["impact"] == "critical")
            .collect();
        assert!(serious.is_empty(), "{}: {serious:?}", p["name"]);
    }
    assert!(report["screenshots"].as_array().unwrap().len() >= pages.len());
    eprintln!(
        "scenario in {:.1} s (ms since its start, per page: {}); screenshots in {}",
        started.elapsed().as_secs_f64(),
        report["timings"],
        shots.display()
    );
    server.stop().await;
}

//! The gallery in a real browser. Headless Chromium (Debian's `chromium`,
//! driven by `tests/browser/gallery.mjs` through playwright-core) loads a
//! campaign's gallery from the real server, and every banner must render
//! with no console error, its image loaded and every text inside its box.
//! Two galleries: the demo's Acme banner campaign, and a campaign whose
//! fragments are written to the longest text each format allows, one of
//! them hostile (markup, quotes, `</textarea>`, emoji).
//!
//! Screenshots of each format section are kept in
//! `target/tmp/gallery-<campaign>/`. `scripts/test` installs Chromium and
//! the node module; without them this test fails and says so.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use audiences::Stage;
use common::{TestServer, campaign_body};
use creative::template::{BANNERS, Format};
use http::Method;
use serde_json::{Value, json};

/// What `gallery.mjs` reports.
struct Report {
    json: Value,
}

impl Report {
    fn list(&self, key: &str) -> Vec<String> {
        self.json[key]
            .as_array()
            .unwrap_or_else(|| panic!("report has no {key}: {}", self.json))
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect()
    }
}

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Runs the checker on `path` of `server`; screenshots go to `shots`.
async fn check_gallery(server: &TestServer, path: &str, token: &str, shots: &Path) -> Report {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let module = browser_dir().join("node_modules/playwright-core");
    assert!(
        Path::new(&chromium).exists() && module.exists(),
        "the gallery test needs {chromium} and {} (scripts/test installs both: \
         `apt-get install chromium` and `npm ci --prefix bidder/tests/browser`)",
        module.display()
    );
    let _ = std::fs::remove_dir_all(shots);
    let mut command = Command::new("node");
    command
        .arg(browser_dir().join("gallery.mjs"))
        .arg(format!("{}{path}", server.base))
        .arg(token)
        .arg(shots)
        .env("CHROMIUM", &chromium);
    // Off the runtime's thread: the server answers the browser from it.
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("node runs (scripts/test installs it)");
    assert!(
        out.status.success(),
        "gallery.mjs failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "gallery.mjs printed no report ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    Report { json }
}

/// The HTML the server sends, for counting what the browser must show.
async fn gallery_html(server: &TestServer, path: &str, token: &str) -> String {
    let reply = server.api(Method::GET, path, Some(token), None).await;
    assert_eq!(reply.status, 200);
    String::from_utf8(reply.body.to_vec()).unwrap()
}

/// Asserts what every gallery must show: as many rendered banner frames
/// as the page holds, with no console error, failed request or misfit.
fn assert_renders_cleanly(report: &Report, html: &str) -> usize {
    assert_eq!(report.json["status"], 200);
    let frames = html.matches("<iframe ").count();
    assert!(frames > 0, "the gallery shows banners");
    assert_eq!(
        report.list("frames").len(),
        frames,
        "every banner frame rendered"
    );
    let fetched = ["imagesServed", "bidderPictures"]
        .map(|k| report.json[k].as_u64().unwrap_or(0))
        .iter()
        .sum::<u64>();
    assert!(fetched > 0, "the creatives' images were fetched");
    assert_eq!(report.list("console"), Vec::<String>::new(), "console");
    assert_eq!(report.list("failed"), Vec::<String>::new(), "requests");
    assert_eq!(report.list("problems"), Vec::<String>::new(), "layout");
    assert!(!report.list("screenshots").is_empty());
    frames
}

#[tokio::test]
async fn demo_gallery_renders_every_banner_within_its_boxes() {
    let server = TestServer::demo().await;
    let admin = server.tokens.as_ref().unwrap().admin.clone();
    let path = "/api/v1/campaigns/1/gallery";
    let html = gallery_html(&server, path, &admin).await;
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gallery-demo");
    let report = check_gallery(&server, path, &admin, &shots).await;
    let frames = assert_renders_cleanly(&report, &html);
    // Every banner size appears, and the German message has its own row.
    for layout in &BANNERS {
        assert!(
            html.contains(&format!("<h2>{} · en</h2>", layout.name)),
            "{}",
            layout.name
        );
    }
    assert!(report.list("frames").iter().any(|f| f.contains("Das Zelt")));
    eprintln!(
        "{frames} banners rendered; screenshots in {}",
        shots.display()
    );
    server.stop().await;
}

/// Ordinary English cut to exactly `n` characters (never ending in a
/// space): what a copywriter filling a box to its limit would write.
fn text(n: u32) -> String {
    const PROSE: &str = "Storm-tested tents with quick-pitch poles, taped seams and a \
        lifetime warranty, packed light for every trail and summit you plan this year. ";
    let mut s: String = PROSE.chars().cycle().take(n as usize).collect();
    if s.ends_with(' ') {
        s.pop();
        s.push('.');
    }
    s
}

/// Text with everything a page must escape, padded to `n` characters.
fn hostile(n: u32) -> String {
    let mut s = String::from("<script>alert(1)</script> \"Q\" 'q' </textarea> Zelt ü 🏕 ");
    let pad = (n as usize).saturating_sub(s.chars().count());
    s.push_str(&text(pad as u32));
    s.chars().take(n as usize).collect()
}

/// A message, a content and a tone for `format`, each text as long as
/// the format allows.
fn limit_fragments(format: Format, hostile_text: bool) -> [Value; 3] {
    let l = format.limits();
    let write = |n: u32| if hostile_text { hostile(n) } else { text(n) };
    let name = format.name();
    let mut message = json!({"language": "en", "headline": write(l.headline.unwrap()),
        "formats": [name]});
    if let Some(n) = l.subline {
        message["subline"] = json!(write(n));
    }
    let tag = l.tag.unwrap_or(30);
    let mut content = json!({"language": "en",
        "body": write(l.body.unwrap_or(40)),
        // "Name · $1,249.00": the product line fills the tag box too.
        "product": {"name": text(tag - 12), "price_micros": 1_249_000_000i64, "currency": "USD"},
        "offer": {"text": write(tag), "stages": ["intent", "customer"]},
        "images": [
            {"url": format!("https://cdn.example/limits/{name}-1200x627.png"), "w": 1200, "h": 627, "mime": "image/png"},
            {"url": format!("https://cdn.example/limits/{name}-600x600.png"), "w": 600, "h": 600, "mime": "image/png"}],
        "landing_url": "https://acme-outdoor.example/limits",
        "formats": [name]});
    if l.tag.is_none() {
        content.as_object_mut().unwrap().remove("offer");
        content.as_object_mut().unwrap().remove("product");
    }
    let tone = json!({"language": "en", "cta": write(l.cta.unwrap()), "voice": "urgent",
        "palette": {"background": "#102030", "foreground": "#f0f0f0", "accent": "#ffb000"},
        "font_stack": "Arial, Helvetica, sans-serif", "formats": [name]});
    [message, content, tone]
}

#[tokio::test]
async fn texts_at_every_formats_limit_stay_inside_their_boxes() {
    let server = TestServer::demo().await;
    let t = server.tokens.as_ref().unwrap();
    let (admin, buyer, advertiser) = (t.admin.clone(), t.buyer.clone(), t.advertiser.clone());

    let mut campaign = campaign_body(1, "Limits");
    campaign["targeting"] = json!({"formats": ["banner"]});
    campaign["fragment_sets"] = json!(["limits"]);
    let id = server.created("/api/v1/campaigns", campaign).await["id"]
        .as_i64()
        .unwrap();

    for (i, layout) in BANNERS.iter().enumerate() {
        let format = Format::parse(layout.name).unwrap();
        for (kind, body) in ["message", "content", "tone"]
            .into_iter()
            .zip(limit_fragments(format, i == 0))
        {
            let fragment = json!({"advertiser_id": 1, "set": "limits", "kind": kind, "body": body});
            server
                .approved_fragment(&advertiser, &buyer, fragment)
                .await;
        }
    }

    let path = format!("/api/v1/campaigns/{id}/gallery");
    let html = gallery_html(&server, &path, &admin).await;
    assert!(
        !html.contains("<script>alert"),
        "hostile text is escaped in the page"
    );
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gallery-limits");
    let report = check_gallery(&server, &path, &admin, &shots).await;
    let frames = assert_renders_cleanly(&report, &html);
    // One combination per size and stage: each size's fragments claim
    // only that size.
    assert_eq!(frames, BANNERS.len() * Stage::ALL.len(), "{html}");
    let hostile_headline = hostile(Format::Banner(0).limits().headline.unwrap());
    assert!(
        report
            .list("frames")
            .iter()
            .any(|f| f.contains("<script>alert(1)</script>")),
        "the hostile headline shows as text: {hostile_headline}"
    );
    server.stop().await;
}

//! The preview and gallery pages show advertisers' text, which may be
//! hostile: everything is escaped, and the pages run under a policy that
//! allows no script even if something slipped through.

mod common;

use common::TestServer;
use http::Method;
use serde_json::{Value, json};

const SCRIPT: &str = "<script>alert(1)</script>";
const ATTR: &str = "\"><img src=x onerror=alert(2)>";
const CLOSE: &str = "</style></iframe></textarea>'";

/// Fragments with markup in every free-text field (each within the
/// shortest format's limit, or no combination would exist), approved, in a fresh
/// set of campaign 1's advertiser; returns the campaign using them.
async fn hostile_campaign(server: &TestServer) -> i64 {
    let t = server.tokens.as_ref().unwrap();
    let (buyer, advertiser) = (&t.buyer, &t.advertiser);
    let mut campaign = common::campaign_body(1, "Hostile");
    campaign["targeting"] = json!({"formats": ["banner", "native"]});
    campaign["fragment_sets"] = json!(["hostile"]);
    let id = server.created("/api/v1/campaigns", campaign).await["id"]
        .as_i64()
        .unwrap();
    let fragments = [
        json!({"kind": "message", "body": {"language": "en",
            "headline": SCRIPT, "subline": ATTR}}),
        json!({"kind": "content", "body": {"language": "en", "body": CLOSE,
            "images": [{"url": "https://cdn.example/h-1200x627.png", "w": 1200, "h": 627, "mime": "image/png"}],
            "landing_url": "https://acme-outdoor.example/?a=1&b=2"}}),
        json!({"kind": "tone", "body": {"language": "en", "cta": "<img src=x>",
            "voice": "casual",
            "palette": {"background": "#ffffff", "foreground": "#000000", "accent": "#ff0000"},
            "font_stack": "Arial"}}),
    ];
    for mut f in fragments {
        f["advertiser_id"] = json!(1);
        f["set"] = json!("hostile");
        server.approved_fragment(advertiser, buyer, f).await;
    }
    id
}

/// What every page must hold to: the policy, no sniffing, and none of the
/// hostile markup as markup.
fn assert_safe(what: &str, reply: &common::Reply) {
    assert_eq!(reply.status, 200, "{what}");
    let csp = reply.header("content-security-policy").unwrap_or_default();
    assert_eq!(csp, bidder::control::admin::CSP, "{what}");
    assert!(csp.starts_with("default-src 'none';") && !csp.contains("script-src"));
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("base-uri 'none'"));
    assert_eq!(
        reply.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    let body = String::from_utf8_lossy(&reply.body);
    for raw in [
        SCRIPT,
        "<script>alert(3)",
        "<img src=x",
        "</style></iframe>",
    ] {
        assert!(
            !body.contains(raw),
            "{what} holds {raw:?} unescaped:\n{body}"
        );
    }
    // The text is there, escaped, not dropped.
    assert!(
        body.contains("alert(1)"),
        "{what} lost the headline:\n{body}"
    );
}

#[tokio::test]
async fn preview_and_gallery_escape_hostile_fragments_under_a_policy_without_script() {
    let server = TestServer::demo().await;
    let id = hostile_campaign(&server).await;
    let advertiser = server.tokens.as_ref().unwrap().advertiser.clone();
    let gallery = server
        .api(
            Method::GET,
            &format!("/api/v1/campaigns/{id}/gallery"),
            Some(&advertiser),
            None,
        )
        .await;
    assert_safe("gallery", &gallery);
    for format in ["300x250", "728x90", "native"] {
        let path = format!("/api/v1/preview?campaign={id}&stage=awareness&format={format}&lang=en");
        let preview = server
            .api(Method::GET, &path, Some(&advertiser), None)
            .await;
        assert_safe(&format!("preview {format}"), &preview);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_script_url_is_refused_as_a_landing_page() {
    let server = TestServer::demo().await;
    let advertiser = server.tokens.as_ref().unwrap().advertiser.clone();
    for url in [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "//evil.example",
    ] {
        let fragment: Value = json!({"advertiser_id": 1, "set": "s", "kind": "content",
            "body": {"language": "en", "body": "b", "landing_url": url,
                "images": [{"url": "https://cdn.example/a.png", "w": 1200, "h": 627, "mime": "image/png"}]}});
        let made = server
            .api(
                Method::POST,
                "/api/v1/fragments",
                Some(&advertiser),
                Some(fragment),
            )
            .await;
        assert_eq!(made.status, 422, "{url}: {}", made.json());
        let fields = made.json()["fields"].to_string();
        assert!(fields.contains("body.landing_url"), "{url}: {fields}");
    }
    server.stop().await;
}

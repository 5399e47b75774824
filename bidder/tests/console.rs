//! The console through the real server: sign-in and its cookie, the
//! policy on every page, CSRF and cross-site refusals, scoping of rows by
//! principal, pause and resume, sign-out, and the gallery through the
//! session.

mod common;

use common::{Reply, TestServer, campaign_body};
use http::Method;
use serde_json::json;

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

/// What a signed-in browser holds: its cookie header.
struct Browser {
    cookie: String,
}

/// The `name=value` of the `Set-Cookie` in `reply`.
fn cookie_pair(reply: &Reply) -> String {
    let set = reply.header("set-cookie").expect("a session cookie is set");
    set.split(';').next().unwrap().trim().to_owned()
}

fn page(reply: &Reply) -> String {
    String::from_utf8(reply.body.to_vec()).unwrap()
}

/// The CSRF token the page's forms carry.
fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("the page has a form with a CSRF token");
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

async fn sign_in(server: &TestServer, token: &str) -> Browser {
    let reply = server
        .request(
            Method::POST,
            "/console/sign-in",
            &[FORM],
            format!("token={token}"),
        )
        .await;
    assert_eq!(reply.status, 303, "{}", page(&reply));
    assert_eq!(reply.header("location"), Some("/console/campaigns"));
    Browser {
        cookie: cookie_pair(&reply),
    }
}

impl Browser {
    async fn get(&self, server: &TestServer, path: &str) -> Reply {
        server
            .request(Method::GET, path, &[("cookie", &self.cookie)], "")
            .await
    }

    async fn post(&self, server: &TestServer, path: &str, form: &str) -> Reply {
        server
            .request(
                Method::POST,
                path,
                &[("cookie", &self.cookie), FORM],
                form.to_owned(),
            )
            .await
    }

    /// The campaigns page, asserted 200.
    async fn campaigns(&self, server: &TestServer, query: &str) -> String {
        let reply = self
            .get(server, &format!("/console/campaigns{query}"))
            .await;
        assert_eq!(reply.status, 200, "{}", page(&reply));
        page(&reply)
    }
}

async fn campaign_status(server: &TestServer, id: i64) -> (String, i64) {
    let c = server
        .api(
            Method::GET,
            &format!("/api/v1/campaigns/{id}"),
            Some(server.admin_token()),
            None,
        )
        .await
        .json();
    (
        c["status"].as_str().unwrap().to_owned(),
        c["version"].as_i64().unwrap(),
    )
}

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_cookie_and_every_page_has_the_policy() {
    let server = TestServer::demo().await;
    let buyer = server.tokens.as_ref().unwrap().buyer.clone();

    let form = server
        .request(Method::GET, "/console/sign-in", &[], "")
        .await;
    assert_eq!(form.status, 200);
    assert_eq!(
        form.header("content-security-policy"),
        Some(bidder::control::console::CSP)
    );
    assert!(!page(&form).contains("<script"));

    let reply = server
        .request(
            Method::POST,
            "/console/sign-in",
            &[FORM],
            format!("token={buyer}"),
        )
        .await;
    assert_eq!(reply.status, 303);
    let set = reply.header("set-cookie").unwrap();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(set.contains(part), "{part} in {set}");
    }
    assert!(!set.contains("Secure"), "plain http: {set}");
    assert!(!set.contains(&buyer), "the cookie is not the token");

    let browser = Browser {
        cookie: cookie_pair(&reply),
    };
    let reply = browser.get(&server, "/console/campaigns").await;
    assert_eq!(reply.status, 200);
    let csp = reply.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let html = page(&reply);
    assert!(html.contains("Acme run-of-network banner"), "{html}");
    assert!(html.contains("Northwind Europe banner"));
    assert!(!html.contains("<script") && !html.contains("style="));

    // Without a session every page sends the browser to sign in.
    let anon = server
        .request(Method::GET, "/console/campaigns", &[], "")
        .await;
    assert_eq!(anon.status, 303);
    assert_eq!(anon.header("location"), Some("/console/sign-in"));
    server.stop().await;
}

#[tokio::test]
async fn behind_https_the_cookie_is_secure_and_host_prefixed() {
    let server = TestServer::start(true, |c| c.public_url = "https://bidder.example".into()).await;
    let buyer = server.tokens.as_ref().unwrap().buyer.clone();
    let reply = server
        .request(
            Method::POST,
            "/console/sign-in",
            &[FORM],
            format!("token={buyer}"),
        )
        .await;
    let set = reply.header("set-cookie").unwrap();
    assert!(set.starts_with("__Host-bidder_session="), "{set}");
    assert!(set.contains("; Secure"), "{set}");
    server.stop().await;
}

#[tokio::test]
async fn failed_sign_ins_are_refused_then_throttled() {
    let server = TestServer::demo().await;
    let buyer = server.tokens.as_ref().unwrap().buyer.clone();
    let wrong = format!("bdr_{}", "0".repeat(64));
    for _ in 0..5 {
        let reply = server
            .request(
                Method::POST,
                "/console/sign-in",
                &[FORM],
                format!("token={wrong}"),
            )
            .await;
        assert_eq!(reply.status, 401);
        assert!(reply.header("set-cookie").is_none());
        assert!(page(&reply).contains("unknown or revoked"));
    }
    // Now even the right token waits out the window.
    let reply = server
        .request(
            Method::POST,
            "/console/sign-in",
            &[FORM],
            format!("token={buyer}"),
        )
        .await;
    assert_eq!(reply.status, 429);
    assert!(reply.header("retry-after").is_some());
    assert!(reply.header("set-cookie").is_none());
    server.stop().await;
}

#[tokio::test]
async fn nobody_sees_another_advertisers_campaigns() {
    let server = TestServer::demo().await;
    let t = server.tokens.clone().unwrap();
    // A third advertiser no demo token but the admin's acts for.
    let other = server
        .created(
            "/api/v1/advertisers",
            json!({"name": "Other Co", "domain": "other.example"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    server
        .created(
            "/api/v1/campaigns",
            campaign_body(other, "Other secret plan"),
        )
        .await;

    let admin = sign_in(&server, &t.admin).await;
    assert!(
        admin
            .campaigns(&server, "")
            .await
            .contains("Other secret plan")
    );

    let buyer = sign_in(&server, &t.buyer).await;
    let html = buyer.campaigns(&server, "").await;
    assert!(!html.contains("Other secret plan"), "{html}");
    assert!(html.contains("Northwind Europe banner"));
    // Filtering cannot widen the scope either.
    let html = buyer.campaigns(&server, "?name=secret").await;
    assert!(!html.contains("Other secret plan"));

    let advertiser = sign_in(&server, &t.advertiser).await;
    let html = advertiser.campaigns(&server, "").await;
    assert!(html.contains("Acme run-of-network banner"));
    assert!(!html.contains("Northwind"), "{html}");
    assert!(!html.contains("Other secret plan"));
    assert!(!html.contains(">Pause<"), "an advertiser may not pause");
    // Nor reach another advertiser's gallery by its id.
    let northwind = advertiser
        .get(&server, "/console/campaigns/4/gallery")
        .await;
    assert_eq!(northwind.status, 403, "{}", page(&northwind));
    server.stop().await;
}

#[tokio::test]
async fn filters_by_status_and_name_and_pages_through() {
    let server = TestServer::demo().await;
    let buyer = sign_in(&server, &server.tokens.clone().unwrap().buyer).await;
    let html = buyer.campaigns(&server, "?name=NATIVE").await;
    assert!(html.contains("Acme run-of-network native"));
    assert!(!html.contains("Acme run-of-network banner"));
    let html = buyer.campaigns(&server, "?status=paused").await;
    assert!(html.contains("No campaign matches."), "{html}");
    let bad = buyer.get(&server, "/console/campaigns?status=gone").await;
    assert_eq!(bad.status, 400);

    for i in 0..60 {
        server
            .created(
                "/api/v1/campaigns",
                campaign_body(1, &format!("Bulk {i:02}")),
            )
            .await;
    }
    let first = buyer.campaigns(&server, "?name=bulk").await;
    assert!(first.contains("Bulk 00") && !first.contains("Bulk 59"));
    let next = first
        .split("rel=\"next\" href=\"")
        .nth(1)
        .expect("a next page link")
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    assert!(next.contains("name=bulk"), "the filter stays: {next}");
    let second = buyer
        .campaigns(&server, &next["/console/campaigns".len()..])
        .await;
    assert!(second.contains("Bulk 59") && !second.contains("Bulk 00"));
    assert!(!second.contains("rel=\"next\""));
    server.stop().await;
}

#[tokio::test]
async fn pause_and_resume_change_the_campaign_with_one_post_each() {
    let server = TestServer::demo().await;
    let buyer = sign_in(&server, &server.tokens.clone().unwrap().buyer).await;
    let html = buyer.campaigns(&server, "").await;
    let csrf = csrf_of(&html);
    let (status, version) = campaign_status(&server, 1).await;
    assert_eq!(status, "active");

    let reply = buyer
        .post(
            &server,
            "/console/campaigns/1/pause",
            &format!("csrf={csrf}&version={version}&back=%2Fconsole%2Fcampaigns%3Fname%3Dacme"),
        )
        .await;
    assert_eq!(reply.status, 303, "{}", page(&reply));
    assert_eq!(
        reply.header("location"),
        Some("/console/campaigns?name=acme")
    );
    let (status, paused_version) = campaign_status(&server, 1).await;
    assert_eq!(status, "paused");
    assert!(
        buyer
            .campaigns(&server, "?status=paused")
            .await
            .contains(">Resume<")
    );

    // The old version is stale now: a conflict, shown, nothing changed.
    let stale = buyer
        .post(
            &server,
            "/console/campaigns/1/resume",
            &format!("csrf={csrf}&version={version}"),
        )
        .await;
    assert_eq!(stale.status, 412);
    assert!(page(&stale).contains("changed since"));
    assert_eq!(campaign_status(&server, 1).await.0, "paused");

    let reply = buyer
        .post(
            &server,
            "/console/campaigns/1/resume",
            &format!("csrf={csrf}&version={paused_version}"),
        )
        .await;
    assert_eq!(reply.status, 303);
    assert_eq!(campaign_status(&server, 1).await.0, "active");

    // A back link elsewhere is not followed.
    let (_, v) = campaign_status(&server, 1).await;
    let reply = buyer
        .post(
            &server,
            "/console/campaigns/1/pause",
            &format!("csrf={csrf}&version={v}&back=https%3A%2F%2Fevil.example%2F"),
        )
        .await;
    assert_eq!(reply.header("location"), Some("/console/campaigns"));

    // The advertiser's role may not, whatever its form says.
    let adv = sign_in(&server, &server.tokens.clone().unwrap().advertiser).await;
    let adv_csrf = csrf_of(&adv.campaigns(&server, "").await);
    let (_, v) = campaign_status(&server, 1).await;
    let refused = adv
        .post(
            &server,
            "/console/campaigns/1/resume",
            &format!("csrf={adv_csrf}&version={v}"),
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(campaign_status(&server, 1).await.0, "paused");
    server.stop().await;
}

#[tokio::test]
async fn forms_without_their_sessions_csrf_token_are_refused() {
    let server = TestServer::demo().await;
    let t = server.tokens.clone().unwrap();
    let buyer = sign_in(&server, &t.buyer).await;
    let other = sign_in(&server, &t.buyer).await;
    let foreign = csrf_of(&other.campaigns(&server, "").await);
    let own = csrf_of(&buyer.campaigns(&server, "").await);
    assert_ne!(own, foreign);
    let (_, version) = campaign_status(&server, 1).await;

    for form in [
        format!("version={version}"),
        format!("csrf=&version={version}"),
        format!("csrf={foreign}&version={version}"),
    ] {
        let reply = buyer
            .post(&server, "/console/campaigns/1/pause", &form)
            .await;
        assert_eq!(reply.status, 403, "{form}");
        assert!(page(&reply).contains("another site"));
    }
    // The right token from another site's page.
    let reply = server
        .request(
            Method::POST,
            "/console/campaigns/1/pause",
            &[
                ("cookie", &buyer.cookie),
                FORM,
                ("origin", "https://evil.example"),
            ],
            format!("csrf={own}&version={version}"),
        )
        .await;
    assert_eq!(reply.status, 403);
    let reply = buyer.post(&server, "/console/sign-out", "").await;
    assert_eq!(reply.status, 403, "sign-out needs the token too");
    assert_eq!(
        campaign_status(&server, 1).await,
        ("active".into(), version)
    );
    server.stop().await;
}

#[tokio::test]
async fn signing_out_or_revoking_the_token_ends_the_session() {
    let server = TestServer::demo().await;
    let t = server.tokens.clone().unwrap();
    let buyer = sign_in(&server, &t.buyer).await;
    let csrf = csrf_of(&buyer.campaigns(&server, "").await);
    let reply = buyer
        .post(&server, "/console/sign-out", &format!("csrf={csrf}"))
        .await;
    assert_eq!(reply.status, 303);
    assert!(reply.header("set-cookie").unwrap().contains("Max-Age=0"));
    let after = buyer.get(&server, "/console/campaigns").await;
    assert_eq!(after.status, 303, "the old cookie no longer works");

    // A token revoked through the API ends its console sessions at once.
    let issued = server
        .created(
            "/api/v1/tokens",
            json!({"role": "buyer", "advertisers": [1], "label": "short-lived"}),
        )
        .await;
    let session = sign_in(&server, issued["secret"].as_str().unwrap()).await;
    session.campaigns(&server, "").await;
    let id = issued["id"].as_i64().unwrap();
    let revoked = server
        .api(
            Method::DELETE,
            &format!("/api/v1/tokens/{id}"),
            Some(server.admin_token()),
            None,
        )
        .await;
    assert!(revoked.status < 300, "{}", revoked.status);
    let after = session.get(&server, "/console/campaigns").await;
    assert_eq!(after.status, 303);
    server.stop().await;
}

#[tokio::test]
async fn the_gallery_and_previews_open_through_the_session() {
    let server = TestServer::demo().await;
    let adv = sign_in(&server, &server.tokens.clone().unwrap().advertiser).await;
    let html = adv.campaigns(&server, "").await;
    assert!(
        html.contains("href=\"/console/campaigns/1/gallery\""),
        "{html}"
    );
    let gallery = adv.get(&server, "/console/campaigns/1/gallery").await;
    assert_eq!(gallery.status, 200);
    assert!(page(&gallery).contains("<iframe "));
    assert!(gallery.header("content-security-policy").is_some());
    let preview = adv
        .get(&server, "/console/preview?campaign=1&format=300x250")
        .await;
    assert_eq!(preview.status, 200, "{}", page(&preview));
    assert!(preview.header("x-crid").is_some());
    let anon = server
        .request(Method::GET, "/console/campaigns/1/gallery", &[], "")
        .await;
    assert_eq!(anon.status, 303);
    server.stop().await;
}

/// Ten thousand campaigns: the first page and a name filter that matches
/// only the last campaign (so the store walks every row) each show one
/// page. Prints the time per page, as seen through the real server on
/// this build and machine.
#[tokio::test]
async fn ten_thousand_campaigns_list_one_page_at_a_time() {
    use bidder::store::Store;

    let dir = tempfile::tempdir().unwrap();
    let tokens = {
        let store = Store::open(dir.path()).unwrap();
        bidder::control::demo::seed_if_empty(&store)
            .unwrap()
            .unwrap()
    };
    // Ten thousand copies of demo campaign 1 in one statement (one
    // transaction each through the API would take minutes here), a third
    // of them paused, without fragment sets (assembling ten thousand plans
    // at start is the snapshot's cost, not the console's).
    {
        let db = rusqlite::Connection::open(dir.path().join("bidder.db")).unwrap();
        let mut stmt = db
            .prepare("SELECT name FROM pragma_table_info('campaigns')")
            .unwrap();
        let copied: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .filter(|c| !matches!(c.as_str(), "id" | "name" | "status" | "fragment_sets"))
            .collect();
        let columns = copied.join(", ");
        let n = db
            .execute(
                &format!(
                    "WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < 9999)
                     INSERT INTO campaigns (name, status, fragment_sets, {columns})
                     SELECT printf('Load %05d', n),
                            CASE n % 3 WHEN 0 THEN 'paused' ELSE 'active' END, '[]', {columns}
                     FROM campaigns, seq WHERE id = 1"
                ),
                [],
            )
            .unwrap();
        assert_eq!(n, 10_000);
    }
    let server = TestServer::start_in(dir.path(), false, |_| {}).await;
    let buyer = sign_in(&server, &tokens.buyer).await;
    for (query, expect) in [("", "Load 00000"), ("?name=load+09999", "Load 09999")] {
        let mut times = Vec::new();
        for _ in 0..5 {
            let started = std::time::Instant::now();
            let html = buyer.campaigns(&server, query).await;
            times.push(started.elapsed());
            assert!(html.contains(expect), "{query}");
            assert!(html.matches("<tr data-campaign=").count() <= 50);
        }
        times.sort();
        eprintln!(
            "10,000 campaigns, /console/campaigns{query}: median {:?} per page (this build, this machine)",
            times[2]
        );
    }
    server.stop().await;
}

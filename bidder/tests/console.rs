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

/// A content fragment whose body is one character too long for 300x250
/// and 728x90: the gallery says so where those two formats would be, and
/// names the fragment.
#[tokio::test]
async fn the_gallery_names_the_fragment_that_leaves_a_format_out() {
    let server = TestServer::demo().await;
    let t = server.tokens.clone().unwrap();
    let mut campaign = campaign_body(1, "Long body");
    campaign["targeting"] = json!({"formats": ["banner"]});
    campaign["fragment_sets"] = json!(["longbody"]);
    let id = server.created("/api/v1/campaigns", campaign).await["id"]
        .as_i64()
        .unwrap();
    let body61 = "Storm-tested tents with quick-pitch poles and taped seams now";
    assert_eq!(body61.chars().count(), 61);
    let fragments = [
        (
            "message",
            json!({"language": "en", "headline": "Storm tents"}),
        ),
        (
            "content",
            json!({"language": "en", "body": body61,
                "images": [{"url": "https://cdn.example/t-1200x627.png", "w": 1200, "h": 627, "mime": "image/png"},
                           {"url": "https://cdn.example/t-600x600.png", "w": 600, "h": 600, "mime": "image/png"}],
                "landing_url": "https://acme-outdoor.example/tents"}),
        ),
        (
            "tone",
            json!({"language": "en", "cta": "Shop", "voice": "urgent",
                "palette": {"background": "#102030", "foreground": "#f0f0f0", "accent": "#ffb000"},
                "font_stack": "Arial, sans-serif"}),
        ),
    ];
    let mut content = 0;
    for (kind, body) in fragments {
        let f = json!({"advertiser_id": 1, "set": "longbody", "kind": kind, "body": body});
        let fid = server.approved_fragment(&t.advertiser, &t.buyer, f).await;
        if kind == "content" {
            content = fid;
        }
    }
    let adv = sign_in(&server, &t.advertiser).await;
    let reply = adv
        .get(&server, &format!("/console/campaigns/{id}/gallery"))
        .await;
    assert_eq!(reply.status, 200);
    let html = page(&reply);
    let warning = "body: 61 characters; 300x250 and 728x90 show at most 60";
    for format in ["300x250", "728x90"] {
        let at = html
            .find(&format!(
                "<section class=\"missing\" data-format=\"{format}\">"
            ))
            .unwrap_or_else(|| panic!("{format} is shown missing: {html}"));
        let section = &html[at..at + html[at..].find("</section>").unwrap()];
        assert!(
            section.contains(&format!("{format} · en: no creative")),
            "{section}"
        );
        assert!(
            section.contains(&format!("content {content} v1: {warning}")),
            "{section}"
        );
    }
    // The formats it fills show creatives, not a warning.
    assert!(html.contains("<h2>300x600 · en</h2>"), "{html}");
    assert!(!html.contains("data-format=\"300x600\""), "{html}");
    server.stop().await;
}

/// Buyers see every exchange's audit of their campaigns' creatives and
/// record one through the form; advertisers and other advertisers'
/// campaigns are refused.
#[tokio::test]
async fn exchange_audits_show_per_creative_and_are_recorded_by_form() {
    let server = TestServer::demo().await;
    let t = server.tokens.clone().unwrap();
    let admin_token = server.admin_token().to_owned();
    let crid = server
        .api(
            Method::GET,
            "/api/v1/preview?campaign=1&format=300x250",
            Some(&admin_token),
            None,
        )
        .await
        .header("x-crid")
        .expect("a crid")
        .to_owned();
    let put = server
        .api(
            Method::PUT,
            &format!("/api/v1/audits/default/{crid}"),
            Some(&admin_token),
            Some(json!({"status": "rejected", "reason": "landing page unreachable"})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.json());

    let buyer = sign_in(&server, &t.buyer).await;
    let campaign = page(&buyer.get(&server, "/console/campaigns/1").await);
    assert!(
        campaign.contains("href=\"/console/campaigns/1/audits\""),
        "{campaign}"
    );
    let reply = buyer.get(&server, "/console/campaigns/1/audits").await;
    assert_eq!(reply.status, 200, "{}", page(&reply));
    let html = page(&reply);
    assert!(html.contains("<th scope=\"col\">default</th>"), "{html}");
    let row_of = |html: &str, crid: &str| -> String {
        let at = html
            .find(&format!("<th scope=\"row\"><code>{crid}</code>"))
            .unwrap_or_else(|| panic!("a row for {crid}: {html}"));
        html[at..at + html[at..].find("</tr>").unwrap()].to_owned()
    };
    let row = row_of(&html, &crid);
    assert!(
        row.contains("rejected</span>: landing page unreachable"),
        "{row}"
    );
    assert!(
        html.contains("not audited (bids)"),
        "other creatives: {html}"
    );

    // Recorded by form, as the API would.
    let posted = format!(
        "csrf={}&crid={crid}&exchange=default&status=approved&reason=",
        csrf_of(&html)
    );
    let reply = buyer
        .post(&server, "/console/campaigns/1/audits", &posted)
        .await;
    assert_eq!(reply.status, 303, "{}", page(&reply));
    assert_eq!(
        reply.header("location"),
        Some("/console/campaigns/1/audits?saved=1")
    );
    let audits = server
        .api(Method::GET, "/api/v1/audits", Some(&admin_token), None)
        .await
        .json();
    let mine = audits["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["crid"] == crid.as_str())
        .cloned()
        .unwrap();
    assert_eq!(mine["status"], "approved", "{audits}");
    let html = page(
        &buyer
            .get(&server, "/console/campaigns/1/audits?saved=1")
            .await,
    );
    assert!(html.contains("Recorded."));
    assert!(row_of(&html, &crid).contains("approved</span>"));
    // A verdict the API does not know is refused at its field.
    let bad = format!(
        "csrf={}&crid={crid}&exchange=default&status=maybe",
        csrf_of(&html)
    );
    let reply = buyer
        .post(&server, "/console/campaigns/1/audits", &bad)
        .await;
    assert_eq!(reply.status, 422);
    assert!(page(&reply).contains("status: approved, pending or rejected"));

    // Advertisers do not read audits, as in the API.
    let adv = sign_in(&server, &t.advertiser).await;
    assert_eq!(
        adv.get(&server, "/console/campaigns/1/audits").await.status,
        403
    );
    assert!(
        !page(&adv.get(&server, "/console/campaigns/1").await).contains("/audits"),
        "no link for advertisers"
    );
    // Nor does a buyer see, or record, another advertiser's.
    let other = server
        .created(
            "/api/v1/advertisers",
            json!({"name": "Other Co", "domain": "other.example"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let secret = server
        .created(
            "/api/v1/campaigns",
            campaign_body(other, "Other secret plan"),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let path = format!("/console/campaigns/{secret}/audits");
    assert_eq!(buyer.get(&server, &path).await.status, 403);
    let reply = buyer.post(&server, &path, &posted).await;
    assert_eq!(reply.status, 403);
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
        bidder::control::demo::seed_if_empty(&store, "http://127.0.0.1:1")
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
    // The other pages at this catalog: each under 200 KB (the explanation
    // lists 50 campaigns an impression and counts the rest by step).
    let csrf = csrf_of(&buyer.campaigns(&server, "").await);
    let explain = format!("csrf={csrf}&sample=banner");
    let pages: [(&str, Option<&str>); 7] = [
        ("/console/campaigns/1", None),
        ("/console/campaigns/1/edit", None),
        ("/console/campaigns/new", None),
        ("/console/reports", None),
        ("/console/fragments", None),
        ("/console/funnels", None),
        ("/console/explain", Some(explain.as_str())),
    ];
    for (path, form) in pages {
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..5 {
            let started = std::time::Instant::now();
            let reply = match form {
                None => buyer.get(&server, path).await,
                Some(f) => buyer.post(&server, path, f).await,
            };
            times.push(started.elapsed());
            assert_eq!(reply.status, 200, "{path}: {}", page(&reply));
            bytes = reply.body.len();
        }
        times.sort();
        let method = if form.is_some() { "POST " } else { "" };
        eprintln!(
            "10,000 campaigns, {method}{path}: median {:?}, {bytes} bytes (this build, this machine)",
            times[2]
        );
        assert!(bytes <= 200 * 1024, "{path} weighs {bytes} bytes");
    }
    // The same explanation through the API, to tell the page's share.
    let request: serde_json::Value =
        serde_json::from_str(bidder::control::console::EXPLAIN_SAMPLE).unwrap();
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = std::time::Instant::now();
        let reply = server
            .api(
                Method::POST,
                "/api/v1/explain",
                Some(&tokens.buyer),
                Some(request.clone()),
            )
            .await;
        times.push(started.elapsed());
        assert_eq!(reply.status, 200);
    }
    times.sort();
    eprintln!(
        "10,000 campaigns, POST /api/v1/explain (the same request): median {:?} (this build, this machine)",
        times[2]
    );
    server.stop().await;
}

/// The campaign form's fields as posted: every field the form holds.
fn campaign_form(csrf: &str, fields: &[(&str, &str)]) -> String {
    let mut all = vec![
        ("advertiser_id", "1"),
        ("name", "Console spring sale"),
        ("status", "active"),
        ("currency", "USD"),
        ("daily_budget", "100.00"),
        ("total_budget", "1000.00"),
        ("base_cpm", "2.50"),
        ("max_cpm", "8.00"),
        ("pacing_mode", "even"),
        ("time_zone", "UTC"),
        ("flight_start", ""),
        ("flight_end", ""),
        ("adomain", "acme-outdoor.example"),
        ("cat", "IAB17"),
        ("language", ""),
        ("countries", "DEU, AUT"),
        ("languages", ""),
        ("fragment_sets", ""),
    ];
    for (k, v) in fields {
        match all.iter_mut().find(|(n, _)| n == k) {
            Some(slot) => slot.1 = v,
            None => all.push((k, v)),
        }
    }
    let mut out = format!("csrf={csrf}");
    for (k, v) in all {
        out.push_str(&format!("&{k}={}", urlencoded(v)));
    }
    out
}

fn urlencoded(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The text of the element with `id` (the first tag's content up to its
/// closing `<`).
fn text_of(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let rest = &html[at..];
    let start = rest.find('>')? + 1;
    let end = rest[start..].find('<')?;
    Some(rest[start..start + end].to_owned())
}

#[tokio::test]
async fn a_buyer_creates_a_campaign_through_the_form() {
    let server = TestServer::demo().await;
    let buyer = sign_in(&server, &server.tokens.clone().unwrap().buyer).await;
    let form = buyer.get(&server, "/console/campaigns/new").await;
    assert_eq!(form.status, 200, "{}", page(&form));
    let html = page(&form);
    assert!(!html.contains("style=") && !html.contains("<script"));
    assert!(html.contains("<label for=\"f-daily_budget\">"), "{html}");
    let csrf = csrf_of(&html);

    let reply = buyer
        .post(
            &server,
            "/console/campaigns/new",
            &campaign_form(&csrf, &[]),
        )
        .await;
    assert_eq!(reply.status, 303, "{}", page(&reply));
    let to = reply.header("location").unwrap().to_owned();
    let id: i64 = to.rsplit('/').next().unwrap().parse().unwrap();
    let c = server
        .api(
            Method::GET,
            &format!("/api/v1/campaigns/{id}"),
            Some(server.admin_token()),
            None,
        )
        .await
        .json();
    assert_eq!(c["name"], "Console spring sale");
    assert_eq!(c["daily_budget_micros"], 100_000_000);
    assert_eq!(c["base_cpm_micros"], 2_500_000);
    assert_eq!(c["targeting"]["countries"], json!(["DEU", "AUT"]));
    let shown = buyer.get(&server, &to).await;
    assert_eq!(shown.status, 200);
    assert!(page(&shown).contains("Console spring sale"));

    // The advertiser's role may not create, nor open the form.
    let adv = sign_in(&server, &server.tokens.clone().unwrap().advertiser).await;
    assert_eq!(adv.get(&server, "/console/campaigns/new").await.status, 403);
    server.stop().await;
}

#[tokio::test]
async fn every_bad_field_is_shown_at_its_field_with_the_values_kept() {
    let server = TestServer::demo().await;
    let buyer = sign_in(&server, &server.tokens.clone().unwrap().buyer).await;
    let csrf = csrf_of(&page(&buyer.get(&server, "/console/campaigns/new").await));
    let before = buyer.campaigns(&server, "").await;

    // One unreadable amount beside values the service refuses: all shown.
    let reply = buyer
        .post(
            &server,
            "/console/campaigns/new",
            &campaign_form(
                &csrf,
                &[
                    ("name", "  "),
                    ("daily_budget", "12,50"),
                    ("base_cpm", "9.00"),
                    ("countries", "DEU, XX"),
                    ("time_zone", "Mars/Olympus"),
                ],
            ),
        )
        .await;
    assert_eq!(reply.status, 422, "{}", page(&reply));
    let html = page(&reply);
    assert!(
        text_of(&html, "e-name")
            .unwrap()
            .contains("must not be empty"),
        "{html}"
    );
    assert!(text_of(&html, "e-daily_budget").unwrap().contains("12.50"));
    assert!(text_of(&html, "e-base_cpm").unwrap().contains("max_cpm"));
    assert!(
        text_of(&html, "e-countries")
            .unwrap()
            .starts_with("entry 2:")
    );
    assert!(text_of(&html, "e-time_zone").is_some());
    assert!(
        text_of(&html, "e-currency").is_none(),
        "a good field has no error"
    );
    assert!(html.contains("5 fields need a change"), "{html}");
    // The values typed are kept, the bad ones too.
    assert!(html.contains("value=\"12,50\""));
    assert!(html.contains("value=\"DEU, XX\""));
    assert!(html.contains("aria-invalid=\"true\""));
    // Nothing was created.
    assert_eq!(
        buyer.campaigns(&server, "").await.matches("<tr").count(),
        before.matches("<tr").count()
    );

    // The same refusals the API gives for the same values.
    let mut body = campaign_body(1, " ");
    body["base_cpm_micros"] = json!(40_000_000);
    let api = server
        .api(
            Method::POST,
            "/api/v1/campaigns",
            Some(&server.tokens.clone().unwrap().buyer),
            Some(body),
        )
        .await;
    assert_eq!(api.status, 422);
    server.stop().await;
}

#[tokio::test]
async fn a_stale_edit_shows_what_changed_and_overwrites_nothing() {
    let server = TestServer::demo().await;
    let buyer = sign_in(&server, &server.tokens.clone().unwrap().buyer).await;
    let form = buyer.get(&server, "/console/campaigns/1/edit").await;
    assert_eq!(form.status, 200, "{}", page(&form));
    let html = page(&form);
    let csrf = csrf_of(&html);
    let field = |name: &str| {
        let key = format!("name=\"{name}\" value=\"");
        let at = html
            .find(&key)
            .unwrap_or_else(|| panic!("{name} in {html}"))
            + key.len();
        unescape(&html[at..at + html[at..].find('"').unwrap()])
    };
    let (version, name, daily) = (field("version"), field("name"), field("daily_budget"));
    let fields: Vec<(String, String)> = [
        "advertiser_id",
        "name",
        "status",
        "currency",
        "daily_budget",
        "total_budget",
        "base_cpm",
        "max_cpm",
        "pacing_mode",
        "time_zone",
        "flight_start",
        "flight_end",
        "adomain",
        "cat",
        "language",
        "countries",
        "languages",
        "fragment_sets",
    ]
    .iter()
    .map(|n| (n.to_string(), field(&format!("was_{n}"))))
    .collect();
    let mut posted = format!("csrf={csrf}&version={version}");
    for (n, v) in &fields {
        posted.push_str(&format!("&was_{n}={}", urlencoded(v)));
        let mine = if n == "cat" {
            "IAB1".to_owned()
        } else {
            v.clone()
        };
        posted.push_str(&format!("&{n}={}", urlencoded(&mine)));
    }

    // Someone else renames it and raises its daily budget meanwhile.
    server
        .edit_campaign(1, |c| {
            c["name"] = json!("Renamed elsewhere");
            c["daily_budget_micros"] =
                json!(c["daily_budget_micros"].as_i64().unwrap() + 1_000_000);
        })
        .await;

    let reply = buyer
        .post(&server, "/console/campaigns/1/edit", &posted)
        .await;
    assert_eq!(reply.status, 409, "{}", page(&reply));
    let html = page(&reply);
    assert!(
        html.contains("Changed since you opened this form"),
        "{html}"
    );
    assert!(html.contains(&name), "the name it was");
    assert!(html.contains("Renamed elsewhere"));
    assert!(html.contains(&daily));
    let c = server
        .api(
            Method::GET,
            "/api/v1/campaigns/1",
            Some(server.admin_token()),
            None,
        )
        .await
        .json();
    assert_eq!(c["name"], "Renamed elsewhere", "not overwritten");
    assert_ne!(c["cat"], json!(["IAB1"]));
    // The form now carries the stored version and name, and keeps my change.
    assert!(html.contains(&format!("name=\"version\" value=\"{}\"", c["version"])));
    assert!(html.contains("name=\"name\" value=\"Renamed elsewhere\""));
    assert!(html.contains("name=\"cat\" value=\"IAB1\""));

    // Saving the rebased form goes through, keeping both changes.
    let again = html.clone();
    let value = |name: &str| {
        let key = format!("name=\"{name}\" value=\"");
        let at = again.find(&key).unwrap() + key.len();
        unescape(&again[at..at + again[at..].find('"').unwrap()])
    };
    let mut posted = format!("csrf={csrf}&version={}", value("version"));
    for (n, _) in &fields {
        let v = if n == "cat" {
            value(n)
        } else {
            value(&format!("was_{n}"))
        };
        posted.push_str(&format!(
            "&{n}={}&was_{n}={}",
            urlencoded(&v),
            urlencoded(&value(&format!("was_{n}")))
        ));
    }
    let reply = buyer
        .post(&server, "/console/campaigns/1/edit", &posted)
        .await;
    assert_eq!(reply.status, 303, "{}", page(&reply));
    let c = server
        .api(
            Method::GET,
            "/api/v1/campaigns/1",
            Some(server.admin_token()),
            None,
        )
        .await
        .json();
    assert_eq!(
        (c["name"].as_str(), c["cat"].clone()),
        (Some("Renamed elsewhere"), json!(["IAB1"]))
    );

    // Without its CSRF token the edit is refused.
    let refused = buyer
        .post(
            &server,
            "/console/campaigns/1/edit",
            &posted.replacen(&format!("csrf={csrf}"), "csrf=x", 1),
        )
        .await;
    assert_eq!(refused.status, 403);
    server.stop().await;
}

/// The `points` of the first solid line (the spend) of the chart `id`.
fn spend_line(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("aria-labelledby=\"{id}-t {id}-d\""))
        .unwrap_or_else(|| panic!("chart {id} in {html}"));
    let chart = &html[at..at + html[at..].find("</svg>").unwrap()];
    let line = chart
        .split("<polyline")
        .skip(1)
        .find(|l| !l[..l.find('>').unwrap()].contains("stroke-dasharray"))
        .expect("a solid line");
    let p = &line[line.find("points=\"").unwrap() + 8..];
    p[..p.find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn a_campaigns_page_charts_today_against_its_curve_and_its_flight() {
    let server = TestServer::demo().await;
    let buyer = sign_in(&server, &server.tokens.clone().unwrap().buyer).await;
    let reply = buyer.get(&server, "/console/campaigns/1").await;
    assert_eq!(reply.status, 200, "{}", page(&reply));
    let before = page(&reply);
    assert!(!before.contains("style=") && !before.contains("<script"));
    assert_eq!(before.matches("role=\"img\"").count(), 2, "{before}");
    assert!(before.contains("Spend today against the pacing curve"));
    assert!(before.contains("Spend per day against the daily budget"));
    // The curve is dashed; the spend is flat at 0 before any win.
    assert!(before.contains("stroke-dasharray=\"6 4\""));
    let flat = spend_line(&before, "today");
    assert!(flat.split(' ').all(|p| p.ends_with(",192.0")), "{flat}");

    // A bid of Acme's, billed: the spend line rises. (A daily budget of
    // 1.00 spent as fast as bids win, so one impression shows on its axis.)
    server
        .edit_campaign(1, |c| {
            c["daily_budget_micros"] = json!(1_000_000);
            c["pacing"] = json!({"mode": "asap", "time_zone": "UTC"});
        })
        .await;
    let body = serde_json::to_vec(&json!({
        "id": "chart-1",
        "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}],
        "site": {"domain": "news.example", "page": "https://news.example/a"},
        "device": {"ua": "Mozilla/5.0", "ip": "203.0.113.7", "language": "en"},
        "user": {"buyeruid": "demo-intent"},
        "at": 1,
        "tmax": 500
    }))
    .unwrap();
    let bid = server.bid(body).await.json()["seatbid"][0]["bid"][0].clone();
    assert_eq!(bid["cid"], "1", "{bid}");
    let bill = common::filled(bid["burl"].as_str().unwrap(), "chart-1", "2.00");
    assert_eq!(
        server.request(Method::GET, &bill, &[], "").await.status,
        200
    );
    let after = page(&buyer.get(&server, "/console/campaigns/1").await);
    let risen = spend_line(&after, "today");
    assert_ne!(risen, flat, "{after}");
    let last_y: f64 = risen.rsplit(',').next().unwrap().parse().unwrap();
    assert!(last_y < 192.0, "{risen}");

    // Another advertiser's campaign is not charted for an advertiser.
    let adv = sign_in(&server, &server.tokens.clone().unwrap().advertiser).await;
    assert_eq!(adv.get(&server, "/console/campaigns/4").await.status, 403);
    assert_eq!(adv.get(&server, "/console/campaigns/1").await.status, 200);
    server.stop().await;
}

/// Acme's bid (campaign 1) for request `id`, billed at `price`.
async fn billed_bid(server: &TestServer, id: &str, price: &str) {
    let body = serde_json::to_vec(&json!({
        "id": id,
        "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}],
        "site": {"domain": "news.example", "page": "https://news.example/a"},
        "device": {"ua": "Mozilla/5.0", "ip": "203.0.113.7", "language": "en"},
        "user": {"buyeruid": "demo-intent"},
        "at": 1,
        "tmax": 500
    }))
    .unwrap();
    let bid = server.bid(body).await.json()["seatbid"][0]["bid"][0].clone();
    assert_eq!(bid["cid"], "1", "{bid}");
    let bill = common::filled(bid["burl"].as_str().unwrap(), id, price);
    assert_eq!(
        server.request(Method::GET, &bill, &[], "").await.status,
        200
    );
}

#[tokio::test]
async fn reports_chart_by_day_and_export_the_table_as_csv() {
    let server = TestServer::demo().await;
    billed_bid(&server, "report-1", "2.00").await;
    let t = server.tokens.clone().unwrap();
    let buyer = sign_in(&server, &t.buyer).await;

    let reply = buyer.get(&server, "/console/reports").await;
    assert_eq!(reply.status, 200, "{}", page(&reply));
    let html = page(&reply);
    assert!(!html.contains("style=") && !html.contains("<script"));
    assert!(html.contains("Spend per UTC day (USD)"), "{html}");
    assert!(html.contains("Impressions and clicks per UTC day"));
    assert!(
        html.contains("href=\"/console/campaigns/1\">campaign #1<"),
        "{html}"
    );
    for by in ["stage", "combination", "fragment"] {
        let reply = buyer
            .get(&server, &format!("/console/reports?by={by}"))
            .await;
        assert_eq!(reply.status, 200, "{by}: {}", page(&reply));
    }

    let csv = buyer.get(&server, "/console/reports.csv?by=campaign").await;
    assert_eq!(csv.status, 200, "{}", page(&csv));
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let disposition = csv.header("content-disposition").unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"report-by-campaign-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let text = page(&csv);
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(
        lines[0].starts_with("campaign,currency,bids,wins,spend_micros"),
        "{text}"
    );
    assert!(lines.iter().any(|l| l.starts_with("1,USD,")), "{text}");
    let columns = lines[0].split(',').count();
    assert!(
        lines.iter().all(|l| l.split(',').count() == columns),
        "{text}"
    );

    // The same rows as the API's CSV for the same days.
    let from = html
        .split("name=\"from\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let api = server
        .api(
            Method::GET,
            &format!("/api/v1/reports?group_by=campaign&format=csv&from={from}"),
            Some(&t.buyer),
            None,
        )
        .await;
    assert_eq!(String::from_utf8(api.body.to_vec()).unwrap(), text);

    // A bad day is shown at its field; an advertiser not granted is 403.
    let bad = buyer.get(&server, "/console/reports?from=yesterday").await;
    assert_eq!(bad.status, 422);
    assert!(page(&bad).contains("id=\"re-from\""));
    let other = server
        .created(
            "/api/v1/advertisers",
            json!({"name": "Other Co", "domain": "other.example"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let refused = buyer
        .get(&server, &format!("/console/reports.csv?advertiser={other}"))
        .await;
    assert_eq!(refused.status, 403);
    server.stop().await;
}

#[tokio::test]
async fn the_explain_page_says_why_a_request_gets_no_bid() {
    let server = TestServer::demo().await;
    let t = server.tokens.clone().unwrap();
    let buyer = sign_in(&server, &t.buyer).await;
    let form = buyer.get(&server, "/console/explain").await;
    assert_eq!(form.status, 200, "{}", page(&form));
    let csrf = csrf_of(&page(&form));

    // A floor of 500 USD CPM: no campaign pays that.
    let reply = buyer
        .post(
            &server,
            "/console/explain",
            &format!("csrf={csrf}&sample=floor&request="),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", page(&reply));
    let html = page(&reply);
    assert!(!html.contains("style=") && !html.contains("<script"));
    assert!(html.contains("No bid: "), "{html}");
    assert!(html.contains("Impression <code>1</code>"), "{html}");
    assert!(html.contains(">floor<"), "{html}");
    assert!(html.contains("<dt>max cpm</dt>"), "{html}");
    // Only the buyer's advertisers' campaigns are listed: another
    // advertiser's campaign (without a creative, so not bidding) is
    // explained to the admin only.
    let other = server
        .created(
            "/api/v1/advertisers",
            json!({"name": "Other Co", "domain": "other.example"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let secret = server
        .created(
            "/api/v1/campaigns",
            campaign_body(other, "Other secret plan"),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let link = format!("href=\"/console/campaigns/{secret}\"");
    let admin = sign_in(&server, &t.admin).await;
    let admin_csrf = csrf_of(&page(&admin.get(&server, "/console/explain").await));
    let seen = page(
        &admin
            .post(
                &server,
                "/console/explain",
                &format!("csrf={admin_csrf}&sample=floor"),
            )
            .await,
    );
    assert!(seen.contains(&link), "{seen}");
    let html = page(
        &buyer
            .post(
                &server,
                "/console/explain",
                &format!("csrf={csrf}&sample=floor"),
            )
            .await,
    );
    assert!(!html.contains(&link), "{html}");

    // The sample a campaign wins is shown with its winner.
    let reply = buyer
        .post(
            &server,
            "/console/explain",
            &format!("csrf={csrf}&sample=banner"),
        )
        .await;
    let html = page(&reply);
    assert!(html.contains("Won by "), "{html}");
    assert!(html.contains("step wins"));

    // A request the bid path's parser refuses is shown at the field, kept.
    let reply = buyer
        .post(
            &server,
            "/console/explain",
            &format!("csrf={csrf}&request={}", urlencoded("{\"id\": 5}")),
        )
        .await;
    assert_eq!(reply.status, 422, "{}", page(&reply));
    let html = page(&reply);
    assert!(html.contains("id=\"x-problem\""), "{html}");
    assert!(html.contains("{&quot;id&quot;: 5}"), "{html}");

    // Nothing was booked by explaining.
    let budget = server
        .api(
            Method::GET,
            "/api/v1/campaigns/1/budget",
            Some(server.admin_token()),
            None,
        )
        .await
        .json();
    assert_eq!(budget["reserved_micros"], 0, "{budget}");

    // Advertisers may not explain; a form without CSRF is refused.
    let adv = sign_in(&server, &t.advertiser).await;
    assert_eq!(adv.get(&server, "/console/explain").await.status, 403);
    let refused = buyer
        .post(&server, "/console/explain", "csrf=nope&sample=floor")
        .await;
    assert_eq!(refused.status, 403);
    server.stop().await;
}

/// A bid request full of what the recent-request sample must not keep.
const PERSONAL: &str = r#"{"id":"personal-1","imp":[{"id":"1","banner":{"w":300,"h":250}}],
    "site":{"domain":"news.example","page":"https://news.example/a?email=someone%40mail.example"},
    "device":{"ua":"Mozilla/5.0","ip":"198.51.100.23","ipv6":"2001:db8::23","ifa":"ifa-secret-23",
        "geo":{"country":"USA","lat":40.7128,"lon":-74.006}},
    "user":{"id":"exchange-user-23","buyeruid":"buyer-uid-23","consent":"CPconsent23",
        "ext":{"eids":[{"source":"id.example","uids":[{"id":"eid-23"}]}]}},
    "regs":{"gdpr":0,"us_privacy":"1YNN23","gpp":"DBAgpp23"},"at":1,"tmax":500}"#;

const PERSONAL_VALUES: [&str; 12] = [
    "198.51.100.23",
    "2001:db8::23",
    "ifa-secret-23",
    "40.7128",
    "74.006",
    "exchange-user-23",
    "buyer-uid-23",
    "CPconsent23",
    "eid-23",
    "1YNN23",
    "DBAgpp23",
    "someone",
];

#[tokio::test]
async fn recent_requests_are_offered_to_explain_without_personal_data() {
    let server = TestServer::demo().await;
    let t = server.tokens.clone().unwrap();
    let reply = server.bid(PERSONAL).await;
    assert!(matches!(reply.status, 200 | 204), "{}", reply.status);

    let buyer = sign_in(&server, &t.buyer).await;
    let html = page(&buyer.get(&server, "/console/explain").await);
    assert!(
        html.contains("Recent requests, personal data removed"),
        "{html}"
    );
    assert!(html.contains("value=\"recent-1\""), "{html}");
    assert!(
        html.contains("news.example · 1 imp: banner 300x250"),
        "{html}"
    );
    let csrf = csrf_of(&html);
    let reply = buyer
        .post(
            &server,
            "/console/explain",
            &format!("csrf={csrf}&sample=recent-1&request="),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", page(&reply));
    let explained = page(&reply);
    assert!(
        explained.contains("Impression <code>1</code>"),
        "{explained}"
    );
    assert!(explained.contains("&quot;personal-1&quot;"), "{explained}");
    assert!(
        explained.contains("&quot;country&quot;: &quot;USA&quot;"),
        "{explained}"
    );
    for value in PERSONAL_VALUES {
        assert!(!html.contains(value), "{value} on the form");
        assert!(!explained.contains(value), "{value} in the explanation");
    }
    // The exchange it came from is explained against.
    assert!(
        explained.contains("name=\"exchange\" value=\"default\""),
        "{explained}"
    );

    // Admins see the same; a sample no longer kept is said so.
    let admin = sign_in(&server, &t.admin).await;
    let admin_html = page(&admin.get(&server, "/console/explain").await);
    assert!(admin_html.contains("value=\"recent-1\""), "{admin_html}");
    let gone = buyer
        .post(
            &server,
            "/console/explain",
            &format!("csrf={csrf}&sample=recent-999"),
        )
        .await;
    assert_eq!(gone.status, 422);
    assert!(page(&gone).contains("no longer kept"));
    server.stop().await;
}

#[tokio::test]
async fn admins_see_the_last_minute_of_traffic_live() {
    let server = TestServer::demo().await;
    let t = server.tokens.clone().unwrap();
    let admin = sign_in(&server, &t.admin).await;
    let first = admin.get(&server, "/console/live").await;
    assert_eq!(first.status, 200, "{}", page(&first));
    let csp = first.header("content-security-policy").unwrap_or("");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(page(&first).contains("src=\"/console/live.js\""));
    let script = server
        .request(Method::GET, "/console/live.js", &[], "")
        .await;
    assert_eq!(script.status, 200);
    assert!(
        script
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/javascript"))
    );
    // Other pages still allow no script.
    let other = admin.get(&server, "/console/tokens").await;
    assert!(
        !other
            .header("content-security-policy")
            .unwrap_or("")
            .contains("script-src")
    );

    // Three requests: one bids, two get no bid below the floor.
    let banner = r#"{"id":"live-1","imp":[{"id":"1","banner":{"w":300,"h":250}}],"site":{"domain":"news.example"},"device":{"ua":"Mozilla/5.0"},"at":1,"tmax":500}"#;
    let floor = banner.replace("\"h\":250}", "\"h\":250},\"bidfloor\":500");
    assert_eq!(server.bid(banner).await.status, 200);
    for _ in 0..2 {
        assert_eq!(server.bid(floor.clone()).await.status, 204);
    }
    // The counters are read once a second.
    let mut html = String::new();
    for _ in 0..100 {
        html = page(&admin.get(&server, "/console/live").await);
        if html.contains("<dd id=\"live-requests\">3</dd>") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(html.contains("<dd id=\"live-requests\">3</dd>"), "{html}");
    assert!(
        html.contains("<dd id=\"live-bid-rate\">33.3%</dd>"),
        "{html}"
    );
    assert!(
        html.contains("<code>below_floor</code></th><td>2</td>"),
        "{html}"
    );
    assert!(html.contains("Latency, 99th percentile"), "{html}");
    assert!(html.contains("role=\"img\""), "the chart: {html}");
    server.stop().await;
}

#[tokio::test]
async fn a_form_posted_over_http2_without_host_is_same_origin_by_its_authority() {
    let server = TestServer::demo().await;
    let t = server.tokens.clone().unwrap();
    let buyer = sign_in(&server, &t.buyer).await;
    let csrf = csrf_of(&buyer.campaigns(&server, "").await);
    let authority = server.base.trim_start_matches("http://").to_owned();
    let tcp = tokio::net::TcpStream::connect(&authority).await.unwrap();
    let (mut h2, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .expect("h2c with prior knowledge");
    tokio::spawn(conn);
    let post = |origin: String| {
        http::Request::post(format!("{}/console/sign-out", server.base))
            .header("cookie", &buyer.cookie)
            .header("origin", origin)
            .header(FORM.0, FORM.1)
            .body(http_body_util::Full::new(bytes::Bytes::from(format!(
                "csrf={csrf}"
            ))))
            .unwrap()
    };
    // Another site is still refused.
    let refused = h2
        .send_request(post("https://evil.example".into()))
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let reply = h2.send_request(post(server.base.clone())).await.unwrap();
    assert_eq!(reply.version(), http::Version::HTTP_2);
    assert_eq!(reply.status(), 303, "signed out");
    assert_eq!(
        reply.headers()["location"].to_str().unwrap(),
        "/console/sign-in"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_fragment_too_long_for_two_banners_says_so_when_saved_and_is_reviewed() {
    let server = TestServer::demo().await;
    let t = server.tokens.clone().unwrap();
    let adv = sign_in(&server, &t.advertiser).await;
    let library = adv.get(&server, "/console/fragments").await;
    assert_eq!(library.status, 200, "{}", page(&library));
    let csrf = csrf_of(&page(&library));

    // A body without its landing page: refused at the body, values kept.
    let text = "x".repeat(61);
    let bad = json!({"language": "en", "body": text}).to_string();
    let reply = adv
        .post(
            &server,
            "/console/fragments",
            &format!(
                "csrf={csrf}&advertiser_id=1&set=console&kind=content&body={}",
                urlencoded(&bad)
            ),
        )
        .await;
    assert_eq!(reply.status, 422, "{}", page(&reply));
    let html = page(&reply);
    assert!(html.contains("body.landing_url"), "{html}");
    assert!(html.contains("value=\"console\""), "the set is kept");

    let good = json!({"language": "en", "body": text, "landing_url": "https://acme-outdoor.example/tents"})
        .to_string();
    let reply = adv
        .post(
            &server,
            "/console/fragments",
            &format!(
                "csrf={csrf}&advertiser_id=1&set=console&kind=content&body={}",
                urlencoded(&good)
            ),
        )
        .await;
    assert_eq!(reply.status, 303, "{}", page(&reply));
    let to = reply.header("location").unwrap().to_owned();
    assert!(to.ends_with("?saved=1"), "{to}");
    let html = page(&adv.get(&server, &to).await);
    assert!(
        html.contains("body: 61 characters; 300x250 and 728x90 show at most 60"),
        "{html}"
    );
    assert!(!html.contains("style=") && !html.contains("<script"));
    assert!(!html.contains(">Approve<"), "an advertiser does not review");
    let lib = page(&adv.get(&server, "/console/fragments?advertiser=1").await);
    assert!(lib.contains("300x250 and 728x90 show at most 60"), "{lib}");

    // Another advertiser's library is refused to the advertiser.
    assert_eq!(
        adv.get(&server, "/console/fragments?advertiser=2")
            .await
            .status,
        403
    );

    // The buyer approves it; the advertiser cannot.
    let id = to
        .trim_start_matches("/console/fragments/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let adv_try = adv
        .post(
            &server,
            &format!("/console/fragments/{id}/approve"),
            &format!("csrf={csrf}&version=1"),
        )
        .await;
    assert_eq!(adv_try.status, 403);
    let buyer = sign_in(&server, &t.buyer).await;
    let html = page(
        &buyer
            .get(&server, &format!("/console/fragments/{id}"))
            .await,
    );
    assert!(html.contains(">Approve<"), "{html}");
    let buyer_csrf = csrf_of(&html);
    let reject = buyer
        .post(
            &server,
            &format!("/console/fragments/{id}/reject"),
            &format!("csrf={buyer_csrf}&version=1&reason="),
        )
        .await;
    assert_eq!(reject.status, 422, "a rejection says why");
    let approve = buyer
        .post(
            &server,
            &format!("/console/fragments/{id}/approve"),
            &format!("csrf={buyer_csrf}&version=1"),
        )
        .await;
    assert_eq!(approve.status, 303, "{}", page(&approve));
    let html = page(
        &buyer
            .get(&server, &format!("/console/fragments/{id}"))
            .await,
    );
    assert!(html.contains("status approved"), "{html}");
    assert!(
        html.contains("<td>approved</td>"),
        "the history logs it: {html}"
    );

    // A new version at the shown version; a second at the same one is
    // stale: nothing saved, the text kept.
    let short = json!({"language": "en", "body": "Tents.", "landing_url": "https://acme-outdoor.example/tents"})
        .to_string();
    let form = format!("csrf={csrf}&version=1&body={}", urlencoded(&short));
    let saved = adv
        .post(&server, &format!("/console/fragments/{id}"), &form)
        .await;
    assert_eq!(saved.status, 303, "{}", page(&saved));
    let html = page(&adv.get(&server, saved.header("location").unwrap()).await);
    assert!(
        html.contains("None: its texts fit"),
        "the short body leaves nothing out: {html}"
    );
    let stale = adv
        .post(&server, &format!("/console/fragments/{id}"), &form)
        .await;
    assert_eq!(stale.status, 409, "{}", page(&stale));
    assert!(page(&stale).contains("Tents."), "the text is kept");
    server.stop().await;
}

/// Every console route, for each kind of caller: an admin, a buyer (of
/// Acme and Northwind), Acme's advertiser token, and no session. `{nf}` is
/// a fragment of Northwind's. Forms are posted with the caller's own CSRF
/// token and values the route refuses or that change nothing lasting.
#[tokio::test]
async fn every_console_route_answers_each_role_as_its_grants_say() {
    let server = TestServer::demo().await;
    let t = server.tokens.clone().unwrap();
    let northwind_fragment = server
        .created(
            "/api/v1/fragments",
            json!({"advertiser_id": 2, "set": "nw", "kind": "tone", "body": {
                "language": "en", "cta": "Taste it", "voice": "warm", "font_stack": "serif",
                "palette": {"background": "#ffffff", "foreground": "#222222", "accent": "#884400"}}}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let callers = [
        sign_in(&server, &t.admin).await,
        sign_in(&server, &t.buyer).await,
        sign_in(&server, &t.advertiser).await,
    ];
    let mut csrfs = Vec::new();
    for c in &callers {
        csrfs.push(csrf_of(&c.campaigns(&server, "").await));
    }
    let nf = northwind_fragment.to_string();
    // (method, path, form, [admin, buyer, advertiser, no session])
    let matrix: Vec<(&str, String, &str, [u16; 4])> = vec![
        ("GET", "/console".into(), "", [303, 303, 303, 303]),
        ("GET", "/console/sign-in".into(), "", [303, 303, 303, 200]),
        (
            "GET",
            "/console/console.css".into(),
            "",
            [200, 200, 200, 200],
        ),
        ("GET", "/console/campaigns".into(), "", [200, 200, 200, 303]),
        (
            "GET",
            "/console/campaigns/new".into(),
            "",
            [200, 200, 403, 303],
        ),
        (
            "GET",
            "/console/campaigns/1".into(),
            "",
            [200, 200, 200, 303],
        ),
        (
            "GET",
            "/console/campaigns/4".into(),
            "",
            [200, 200, 403, 303],
        ),
        (
            "GET",
            "/console/campaigns/999".into(),
            "",
            [404, 404, 404, 303],
        ),
        (
            "GET",
            "/console/campaigns/1/edit".into(),
            "",
            [200, 200, 403, 303],
        ),
        (
            "GET",
            "/console/campaigns/4/edit".into(),
            "",
            [200, 200, 403, 303],
        ),
        (
            "GET",
            "/console/campaigns/1/gallery".into(),
            "",
            [200, 200, 200, 303],
        ),
        (
            "GET",
            "/console/campaigns/4/gallery".into(),
            "",
            [200, 200, 403, 303],
        ),
        (
            "GET",
            "/console/campaigns/1/audits".into(),
            "",
            [200, 200, 403, 303],
        ),
        (
            "GET",
            "/console/campaigns/4/audits".into(),
            "",
            [200, 200, 403, 303],
        ),
        (
            "GET",
            "/console/campaigns/999/audits".into(),
            "",
            [404, 404, 403, 303],
        ),
        ("GET", "/console/reports".into(), "", [200, 200, 200, 303]),
        (
            "GET",
            "/console/reports?advertiser=2".into(),
            "",
            [200, 200, 403, 303],
        ),
        (
            "GET",
            "/console/reports.csv".into(),
            "",
            [200, 200, 200, 303],
        ),
        (
            "GET",
            "/console/reports.csv?advertiser=2".into(),
            "",
            [200, 200, 403, 303],
        ),
        ("GET", "/console/explain".into(), "", [200, 200, 403, 303]),
        ("GET", "/console/fragments".into(), "", [200, 200, 200, 303]),
        (
            "GET",
            "/console/fragments?advertiser=2".into(),
            "",
            [200, 200, 403, 303],
        ),
        (
            "GET",
            "/console/fragments/1".into(),
            "",
            [200, 200, 200, 303],
        ),
        (
            "GET",
            format!("/console/fragments/{nf}"),
            "",
            [200, 200, 403, 303],
        ),
        ("GET", "/console/funnels".into(), "", [200, 200, 200, 303]),
        (
            "GET",
            "/console/funnels/1/upload".into(),
            "",
            [200, 200, 403, 303],
        ),
        (
            "GET",
            "/console/funnels/9/upload".into(),
            "",
            [404, 404, 403, 303],
        ),
        ("GET", "/console/jobs/999".into(), "", [404, 404, 404, 303]),
        ("GET", "/console/tokens".into(), "", [200, 403, 403, 303]),
        ("GET", "/console/exchanges".into(), "", [200, 403, 403, 303]),
        ("GET", "/console/live".into(), "", [200, 403, 403, 303]),
        ("GET", "/console/live.js".into(), "", [200, 200, 200, 200]),
        ("GET", "/console/nowhere".into(), "", [404, 404, 404, 404]),
        (
            "POST",
            "/console/campaigns".into(),
            "",
            [405, 405, 405, 405],
        ),
        (
            "POST",
            "/console/campaigns/new".into(),
            "name=",
            [422, 422, 403, 303],
        ),
        (
            "POST",
            "/console/campaigns/4/edit".into(),
            "version=0",
            [422, 422, 403, 303],
        ),
        (
            "POST",
            "/console/campaigns/4/pause".into(),
            "version=0",
            [412, 412, 403, 303],
        ),
        (
            "POST",
            "/console/campaigns/4/audits".into(),
            "crid=1&exchange=default&status=maybe",
            [422, 422, 403, 303],
        ),
        (
            "POST",
            "/console/explain".into(),
            "request=",
            [422, 422, 403, 303],
        ),
        (
            "POST",
            "/console/fragments".into(),
            "advertiser_id=2&kind=tone&body=%7B%7D",
            [422, 422, 403, 303],
        ),
        (
            "POST",
            format!("/console/fragments/{nf}"),
            "version=1&body=%7B%7D",
            [422, 422, 403, 303],
        ),
        (
            "POST",
            format!("/console/fragments/{nf}/reject"),
            "version=1&reason=",
            [422, 422, 403, 303],
        ),
        (
            "POST",
            "/console/tokens".into(),
            "role=nobody",
            [422, 403, 403, 303],
        ),
        (
            "POST",
            "/console/tokens/999/revoke".into(),
            "",
            [404, 403, 403, 303],
        ),
    ];
    let mut wrong = Vec::new();
    for (method, path, form, expected) in &matrix {
        for (who, want) in expected.iter().enumerate() {
            let got = match (who, *method) {
                (3, "GET") => server.request(Method::GET, path, &[], "").await.status,
                (3, _) => {
                    server
                        .request(Method::POST, path, &[FORM], format!("csrf=x&{form}"))
                        .await
                        .status
                }
                (i, "GET") => callers[i].get(&server, path).await.status,
                (i, _) => {
                    let posted = format!("csrf={}&{form}", csrfs[i]);
                    callers[i].post(&server, path, &posted).await.status
                }
            };
            if got != *want {
                wrong.push(format!(
                    "{method} {path} as caller {who}: {got}, expected {want}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Every form refuses a missing CSRF token and another session's.
    for (method, path, form, _) in matrix
        .iter()
        .filter(|m| m.0 == "POST" && m.1 != "/console/campaigns")
    {
        let _ = method;
        for (i, c) in callers.iter().enumerate() {
            let foreign = &csrfs[(i + 1) % csrfs.len()];
            for posted in [form.to_string(), format!("csrf={foreign}&{form}")] {
                let got = c.post(&server, path, &posted).await.status;
                assert_eq!(got, 403, "POST {path} as caller {i} with {posted:?}");
            }
        }
    }
    server.stop().await;
}

/// Prints each page's weight and the time to answer it (as this test's
/// client sees it on loopback; a debug build unless built otherwise), and
/// holds every page to the issue's 200 KB without images.
#[tokio::test]
async fn every_page_weighs_at_most_200_kb_at_the_demo_data() {
    let server = TestServer::demo().await;
    billed_bid(&server, "weight-1", "2.00").await;
    let t = server.tokens.clone().unwrap();
    let buyer = sign_in(&server, &t.buyer).await;
    let admin = sign_in(&server, &t.admin).await;
    let pages = [
        (&buyer, "/console/campaigns"),
        (&buyer, "/console/campaigns/new"),
        (&buyer, "/console/campaigns/1"),
        (&buyer, "/console/campaigns/1/edit"),
        (&buyer, "/console/campaigns/1/audits"),
        (&buyer, "/console/reports"),
        (&buyer, "/console/reports?by=fragment"),
        (&buyer, "/console/reports.csv"),
        (&buyer, "/console/explain"),
        (&buyer, "/console/fragments"),
        (&buyer, "/console/fragments/1"),
        (&buyer, "/console/funnels"),
        (&buyer, "/console/funnels/1/upload"),
        (&admin, "/console/tokens"),
        (&admin, "/console/exchanges"),
    ];
    eprintln!("page | bytes | ms (median of 5)");
    for (who, path) in pages {
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..5 {
            let started = std::time::Instant::now();
            let reply = who.get(&server, path).await;
            times.push(started.elapsed().as_secs_f64() * 1e3);
            assert_eq!(reply.status, 200, "{path}");
            bytes = reply.body.len();
        }
        times.sort_by(f64::total_cmp);
        eprintln!("{path} | {bytes} | {:.1}", times[2]);
        assert!(bytes <= 200 * 1024, "{path} weighs {bytes} bytes");
    }
    let css = server
        .request(Method::GET, "/console/console.css", &[], "")
        .await;
    eprintln!(
        "/console/console.css | {} | (cached an hour)",
        css.body.len()
    );
    server.stop().await;
}

#[tokio::test]
async fn an_admin_issues_and_revokes_a_token_and_sees_funnels_and_exchanges() {
    let server = TestServer::demo().await;
    let t = server.tokens.clone().unwrap();
    let admin = sign_in(&server, &t.admin).await;
    let html = page(&admin.get(&server, "/console/tokens").await);
    assert!(
        html.contains("demo buyer") && html.contains("(this session's)"),
        "{html}"
    );
    let csrf = csrf_of(&html);

    // Every bad field at once; nothing issued.
    let refused = admin
        .post(
            &server,
            "/console/tokens",
            &format!("csrf={csrf}&role=advertiser&advertisers=1%2C+x&label="),
        )
        .await;
    assert_eq!(refused.status, 422, "{}", page(&refused));
    assert!(
        page(&refused).contains("is not an advertiser"),
        "{}",
        page(&refused)
    );

    let issued = admin
        .post(
            &server,
            "/console/tokens",
            &format!("csrf={csrf}&role=advertiser&advertisers=2&label=Northwind+desk"),
        )
        .await;
    assert_eq!(issued.status, 200, "{}", page(&issued));
    let html = page(&issued);
    let secret = html
        .split("<code class=\"secret\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("the secret is shown once")
        .to_owned();
    assert!(secret.starts_with("bdr_"), "{secret}");
    assert!(!page(&admin.get(&server, "/console/tokens").await).contains(&secret));

    // The new token signs in, sees Northwind's only; revoking it ends that.
    let desk = sign_in(&server, &secret).await;
    let html = desk.campaigns(&server, "").await;
    assert!(
        html.contains("Northwind") && !html.contains("Acme run-of-network"),
        "{html}"
    );
    let id = html
        .split("token ")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .unwrap()
        .to_owned();
    let revoked = admin
        .post(
            &server,
            &format!("/console/tokens/{id}/revoke"),
            &format!("csrf={csrf}"),
        )
        .await;
    assert_eq!(revoked.status, 303, "{}", page(&revoked));
    let after = desk.get(&server, "/console/campaigns").await;
    assert_eq!(after.status, 303, "the revoked token's session ended");

    // Funnels: the demo's three users, one each at intent, customer, loyal.
    let buyer = sign_in(&server, &t.buyer).await;
    let html = page(&buyer.get(&server, "/console/funnels").await);
    assert!(html.contains("Acme shoppers"), "{html}");
    let row = &html[html.find("Acme shoppers").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    let cells: Vec<&str> = row
        .split("<td class=\"num\">")
        .skip(1)
        .map(|c| c.split('<').next().unwrap().trim())
        .collect();
    assert_eq!(cells[0], "3", "members in all: {row}");
    assert_eq!(
        cells.iter().skip(1).filter(|c| **c == "1").count(),
        3,
        "{row}"
    );

    // Exchanges: the configured default one.
    let html = page(&admin.get(&server, "/console/exchanges").await);
    assert!(
        html.contains("default<span class=\"of\"> (default)</span>"),
        "{html}"
    );
    server.stop().await;
}

/// A browser's `multipart/form-data` body: the fields, then the file.
fn multipart(fields: &[(&str, &str)], file: &[u8]) -> (String, Vec<u8>) {
    const BOUNDARY: &str = "----consoletestBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; \
             filename=\"members.csv\"\r\nContent-Type: text/csv\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

impl Browser {
    async fn upload(
        &self,
        server: &TestServer,
        path: &str,
        fields: &[(&str, &str)],
        file: &[u8],
    ) -> Reply {
        let (content_type, body) = multipart(fields, file);
        server
            .request(
                Method::POST,
                path,
                &[("cookie", &self.cookie), ("content-type", &content_type)],
                body,
            )
            .await
    }

    /// The job's page once the job is no longer running.
    async fn finished_job(&self, server: &TestServer, path: &str) -> Reply {
        for _ in 0..1_000 {
            let reply = self.get(server, path).await;
            assert_eq!(reply.status, 200, "{}", page(&reply));
            if !page(&reply).contains("<span class=\"status\">running</span>") {
                return reply;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("{path} is still running after 10 s");
    }
}

const MEMBERS: &[u8] = b"key_type,id,stage\n\
buyeruid,console-u1,intent\n\
buyeruid,console-u2,customer\n\
bogus,console-u3,intent\n\
buyeruid,console-u4,nowhere\n\
buyeruid,console-u5,loyal\n";

#[tokio::test]
async fn an_audience_upload_shows_its_progress_then_its_report() {
    let server = TestServer::demo().await;
    let t = server.tokens.clone().unwrap();
    let buyer = sign_in(&server, &t.buyer).await;
    let funnels = page(&buyer.get(&server, "/console/funnels").await);
    assert!(
        funnels.contains("href=\"/console/funnels/1/upload\""),
        "{funnels}"
    );
    let form = buyer.get(&server, "/console/funnels/1/upload").await;
    assert_eq!(form.status, 200);
    let form = page(&form);
    assert!(form.contains("enctype=\"multipart/form-data\""), "{form}");
    let csrf = csrf_of(&form);

    let reply = buyer
        .upload(
            &server,
            "/console/funnels/1/upload",
            &[("csrf", &csrf), ("mode", "add")],
            MEMBERS,
        )
        .await;
    assert_eq!(reply.status, 303, "{}", page(&reply));
    let job_path = reply.header("location").unwrap().to_owned();
    assert!(job_path.starts_with("/console/jobs/"), "{job_path}");
    let done = buyer.finished_job(&server, &job_path).await;
    assert_eq!(done.header("refresh"), None, "an ended job stops reloading");
    let html = page(&done);
    assert!(
        html.contains("<span class=\"status\">completed</span>"),
        "{html}"
    );
    assert_eq!(text_of(&html, "rows-read").as_deref(), Some("5"));
    assert_eq!(text_of(&html, "rows-committed").as_deref(), Some("3"));
    assert_eq!(text_of(&html, "rows-rejected").as_deref(), Some("2"));
    // The report: each refused row with its line and the API's reason.
    let id = job_path.rsplit('/').next().unwrap();
    let api = server
        .api(
            Method::GET,
            &format!("/api/v1/jobs/{id}"),
            Some(&t.buyer),
            None,
        )
        .await
        .json();
    assert_eq!(api["rows_accepted"], 3, "{api}");
    let rejections = api["rejections"].as_array().unwrap();
    assert_eq!(rejections.len(), 2, "{api}");
    for r in rejections {
        let row = format!(
            "<tr><td class=\"num\">{}</td><td>{}</td></tr>",
            r["line"],
            r["reason"]
                .as_str()
                .unwrap()
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
        );
        assert!(html.contains(&row), "{row} in {html}");
    }
    let lines: Vec<&serde_json::Value> = rejections.iter().map(|r| &r["line"]).collect();
    assert_eq!(lines, [4, 5], "the header is line 1: {api}");
    // The funnel's upload page lists the job.
    let listed = page(&buyer.get(&server, "/console/funnels/1/upload").await);
    assert!(listed.contains(&format!("href=\"{job_path}\"")), "{listed}");

    // A running job's page reloads itself (a header, no script).
    let running = bidder::store::Store::open(&server.data_dir)
        .unwrap()
        .create_job(
            audiences::table::FunnelId(1),
            bidder::model::AdvertiserId(1),
            bidder::model::UploadMode::Add,
        )
        .unwrap();
    let reply = buyer
        .get(&server, &format!("/console/jobs/{}", running.id.0))
        .await;
    assert_eq!(reply.header("refresh"), Some("1"));
    let html = page(&reply);
    assert!(
        html.contains("<span class=\"status\">running</span>"),
        "{html}"
    );
    assert!(!html.contains("<h2>Report</h2>"), "{html}");
    assert!(!html.contains("<script"), "{html}");
    server.stop().await;
}

#[tokio::test]
async fn the_upload_form_is_refused_without_its_token_role_or_file() {
    let server = TestServer::demo().await;
    let t = server.tokens.clone().unwrap();
    let buyer = sign_in(&server, &t.buyer).await;
    let other = sign_in(&server, &t.buyer).await;
    let advertiser = sign_in(&server, &t.advertiser).await;
    let own = csrf_of(&buyer.campaigns(&server, "").await);
    let foreign = csrf_of(&other.campaigns(&server, "").await);
    let advertisers = csrf_of(&advertiser.campaigns(&server, "").await);
    let path = "/console/funnels/1/upload";
    for fields in [vec![("mode", "add")], vec![("csrf", foreign.as_str())]] {
        let reply = buyer.upload(&server, path, &fields, MEMBERS).await;
        assert_eq!(reply.status, 403, "{fields:?}: {}", page(&reply));
    }
    // The right token from another site's page.
    let (content_type, body) = multipart(&[("csrf", &own)], MEMBERS);
    let reply = server
        .request(
            Method::POST,
            path,
            &[
                ("cookie", &buyer.cookie),
                ("content-type", &content_type),
                ("origin", "https://evil.example"),
            ],
            body,
        )
        .await;
    assert_eq!(reply.status, 403);
    // A role that may not upload, and no session at all.
    let reply = advertiser
        .upload(&server, path, &[("csrf", &advertisers)], MEMBERS)
        .await;
    assert_eq!(reply.status, 403, "{}", page(&reply));
    let (content_type, body) = multipart(&[("csrf", "x")], MEMBERS);
    let reply = server
        .request(Method::POST, path, &[("content-type", &content_type)], body)
        .await;
    assert_eq!(reply.status, 303);
    // Not a file form; no file; a funnel that does not exist.
    let reply = buyer.post(&server, path, &format!("csrf={own}")).await;
    assert_eq!(reply.status, 415);
    let reply = buyer.upload(&server, path, &[("csrf", &own)], b"").await;
    assert_eq!(reply.status, 422);
    assert!(page(&reply).contains("pick a file"), "{}", page(&reply));
    let reply = buyer
        .upload(
            &server,
            "/console/funnels/99/upload",
            &[("csrf", &own)],
            MEMBERS,
        )
        .await;
    assert_eq!(reply.status, 404);
    // Nothing was uploaded.
    let jobs = server
        .api(
            Method::GET,
            "/api/v1/jobs",
            Some(server.admin_token()),
            None,
        )
        .await
        .json();
    assert_eq!(jobs["items"], json!([]), "{jobs}");
    server.stop().await;
}

//! The authorization matrix: every admin route, called by every kind of
//! caller (no token, an unknown token, admin, buyer, advertiser) on a
//! resource of an advertiser the caller is granted and of one it is not,
//! answers as docs/API.md ("Roles") designs it: 401 without a valid token,
//! 403 for a role or advertiser without the right, and for a caller with
//! the right, 200 on reads and the route's own answer on writes (created,
//! or refused by a stale `If-Match` after the access check, so the matrix
//! changes little).

mod common;

use common::{TestServer, campaign_body};
use http::Method;
use serde_json::{Value, json};

/// Who calls.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Caller {
    Nobody,
    Unknown,
    Admin,
    Buyer,
    Advertiser,
}

/// What a granted caller gets: `Read` is exactly 200; `Write` is any
/// answer of a handler that let the caller in (201, 204, or 409/412/422
/// for a write refused on its merits).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Want {
    Read,
    Write,
    Forbidden,
    /// A read of something that may not exist for this resource: 200, or
    /// the handler's own 404 (a preview of a campaign with no assembled
    /// creative), never 401 or 403.
    Shown,
}

use Want::{Forbidden as F, Read as R, Shown as S, Write as W};

/// Expectations for admin, buyer and advertiser, on the granted advertiser's
/// resource and on the other's.
struct Row {
    method: Method,
    path: String,
    body: Option<Value>,
    admin: Want,
    buyer: (Want, Want),
    advertiser: (Want, Want),
}

/// The ids of one advertiser's resources.
struct Side {
    advertiser: i64,
    campaign: i64,
    creative: i64,
    funnel: i64,
    fragment: i64,
    crid: String,
}

async fn first_id(server: &TestServer, path: &str) -> i64 {
    let page = server
        .api(Method::GET, path, Some(server.admin_token()), None)
        .await
        .json();
    page["items"][0]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{path}: {page}"))
}

/// Acme (advertiser 1, the advertiser token's and one of the buyer's) and
/// a third advertiser neither of them is granted, each with a campaign, a
/// creative, a funnel with a member, and a fragment.
async fn sides(server: &TestServer) -> (Side, Side) {
    let campaign = first_id(server, "/api/v1/campaigns?advertiser_id=1").await;
    let creative = first_id(server, &format!("/api/v1/campaigns/{campaign}/creatives")).await;
    let funnel = first_id(server, "/api/v1/funnels?advertiser_id=1").await;
    let fragments = server
        .api(
            Method::GET,
            "/api/v1/fragments?advertiser_id=1",
            Some(server.admin_token()),
            None,
        )
        .await
        .json();
    let fragment = &fragments["items"][0];
    let own = Side {
        advertiser: 1,
        campaign,
        creative,
        funnel,
        fragment: fragment["id"].as_i64().unwrap(),
        crid: creative.to_string(),
    };

    let adv = server
        .created(
            "/api/v1/advertisers",
            json!({"name": "Foreign", "domain": "foreign.example"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let c = server
        .created("/api/v1/campaigns", campaign_body(adv, "Foreign"))
        .await["id"]
        .as_i64()
        .unwrap();
    let cr = server
        .created(
            &format!("/api/v1/campaigns/{c}/creatives"),
            json!({"name": "f", "status": "active",
               "body": {"kind": "html", "w": 123, "h": 45, "markup": "<div>f</div>"}}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let f = server
        .created(
            "/api/v1/funnels",
            json!({"advertiser_id": adv, "name": "Foreign funnel"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let member = server
        .api(
            Method::PUT,
            &format!("/api/v1/funnels/{f}/members/buyeruid/demo-intent"),
            Some(server.admin_token()),
            Some(json!({"stage": "intent"})),
        )
        .await;
    assert!(member.status < 300, "{}", member.json());
    let fr = server
        .created(
            "/api/v1/fragments",
            json!({"advertiser_id": adv, "set": fragment["set"], "kind": fragment["kind"],
               "body": fragment["body"]}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let foreign = Side {
        advertiser: adv,
        campaign: c,
        creative: cr,
        funnel: f,
        fragment: fr,
        crid: cr.to_string(),
    };
    (own, foreign)
}

/// Every route on `s`'s resources (the same rows for both sides).
fn rows_for(s: &Side) -> Vec<(Method, String, Option<Value>)> {
    let (a, c, cr, f, fr) = (s.advertiser, s.campaign, s.creative, s.funnel, s.fragment);
    let creative = json!({"name": "x", "status": "active",
        "body": {"kind": "html", "w": 123, "h": 45, "markup": "<div>x</div>"}});
    vec![
        (Method::GET, format!("/api/v1/advertisers/{a}"), None),
        (
            Method::PUT,
            format!("/api/v1/advertisers/{a}"),
            Some(json!({"name": "n", "domain": "n.example"})),
        ),
        (Method::DELETE, format!("/api/v1/advertisers/{a}"), None),
        (
            Method::POST,
            "/api/v1/campaigns".into(),
            Some(campaign_body(a, "new")),
        ),
        (Method::GET, format!("/api/v1/campaigns/{c}"), None),
        (
            Method::PUT,
            format!("/api/v1/campaigns/{c}"),
            Some(campaign_body(a, "renamed")),
        ),
        (Method::DELETE, format!("/api/v1/campaigns/{c}"), None),
        (
            Method::GET,
            format!("/api/v1/campaigns/{c}/creatives"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/campaigns/{c}/creatives"),
            Some(creative.clone()),
        ),
        (Method::GET, format!("/api/v1/creatives/{cr}"), None),
        (
            Method::PUT,
            format!("/api/v1/creatives/{cr}"),
            Some(creative),
        ),
        (Method::DELETE, format!("/api/v1/creatives/{cr}"), None),
        (
            Method::POST,
            "/api/v1/funnels".into(),
            Some(json!({"advertiser_id": a, "name": "another"})),
        ),
        (Method::GET, format!("/api/v1/funnels/{f}"), None),
        (
            Method::PUT,
            format!("/api/v1/funnels/{f}"),
            Some(json!({"name": "renamed"})),
        ),
        (Method::DELETE, format!("/api/v1/funnels/{f}"), None),
        (
            Method::GET,
            format!("/api/v1/funnels/{f}/members/buyeruid/demo-intent"),
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/funnels/{f}/members/buyeruid/someone"),
            Some(json!({"stage": "awareness"})),
        ),
        (Method::GET, format!("/api/v1/fragments/{fr}"), None),
        (
            Method::PUT,
            format!("/api/v1/fragments/{fr}"),
            Some(json!({})),
        ),
        (Method::DELETE, format!("/api/v1/fragments/{fr}"), None),
        (
            Method::POST,
            format!("/api/v1/fragments/{fr}/approve"),
            Some(json!({"version": 0})),
        ),
        (
            Method::POST,
            format!("/api/v1/fragments/{fr}/reject"),
            Some(json!({"version": 0, "reason": "r"})),
        ),
        (Method::GET, format!("/api/v1/fragments/{fr}/history"), None),
        (
            Method::PUT,
            format!("/api/v1/audits/default/{}", s.crid),
            Some(json!({"status": "pending"})),
        ),
        (
            Method::POST,
            format!("/api/v1/campaigns/{c}/reactions"),
            Some(json!({})),
        ),
        (
            Method::GET,
            format!("/api/v1/campaigns/{c}/combinations"),
            None,
        ),
        (Method::GET, format!("/api/v1/campaigns/{c}/gallery"), None),
        (Method::GET, format!("/api/v1/campaigns/{c}/budget"), None),
        (Method::GET, format!("/api/v1/preview?campaign={c}"), None),
        (Method::GET, format!("/api/v1/reports?advertiser={a}"), None),
    ]
}

/// What one caller may do on a route for (the granted advertiser, another one).
type Pair = (Want, Want);

/// What each caller may do on each of those rows, in their order:
/// admin, then buyer and advertiser as (granted, other).
fn designed() -> Vec<(Want, Pair, Pair)> {
    vec![
        // advertisers/{id}: read by the granted; rename by admin and buyer;
        // delete by admin only.
        (R, (R, F), (R, F)),
        (W, (W, F), (F, F)),
        (W, (F, F), (F, F)),
        // campaigns: buyers manage their advertisers'; advertisers read.
        (W, (W, F), (F, F)),
        (R, (R, F), (R, F)),
        (W, (W, F), (F, F)),
        (W, (W, F), (F, F)),
        // creatives: advertisers manage their own too.
        (R, (R, F), (R, F)),
        (W, (W, F), (W, F)),
        (R, (R, F), (R, F)),
        (W, (W, F), (W, F)),
        (W, (W, F), (W, F)),
        // funnels and members: buyers manage, advertisers read.
        (W, (W, F), (F, F)),
        (R, (R, F), (R, F)),
        (W, (W, F), (F, F)),
        (W, (W, F), (F, F)),
        (R, (R, F), (R, F)),
        (W, (W, F), (F, F)),
        // fragments: advertisers write their own, buyers and admins review.
        (R, (R, F), (R, F)),
        (W, (W, F), (W, F)),
        (W, (W, F), (W, F)),
        (W, (W, F), (F, F)),
        (W, (W, F), (F, F)),
        (R, (R, F), (R, F)),
        // exchange audits: admin and buyers.
        (W, (W, F), (F, F)),
        // learning counts by hand: admin only.
        (W, (F, F), (F, F)),
        // what advertisers see of their campaigns.
        (R, (R, F), (R, F)),
        (R, (R, F), (R, F)),
        (R, (R, F), (R, F)),
        (S, (S, F), (S, F)),
        (R, (R, F), (R, F)),
    ]
}

fn check(want: Want, status: u16, what: &str) {
    match want {
        Want::Read => assert_eq!(status, 200, "{what}"),
        Want::Forbidden => assert_eq!(status, 403, "{what}"),
        Want::Shown => assert!(matches!(status, 200 | 404), "{what}: {status}"),
        Want::Write => assert!(
            matches!(status, 200 | 201 | 204 | 409 | 412 | 422),
            "{what}: {status}, expected the handler's own answer"
        ),
    }
}

#[tokio::test]
async fn every_route_answers_every_caller_as_designed() {
    let server = TestServer::demo().await;
    let tokens = server.tokens.clone().unwrap();
    let (own, foreign) = sides(&server).await;
    let token_of = |c: Caller| -> Option<String> {
        match c {
            Caller::Nobody => None,
            Caller::Unknown => Some(format!("bdr_{}", "0".repeat(64))),
            Caller::Admin => Some(tokens.admin.clone()),
            Caller::Buyer => Some(tokens.buyer.clone()),
            Caller::Advertiser => Some(tokens.advertiser.clone()),
        }
    };

    let mut rows = Vec::new();
    for ((own_row, foreign_row), want) in rows_for(&own)
        .into_iter()
        .zip(rows_for(&foreign))
        .zip(designed())
    {
        rows.push((own_row, foreign_row, want));
    }
    assert_eq!(
        rows.len(),
        designed().len(),
        "a row without its expectations"
    );

    let mut checked = 0;
    for ((method, own_path, own_body), (_, foreign_path, foreign_body), want) in &rows {
        let row = Row {
            method: method.clone(),
            path: own_path.clone(),
            body: own_body.clone(),
            admin: want.0,
            buyer: want.1,
            advertiser: want.2,
        };
        for (side, path, body) in [
            ("granted", &row.path, &row.body),
            ("other", foreign_path, foreign_body),
        ] {
            for caller in [
                Caller::Nobody,
                Caller::Unknown,
                Caller::Buyer,
                Caller::Advertiser,
                Caller::Admin,
            ] {
                let token = token_of(caller);
                let auth = token.as_ref().map(|t| format!("Bearer {t}"));
                let mut headers = vec![("content-type", "application/json"), ("if-match", "\"0\"")];
                if let Some(a) = &auth {
                    headers.push(("authorization", a.as_str()));
                }
                let bytes = body
                    .as_ref()
                    .map(|b| serde_json::to_vec(b).unwrap())
                    .unwrap_or_default();
                let reply = server
                    .request(row.method.clone(), path, &headers, bytes)
                    .await;
                let what = format!("{caller:?} {} {path} ({side})", row.method);
                let want = match (caller, side) {
                    (Caller::Nobody | Caller::Unknown, _) => {
                        assert_eq!(reply.status, 401, "{what}");
                        continue;
                    }
                    (Caller::Admin, _) => row.admin,
                    (Caller::Buyer, "granted") => row.buyer.0,
                    (Caller::Buyer, _) => row.buyer.1,
                    (Caller::Advertiser, "granted") => row.advertiser.0,
                    (Caller::Advertiser, _) => row.advertiser.1,
                };
                check(
                    want,
                    reply.status,
                    &format!("{what}: {}", String::from_utf8_lossy(&reply.body)),
                );
                checked += 1;
            }
        }
    }

    // Collections: everyone with a token lists (only granted rows); some
    // are for admins only.
    for (method, path, admin, buyer, advertiser) in [
        (Method::GET, "/api/v1/advertisers", R, R, R),
        (Method::GET, "/api/v1/campaigns", R, R, R),
        (Method::GET, "/api/v1/funnels", R, R, R),
        (Method::GET, "/api/v1/fragments", R, R, R),
        (Method::GET, "/api/v1/jobs", R, R, R),
        (Method::GET, "/api/v1/audits", R, R, F),
        (Method::GET, "/api/v1/tokens", R, F, F),
        (Method::POST, "/api/v1/advertisers", W, F, F),
        (Method::POST, "/api/v1/tokens", W, F, F),
        (Method::POST, "/api/v1/explain", R, R, F),
        (Method::DELETE, "/api/v1/tokens/1", W, F, F),
    ] {
        let body = match path {
            "/api/v1/advertisers" => Some(json!({"name": "Z", "domain": "z.example"})),
            "/api/v1/explain" => {
                Some(json!({"id": "r", "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}]}))
            }
            "/api/v1/tokens" => Some(json!({"role": "admin", "advertisers": [], "label": "m"})),
            _ => None,
        };
        for (caller, want) in [
            (Caller::Buyer, buyer),
            (Caller::Advertiser, advertiser),
            (Caller::Admin, admin),
        ] {
            let token = token_of(caller).unwrap();
            let reply = server
                .api(method.clone(), path, Some(&token), body.clone())
                .await;
            check(want, reply.status, &format!("{caller:?} {method} {path}"));
            checked += 1;
        }
        let reply = server.api(method.clone(), path, None, body.clone()).await;
        assert_eq!(reply.status, 401, "nobody {method} {path}");
    }

    // Lists never show the other advertiser's rows to the granted roles.
    for t in [&tokens.buyer, &tokens.advertiser] {
        let campaigns = server
            .api(Method::GET, "/api/v1/campaigns?limit=500", Some(t), None)
            .await
            .json();
        for c in campaigns["items"].as_array().unwrap() {
            assert_ne!(c["advertiser_id"], foreign.advertiser, "{c}");
        }
    }
    println!("{checked} route x caller x advertiser cases checked");
    server.stop().await;
}

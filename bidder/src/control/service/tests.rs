//! Tests of the service layer called directly, without HTTP: the caller is
//! a [`Principal`], inputs are drafts, answers are values or
//! [`ServiceError`]s.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use audiences::table::FunnelId;
use creative::fragment::FragmentKind;
use creative::{FixedCreative, HtmlCreative};
use openrtb::Micros;

use super::*;
use crate::control::auth::{Missing, Permission, Role};
use crate::model::{
    Advertiser, AdvertiserId, Campaign, CampaignId, CampaignStatus, Catalog, Creative, CreativeId,
    CreativeStatus, UnixTime,
};
use crate::state::StateError;
use crate::state::catalog::OnChange;

/// A catalog source that counts the changes it is told of.
#[derive(Default)]
struct Counted(AtomicUsize);

impl CatalogSource for Counted {
    fn load(&self) -> Result<Catalog, StateError> {
        Ok(Catalog::default())
    }

    fn subscribe(&self, _: OnChange) {}

    fn changed(&self) -> Result<(), StateError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// Services over an empty store with advertisers A and B, and a caller of
/// each kind: an admin, a buyer and an advertiser token granted A.
struct Fixture {
    services: Services,
    published: Arc<Counted>,
    admin: Principal,
    buyer: Principal,
    advertiser: Principal,
    a: AdvertiserId,
    b: AdvertiserId,
}

impl Fixture {
    fn new() -> Fixture {
        let store = Arc::new(Store::open_in_memory().unwrap());
        let clock: SharedClock = Arc::new(crate::state::clock::SystemClock);
        let (audience, _) =
            crate::state::audience::Audience::open(Arc::clone(&store), Arc::clone(&clock)).unwrap();
        let published = Arc::new(Counted::default());
        let services = Services::new(
            store,
            Arc::new(audience),
            Arc::clone(&published) as Arc<dyn CatalogSource>,
            Arc::new(Settings {
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
        let admin = principal(Role::Admin, &[], 1);
        let a = services
            .advertisers()
            .create(&admin, advertiser("Acme", "acme.example"))
            .unwrap()
            .id;
        let b = services
            .advertisers()
            .create(&admin, advertiser("Other", "other.example"))
            .unwrap()
            .id;
        published.0.store(0, Ordering::SeqCst);
        Fixture {
            services,
            published,
            admin,
            buyer: principal(Role::Buyer, &[a], 2),
            advertiser: principal(Role::Advertiser, &[a], 3),
            a,
            b,
        }
    }

    fn publishes(&self) -> usize {
        self.published.0.load(Ordering::SeqCst)
    }

    /// A campaign of A, created by the admin.
    fn campaign(&self) -> Campaign {
        self.services
            .campaigns()
            .create(&self.admin, campaign(self.a))
            .unwrap()
    }
}

fn principal(role: Role, advertisers: &[AdvertiserId], token_id: i64) -> Principal {
    Principal {
        role,
        advertisers: advertisers.to_vec(),
        token_id,
    }
}

fn advertiser(name: &str, domain: &str) -> Advertiser {
    Advertiser {
        id: AdvertiserId(0),
        name: name.into(),
        domain: domain.into(),
        frequency: Default::default(),
        time_zone: "UTC".into(),
        version: 0,
        created_at: UnixTime(0),
        updated_at: UnixTime(0),
    }
}

fn campaign(owner: AdvertiserId) -> Campaign {
    Campaign {
        name: "Spring sale".into(),
        total_budget_micros: Micros(10_000_000_000),
        daily_budget_micros: Micros(1_000_000_000),
        base_cpm_micros: Micros(2_500_000),
        max_cpm_micros: Micros(8_000_000),
        adomain: vec!["acme.example".into()],
        cat: vec!["IAB17".into()],
        ..Campaign::blank(owner)
    }
}

fn creative(name: &str) -> Creative {
    Creative {
        id: CreativeId(0),
        campaign_id: CampaignId(0),
        name: name.into(),
        status: CreativeStatus::Active,
        body: FixedCreative::Html(HtmlCreative {
            w: 300,
            h: 250,
            markup: "<div>hi</div>".into(),
            landing_url: None,
        }),
        version: 0,
        created_at: UnixTime(0),
        updated_at: UnixTime(0),
    }
}

fn fields(e: ServiceError) -> Vec<String> {
    match e {
        ServiceError::Invalid(f) => f.into_iter().map(|f| f.field).collect(),
        other => panic!("expected invalid fields, got {other:?}"),
    }
}

#[test]
fn a_valid_create_is_stored_and_published_once() {
    let f = Fixture::new();
    let c = f
        .services
        .campaigns()
        .create(&f.buyer, campaign(f.a))
        .unwrap();
    assert_eq!((c.advertiser_id, c.version), (f.a, 1));
    assert_eq!(f.services.campaigns().get(&f.buyer, c.id).unwrap(), c);
    assert_eq!(f.publishes(), 1);
}

#[test]
fn a_buyer_creating_a_campaign_for_an_advertiser_it_is_not_granted_is_forbidden() {
    let f = Fixture::new();
    let e = f
        .services
        .campaigns()
        .create(&f.buyer, campaign(f.b))
        .unwrap_err();
    assert!(
        matches!(e, ServiceError::Forbidden(Missing::Grant(a)) if a == f.b),
        "{e:?}"
    );
    assert_eq!(f.publishes(), 0);
    let all = f
        .services
        .campaigns()
        .list(
            &f.admin,
            CampaignFilter::default(),
            Page {
                after: 0,
                limit: 10,
            },
        )
        .unwrap();
    assert!(all.items.is_empty());
}

#[test]
fn a_role_without_the_permission_is_told_which_it_needs() {
    let f = Fixture::new();
    let e = f
        .services
        .campaigns()
        .check_create(&f.advertiser)
        .unwrap_err();
    assert!(
        matches!(
            e,
            ServiceError::Forbidden(Missing::Role {
                permission: Permission::ManageCampaigns,
                held: Role::Advertiser
            })
        ),
        "{e:?}"
    );
    let e = f.services.tokens().list(
        &f.buyer,
        Page {
            after: 0,
            limit: 10,
        },
    );
    assert!(matches!(
        e,
        Err(ServiceError::Forbidden(Missing::Role {
            permission: Permission::Administer,
            ..
        }))
    ));
}

#[test]
fn a_stale_version_names_the_expected_and_current_versions() {
    let f = Fixture::new();
    let c = f.campaign();
    let campaigns = f.services.campaigns();
    let renamed = Campaign {
        name: "Renamed".into(),
        ..c.clone()
    };
    let v2 = campaigns
        .update(&f.buyer, c.id, renamed.clone(), Some(c.version))
        .unwrap();
    assert_eq!(v2.version, 2);
    let e = campaigns
        .update(&f.buyer, c.id, renamed, Some(c.version))
        .unwrap_err();
    assert!(
        matches!(
            e,
            ServiceError::Stale {
                expected: 1,
                current: 2
            }
        ),
        "{e:?}"
    );
    assert_eq!(f.publishes(), 2, "the create and the one update");
}

#[test]
fn a_write_without_a_version_is_refused_and_changes_nothing() {
    let f = Fixture::new();
    let c = f.campaign();
    let before = f.publishes();
    let e = f
        .services
        .campaigns()
        .update(&f.admin, c.id, c.clone(), None)
        .unwrap_err();
    assert!(matches!(e, ServiceError::PreconditionRequired), "{e:?}");
    let e = f
        .services
        .campaigns()
        .delete(&f.admin, c.id, None)
        .unwrap_err();
    assert!(matches!(e, ServiceError::PreconditionRequired), "{e:?}");
    assert_eq!(f.publishes(), before);
    assert_eq!(f.services.campaigns().get(&f.admin, c.id).unwrap(), c);
}

#[test]
fn an_update_takes_the_full_draft_a_merge_patch_would_produce() {
    let f = Fixture::new();
    let current = f.campaign();
    // What a PATCH adapter does: the current row, the patch merged onto it.
    let merged = Campaign {
        status: CampaignStatus::Paused,
        ..current.clone()
    };
    let c = f
        .services
        .campaigns()
        .update(&f.buyer, current.id, merged, Some(current.version))
        .unwrap();
    assert_eq!(c.status, CampaignStatus::Paused);
    assert_eq!((c.name.as_str(), c.version), ("Spring sale", 2));
}

#[test]
fn an_invalid_draft_names_every_bad_field_and_publishes_nothing() {
    let f = Fixture::new();
    let mut draft = campaign(f.a);
    draft.name = " ".into();
    draft.base_cpm_micros = Micros(9_000_000);
    draft.targeting.countries = vec!["US".into()];
    let e = f.services.campaigns().create(&f.admin, draft).unwrap_err();
    assert_eq!(
        fields(e),
        ["name", "base_cpm_micros", "targeting.countries[0]"]
    );
    assert_eq!(f.publishes(), 0);
}

#[test]
fn checking_a_draft_finds_what_a_write_would_and_writes_nothing() {
    let f = Fixture::new();
    let mut draft = campaign(f.a);
    draft.name = " ".into();
    draft.targeting.countries = vec!["US".into()];
    let campaigns = f.services.campaigns();
    let e = campaigns.check_draft(&f.buyer, None, &draft).unwrap_err();
    assert_eq!(fields(e), ["name", "targeting.countries[0]"]);
    assert!(
        campaigns
            .check_draft(&f.buyer, None, &campaign(f.a))
            .is_ok()
    );
    assert!(matches!(
        campaigns.check_draft(&f.buyer, None, &campaign(f.b)),
        Err(ServiceError::Forbidden(_))
    ));
    assert!(matches!(
        campaigns.check_draft(&f.advertiser, None, &campaign(f.a)),
        Err(ServiceError::Forbidden(_))
    ));
    let c = f.campaign();
    assert!(campaigns.check_draft(&f.buyer, Some(c.id), &c).is_ok());
    assert!(matches!(
        campaigns.check_draft(&f.buyer, Some(CampaignId(999)), &c),
        Err(ServiceError::NotFound)
    ));
    let listed = campaigns
        .list(
            &f.admin,
            CampaignFilter::default(),
            Page {
                after: 0,
                limit: 10,
            },
        )
        .unwrap();
    assert_eq!(listed.items.len(), 1, "only the campaign created above");
    assert_eq!(f.publishes(), 1);
}

#[test]
fn a_campaigns_line_is_its_overview_row_and_scoped_like_get() {
    let f = Fixture::new();
    let c = f.campaign();
    let campaigns = f.services.campaigns();
    let line = campaigns.line(&f.advertiser, c.id).unwrap();
    let listed = campaigns
        .overview(
            &f.advertiser,
            &CampaignFilter::default(),
            Page {
                after: 0,
                limit: 10,
            },
        )
        .unwrap();
    assert_eq!(listed.items, vec![line]);
    let other = principal(Role::Buyer, &[f.b], 9);
    assert!(matches!(
        campaigns.line(&other, c.id),
        Err(ServiceError::Forbidden(_))
    ));
}

#[test]
fn only_admins_list_the_exchanges() {
    let f = Fixture::new();
    let explain = f.services.explain();
    assert_eq!(explain.exchanges(&f.admin).unwrap(), (vec![], None));
    assert!(matches!(
        explain.exchanges(&f.buyer),
        Err(ServiceError::Forbidden(_))
    ));
}

#[test]
fn moving_a_campaign_needs_the_grant_of_its_new_owner() {
    let f = Fixture::new();
    let c = f.campaign();
    let moved = Campaign {
        advertiser_id: f.b,
        ..c.clone()
    };
    let e = f
        .services
        .campaigns()
        .update(&f.buyer, c.id, moved, Some(c.version))
        .unwrap_err();
    assert!(matches!(e, ServiceError::Forbidden(Missing::Grant(b)) if b == f.b));
}

#[test]
fn a_creative_stays_in_its_campaign_whatever_its_draft_says() {
    let f = Fixture::new();
    let (one, other) = (f.campaign(), f.campaign());
    let creatives = f.services.creatives();
    let c = creatives
        .create(&f.advertiser, one.id, creative("MPU"))
        .unwrap();
    assert_eq!(c.campaign_id, one.id);
    let draft = Creative {
        campaign_id: other.id,
        name: "MPU 2".into(),
        ..c.clone()
    };
    let c2 = creatives
        .update(&f.advertiser, c.id, draft, Some(c.version))
        .unwrap();
    assert_eq!((c2.campaign_id, c2.name.as_str()), (one.id, "MPU 2"));
}

#[test]
fn reads_and_refusals_publish_nothing() {
    let f = Fixture::new();
    let c = f.campaign();
    let before = f.publishes();
    let page = Page {
        after: 0,
        limit: 10,
    };
    f.services.campaigns().get(&f.advertiser, c.id).unwrap();
    f.services
        .creatives()
        .list(&f.advertiser, c.id, page)
        .unwrap();
    f.services.advertisers().list(&f.buyer, page).unwrap();
    f.services.campaigns().budget(&f.buyer, c.id).unwrap();
    assert!(
        f.services
            .campaigns()
            .delete(&f.advertiser, c.id, Some(1))
            .is_err()
    );
    assert_eq!(f.publishes(), before);
}

#[test]
fn lists_page_with_a_cursor_and_scope_to_grants() {
    let f = Fixture::new();
    let advertisers = f.services.advertisers();
    let first = advertisers
        .list(&f.admin, Page { after: 0, limit: 1 })
        .unwrap();
    assert_eq!(first.items.len(), 1);
    assert_eq!(first.next_after, Some(f.a.0));
    let rest = advertisers
        .list(
            &f.admin,
            Page {
                after: f.a.0,
                limit: 1,
            },
        )
        .unwrap();
    assert_eq!((rest.items[0].id, rest.next_after), (f.b, None));
    let mine = advertisers
        .list(
            &f.buyer,
            Page {
                after: 0,
                limit: 10,
            },
        )
        .unwrap();
    assert_eq!(mine.items.iter().map(|a| a.id).collect::<Vec<_>>(), [f.a]);
}

#[test]
fn a_missing_row_is_not_found_and_another_advertisers_is_forbidden() {
    let f = Fixture::new();
    let theirs = f
        .services
        .campaigns()
        .create(&f.admin, campaign(f.b))
        .unwrap();
    assert!(matches!(
        f.services.campaigns().get(&f.buyer, CampaignId(999)),
        Err(ServiceError::NotFound)
    ));
    assert!(matches!(
        f.services.campaigns().get(&f.buyer, theirs.id),
        Err(ServiceError::Forbidden(Missing::Grant(_)))
    ));
}

#[test]
fn an_advertiser_with_campaigns_is_a_conflict_to_delete() {
    let f = Fixture::new();
    f.campaign();
    let e = f
        .services
        .advertisers()
        .delete(&f.admin, f.a, Some(1))
        .unwrap_err();
    assert!(matches!(e, ServiceError::Conflict(_)), "{e:?}");
}

#[test]
fn a_funnel_cannot_move_to_another_advertiser() {
    let f = Fixture::new();
    let funnels = f.services.funnels();
    let draft = FunnelDraft {
        advertiser_id: f.a,
        name: "Shoppers".into(),
        stage_names: None,
        moves: Default::default(),
    };
    let view = funnels.create(&f.buyer, draft.clone()).unwrap();
    assert_eq!(view.stages.len(), 6);
    let moved = FunnelDraft {
        advertiser_id: f.b,
        ..draft
    };
    let e = funnels
        .update(&f.admin, view.funnel.id, moved, Some(view.funnel.version))
        .unwrap_err();
    assert_eq!(fields(e), ["advertiser_id"]);
    assert!(matches!(
        funnels.get(&f.buyer, FunnelId(999)),
        Err(ServiceError::NotFound)
    ));
}

#[test]
fn a_fragment_keeps_its_owner_set_and_kind_and_a_rejection_needs_a_reason() {
    let f = Fixture::new();
    let fragments = f.services.fragments();
    let body = crate::control::demo::acme_fragments("https://bidder.test")
        .into_iter()
        .find(|b| b.kind() == FragmentKind::Message)
        .unwrap();
    let draft = FragmentDraft {
        advertiser_id: f.a,
        set: "spring".into(),
        body,
    };
    let frag = fragments.create(&f.advertiser, &draft).unwrap();
    assert_eq!(f.publishes(), 0, "a pending fragment serves nothing");
    let changed = FragmentHead {
        kind: FragmentKind::Tone,
        set: "autumn".into(),
        ..draft.head()
    };
    let e = fragments
        .check_edit(&f.advertiser, frag.id, &changed, Some(frag.version))
        .unwrap_err();
    assert_eq!(fields(e), ["set", "kind"]);
    let e = fragments
        .review(&f.advertiser, frag.id, &Verdict::Approve, Some(1))
        .unwrap_err();
    assert!(matches!(e, ServiceError::Forbidden(Missing::Role { .. })));
    let e = fragments
        .review(&f.buyer, frag.id, &Verdict::Reject(" ".into()), Some(1))
        .unwrap_err();
    assert_eq!(fields(e), ["reason"]);
    let approved = fragments
        .review(&f.buyer, frag.id, &Verdict::Approve, Some(1))
        .unwrap();
    assert_eq!(approved.serving_version, Some(1));
    assert_eq!(f.publishes(), 1);
    let log = fragments.history(&f.advertiser, frag.id).unwrap();
    assert_eq!(
        log.iter()
            .map(|r| (r.token_id, r.role.as_str()))
            .collect::<Vec<_>>(),
        [(3, "advertiser"), (2, "buyer")]
    );
}

#[test]
fn a_set_holds_at_most_twenty_fragments_of_a_kind() {
    let f = Fixture::new();
    let fragments = f.services.fragments();
    let body = crate::control::demo::acme_fragments("https://bidder.test")
        .into_iter()
        .find(|b| b.kind() == FragmentKind::Message)
        .unwrap();
    let draft = |set: &str| FragmentDraft {
        advertiser_id: f.a,
        set: set.into(),
        body: body.clone(),
    };
    for _ in 0..super::fragments::MAX_PER_SET {
        fragments.create(&f.advertiser, &draft("spring")).unwrap();
    }
    let e = fragments
        .create(&f.advertiser, &draft("spring"))
        .unwrap_err();
    assert_eq!(fields(e), ["set"]);
    // Another set, or another kind, has its own room.
    fragments.create(&f.advertiser, &draft("autumn")).unwrap();
}

#[test]
fn token_grants_must_fit_the_role_and_exist() {
    let f = Fixture::new();
    let tokens = f.services.tokens();
    let e = tokens
        .create(
            &f.admin,
            &NewToken {
                role: Role::Advertiser,
                advertisers: vec![f.a, AdvertiserId(999)],
                label: String::new(),
            },
        )
        .unwrap_err();
    assert_eq!(fields(e), ["advertisers", "advertisers[1]"]);
    let issued = tokens
        .create(
            &f.admin,
            &NewToken {
                role: Role::Buyer,
                advertisers: vec![f.a, f.b],
                label: "agency".into(),
            },
        )
        .unwrap();
    assert!(issued.secret.starts_with("bdr_"));
    tokens.revoke(&f.admin, issued.id).unwrap();
    assert!(matches!(
        tokens.revoke(&f.admin, 999),
        Err(ServiceError::NotFound)
    ));
}

#[test]
fn one_click_in_one_impression_reports_a_rate_inside_its_interval() {
    use audiences::Stage;
    use creative::assembly::ComboKey;
    let f = Fixture::new();
    let c = f.campaign();
    let stats = crate::model::ComboStats {
        campaign_id: c.id,
        stage: Stage::Unaware,
        combination: ComboKey::parse("m1-c2-t3").unwrap(),
        impressions: 1,
        clicks: 1,
        conversions: 1,
    };
    f.services
        .fragments()
        .add_reactions(&f.admin, &stats)
        .unwrap();
    let report = f.services.fragments().combinations(&f.admin, c.id).unwrap();
    assert_eq!(report.method, RATE_METHOD);
    let row = &report.combinations[0];
    assert_eq!((row.impressions, row.clicks), (1, 1));
    assert!(row.ctr_low <= row.ctr && row.ctr <= row.ctr_high, "{row:?}");
    assert!(row.cvr_low <= row.cvr && row.cvr <= row.cvr_high, "{row:?}");
    assert!(
        row.ctr < 1.0,
        "the estimate is not the observed ratio: {row:?}"
    );
    for r in &report.fragments {
        assert!(r.ctr_low <= r.ctr && r.ctr <= r.ctr_high, "{r:?}");
    }
}

//! Who the user of one request is to each advertiser: whether consent
//! allows looking (and if not, why), and the user's stage in every funnel
//! found under the request's user keys.
//!
//! Reads the audience table snapshot only: never blocks, never allocates
//! for up to eight funnels. Keys are tried in their fixed priority
//! (buyeruid, eids, IFA, user.id); for a funnel the first key that has an
//! entry decides the stage.

use audiences::Stage;
use audiences::consent::{Contextual, Signals, personalization};
use audiences::keys::{KeyHasher, UserKey};
use audiences::table::{FunnelId, Shards};
use openrtb::BidRequest;
use smallvec::SmallVec;

/// The request's user, as the decision sees it.
#[derive(Debug, Clone)]
pub struct UserView {
    /// `Ok` when personalization is allowed, else why not.
    pub personalization: Result<(), Contextual>,
    /// The user's key (the highest-priority identifier in the request),
    /// only when personalization is allowed: per-user counting and funnel
    /// moves follow it.
    pub key: Option<UserKey>,
    stages: SmallVec<[(FunnelId, Stage); 8]>,
}

impl UserView {
    /// A user of unknown stage in every funnel, for `reason`.
    pub fn unknown(personalization: Result<(), Contextual>) -> UserView {
        UserView {
            personalization,
            key: None,
            stages: SmallVec::new(),
        }
    }

    /// Decides consent for `req` and, when it allows and `look_up` (some
    /// campaign targets a funnel), finds the user's stages in `table`.
    /// Without a TCF vendor id GDPR users are never personalized.
    pub fn resolve(
        req: &BidRequest<'_>,
        table: &Shards,
        hasher: &KeyHasher,
        tcf_vendor_id: Option<u16>,
        look_up: bool,
        now: u32,
    ) -> UserView {
        // Vendor ids start at 1: 0 has nobody's consent.
        let verdict = personalization(&Signals::of(req), tcf_vendor_id.unwrap_or(0));
        let mut view = UserView::unknown(verdict);
        if verdict.is_err() {
            return view;
        }
        let keys = hasher.request_keys(req);
        view.key = keys.first().copied();
        if !look_up {
            return view;
        }
        for key in keys {
            for e in table.lookup(key, now) {
                if !view.stages.iter().any(|(f, _)| *f == e.funnel) {
                    view.stages.push((e.funnel, e.stage));
                }
            }
        }
        view
    }

    /// The user's stage in `funnel`, if known.
    pub fn stage(&self, funnel: FunnelId) -> Option<Stage> {
        self.stages
            .iter()
            .find(|(f, _)| *f == funnel)
            .map(|(_, s)| *s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audiences::keys::KeyType;
    use audiences::table::{Change, Entry, Table};

    fn table_with(hasher: &KeyHasher, changes: &[(KeyType, &str, u32, Stage)]) -> Table {
        let t = Table::new();
        let batch: Vec<Change> = changes
            .iter()
            .map(|&(kind, id, funnel, stage)| Change::Upsert {
                key: hasher.key(kind, "", id).unwrap(),
                entry: Entry {
                    funnel: FunnelId(funnel),
                    stage,
                    updated: 1,
                    expires: 0,
                },
            })
            .collect();
        t.apply(&[], &batch, 1);
        t
    }

    fn request(extra: &str) -> Vec<u8> {
        format!(
            r#"{{"id":"r","imp":[{{"id":"1","banner":{{}}}}],"user":{{"buyeruid":"b1","id":"x1"}}{extra}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn the_highest_priority_key_decides_each_funnel() {
        let h = KeyHasher::new([7; 16]);
        let t = table_with(
            &h,
            &[
                (KeyType::UserId, "x1", 1, Stage::Awareness),
                (KeyType::BuyerUid, "b1", 1, Stage::Intent),
                (KeyType::UserId, "x1", 2, Stage::Loyal),
            ],
        );
        let bytes = request("");
        let mut p = openrtb::Parser::new();
        let req = p.parse(&bytes).unwrap();
        let v = UserView::resolve(&req, &t.snapshot(), &h, Some(1), true, 1);
        assert_eq!(v.personalization, Ok(()));
        assert_eq!(v.stage(FunnelId(1)), Some(Stage::Intent));
        assert_eq!(v.stage(FunnelId(2)), Some(Stage::Loyal));
        assert_eq!(v.stage(FunnelId(3)), None);
    }

    #[test]
    fn without_consent_no_stage_is_looked_up() {
        let h = KeyHasher::new([7; 16]);
        let t = table_with(&h, &[(KeyType::BuyerUid, "b1", 1, Stage::Intent)]);
        for (extra, reason) in [
            (r#","regs":{"coppa":1}"#, Contextual::Coppa),
            (r#","regs":{"gdpr":1}"#, Contextual::GdprNoConsentString),
            (
                r#","regs":{"us_privacy":"1YYN"}"#,
                Contextual::UsPrivacyOptOut,
            ),
        ] {
            let bytes = request(extra);
            let mut p = openrtb::Parser::new();
            let req = p.parse(&bytes).unwrap();
            let v = UserView::resolve(&req, &t.snapshot(), &h, Some(1), true, 1);
            assert_eq!(v.personalization, Err(reason), "{extra}");
            assert_eq!(v.stage(FunnelId(1)), None, "{extra}");
        }
    }
}

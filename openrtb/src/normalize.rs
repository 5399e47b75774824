//! One place where OpenRTB 2.5 spellings become 2.6 ones, so the rest of the
//! bidder reads a single model: `regs.ext.{gdpr,us_privacy,gpp,gpp_sid}`,
//! `user.ext.{consent,eids}` and `source.ext.schain` move to their 2.6
//! fields. When both spellings are present the 2.6 field wins: it is the
//! one a 2.6 exchange fills deliberately. Native assets (and event
//! trackers) sent directly in `imp.native` move into a `request` without
//! any, where the Native spec has them.

use crate::request::BidRequest;

/// Moves 2.5 extension fields into their 2.6 places and drops the emptied
/// extension structs. Moves, never copies: strings keep borrowing the
/// request buffer.
pub fn normalize(req: &mut BidRequest<'_>) {
    if let Some(regs) = req.regs.as_mut()
        && let Some(ext) = regs.ext.take()
    {
        regs.gdpr = regs.gdpr.or(ext.gdpr);
        if regs.us_privacy.is_none() {
            regs.us_privacy = ext.us_privacy;
        }
        if regs.gpp.is_none() {
            regs.gpp = ext.gpp;
        }
        if regs.gpp_sid.is_empty() {
            regs.gpp_sid = ext.gpp_sid;
        }
    }
    if let Some(user) = req.user.as_mut()
        && let Some(ext) = user.ext.take()
    {
        if user.consent.is_none() {
            user.consent = ext.consent;
        }
        if user.eids.is_empty() {
            user.eids = ext.eids;
        }
    }
    if let Some(source) = req.source.as_mut()
        && let Some(ext) = source.ext.take()
        && source.schain.is_none()
    {
        source.schain = ext.schain;
    }
    for imp in &mut req.imp {
        if let Some(native) = imp.native.as_mut()
            && !native.assets.is_empty()
            && native.request.assets.is_empty()
        {
            native.request.assets = std::mem::take(&mut native.assets);
            if native.request.eventtrackers.is_empty() {
                native.request.eventtrackers = std::mem::take(&mut native.eventtrackers);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> BidRequest<'static> {
        let bytes: &'static mut [u8] = Box::leak(json.as_bytes().to_vec().into_boxed_slice());
        let mut req: BidRequest<'static> = simd_json::serde::from_slice(bytes).unwrap();
        normalize(&mut req);
        req
    }

    #[test]
    fn openrtb_25_consent_fields_move_to_their_26_places() {
        let req = parse(
            r#"{"id":"1","imp":[],
                "regs":{"ext":{"gdpr":1,"us_privacy":"1YNN","gpp":"DBA","gpp_sid":[2]}},
                "user":{"ext":{"consent":"CPabc","eids":[{"source":"uidapi.com","uids":[{"id":"u"}]}]}},
                "source":{"ext":{"schain":{"complete":1,"nodes":[{"asi":"a.com","sid":"1"}]}}}}"#,
        );
        let regs = req.regs.as_ref().unwrap();
        assert_eq!(regs.gdpr, Some(1));
        assert_eq!(regs.us_privacy.as_deref(), Some("1YNN"));
        assert_eq!(regs.gpp.as_deref(), Some("DBA"));
        assert_eq!(regs.gpp_sid, [2]);
        assert!(regs.ext.is_none());
        let user = req.user.as_ref().unwrap();
        assert_eq!(user.consent.as_deref(), Some("CPabc"));
        assert_eq!(user.eids.len(), 1);
        let schain = req.source.as_ref().unwrap().schain.as_ref().unwrap();
        assert_eq!(schain.nodes[0].asi, "a.com");
    }

    #[test]
    fn the_26_field_wins_when_both_spellings_are_present() {
        let req = parse(
            r#"{"id":"1","imp":[],"regs":{"gdpr":0,"ext":{"gdpr":1}},
                "user":{"consent":"NEW","ext":{"consent":"OLD"}}}"#,
        );
        assert_eq!(req.regs.as_ref().unwrap().gdpr, Some(0));
        assert_eq!(req.user.as_ref().unwrap().consent.as_deref(), Some("NEW"));
    }
}

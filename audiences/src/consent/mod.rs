//! Whether a bid request allows personalization (stage lookup, per-user
//! caps, funnel moves), from its privacy signals: COPPA, limit-ad-tracking,
//! GDPR with an IAB TCF v2.2 TC string, the US Privacy string, and the
//! US National section of a GPP string.
//!
//! Pure and cheap: decides from the request's strings without I/O, and
//! never fails: a malformed signal means "no consent", never an error, so
//! the bidder falls back to contextual bidding.

pub mod bits;
pub mod gpp;
pub mod tc_writer;
pub mod tcf;
pub mod usp;

use tcf::{Restriction, TcString};
use usp::UsPrivacy;

/// The privacy signals of one request (2.6 fields; the parser has already
/// moved the 2.5 `ext` spellings there).
#[derive(Debug, Clone, Copy, Default)]
pub struct Signals<'a> {
    /// `regs.gdpr`.
    pub gdpr: Option<u8>,
    /// `user.consent`, the TC string.
    pub tc_string: Option<&'a str>,
    /// `regs.us_privacy`.
    pub us_privacy: Option<&'a str>,
    /// `regs.coppa == 1`.
    pub coppa: bool,
    /// `device.lmt == 1`.
    pub lmt: bool,
    /// `regs.gpp`.
    pub gpp: Option<&'a str>,
    /// `regs.gpp_sid`: the sections of `gpp` that apply.
    pub gpp_sid: &'a [u32],
}

impl<'a> Signals<'a> {
    /// The signals of `req` (after normalisation, so 2.5 `ext` spellings
    /// are already in their 2.6 places).
    pub fn of(req: &'a openrtb::BidRequest<'a>) -> Signals<'a> {
        let regs = req.regs.as_ref();
        Signals {
            gdpr: regs.and_then(|r| r.gdpr),
            tc_string: req.user.as_ref().and_then(|u| u.consent.as_deref()),
            us_privacy: regs.and_then(|r| r.us_privacy.as_deref()),
            coppa: regs.and_then(|r| r.coppa) == Some(1),
            lmt: req.device.as_ref().and_then(|d| d.lmt) == Some(1),
            gpp: regs.and_then(|r| r.gpp.as_deref()),
            gpp_sid: regs.map(|r| r.gpp_sid.as_slice()).unwrap_or_default(),
        }
    }
}

/// Why a request is not personalized; one counter per reason in
/// `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contextual {
    /// Child-directed (COPPA).
    Coppa,
    /// The device limits ad tracking.
    LimitAdTracking,
    /// GDPR applies and there is no TC string.
    GdprNoConsentString,
    /// GDPR applies and the TC string does not decode.
    GdprMalformed,
    /// Purpose 1, 3 or 4 lacks consent.
    GdprPurpose,
    /// Our vendor id lacks consent.
    GdprVendor,
    /// The publisher does not allow purpose 1, 3 or 4 for us.
    GdprRestricted,
    /// The user opted out of sale (US Privacy).
    UsPrivacyOptOut,
    /// The GPP US National section says the user opted out of sale,
    /// sharing or targeted advertising (or is a child without consent).
    GppUsOptOut,
    /// `gpp_sid` names the US National section and the GPP string does not
    /// decode or lacks it.
    GppMalformed,
}

impl Contextual {
    /// Every reason, in a stable order.
    pub const ALL: [Contextual; 10] = [
        Contextual::Coppa,
        Contextual::LimitAdTracking,
        Contextual::GdprNoConsentString,
        Contextual::GdprMalformed,
        Contextual::GdprPurpose,
        Contextual::GdprVendor,
        Contextual::GdprRestricted,
        Contextual::UsPrivacyOptOut,
        Contextual::GppUsOptOut,
        Contextual::GppMalformed,
    ];

    /// Stable snake_case name (a metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            Contextual::Coppa => "coppa",
            Contextual::LimitAdTracking => "limit_ad_tracking",
            Contextual::GdprNoConsentString => "gdpr_no_consent_string",
            Contextual::GdprMalformed => "gdpr_malformed",
            Contextual::GdprPurpose => "gdpr_purpose",
            Contextual::GdprVendor => "gdpr_vendor",
            Contextual::GdprRestricted => "gdpr_restricted",
            Contextual::UsPrivacyOptOut => "us_privacy_opt_out",
            Contextual::GppUsOptOut => "gpp_us_opt_out",
            Contextual::GppMalformed => "gpp_malformed",
        }
    }
}

/// The TCF purposes personalization needs: 1 (store and access
/// information on a device), 3 (create a personalised ads profile), 4 (use
/// a profile to select personalised ads).
pub const REQUIRED_PURPOSES: [u8; 3] = [1, 3, 4];

/// Decides whether `signals` allow personalization for TCF vendor
/// `vendor_id`.
pub fn personalization(signals: &Signals<'_>, vendor_id: u16) -> Result<(), Contextual> {
    if signals.coppa {
        return Err(Contextual::Coppa);
    }
    if signals.lmt {
        return Err(Contextual::LimitAdTracking);
    }
    if signals.gdpr == Some(1) {
        let text = signals
            .tc_string
            .filter(|s| !s.is_empty())
            .ok_or(Contextual::GdprNoConsentString)?;
        let tc = TcString::decode(text).map_err(|_| Contextual::GdprMalformed)?;
        if !REQUIRED_PURPOSES.iter().all(|p| tc.purpose_consent(*p)) {
            return Err(Contextual::GdprPurpose);
        }
        if !tc.vendor_consent(vendor_id) {
            return Err(Contextual::GdprVendor);
        }
        if REQUIRED_PURPOSES
            .iter()
            .any(|p| matches!(tc.restriction(*p, vendor_id), Some(Restriction::NotAllowed)))
        {
            return Err(Contextual::GdprRestricted);
        }
    }
    if signals.us_privacy.map(usp::parse) == Some(UsPrivacy::OptedOut) {
        return Err(Contextual::UsPrivacyOptOut);
    }
    if signals.gpp_sid.contains(&gpp::US_NATIONAL) {
        match signals.gpp.map(gpp::us_national) {
            Some(Ok(Some(gpp::UsNational::Allowed))) => {}
            Some(Ok(Some(gpp::UsNational::OptedOut))) => return Err(Contextual::GppUsOptOut),
            _ => return Err(Contextual::GppMalformed),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Purposes 3-9 consented; vendors 23, 37, 47, 48, 53, 65, 98 (IAB
    /// reference string): no purpose 1.
    const NO_PURPOSE_1: &str =
        "COrEAV4OrXx94ACABBENAHCIAD-AAAAAAACAAxAAAAgAIAwgAgAAAAEAgQAAAAAEAYQAQAAAACAAAABAAA";

    fn gdpr(tc: &str) -> Signals<'_> {
        Signals {
            gdpr: Some(1),
            tc_string: Some(tc),
            ..Signals::default()
        }
    }

    #[test]
    fn no_regulation_allows_personalization() {
        assert_eq!(personalization(&Signals::default(), 1), Ok(()));
    }

    #[test]
    fn coppa_and_lmt_never_personalize() {
        let s = Signals {
            coppa: true,
            ..Signals::default()
        };
        assert_eq!(personalization(&s, 1), Err(Contextual::Coppa));
        let s = Signals {
            lmt: true,
            ..Signals::default()
        };
        assert_eq!(personalization(&s, 1), Err(Contextual::LimitAdTracking));
    }

    #[test]
    fn gdpr_without_or_with_a_broken_string_is_contextual() {
        let s = Signals {
            gdpr: Some(1),
            ..Signals::default()
        };
        assert_eq!(personalization(&s, 1), Err(Contextual::GdprNoConsentString));
        assert_eq!(
            personalization(&gdpr("garbage!!"), 1),
            Err(Contextual::GdprMalformed)
        );
    }

    #[test]
    fn gdpr_needs_purposes_1_3_4() {
        assert_eq!(
            personalization(&gdpr(NO_PURPOSE_1), 23),
            Err(Contextual::GdprPurpose)
        );
    }

    /// A TC string with purposes 1, 3 and 4 consented and vendor 10 (of
    /// 10) consented; with `restrict`, the publisher disallows purpose 3 for
    /// vendor 10.
    fn consenting(restrict: bool) -> String {
        let mut bits = String::from("000010");
        bits.push_str(&"0".repeat(152 - 6));
        bits.push_str(&format!("1011{}", "0".repeat(20))); // purposes consent
        bits.push_str(&"0".repeat(213 - 176));
        bits.push_str("0000000000001010"); // max vendor id 10
        bits.push('0');
        bits.push_str("0000000001"); // vendor 10
        bits.push_str(&"0".repeat(17)); // no legitimate interest
        if restrict {
            bits.push_str("000000000001");
            // purpose 3, not allowed, one entry: vendor 10
            bits.push_str(&format!(
                "{}{}{}{}{}",
                "000011", "00", "000000000001", "0", "0000000000001010"
            ));
        } else {
            bits.push_str("000000000000");
        }
        bits::from_bit_text(&bits)
    }

    #[test]
    fn gdpr_with_purposes_and_vendor_consent_personalizes() {
        let tc = consenting(false);
        assert_eq!(personalization(&gdpr(&tc), 10), Ok(()));
        assert_eq!(personalization(&gdpr(&tc), 9), Err(Contextual::GdprVendor));
        let restricted = consenting(true);
        assert_eq!(
            personalization(&gdpr(&restricted), 10),
            Err(Contextual::GdprRestricted)
        );
    }

    #[test]
    fn gdpr_zero_means_the_string_is_not_needed() {
        let s = Signals {
            gdpr: Some(0),
            tc_string: Some("garbage"),
            ..Signals::default()
        };
        assert_eq!(personalization(&s, 1), Ok(()));
    }

    #[test]
    fn us_privacy_opt_out_is_contextual() {
        let s = Signals {
            us_privacy: Some("1YYN"),
            ..Signals::default()
        };
        assert_eq!(personalization(&s, 1), Err(Contextual::UsPrivacyOptOut));
        let s = Signals {
            us_privacy: Some("1YNN"),
            ..Signals::default()
        };
        assert_eq!(personalization(&s, 1), Ok(()));
    }

    #[test]
    fn gpp_us_national_opt_outs_and_broken_strings_stop_personalization() {
        fn with(gpp: &str) -> Signals<'_> {
            Signals {
                gpp: Some(gpp),
                gpp_sid: &[7],
                ..Signals::default()
            }
        }
        assert_eq!(personalization(&with("DBABLA~BVQqAAAAAgA.QA"), 1), Ok(()));
        // Sale opted out (01) in the same string.
        let opted_out = format!(
            "DBABLA~{}",
            bits::from_bit_text(&format!(
                "000001{}011010{}",
                "01".repeat(6),
                "00".repeat(19)
            ))
        );
        assert_eq!(
            personalization(&with(&opted_out), 1),
            Err(Contextual::GppUsOptOut)
        );
        assert_eq!(
            personalization(
                &with("DBACNY~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA~1YNN"),
                1
            ),
            Err(Contextual::GppMalformed)
        );
        // Not listed in gpp_sid: the section does not apply.
        let unlisted = Signals {
            gpp: Some(&opted_out),
            gpp_sid: &[],
            ..Signals::default()
        };
        assert_eq!(personalization(&unlisted, 1), Ok(()));
    }
}

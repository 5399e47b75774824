//! Any text as a TCF v2 TC string, a US privacy string and a GPP string:
//! each decoder answers or refuses, never panics, and every question asked
//! of a decoded TC string (purposes, vendors, restrictions) is answerable.
#![no_main]

use audiences::consent::{gpp, tcf::TcString, usp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(tc) = TcString::decode(text) {
        for p in 0..=24 {
            let _ = (
                tc.purpose_consent(p),
                tc.purpose_li(p),
                tc.special_feature(p),
            );
            for v in [0u16, 1, 2, 755, 1234, u16::MAX] {
                let _ = (tc.vendor_consent(v), tc.vendor_li(v), tc.restriction(p, v));
            }
        }
        for v in tc.vendor_consents() {
            assert!(tc.vendor_consent(v));
        }
    }
    let _ = usp::parse(text);
    let _ = gpp::us_national(text);
});

//! Writes IAB TCF v2.2 TC strings (core segment only) for generated
//! traffic: which purposes are consented and which vendors have consent.
//! The bidder's decoder is tested against IAB's own strings; this writer
//! only has to produce what a CMP would, so the generator can mix consent
//! that allows personalization with consent that does not.

/// A core segment's content that matters to a bidder.
pub struct CoreSegment<'a> {
    /// Deciseconds since the epoch (`Created` and `LastUpdated`).
    pub created: u64,
    /// Purposes 1..=24 with consent.
    pub purposes: &'a [u8],
    /// Vendor ids with consent (any order).
    pub vendors: &'a [u16],
}

/// The TC string of `core`: version 2, policy version 4 (TCF v2.2), the
/// vendor consents as a bit field.
pub fn encode(core: &CoreSegment<'_>) -> String {
    let mut w = Bits::default();
    w.put(2, 6); // Version
    w.put(core.created, 36); // Created
    w.put(core.created, 36); // LastUpdated
    w.put(7, 12); // CmpId
    w.put(1, 12); // CmpVersion
    w.put(1, 6); // ConsentScreen
    for c in *b"EN" {
        w.put(u64::from(c - b'A'), 6); // ConsentLanguage
    }
    w.put(150, 12); // VendorListVersion
    w.put(4, 6); // TcfPolicyVersion
    w.put(1, 1); // IsServiceSpecific
    w.put(0, 1); // UseNonStandardTexts
    w.put(0, 12); // SpecialFeatureOptIns
    let mut purposes = 0u64;
    for &p in core.purposes {
        if (1..=24).contains(&p) {
            purposes |= 1 << (24 - p);
        }
    }
    w.put(purposes, 24); // PurposesConsent
    w.put(0, 24); // PurposesLITransparency
    w.put(0, 1); // PurposeOneTreatment
    for c in *b"AA" {
        w.put(u64::from(c - b'A'), 6); // PublisherCC
    }
    let max = core.vendors.iter().copied().max().unwrap_or(0);
    w.put(u64::from(max), 16); // MaxVendorId (consent)
    w.put(0, 1); // IsRangeEncoding: bit field
    for id in 1..=max {
        w.put(u64::from(core.vendors.contains(&id)), 1);
    }
    w.put(0, 16); // MaxVendorId (legitimate interest): none
    w.put(0, 1);
    w.put(0, 12); // NumPubRestrictions
    w.base64url()
}

/// Bits written most significant first.
#[derive(Default)]
struct Bits {
    bytes: Vec<u8>,
    len: usize,
}

impl Bits {
    fn put(&mut self, value: u64, width: u32) {
        for i in (0..width).rev() {
            if self.len.is_multiple_of(8) {
                self.bytes.push(0);
            }
            if value >> i & 1 == 1 {
                let last = self.bytes.len() - 1;
                self.bytes[last] |= 0x80 >> (self.len % 8);
            }
            self.len += 1;
        }
    }

    /// Unpadded base64url, as TC strings are written.
    fn base64url(&self) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::with_capacity(self.len.div_ceil(6));
        for i in 0..self.len.div_ceil(6) {
            let mut v = 0;
            for b in 0..6 {
                let bit = i * 6 + b;
                let set = bit < self.len && self.bytes[bit / 8] & (0x80 >> (bit % 8)) != 0;
                v = v << 1 | usize::from(set);
            }
            out.push(ALPHABET[v] as char);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audiences::consent::tcf::TcString;

    #[test]
    fn the_bidders_decoder_reads_back_purposes_and_vendors() {
        let s = encode(&CoreSegment {
            created: 17_000_000_000,
            purposes: &[1, 3, 4],
            vendors: &[10, 755],
        });
        assert!(!s.contains(['=', '+', '/']), "{s}");
        let tc = TcString::decode(&s).unwrap();
        assert_eq!(tc.created, 17_000_000_000);
        assert_eq!(tc.policy_version, 4);
        for p in 1..=10 {
            assert_eq!(tc.purpose_consent(p), [1, 3, 4].contains(&p), "purpose {p}");
        }
        assert_eq!(tc.vendor_consents(), [10, 755]);
        assert!(!tc.vendor_li(10));
    }

    #[test]
    fn no_vendors_is_a_valid_string_that_consents_to_none() {
        let s = encode(&CoreSegment {
            created: 1,
            purposes: &[],
            vendors: &[],
        });
        let tc = TcString::decode(&s).unwrap();
        assert!(tc.vendor_consents().is_empty());
        assert!(!tc.purpose_consent(1));
    }
}

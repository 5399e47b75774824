//! Writes IAB TCF v2.2 TC strings (the core segment), every field the
//! decoder in [`super::tcf`] reads: for tools that need consent like a CMP
//! writes it (the load generator's traffic) and for the property tests that
//! hold the decoder to the writer.
//!
//! Vendor sections come out as a bit field or as ranges, as asked; both are
//! what CMPs send. Never used on the bid path.

use super::tcf::Restriction;

/// A core segment's content, in the spec's terms and field order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreSegment {
    /// Deciseconds since the epoch.
    pub created: u64,
    /// Deciseconds since the epoch.
    pub last_updated: u64,
    /// CMP id.
    pub cmp_id: u16,
    /// CMP version.
    pub cmp_version: u16,
    /// Screen number.
    pub consent_screen: u8,
    /// Two uppercase letters.
    pub consent_language: [u8; 2],
    /// Global vendor list version.
    pub vendor_list_version: u16,
    /// 4 for TCF v2.2.
    pub policy_version: u8,
    /// Service-specific storage.
    pub is_service_specific: bool,
    /// Non-standard stack texts.
    pub use_non_standard_texts: bool,
    /// Special features opted in, 1..=12.
    pub special_features: Vec<u8>,
    /// Purposes with consent, 1..=24.
    pub purposes_consent: Vec<u8>,
    /// Purposes under legitimate interest, 1..=24.
    pub purposes_li: Vec<u8>,
    /// Purpose one treatment.
    pub purpose_one_treatment: bool,
    /// Two uppercase letters.
    pub publisher_cc: [u8; 2],
    /// Vendors with consent (any order, ids from 1).
    pub vendor_consents: Vec<u16>,
    /// Vendors with legitimate interest.
    pub vendor_lis: Vec<u16>,
    /// Write vendor sections as ranges instead of bit fields.
    pub ranges: bool,
    /// Publisher restrictions: purpose, type, vendors.
    pub restrictions: Vec<(u8, Restriction, Vec<u16>)>,
}

impl Default for CoreSegment {
    fn default() -> Self {
        CoreSegment {
            created: 17_000_000_000,
            last_updated: 17_000_000_000,
            cmp_id: 7,
            cmp_version: 1,
            consent_screen: 1,
            consent_language: *b"EN",
            vendor_list_version: 150,
            policy_version: 4,
            is_service_specific: true,
            use_non_standard_texts: false,
            special_features: Vec::new(),
            purposes_consent: Vec::new(),
            purposes_li: Vec::new(),
            purpose_one_treatment: false,
            publisher_cc: *b"AA",
            vendor_consents: Vec::new(),
            vendor_lis: Vec::new(),
            ranges: false,
            restrictions: Vec::new(),
        }
    }
}

impl CoreSegment {
    /// The TC string: version 2, unpadded base64url.
    pub fn encode(&self) -> String {
        let mut w = Bits::default();
        w.put(2, 6);
        w.put(self.created, 36);
        w.put(self.last_updated, 36);
        w.put(self.cmp_id.into(), 12);
        w.put(self.cmp_version.into(), 12);
        w.put(self.consent_screen.into(), 6);
        w.letters(self.consent_language);
        w.put(self.vendor_list_version.into(), 12);
        w.put(self.policy_version.into(), 6);
        w.put(self.is_service_specific.into(), 1);
        w.put(self.use_non_standard_texts.into(), 1);
        w.field(&self.special_features, 12);
        w.field(&self.purposes_consent, 24);
        w.field(&self.purposes_li, 24);
        w.put(self.purpose_one_treatment.into(), 1);
        w.letters(self.publisher_cc);
        w.vendors(&self.vendor_consents, self.ranges);
        w.vendors(&self.vendor_lis, self.ranges);
        w.put(self.restrictions.len() as u64, 12);
        for (purpose, kind, vendors) in &self.restrictions {
            w.put((*purpose).into(), 6);
            let kind = match kind {
                Restriction::NotAllowed => 0,
                Restriction::RequireConsent => 1,
                Restriction::RequireLegitimateInterest => 2,
                Restriction::Undefined => 3,
            };
            w.put(kind, 2);
            w.ranges(vendors);
        }
        w.base64url()
    }
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

    /// Two letters, 6 bits each, A = 0.
    fn letters(&mut self, two: [u8; 2]) {
        for c in two {
            self.put(u64::from(c.saturating_sub(b'A') & 0x3f), 6);
        }
    }

    /// A fixed-width bit field where item `i` (from 1) is the `i`-th bit.
    fn field(&mut self, items: &[u8], width: u32) {
        let mut v = 0u64;
        for &i in items {
            if (1..=width).contains(&u32::from(i)) {
                v |= 1 << (width - u32::from(i));
            }
        }
        self.put(v, width);
    }

    /// A vendor section: MaxVendorId, then a bit field or ranges.
    fn vendors(&mut self, ids: &[u16], ranges: bool) {
        let max = ids.iter().copied().max().unwrap_or(0);
        self.put(max.into(), 16);
        self.put(ranges.into(), 1);
        if ranges {
            self.ranges(ids);
        } else {
            for id in 1..=max {
                self.put(ids.contains(&id).into(), 1);
            }
        }
    }

    /// NumEntries, then each run of consecutive ids as one entry.
    fn ranges(&mut self, ids: &[u16]) {
        let mut sorted: Vec<u16> = ids.iter().copied().filter(|&v| v > 0).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let mut runs: Vec<(u16, u16)> = Vec::new();
        for id in sorted {
            match runs.last_mut() {
                Some((_, hi)) if hi.checked_add(1) == Some(id) => *hi = id,
                _ => runs.push((id, id)),
            }
        }
        self.put(runs.len() as u64, 12);
        for (lo, hi) in runs {
            self.put((lo != hi).into(), 1);
            self.put(lo.into(), 16);
            if lo != hi {
                self.put(hi.into(), 16);
            }
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
    use super::super::tcf::TcString;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_written_string_reads_back_purposes_and_vendors() {
        let s = CoreSegment {
            purposes_consent: vec![1, 3, 4],
            vendor_consents: vec![10, 755],
            ..CoreSegment::default()
        }
        .encode();
        assert!(!s.contains(['=', '+', '/']), "{s}");
        let tc = TcString::decode(&s).unwrap();
        assert_eq!(tc.policy_version, 4);
        for p in 1..=10 {
            assert_eq!(tc.purpose_consent(p), [1, 3, 4].contains(&p), "purpose {p}");
        }
        assert_eq!(tc.vendor_consents(), [10, 755]);
        assert!(!tc.vendor_li(10));
    }

    fn letter() -> impl Strategy<Value = u8> {
        (b'A'..=b'Z').prop_map(|c| c)
    }

    fn restriction() -> impl Strategy<Value = Restriction> {
        prop_oneof![
            Just(Restriction::NotAllowed),
            Just(Restriction::RequireConsent),
            Just(Restriction::RequireLegitimateInterest),
            Just(Restriction::Undefined),
        ]
    }

    prop_compose! {
        fn segment()(
            created in 0u64..(1 << 36),
            last_updated in 0u64..(1 << 36),
            cmp_id in 0u16..4096,
            cmp_version in 0u16..4096,
            consent_screen in 0u8..64,
            consent_language in [letter(), letter()],
            vendor_list_version in 0u16..4096,
            policy_version in 0u8..64,
            flags in any::<[bool; 4]>(),
            special_features in prop::collection::vec(1u8..=12, 0..12),
            purposes_consent in prop::collection::vec(1u8..=24, 0..24),
            purposes_li in prop::collection::vec(1u8..=24, 0..24),
            publisher_cc in [letter(), letter()],
            vendor_consents in prop::collection::vec(1u16..3000, 0..60),
            vendor_lis in prop::collection::vec(1u16..3000, 0..60),
            restrictions in prop::collection::vec(
                (1u8..=24, restriction(), prop::collection::vec(1u16..3000, 0..10)), 0..4),
        ) -> CoreSegment {
            CoreSegment {
                created, last_updated, cmp_id, cmp_version, consent_screen,
                consent_language, vendor_list_version, policy_version,
                is_service_specific: flags[0],
                use_non_standard_texts: flags[1],
                special_features, purposes_consent, purposes_li,
                purpose_one_treatment: flags[2],
                publisher_cc, vendor_consents, vendor_lis,
                ranges: flags[3],
                restrictions,
            }
        }
    }

    fn sorted(v: &[u16]) -> Vec<u16> {
        let mut v = v.to_vec();
        v.sort_unstable();
        v.dedup();
        v
    }

    proptest! {
        /// Whatever a CMP writes, the decoder reads back: every header
        /// field, every purpose, feature and vendor, and each restriction.
        #[test]
        fn the_decoder_reads_back_everything_the_writer_wrote(seg in segment()) {
            let tc = TcString::decode(&seg.encode()).unwrap();
            prop_assert_eq!(tc.created, seg.created);
            prop_assert_eq!(tc.last_updated, seg.last_updated);
            prop_assert_eq!(tc.cmp_id, seg.cmp_id);
            prop_assert_eq!(tc.cmp_version, seg.cmp_version);
            prop_assert_eq!(tc.consent_screen, seg.consent_screen);
            prop_assert_eq!(tc.consent_language, seg.consent_language);
            prop_assert_eq!(tc.vendor_list_version, seg.vendor_list_version);
            prop_assert_eq!(tc.policy_version, seg.policy_version);
            prop_assert_eq!(tc.is_service_specific, seg.is_service_specific);
            prop_assert_eq!(tc.use_non_standard_texts, seg.use_non_standard_texts);
            prop_assert_eq!(tc.purpose_one_treatment, seg.purpose_one_treatment);
            prop_assert_eq!(tc.publisher_cc, seg.publisher_cc);
            for p in 0..=25u8 {
                prop_assert_eq!(tc.purpose_consent(p), seg.purposes_consent.contains(&p));
                prop_assert_eq!(tc.purpose_li(p), seg.purposes_li.contains(&p));
            }
            for f in 0..=13u8 {
                prop_assert_eq!(tc.special_feature(f), seg.special_features.contains(&f));
            }
            prop_assert_eq!(tc.vendor_consents(), sorted(&seg.vendor_consents));
            prop_assert_eq!(tc.vendor_lis(), sorted(&seg.vendor_lis));
            for p in 1..=24u8 {
                for v in [1u16, 2, 100, 755, 1234, 2999] {
                    // The first restriction on a purpose that lists the
                    // vendor is the one that applies.
                    let want = seg
                        .restrictions
                        .iter()
                        .find(|(rp, _, vs)| *rp == p && vs.contains(&v))
                        .map(|(_, k, _)| *k);
                    prop_assert_eq!(tc.restriction(p, v), want);
                }
            }
        }

        /// A string cut anywhere inside its core segment is refused, never
        /// read as consent.
        #[test]
        fn a_truncated_string_is_refused(seg in segment(), cut in 0.0f64..1.0) {
            let s = seg.encode();
            // The last character may hold only padding bits.
            let keep = ((s.len() - 1) as f64 * cut) as usize;
            prop_assert!(TcString::decode(&s[..keep]).is_err());
        }
    }
}

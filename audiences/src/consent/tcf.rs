//! IAB TCF v2.2 TC strings: the core segment decoded once per request,
//! vendor sections and publisher restrictions read in place.
//!
//! `TcString::decode` checks the whole core segment (every section is
//! walked, so a truncated string is refused) but keeps the vendor lists as
//! positions in the decoded bytes: asking whether one vendor consented reads
//! one bit of a bit field or walks the ranges, without building a list.
//! Decoding never allocates for strings up to 680 characters.

use super::bits::{BitReader, BitString, base64url};

/// Why a TC string was refused. Callers treat every error as "no consent".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TcfError {
    /// Not base64url.
    #[error("not base64url")]
    Encoding,
    /// Version other than 2.
    #[error("TC string version {0} is not 2")]
    Version(u64),
    /// Ends before a field it announces.
    #[error("TC string truncated")]
    Truncated,
}

/// Publisher restriction types (TCF v2 "RestrictionType").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restriction {
    /// The purpose is not allowed for the listed vendors.
    NotAllowed,
    /// The listed vendors need consent for the purpose.
    RequireConsent,
    /// The listed vendors need legitimate interest for the purpose.
    RequireLegitimateInterest,
    /// Value 3, reserved.
    Undefined,
}

/// A vendor section: a bit field or ranges, at a bit position.
#[derive(Debug, Clone, Copy)]
struct Vendors {
    max_vendor_id: u16,
    ranged: bool,
    /// Bit position of the bit field, or of the first range entry.
    start: usize,
    /// Range entries (ranged only).
    entries: u16,
}

/// A decoded core segment.
#[derive(Debug, Clone)]
pub struct TcString {
    bits: BitString,
    /// Deciseconds since the epoch when the string was created.
    pub created: u64,
    /// Deciseconds since the epoch of the last update.
    pub last_updated: u64,
    /// CMP that last updated the string.
    pub cmp_id: u16,
    /// That CMP's version.
    pub cmp_version: u16,
    /// Screen number where consent was given.
    pub consent_screen: u8,
    /// ISO-639-1 language of the CMP UI, uppercase.
    pub consent_language: [u8; 2],
    /// Global vendor list version.
    pub vendor_list_version: u16,
    /// TCF policy version (4 = TCF v2.2).
    pub policy_version: u8,
    /// Signals from service-specific storage.
    pub is_service_specific: bool,
    /// Non-standard stack texts were used.
    pub use_non_standard_texts: bool,
    /// Special feature opt-ins, bit `i - 1` for feature `i` (1..=12).
    pub special_features: u16,
    /// Purposes consented, bit `i - 1` for purpose `i` (1..=24).
    pub purposes_consent: u32,
    /// Purposes under legitimate interest, same layout.
    pub purposes_li: u32,
    /// Purpose 1 was not disclosed (publisher country rules).
    pub purpose_one_treatment: bool,
    /// ISO-3166-1 alpha-2 country of the publisher, uppercase.
    pub publisher_cc: [u8; 2],
    vendor_consents: Vendors,
    vendor_li: Vendors,
    /// Bit position of the publisher restrictions section.
    restrictions: usize,
    restriction_count: u16,
}

impl TcString {
    /// Decodes the core segment of `text` (segments after the first `.`
    /// are ignored).
    pub fn decode(text: &str) -> Result<TcString, TcfError> {
        let core = text.split('.').next().unwrap_or("");
        let bits = base64url(core).ok_or(TcfError::Encoding)?;
        let mut r = bits.reader(0);
        let t = TcfError::Truncated;
        let version = r.read(6).ok_or(t)?;
        if version != 2 {
            return Err(TcfError::Version(version));
        }
        let created = r.read(36).ok_or(t)?;
        let last_updated = r.read(36).ok_or(t)?;
        let cmp_id = r.read(12).ok_or(t)? as u16;
        let cmp_version = r.read(12).ok_or(t)? as u16;
        let consent_screen = r.read(6).ok_or(t)? as u8;
        let consent_language = letters(r.read(12).ok_or(t)?);
        let vendor_list_version = r.read(12).ok_or(t)? as u16;
        let policy_version = r.read(6).ok_or(t)? as u8;
        let is_service_specific = r.flag().ok_or(t)?;
        let use_non_standard_texts = r.flag().ok_or(t)?;
        let special_features = reverse_bits(r.read(12).ok_or(t)?, 12) as u16;
        let purposes_consent = reverse_bits(r.read(24).ok_or(t)?, 24) as u32;
        let purposes_li = reverse_bits(r.read(24).ok_or(t)?, 24) as u32;
        let purpose_one_treatment = r.flag().ok_or(t)?;
        let publisher_cc = letters(r.read(12).ok_or(t)?);
        let vendor_consents = vendor_section(&mut r).ok_or(t)?;
        let vendor_li = vendor_section(&mut r).ok_or(t)?;
        let restriction_count = r.read(12).ok_or(t)? as u16;
        let restrictions = r.pos();
        for _ in 0..restriction_count {
            r.skip(8).ok_or(t)?; // purpose id, restriction type
            skip_ranges(&mut r).ok_or(t)?;
        }
        Ok(TcString {
            created,
            last_updated,
            cmp_id,
            cmp_version,
            consent_screen,
            consent_language,
            vendor_list_version,
            policy_version,
            is_service_specific,
            use_non_standard_texts,
            special_features,
            purposes_consent,
            purposes_li,
            purpose_one_treatment,
            publisher_cc,
            vendor_consents,
            vendor_li,
            restrictions,
            restriction_count,
            bits,
        })
    }

    /// Whether purpose `p` (1..=24) has consent.
    pub fn purpose_consent(&self, p: u8) -> bool {
        (1..=24).contains(&p) && self.purposes_consent & (1 << (p - 1)) != 0
    }

    /// Whether purpose `p` (1..=24) is under legitimate interest.
    pub fn purpose_li(&self, p: u8) -> bool {
        (1..=24).contains(&p) && self.purposes_li & (1 << (p - 1)) != 0
    }

    /// Whether special feature `f` (1..=12) is opted in.
    pub fn special_feature(&self, f: u8) -> bool {
        (1..=12).contains(&f) && self.special_features & (1 << (f - 1)) != 0
    }

    /// Whether vendor `v` has consent.
    pub fn vendor_consent(&self, v: u16) -> bool {
        self.contains(&self.vendor_consents, v)
    }

    /// Whether vendor `v` has legitimate-interest transparency.
    pub fn vendor_li(&self, v: u16) -> bool {
        self.contains(&self.vendor_li, v)
    }

    /// The publisher's restriction on purpose `p` for vendor `v`, if any.
    pub fn restriction(&self, p: u8, v: u16) -> Option<Restriction> {
        let mut r = self.bits.reader(self.restrictions);
        for _ in 0..self.restriction_count {
            let purpose = r.read(6)? as u8;
            let kind = r.read(2)?;
            let listed = ranges_contain(&mut r, v)?;
            if purpose == p && listed {
                return Some(match kind {
                    0 => Restriction::NotAllowed,
                    1 => Restriction::RequireConsent,
                    2 => Restriction::RequireLegitimateInterest,
                    _ => Restriction::Undefined,
                });
            }
        }
        None
    }

    /// Every vendor with consent, ascending (for tests and tools).
    pub fn vendor_consents(&self) -> Vec<u16> {
        (1..=self.vendor_consents.max_vendor_id)
            .filter(|v| self.vendor_consent(*v))
            .collect()
    }

    /// Every vendor with legitimate interest, ascending.
    pub fn vendor_lis(&self) -> Vec<u16> {
        (1..=self.vendor_li.max_vendor_id)
            .filter(|v| self.vendor_li(*v))
            .collect()
    }

    fn contains(&self, s: &Vendors, v: u16) -> bool {
        if v == 0 || v > s.max_vendor_id {
            return false;
        }
        if !s.ranged {
            return self.bits.bit(s.start + usize::from(v) - 1);
        }
        let mut r = self.bits.reader(s.start);
        for _ in 0..s.entries {
            let Some((lo, hi)) = range_entry(&mut r) else {
                return false;
            };
            if (lo..=hi).contains(&v) {
                return true;
            }
        }
        false
    }
}

/// Two 6-bit letters (A = 0).
fn letters(v: u64) -> [u8; 2] {
    [b'A' + ((v >> 6) & 0x3f) as u8, b'A' + (v & 0x3f) as u8]
}

/// The spec numbers bit fields from the left (purpose 1 is the first bit);
/// flip so that purpose `i` is bit `i - 1`.
fn reverse_bits(v: u64, n: u32) -> u64 {
    v.reverse_bits() >> (64 - n)
}

fn vendor_section(r: &mut BitReader<'_>) -> Option<Vendors> {
    let max_vendor_id = r.read(16)? as u16;
    let ranged = r.flag()?;
    if !ranged {
        let start = r.pos();
        r.skip(usize::from(max_vendor_id))?;
        return Some(Vendors {
            max_vendor_id,
            ranged,
            start,
            entries: 0,
        });
    }
    let entries = r.read(12)? as u16;
    let start = r.pos();
    for _ in 0..entries {
        range_entry(r)?;
    }
    Some(Vendors {
        max_vendor_id,
        ranged,
        start,
        entries,
    })
}

/// One range entry: a single vendor or an inclusive range.
fn range_entry(r: &mut BitReader<'_>) -> Option<(u16, u16)> {
    let is_range = r.flag()?;
    let lo = r.read(16)? as u16;
    let hi = if is_range { r.read(16)? as u16 } else { lo };
    Some((lo, hi))
}

/// Reads a 12-bit count and that many range entries; whether `v` is in one.
fn ranges_contain(r: &mut BitReader<'_>, v: u16) -> Option<bool> {
    let n = r.read(12)?;
    let mut found = false;
    for _ in 0..n {
        let (lo, hi) = range_entry(r)?;
        found |= (lo..=hi).contains(&v);
    }
    Some(found)
}

fn skip_ranges(r: &mut BitReader<'_>) -> Option<()> {
    ranges_contain(r, 0).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference strings and expected values from the IAB's own decoder tests
    // (InteractiveAdvertisingBureau/iabtcf-java, TCStringV2Test).

    fn decode(s: &str) -> TcString {
        TcString::decode(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn set(bits: u32) -> Vec<u8> {
        (1..=24).filter(|i| bits & (1 << (i - 1)) != 0).collect()
    }

    #[test]
    fn core_fields_of_the_iab_reference_string() {
        let tc = decode("COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA");
        assert_eq!(tc.created, 15_800_580_600); // 2020-01-26T17:01:00Z
        assert_eq!(tc.last_updated, 16_122_852_600); // 2021-02-02T17:01:00Z
        assert_eq!((tc.cmp_id, tc.cmp_version, tc.consent_screen), (675, 2, 1));
        assert_eq!((tc.vendor_list_version, tc.policy_version), (15, 2));
        assert_eq!(&tc.consent_language, b"EN");
        assert_eq!(&tc.publisher_cc, b"AA");
        assert!(!tc.is_service_specific);
        assert!(tc.purpose_one_treatment);
        assert!(!tc.use_non_standard_texts);
        assert!(tc.special_feature(1) && !tc.special_feature(2));
        assert_eq!(set(tc.purposes_consent), [2, 10]);
        assert_eq!(set(tc.purposes_li), [2, 9]);
    }

    #[test]
    fn bit_field_vendor_sections() {
        let tc = decode(
            "COrEAV4OrXx94ACABBENAHCIAD-AAAAAAACAAxAAAAgAIAwgAgAAAAEAgQAAAAAEAYQAQAAAACAAAABAAA",
        );
        assert_eq!(set(tc.purposes_consent), [3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(tc.vendor_consents(), [23, 37, 47, 48, 53, 65, 98]);
        assert_eq!(tc.vendor_lis(), [37, 47, 48, 53, 65, 98, 129]);
    }

    #[test]
    fn range_encoded_vendor_sections() {
        assert_eq!(
            decode("COv__-wOv__-wC2AAAENAPCgAAAAAAAAAAAAA_wAQA_gEBABAEAAAA").vendor_lis(),
            [128]
        );
        let two = "COwBOpCOwBOpCLqAAAENAPCAAAAAAAAAAAAAFfwAYFfAV-BVkAGBVYFWAAA.IFoEUQQgAIQwgIwQABAEAAAAOIAACAIAAAAQAIAgEAACEAAAAAgAQBAAAAAAAGBAAgAAAAAAAFAAECAAAgAAQARAEQAAAAAJAAIAAgAAAYQEAAAQmAgBC3ZAYzUw";
        assert_eq!(decode(two).vendor_consents(), [702, 703]);
        let one = "COwBOpCOwBOpCLqAAAENAPCAAAAAAAAAAAAAFfwAQFfgUbABAUaAAA.IFoEUQQgAIQwgIwQABAEAAAAOIAACAIAAAAQAIAgEAACEAAAAAgAQBAAAAAAAGBAAgAAAAAAAFAAECAAAgAAQARAEQAAAAAJAAIAAgAAAYQEAAAQmAgBC3ZAYzUw";
        let tc = decode(one);
        assert!(tc.vendor_consent(703) && !tc.vendor_consent(702));
    }

    #[test]
    fn purposes_one_and_two() {
        let tc = decode("COwxsONOwxsONKpAAAENAdCAAMAAAAAAAAAAAAAAAAAA");
        assert!(tc.purpose_consent(1) && tc.purpose_consent(2));
    }

    #[test]
    fn publisher_restrictions_apply_per_purpose_and_vendor() {
        // Built bit by bit as the IAB decoder tests do: version 2, zeros up
        // to the vendor sections (bit 213), two empty bit-field vendor
        // sections, then three restrictions; the third (purpose 3, require
        // legitimate interest) lists vendor 7.
        let mut bits = String::from("000010");
        bits.push_str(&"0".repeat(213 - 6));
        bits.push_str(&"0".repeat(2 * 17));
        bits.push_str("000000000011");
        bits.push_str(&format!("{}{}{}", "000001", "01", "000000000000"));
        bits.push_str(&format!("{}{}{}", "000010", "00", "000000000000"));
        bits.push_str(&format!(
            "{}{}{}{}{}",
            "000011", "10", "000000000001", "0", "0000000000000111"
        ));
        let tc = decode(&super::super::bits::from_bit_text(&bits));
        assert_eq!(
            tc.restriction(3, 7),
            Some(Restriction::RequireLegitimateInterest)
        );
        assert_eq!(tc.restriction(3, 8), None);
        assert_eq!(tc.restriction(1, 7), None);
    }

    /// lib_tcstring (decode-only, allocates its lists) serves as an
    /// independent oracle: both decoders must agree on every field.
    #[test]
    fn agrees_with_lib_tcstring_on_the_reference_strings() {
        for s in [
            "COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA",
            "COrEAV4OrXx94ACABBENAHCIAD-AAAAAAACAAxAAAAgAIAwgAgAAAAEAgQAAAAAEAYQAQAAAACAAAABAAA",
            "COv__-wOv__-wC2AAAENAPCgAAAAAAAAAAAAA_wAQA_gEBABAEAAAA",
            "COwBOpCOwBOpCLqAAAENAPCAAAAAAAAAAAAAFfwAYFfAV-BVkAGBVYFWAAA",
            "COwxsONOwxsONKpAAAENAdCAAMAAAAAAAAAAAAAAAAAA",
        ] {
            let ours = decode(s);
            let theirs = lib_tcstring::TcModelV2::try_from(s).unwrap();
            assert_eq!(ours.created * 100, theirs.created_at, "{s}");
            assert_eq!(ours.cmp_id, theirs.cmp_id, "{s}");
            assert_eq!(ours.vendor_list_version, theirs.vendor_list_version, "{s}");
            let purposes: Vec<u8> = (1..=24).filter(|p| ours.purpose_consent(*p)).collect();
            assert_eq!(purposes, theirs.purposes_consent, "{s}");
            let li: Vec<u8> = (1..=24).filter(|p| ours.purpose_li(*p)).collect();
            assert_eq!(li, theirs.purposes_li_transparency, "{s}");
            assert_eq!(ours.vendor_consents(), theirs.vendors_consent, "{s}");
            assert_eq!(ours.vendor_lis(), theirs.vendors_li_consent, "{s}");
        }
    }

    #[test]
    fn malformed_strings_are_refused_without_panicking() {
        assert_eq!(
            TcString::decode("not base64!").unwrap_err(),
            TcfError::Encoding
        );
        assert_eq!(
            TcString::decode("COtybn4PA").unwrap_err(),
            TcfError::Truncated
        );
        assert!(matches!(
            TcString::decode("BOtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA"),
            Err(TcfError::Version(1))
        ));
        for cut in 0..60 {
            let s = &"COrEAV4OrXx94ACABBENAHCIAD-AAAAAAACAAxAAAAgAIAwgAgAAAAEAgQAAAAAEAYQAQAAAACAAAABAAA"
                [..cut];
            let _ = TcString::decode(s);
        }
    }
}

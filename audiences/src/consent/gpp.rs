//! The IAB Global Privacy Platform string, as far as personalization
//! needs it: the header's list of section ids, and the US National section
//! (id 7, `usnat` versions 1 and 2) with its opt-outs.
//!
//! A GPP string is `header~section~section...`, each base64url. The header
//! is type (6 bits, 3), version (6 bits, 1) and the section ids as a
//! Fibonacci-coded range list: 12 bits of entry count, then per entry a
//! range flag and one (single) or two (start, end) Fibonacci-coded
//! offsets, each from the previous id. Sections follow in header order.
//!
//! Pure, never panics, never allocates for strings of usual size.

use super::bits::{BitReader, base64url};

/// The US National section's id.
pub const US_NATIONAL: u32 = 7;

/// Why a GPP string could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// What the US National section says about personalized advertising.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsNational {
    /// The user opted out of sale, sharing or targeted advertising, or is a
    /// known child without consent.
    OptedOut,
    /// None of those.
    Allowed,
}

/// Reads the US National section of `gpp`; `Ok(None)` when the string has
/// no such section.
pub fn us_national(gpp: &str) -> Result<Option<UsNational>, Malformed> {
    let mut parts = gpp.split('~');
    let header = parts.next().ok_or(Malformed)?;
    let bits = base64url(header).ok_or(Malformed)?;
    let mut r = bits.reader(0);
    if r.read(6) != Some(3) || r.read(6) != Some(1) {
        return Err(Malformed);
    }
    let entries = r.read(12).ok_or(Malformed)?;
    let mut index = 0usize;
    let mut prev = 0u64;
    for _ in 0..entries {
        let range = r.flag().ok_or(Malformed)?;
        let start = prev + fibonacci(&mut r)?;
        let end = if range {
            start + fibonacci(&mut r)?
        } else {
            start
        };
        if end > 1_000 {
            return Err(Malformed);
        }
        for id in start..=end {
            if id == u64::from(US_NATIONAL) {
                let section = gpp.split('~').nth(1 + index).ok_or(Malformed)?;
                return read_us_national(section).map(Some);
            }
            index += 1;
        }
        prev = end;
    }
    Ok(None)
}

/// One Fibonacci-coded integer: bit `i` set adds F(i+2) (1, 2, 3, 5, ...);
/// the code ends with two ones in a row.
fn fibonacci(r: &mut BitReader<'_>) -> Result<u64, Malformed> {
    let (mut a, mut b) = (1u64, 2u64);
    let mut value = 0u64;
    let mut last = false;
    for _ in 0..40 {
        let bit = r.flag().ok_or(Malformed)?;
        if bit && last {
            return Ok(value);
        }
        if bit {
            value += a;
        }
        last = bit;
        (a, b) = (b, a + b);
    }
    Err(Malformed)
}

/// The core segment (before any `.`) of a `usnat` section.
fn read_us_national(section: &str) -> Result<UsNational, Malformed> {
    let core = section.split('.').next().ok_or(Malformed)?;
    let bits = base64url(core).ok_or(Malformed)?;
    let mut r = bits.reader(0);
    let version = r.read(6).ok_or(Malformed)?;
    // Version 2 has 16 sensitive-data categories and 3 child consents
    // where version 1 has 12 and 2; the fields before are the same.
    let (sensitive, children) = match version {
        1 => (12, 2),
        2 => (16, 3),
        _ => return Err(Malformed),
    };
    r.skip(12).ok_or(Malformed)?; // six notice fields
    const OPTED_OUT: u64 = 1;
    const NO_CONSENT: u64 = 1;
    let mut opted_out = false;
    for _ in 0..3 {
        // Sale, sharing, targeted advertising.
        opted_out |= r.read(2).ok_or(Malformed)? == OPTED_OUT;
    }
    r.skip(2 * sensitive).ok_or(Malformed)?;
    for _ in 0..children {
        opted_out |= r.read(2).ok_or(Malformed)? == NO_CONSENT;
    }
    Ok(if opted_out {
        UsNational::OptedOut
    } else {
        UsNational::Allowed
    })
}

#[cfg(test)]
mod tests {
    use super::super::bits::from_bit_text;
    use super::*;

    /// A US National v1 core segment from fields, two bits each after the
    /// version: notices, then sale, sharing, targeted advertising opt-outs,
    /// twelve sensitive categories, two child consents, and the rest.
    fn usnat_v1(sale: &str, sharing: &str, targeted: &str, child: &str) -> String {
        let bits = format!(
            "000001{}{sale}{sharing}{targeted}{}{child}{child}{}",
            "01".repeat(6),
            "00".repeat(12),
            "00".repeat(4)
        );
        from_bit_text(&bits)
    }

    #[test]
    fn headers_list_their_section_ids() {
        // The IAB's examples: DBACNY = TCF EU (2) and USP (6); DBABLA = 7.
        let ids = |h: &str| {
            let bits = base64url(h).unwrap();
            let mut r = bits.reader(12);
            let n = r.read(12).unwrap();
            let mut prev = 0;
            (0..n)
                .map(|_| {
                    assert_eq!(r.flag(), Some(false));
                    prev += fibonacci(&mut r).unwrap();
                    prev
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(ids("DBACNY"), vec![2, 6]);
        assert_eq!(ids("DBABLA"), vec![7]);
    }

    #[test]
    fn the_iab_example_us_national_string_allows_personalization() {
        assert_eq!(
            us_national("DBABLA~BVQqAAAAAgA.QA"),
            Ok(Some(UsNational::Allowed))
        );
    }

    #[test]
    fn any_opt_out_or_child_without_consent_opts_out() {
        for (sale, sharing, targeted, child) in [
            ("01", "10", "10", "00"),
            ("10", "01", "10", "00"),
            ("10", "10", "01", "00"),
            ("10", "10", "10", "01"),
        ] {
            let gpp = format!("DBABLA~{}", usnat_v1(sale, sharing, targeted, child));
            assert_eq!(
                us_national(&gpp),
                Ok(Some(UsNational::OptedOut)),
                "{sale} {sharing} {targeted} {child}"
            );
        }
        let gpp = format!("DBABLA~{}", usnat_v1("10", "10", "00", "02"));
        assert_eq!(us_national(&gpp), Ok(Some(UsNational::Allowed)));
    }

    #[test]
    fn strings_without_the_section_or_broken_ones_are_told_apart() {
        assert_eq!(
            us_national("DBACNY~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA~1YNN"),
            Ok(None)
        );
        assert_eq!(us_national("DBABLA"), Err(Malformed));
        assert_eq!(us_national("DBABLA~!!"), Err(Malformed));
        assert_eq!(us_national("xyz"), Err(Malformed));
        assert_eq!(us_national(""), Err(Malformed));
    }
}

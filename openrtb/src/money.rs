//! Money and currency codes.
//!
//! Money is integer micros (one millionth of a currency unit) everywhere in
//! the bidder. OpenRTB carries CPM prices as JSON floats; this module is the
//! one place where floats and micros meet. It never rounds up a price that a
//! buyer would pay: conversions round half away from zero to the nearest micro.

use std::fmt;

/// An amount of money in millionths of a currency unit (CPM prices included:
/// a CPM of 1.50 is `Micros(1_500_000)`). Serialised as the integer.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Micros(pub i64);

impl Micros {
    /// Zero.
    pub const ZERO: Micros = Micros(0);
    /// Micros in one currency unit.
    pub const PER_UNIT: i64 = 1_000_000;

    /// From a wire float (a CPM or an amount in currency units). Non-finite
    /// and negative inputs give `None`: a price the bidder cannot trust.
    pub fn from_f64(units: f64) -> Option<Micros> {
        if !units.is_finite() || units < 0.0 || units > (i64::MAX / Self::PER_UNIT) as f64 {
            return None;
        }
        Some(Micros((units * Self::PER_UNIT as f64).round() as i64))
    }

    /// To a wire float, for OpenRTB output only.
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / Self::PER_UNIT as f64
    }

    /// Whole currency units, e.g. for display.
    pub fn from_units(units: i64) -> Micros {
        Micros(units.saturating_mul(Self::PER_UNIT))
    }

    /// `self * num / den` in 128-bit arithmetic, rounded down; used for
    /// multipliers and exchange rates expressed as integer ratios.
    pub fn mul_div(self, num: i64, den: i64) -> Micros {
        debug_assert!(den != 0);
        Micros(((self.0 as i128 * num as i128) / den as i128) as i64)
    }

    /// Saturating addition.
    pub fn saturating_add(self, other: Micros) -> Micros {
        Micros(self.0.saturating_add(other.0))
    }

    /// Saturating subtraction.
    pub fn saturating_sub(self, other: Micros) -> Micros {
        Micros(self.0.saturating_sub(other.0))
    }
}

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000)
    }
}

/// An ISO-4217 currency code, three ASCII uppercase letters, stored inline so
/// that comparing currencies on the hot path is a 3-byte compare.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    /// US dollar, the OpenRTB default when a request names no currency.
    pub const USD: Currency = Currency(*b"USD");
    /// Euro.
    pub const EUR: Currency = Currency(*b"EUR");

    /// Parses a code, case-insensitively; `None` unless three ASCII letters.
    pub fn parse(code: &str) -> Option<Currency> {
        let b = code.as_bytes();
        if b.len() != 3 || !b.iter().all(u8::is_ascii_alphabetic) {
            return None;
        }
        Some(Currency([
            b[0].to_ascii_uppercase(),
            b[1].to_ascii_uppercase(),
            b[2].to_ascii_uppercase(),
        ]))
    }

    /// The code as a string slice.
    pub fn as_str(&self) -> &str {
        // Constructed only from ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Currency::parse(&s)
            .ok_or_else(|| serde::de::Error::custom("expected a 3-letter ISO-4217 currency code"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpm_floats_round_to_the_nearest_micro() {
        assert_eq!(Micros::from_f64(1.5), Some(Micros(1_500_000)));
        assert_eq!(Micros::from_f64(0.1 + 0.2), Some(Micros(300_000)));
        assert_eq!(Micros::from_f64(-0.01), None);
        assert_eq!(Micros::from_f64(f64::NAN), None);
    }

    #[test]
    fn currency_codes_are_case_insensitive_three_letters() {
        assert_eq!(Currency::parse("eur"), Some(Currency::EUR));
        assert_eq!(Currency::parse("EURO"), None);
        assert_eq!(Currency::parse("U$D"), None);
    }

    #[test]
    fn micros_display_as_decimal_units() {
        assert_eq!(Micros(1_500_000).to_string(), "1.500000");
        assert_eq!(Micros(-5).to_string(), "-0.000005");
    }
}

//! The clearing price an exchange reports through `${AUCTION_PRICE}`:
//! plain decimal CPM in the bid's currency. Exchanges that encrypt it
//! (e.g. AES/HMAC schemes keyed per bidder) plug in a [`PriceDecoder`].
//! Pure: no I/O, no allocation.

use openrtb::Micros;

/// What became of the `price` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clearing {
    /// The exchange reported this price (CPM).
    Price(Micros),
    /// No price: the parameter is absent or the macro was not substituted.
    Unknown,
}

/// Decodes an exchange's encrypted price. None is configured today; the
/// notice endpoint tries each before refusing a price it cannot read.
pub trait PriceDecoder: Send + Sync {
    /// The price in `text`, if it is this decoder's format.
    fn decode(&self, text: &str) -> Option<Micros>;
}

/// Why a price was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("price is not a decimal CPM nor a known encrypted form")]
pub struct BadPrice;

/// Reads `text` as a decimal CPM (`1.25`, `0.5`, `3`) to micros, exactly:
/// at most six decimals, no sign, no exponent.
pub fn decimal_micros(text: &str) -> Option<Micros> {
    let (units, frac) = text.split_once('.').unwrap_or((text, ""));
    if units.is_empty() && frac.is_empty() || frac.len() > 6 {
        return None;
    }
    if !units
        .bytes()
        .chain(frac.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let units: i64 = if units.is_empty() {
        0
    } else {
        units.parse().ok()?
    };
    let mut micros: i64 = 0;
    for (i, b) in frac.bytes().enumerate() {
        micros += i64::from(b - b'0') * 10i64.pow(5 - i as u32);
    }
    units
        .checked_mul(1_000_000)?
        .checked_add(micros)
        .map(Micros)
}

/// The clearing price in `param` (the raw query value).
pub fn clearing(param: Option<&str>, decoders: &[&dyn PriceDecoder]) -> Result<Clearing, BadPrice> {
    let Some(text) = param.filter(|t| !t.is_empty()) else {
        return Ok(Clearing::Unknown);
    };
    if text.starts_with("${") || text.starts_with("%24%7B") {
        return Ok(Clearing::Unknown);
    }
    if let Some(p) = decimal_micros(text) {
        return Ok(Clearing::Price(p));
    }
    decoders
        .iter()
        .find_map(|d| d.decode(text))
        .map(Clearing::Price)
        .ok_or(BadPrice)
}

/// How far above the bid price a reported clearing price may be and
/// still be called rounding: one cent CPM, or 0.1 % of the bid, whichever
/// is more. Exchanges round prices to cents and convert currencies with
/// their own rates.
pub fn rounding_tolerance(bid: Micros) -> Micros {
    Micros((bid.0 / 1_000).max(10_000))
}

/// What a billing point books, CPM in the bid's currency: the reported
/// clearing price, never more than the bid's own price (an auction cannot
/// clear above the bid; a higher report is an exchange's error or a forged
/// parameter, and the token does not cover the price), and the bid price
/// when none was reported. The flag says the report was above the bid by
/// more than [`rounding_tolerance`].
pub fn booked_cpm(reported: Clearing, bid: Micros) -> (Micros, bool) {
    match reported {
        Clearing::Unknown => (bid, false),
        Clearing::Price(p) if p <= bid => (p, false),
        Clearing::Price(p) => (bid, p.saturating_sub(bid) > rounding_tolerance(bid)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_billing_point_never_books_above_the_bid() {
        let bid = Micros(2_000_000);
        assert_eq!(
            booked_cpm(Clearing::Price(Micros(1_500_000)), bid),
            (Micros(1_500_000), false)
        );
        assert_eq!(booked_cpm(Clearing::Unknown, bid), (bid, false));
        // Rounded up to the cent: the bid price, not an over-bid.
        assert_eq!(
            booked_cpm(Clearing::Price(Micros(2_005_000)), bid),
            (bid, false)
        );
        assert_eq!(
            booked_cpm(Clearing::Price(Micros(5_000_000_000)), bid),
            (bid, true)
        );
        // The largest price the parser reads books the bid, no overflow.
        let huge = decimal_micros("9223372036854").unwrap();
        assert_eq!(booked_cpm(Clearing::Price(huge), bid), (bid, true));
        assert_eq!(rounding_tolerance(Micros(50_000_000)), Micros(50_000));
    }

    #[test]
    fn decimal_prices_read_exactly() {
        assert_eq!(decimal_micros("1.25"), Some(Micros(1_250_000)));
        assert_eq!(decimal_micros("3"), Some(Micros(3_000_000)));
        assert_eq!(decimal_micros(".5"), Some(Micros(500_000)));
        assert_eq!(decimal_micros("0.000001"), Some(Micros(1)));
        for bad in [
            "",
            ".",
            "-1",
            "1e3",
            "1.0000001",
            "abc",
            "1.2.3",
            "99999999999999999",
        ] {
            assert_eq!(decimal_micros(bad), None, "{bad}");
        }
    }

    struct Rot;
    impl PriceDecoder for Rot {
        fn decode(&self, text: &str) -> Option<Micros> {
            text.strip_prefix("enc:").and_then(decimal_micros)
        }
    }

    #[test]
    fn unsubstituted_macros_are_unknown_and_decoders_get_the_rest() {
        assert_eq!(clearing(None, &[]), Ok(Clearing::Unknown));
        assert_eq!(
            clearing(Some("${AUCTION_PRICE}"), &[]),
            Ok(Clearing::Unknown)
        );
        assert_eq!(clearing(Some("enc:2"), &[]), Err(BadPrice));
        assert_eq!(
            clearing(Some("enc:2"), &[&Rot]),
            Ok(Clearing::Price(Micros(2_000_000)))
        );
    }
}

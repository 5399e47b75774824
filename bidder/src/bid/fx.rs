//! Exchange rates: how many micro-US-dollars one unit of a currency is
//! worth, used to compare floors and bids across currencies.
//!
//! Integer arithmetic only (i128 intermediates), so converting is exact to
//! the micro and never drifts with float rounding. The table is small and
//! read-only once built; lookups are a short linear scan.

use std::collections::BTreeMap;

use openrtb::{Currency, Micros};

/// Why a rate table was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FxError {
    /// The key is not a 3-letter code.
    #[error("{0:?} is not a 3-letter currency code")]
    BadCode(String),
    /// The rate is not a positive number of at least one micro-dollar.
    #[error("rate for {0} must be a positive number")]
    BadRate(String),
}

/// Rates to USD, in micro-USD per unit of each currency.
#[derive(Debug, Clone, PartialEq)]
pub struct FxRates {
    rates: Vec<(Currency, i64)>,
}

impl Default for FxRates {
    /// Approximate rates, good enough to compare floors on a demo; real
    /// deployments set `[fx]` in the configuration from their bank's feed.
    fn default() -> FxRates {
        let table: [(&str, i64); 7] = [
            ("USD", 1_000_000),
            ("EUR", 1_080_000),
            ("GBP", 1_270_000),
            ("CHF", 1_130_000),
            ("CAD", 730_000),
            ("AUD", 650_000),
            ("JPY", 6_700),
        ];
        FxRates {
            rates: table
                .iter()
                .filter_map(|(c, r)| Currency::parse(c).map(|c| (c, *r)))
                .collect(),
        }
    }
}

impl FxRates {
    /// The default table with `overrides` (units of USD per unit, as in
    /// the config file: `EUR = 1.08`) replacing or adding rates.
    pub fn from_map(overrides: &BTreeMap<String, f64>) -> Result<FxRates, FxError> {
        let mut fx = FxRates::default();
        for (code, rate) in overrides {
            let cur = Currency::parse(code).ok_or_else(|| FxError::BadCode(code.clone()))?;
            let micros = Micros::from_f64(*rate)
                .filter(|m| m.0 > 0)
                .ok_or_else(|| FxError::BadRate(code.clone()))?;
            match fx.rates.iter_mut().find(|(c, _)| *c == cur) {
                Some(entry) => entry.1 = micros.0,
                None => fx.rates.push((cur, micros.0)),
            }
        }
        Ok(fx)
    }

    /// Micro-USD per unit of `cur`, if known.
    pub fn rate(&self, cur: Currency) -> Option<i64> {
        self.rates.iter().find(|(c, _)| *c == cur).map(|(_, r)| *r)
    }

    /// `amount` in `from` expressed in `to`, rounded to the nearest micro.
    pub fn convert(&self, amount: Micros, from: Currency, to: Currency) -> Option<Micros> {
        self.convert_with(amount, from, to, false)
    }

    /// As [`FxRates::convert`], rounded up: for floors, so that a price
    /// at least the converted floor is never below the original.
    pub fn convert_up(&self, amount: Micros, from: Currency, to: Currency) -> Option<Micros> {
        self.convert_with(amount, from, to, true)
    }

    fn convert_with(
        &self,
        amount: Micros,
        from: Currency,
        to: Currency,
        up: bool,
    ) -> Option<Micros> {
        if from == to {
            return Some(amount);
        }
        let num = i128::from(amount.0) * i128::from(self.rate(from)?);
        let den = i128::from(self.rate(to)?);
        let q = if up {
            (num + den - 1).div_euclid(den)
        } else {
            (num + den / 2).div_euclid(den)
        };
        i64::try_from(q).ok().map(Micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_currency_is_unchanged() {
        let fx = FxRates::default();
        assert_eq!(
            fx.convert(Micros(1_234_567), Currency::EUR, Currency::EUR),
            Some(Micros(1_234_567))
        );
    }

    #[test]
    fn euro_floor_converts_to_more_dollars_and_back() {
        let fx = FxRates::default();
        let usd = fx
            .convert(Micros(4_000_000), Currency::EUR, Currency::USD)
            .unwrap();
        assert_eq!(usd, Micros(4_320_000));
        assert_eq!(
            fx.convert(usd, Currency::USD, Currency::EUR),
            Some(Micros(4_000_000))
        );
    }

    #[test]
    fn rounding_up_never_lands_below_the_original_value() {
        let fx = FxRates::default();
        let eur = fx
            .convert_up(Micros(1), Currency::USD, Currency::EUR)
            .unwrap();
        assert_eq!(eur, Micros(1));
        let back = fx.convert(eur, Currency::EUR, Currency::USD).unwrap();
        assert!(back >= Micros(1));
    }

    #[test]
    fn unknown_currency_has_no_conversion() {
        let fx = FxRates::default();
        assert_eq!(
            fx.convert(Micros(1), Currency::parse("XYZ").unwrap(), Currency::USD),
            None
        );
    }

    #[test]
    fn overrides_replace_and_add_rates() {
        let map = BTreeMap::from([("EUR".to_string(), 1.5), ("SEK".to_string(), 0.095)]);
        let fx = FxRates::from_map(&map).unwrap();
        assert_eq!(fx.rate(Currency::EUR), Some(1_500_000));
        assert_eq!(fx.rate(Currency::parse("SEK").unwrap()), Some(95_000));
        let bad = BTreeMap::from([("EUR".to_string(), 0.0)]);
        assert!(FxRates::from_map(&bad).is_err());
    }
}

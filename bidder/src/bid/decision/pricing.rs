//! What a campaign bids on an impression: which deal (if any), which floor,
//! and the price.
//!
//! - Second price (`at=2`, the spec's default): the winner pays the
//!   clearing price, not its bid, so bidding the true value is the best
//!   strategy; the campaign's value is its `max_cpm`.
//! - First price (`at=1`): the winner pays its bid, so the campaign bids its
//!   usual `base_cpm`, raised just to the floor when needed, never above
//!   `max_cpm`.
//! - A deal with `at=3`: the deal's floor is the agreed price; bid exactly
//!   that (if within `max_cpm`).
//!
//! Floors are compared in the campaign's currency after conversion, rounded
//! up so that a bid that clears the converted floor clears the original.

use openrtb::{Currency, Deal, Imp, Micros};

use crate::bid::fx::FxRates;
use crate::bid::snapshot::CompiledCampaign;
use crate::model::NoBidReason;

/// The auction type the spec assumes when a request says none.
const DEFAULT_AT: i64 = 2;
const FIRST_PRICE: i64 = 1;
const FIXED_PRICE: i64 = 3;

/// A campaign's price on one impression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priced {
    /// The bid, in the campaign's currency.
    pub price: Micros,
    /// The floor that applied, in `floor_cur`.
    pub floor: Micros,
    /// Currency of `floor`.
    pub floor_cur: Currency,
    /// Index in `imp.pmp.deals` of the deal bid on.
    pub deal: Option<usize>,
}

/// Prices campaign `c` on `imp`, for an auction of type `request_at`, for
/// a user whose stage multiplier is `multiplier` per mille: it scales base
/// and max CPM alike.
pub fn price(
    imp: &Imp<'_>,
    request_at: Option<i64>,
    c: &CompiledCampaign,
    multiplier: u32,
    seat: Option<&str>,
    fx: &FxRates,
) -> Result<Priced, NoBidReason> {
    let scale = |m: Micros| Micros(m.0.saturating_mul(i64::from(multiplier)) / 1_000);
    let (base_cpm, max_cpm) = (scale(c.base_cpm), scale(c.max_cpm));
    let deals = imp
        .pmp
        .as_ref()
        .map(|p| p.deals.as_slice())
        .unwrap_or_default();
    let private = imp.pmp.as_ref().is_some_and(|p| p.private_auction == 1);
    let deal = deals.iter().position(|d| deal_open_to(d, c, seat));
    if deal.is_none() && (private || c.deals_only) {
        return Err(NoBidReason::DealMismatch);
    }
    let (floor_units, floor_cur_text, at) = match deal {
        Some(i) => {
            let d = &deals[i];
            // A deal's currency does not inherit from the impression.
            (d.bidfloor, d.bidfloorcur.as_deref(), d.at.or(request_at))
        }
        None => (imp.bidfloor, imp.bidfloorcur.as_deref(), request_at),
    };
    let floor_cur = match floor_cur_text {
        None => Currency::USD,
        Some(code) => Currency::parse(code).ok_or(NoBidReason::UnsupportedCurrency)?,
    };
    let floor = Micros::from_f64(floor_units).unwrap_or(Micros(0));
    let floor_here = fx
        .convert_up(floor, floor_cur, c.currency)
        .ok_or(NoBidReason::UnsupportedCurrency)?;
    if floor_here > max_cpm {
        return Err(NoBidReason::BelowFloor);
    }
    let price = match at.unwrap_or(DEFAULT_AT) {
        FIXED_PRICE if deal.is_some() => floor_here,
        FIRST_PRICE => base_cpm.max(floor_here),
        _ => max_cpm,
    };
    if price <= Micros(0) {
        return Err(NoBidReason::BelowFloor);
    }
    Ok(Priced {
        price,
        floor,
        floor_cur,
        deal,
    })
}

/// Whether `c` may bid on deal `d`: it lists the deal, and the deal's seat
/// and advertiser-domain allow lists (when given) include us.
pub(super) fn deal_open_to(d: &Deal<'_>, c: &CompiledCampaign, seat: Option<&str>) -> bool {
    c.deal_ids.iter().any(|id| id == d.id.as_ref())
        && (d.wseat.is_empty() || seat.is_some_and(|s| d.wseat.iter().any(|w| w == s)))
        && (d.wadomain.is_empty()
            || c.adomain.iter().any(|a| {
                d.wadomain
                    .iter()
                    .any(|w| super::filters::domain_matches(a, w))
            }))
}

//! Conversions an advertiser reports server to server: recorded once per
//! advertiser and conversion id, attributed to the click they name (the
//! `bclid` the click tracker adds to the landing page) or to the user's
//! last click or impression, counted in reports and learning, and moving
//! the user to the conversion stage of the advertiser's funnels.
//!
//! Never parses requests or encodes answers.

use openrtb::{Currency, Micros};

use super::error::all_valid;
use super::funnels::UserRef;
use super::{FieldError, ServiceError, Services};
use crate::control::auth::Principal;
use crate::model::{AdvertiserId, UnixTime};
use crate::store::{Attribution, NewConversion};

/// Longest conversion id, in bytes.
const MAX_ID: usize = 200;
/// How far ahead of our clock a conversion's time may be (clock skew).
const MAX_FUTURE_SECS: i64 = 300;

/// A conversion as an advertiser reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversionDraft {
    /// Whose.
    pub advertiser_id: AdvertiserId,
    /// The advertiser's id for it (an order number): reporting it twice
    /// counts it once.
    pub id: String,
    /// The click it follows (`bclid`).
    pub click_id: Option<String>,
    /// The user, when no click is named (or as well).
    pub user: Option<UserRef>,
    /// Its value.
    pub value_micros: Micros,
    /// Currency of the value; USD when absent.
    pub currency: Option<Currency>,
    /// When it happened; now when absent.
    pub at: Option<UnixTime>,
}

/// What recording a conversion did.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversionReceipt {
    /// Reported before: nothing was counted again.
    pub duplicate: bool,
    /// The bid it was credited to, if any.
    pub attribution: Option<Attribution>,
    /// How many funnels the user moved forward in.
    pub funnel_moves: usize,
}

/// Advertisers' conversions.
#[derive(Debug, Clone, Copy)]
pub struct Conversions<'s> {
    pub(super) s: &'s Services,
}

impl Conversions<'_> {
    /// Records `c` for an advertiser `who` acts for; the first time, counts
    /// it and moves its user forward in the advertiser's funnels.
    pub fn record(
        &self,
        who: &Principal,
        c: &ConversionDraft,
    ) -> Result<ConversionReceipt, ServiceError> {
        who.require_grant(c.advertiser_id)?;
        let mut errors = Vec::new();
        if c.id.trim().is_empty() || c.id.len() > MAX_ID {
            errors.push(FieldError::new(
                "id",
                format!("must be 1 to {MAX_ID} characters"),
            ));
        }
        if c.value_micros.0 < 0 {
            errors.push(FieldError::new("value_micros", "must not be negative"));
        }
        if c.click_id.is_none() && c.user.is_none() {
            errors.push(FieldError::new(
                "click_id",
                "a conversion names its click (click_id) or its user (user)",
            ));
        }
        let currency = c.currency.unwrap_or(Currency::USD);
        if self.s.settings.fx.rate(currency).is_none() {
            errors.push(FieldError::new("currency", "no exchange rate for it"));
        }
        let now = self.s.clock.now();
        let at = c.at.unwrap_or(now);
        if at.0 > now.0 + MAX_FUTURE_SECS {
            errors.push(FieldError::new("at", "is in the future"));
        }
        let user = match &c.user {
            Some(u) => match self.s.funnels().user_key(u) {
                Ok(k) => Some(k),
                Err(ServiceError::Invalid(mut e)) => {
                    for f in &mut e {
                        f.field = format!("user.{}", f.field);
                    }
                    errors.extend(e);
                    None
                }
                Err(other) => return Err(other),
            },
            None => None,
        };
        all_valid(errors)?;
        if self.s.store.advertiser(c.advertiser_id)?.is_none() {
            return Err(ServiceError::invalid("advertiser_id", "no such advertiser"));
        }
        let fx = &self.s.settings.fx;
        let outcome = self.s.store.record_conversion(
            &NewConversion {
                advertiser: c.advertiser_id,
                id: c.id.trim().to_owned(),
                click: c.click_id.clone(),
                user: user.map(|k| k.0),
                value: c.value_micros,
                currency,
                at,
            },
            &|v, from, to| fx.convert(v, from, to),
        )?;
        // The user to move: the one named, else the attributed bid's (only
        // present where consent allowed a key).
        let mover = user.or_else(|| {
            outcome
                .attribution
                .as_ref()
                .and_then(|a| a.user)
                .map(audiences::keys::UserKey)
        });
        let mut moved = 0;
        if let (Some(key), false) = (mover, outcome.duplicate) {
            let moves: Vec<_> = self
                .s
                .store
                .advertiser_funnels(c.advertiser_id)?
                .into_iter()
                .filter_map(|f| f.moves.conversion.map(|to| (f.id, key, to)))
                .collect();
            moved = self
                .s
                .audience
                .advance(&moves, self.s.settings.move_ttl_secs)?;
        }
        Ok(ConversionReceipt {
            duplicate: outcome.duplicate,
            attribution: outcome.attribution,
            funnel_moves: moved,
        })
    }
}

//! `POST /api/v1/conversions`: an advertiser's server-to-server postback.
//! Recorded (once per advertiser and conversion id) before the answer,
//! attributed to the click it names (`click_id`, the `bclid` the click
//! tracker adds to the landing page) or to the user's last click or
//! impression, counted in reports and learning, and moving the user to the
//! conversion stage of the advertiser's funnels.

use http::{Response, StatusCode};
use openrtb::{Currency, Micros};
use serde::Deserialize;
use serde_json::json as j;

use super::request::{json, parse_json};
use super::{Admin, require};
use crate::control::auth::Principal;
use crate::error::{ApiError, Body, FieldError};
use crate::model::{AdvertiserId, UnixTime};
use crate::store::NewConversion;

/// The user a conversion names, as funnel members are named.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserInput {
    key_type: String,
    id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConversionInput {
    advertiser_id: AdvertiserId,
    id: String,
    #[serde(default)]
    click_id: Option<String>,
    #[serde(default)]
    user: Option<UserInput>,
    #[serde(default)]
    value_micros: Micros,
    #[serde(default)]
    currency: Option<Currency>,
    #[serde(default)]
    at: Option<UnixTime>,
}

impl Admin {
    pub(super) fn conversion(
        &self,
        who: &Principal,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let input: ConversionInput = parse_json(body)?;
        require(who.is_granted(input.advertiser_id))?;
        let mut errors = Vec::new();
        if input.id.trim().is_empty() || input.id.len() > 200 {
            errors.push(FieldError::new("id", "must be 1 to 200 characters"));
        }
        if input.value_micros.0 < 0 {
            errors.push(FieldError::new("value_micros", "must not be negative"));
        }
        if input.click_id.is_none() && input.user.is_none() {
            errors.push(FieldError::new(
                "click_id",
                "a conversion names its click (click_id) or its user (user)",
            ));
        }
        let currency = input.currency.unwrap_or(openrtb::Currency::USD);
        if self.settings.fx.rate(currency).is_none() {
            errors.push(FieldError::new("currency", "no exchange rate for it"));
        }
        let now = self.clock.now();
        let at = input.at.unwrap_or(now);
        if at.0 > now.0 + 300 {
            errors.push(FieldError::new("at", "is in the future"));
        }
        let user = match &input.user {
            Some(u) => match self.key_of(&u.key_type, &u.id) {
                Ok(k) => Some(k),
                Err(ApiError::Unprocessable(mut e)) => {
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
        if !errors.is_empty() {
            return Err(ApiError::Unprocessable(errors));
        }
        if self.store.advertiser(input.advertiser_id)?.is_none() {
            return Err(ApiError::Unprocessable(vec![FieldError::new(
                "advertiser_id",
                "no such advertiser",
            )]));
        }
        let fx = &self.settings.fx;
        let outcome = self.store.record_conversion(
            &NewConversion {
                advertiser: input.advertiser_id,
                id: input.id.trim().to_owned(),
                click: input.click_id.clone(),
                user: user.map(|k| k.0),
                value: input.value_micros,
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
                .store
                .advertiser_funnels(input.advertiser_id)?
                .into_iter()
                .filter_map(|f| f.moves.conversion.map(|to| (f.id, key, to)))
                .collect();
            moved = self.audience.advance(&moves, self.settings.move_ttl_secs)?;
        }
        let status = if outcome.duplicate {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        };
        json(
            status,
            &j!({
                "duplicate": outcome.duplicate,
                "attributed": outcome.attribution.as_ref().map(|a| j!({
                    "bid": a.bid,
                    "through": a.through,
                    "campaign_id": a.campaign,
                    "value_micros": a.value,
                    "currency": a.currency,
                })),
                "funnel_moves": moved,
            }),
            None,
        )
    }
}

//! `POST /api/v1/conversions`: an advertiser's server-to-server postback.
//! 201 the first time a conversion is reported, 200 for a repeat; the
//! answer says whether it was a duplicate, whom it was attributed to and
//! how many funnels the user moved forward in.

use http::{Response, StatusCode};
use openrtb::{Currency, Micros};
use serde::Deserialize;
use serde_json::json as j;

use super::Admin;
use super::request::{json, parse_json};
use crate::control::auth::Principal;
use crate::control::service::{ConversionDraft, UserRef};
use crate::error::{ApiError, Body};
use crate::model::{AdvertiserId, UnixTime};

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

impl From<ConversionInput> for ConversionDraft {
    fn from(c: ConversionInput) -> ConversionDraft {
        ConversionDraft {
            advertiser_id: c.advertiser_id,
            id: c.id,
            click_id: c.click_id,
            user: c.user.map(|u| UserRef {
                key_type: u.key_type,
                id: u.id,
            }),
            value_micros: c.value_micros,
            currency: c.currency,
            at: c.at,
        }
    }
}

impl Admin {
    pub(super) fn conversion(
        &self,
        who: &Principal,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let input: ConversionInput = parse_json(body)?;
        let receipt = self.services.conversions().record(who, &input.into())?;
        let status = if receipt.duplicate {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        };
        json(
            status,
            &j!({
                "duplicate": receipt.duplicate,
                "attributed": receipt.attribution.as_ref().map(|a| j!({
                    "bid": a.bid,
                    "through": a.through,
                    "campaign_id": a.campaign,
                    "value_micros": a.value,
                    "currency": a.currency,
                })),
                "funnel_moves": receipt.funnel_moves,
            }),
            None,
        )
    }
}

//! `POST /api/v1/campaigns:batch`: campaigns created with their creatives,
//! campaigns replaced, creatives replaced, many at once, all or nothing
//! (the service's `Campaigns::batch`).
//!
//! Reads each item on its own, so that a wrong shape in one item does not
//! hide another's: every item's first shape error is listed in one 422,
//! each path under `items[i]`. Answers 200 with one result per item, in
//! order.

use http::{Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Admin;
use super::input::{CampaignInput, CreativeInput};
use super::request::{json, parse_json};
use super::shape::strip_position;
use crate::control::auth::Principal;
use crate::control::service::{BatchItem, ItemResult};
use crate::error::{ApiError, Body, FieldError};
use crate::model::{CampaignId, Creative, CreativeId};

/// The body: the items, each read on its own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchInput {
    items: Vec<Value>,
}

/// What an item does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
enum Op {
    /// A new campaign with `creatives`.
    Create,
    /// Campaign `id` replaced at `version` by `campaign`; `creatives`
    /// added to it.
    Update,
    /// Creative `id` replaced at `version` by `creative`.
    UpdateCreative,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Update => "update",
            Op::UpdateCreative => "update_creative",
        }
    }
}

/// One item as sent; which fields an op takes is checked after reading.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemInput {
    op: Op,
    #[serde(default)]
    id: Option<i64>,
    /// The version replaced; else the `version` inside `campaign` or
    /// `creative`, as in a single `PUT` body.
    #[serde(default)]
    version: Option<i64>,
    #[serde(default)]
    campaign: Option<CampaignInput>,
    #[serde(default)]
    creatives: Vec<CreativeInput>,
    #[serde(default)]
    creative: Option<CreativeInput>,
}

/// One item's answer.
#[derive(Debug, Serialize)]
struct ItemAnswer {
    index: usize,
    op: Op,
    /// 201 for a campaign created, 200 for a write that replaced a row.
    status: u16,
    /// The campaign's id, or the creative's for `update_creative`.
    id: i64,
    version: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    creatives: Option<Vec<CreativeAnswer>>,
}

#[derive(Debug, Serialize)]
struct CreativeAnswer {
    id: i64,
    version: i64,
}

#[derive(Debug, Serialize)]
struct BatchAnswer {
    results: Vec<ItemAnswer>,
}

impl Admin {
    pub(super) fn campaigns_batch(
        &self,
        who: &Principal,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let campaigns = self.services.campaigns();
        let input: BatchInput = parse_json(body)?;
        campaigns.check_batch(input.items.len())?;
        let mut items = Vec::with_capacity(input.items.len());
        let mut errors = Vec::new();
        for (i, value) in input.items.iter().enumerate() {
            match item(i, value) {
                Ok(item) => items.push(item),
                Err(mut e) => errors.append(&mut e),
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::Unprocessable(errors));
        }
        let results = campaigns.batch(who, items)?;
        let results = results
            .into_iter()
            .enumerate()
            .map(|(index, r)| answer(index, r))
            .collect();
        json(StatusCode::OK, &BatchAnswer { results }, None)
    }
}

/// Item `i` as the service takes it, or what is wrong with its shape.
fn item(i: usize, value: &Value) -> Result<BatchItem, Vec<FieldError>> {
    let input: ItemInput = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            format!("items[{i}]")
        } else {
            format!("items[{i}].{path}")
        };
        vec![FieldError::new(field, strip_position(e.inner()))]
    })?;
    let op = input.op;
    let mut errors = Vec::new();
    let mut field = |name: &str, message: String| {
        errors.push(FieldError::new(format!("items[{i}].{name}"), message))
    };
    let takes = |name: &str| match op {
        Op::Create => matches!(name, "campaign" | "creatives"),
        Op::Update => matches!(name, "id" | "version" | "campaign" | "creatives"),
        Op::UpdateCreative => matches!(name, "id" | "version" | "creative"),
    };
    for (name, given) in [
        ("id", input.id.is_some()),
        ("version", input.version.is_some()),
        ("campaign", input.campaign.is_some()),
        ("creatives", !input.creatives.is_empty()),
        ("creative", input.creative.is_some()),
    ] {
        let required = takes(name) && matches!(name, "id" | "campaign" | "creative");
        if given && !takes(name) {
            field(name, format!("not taken by op {}", op.as_str()));
        } else if !given && required {
            field(name, format!("required by op {}", op.as_str()));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let creatives = |list: Vec<CreativeInput>| -> Vec<Creative> {
        list.into_iter()
            .map(|c| c.into_draft(CreativeId(0), CampaignId(0)))
            .collect()
    };
    // Which fields each op takes was checked just above: the last arm is
    // never reached.
    Ok(match (op, input.campaign, input.creative, input.id) {
        (Op::Create, Some(campaign), None, None) => BatchItem::Create {
            campaign: campaign.into_draft(CampaignId(0)),
            creatives: creatives(input.creatives),
        },
        (Op::Update, Some(campaign), None, Some(id)) => BatchItem::Update {
            id: CampaignId(id),
            version: input.version.or(campaign.version),
            campaign: campaign.into_draft(CampaignId(id)),
            creatives: creatives(input.creatives),
        },
        (Op::UpdateCreative, None, Some(creative), Some(id)) => BatchItem::UpdateCreative {
            id: CreativeId(id),
            version: input.version.or(creative.version),
            creative: creative.into_draft(CreativeId(id), CampaignId(0)),
        },
        _ => {
            return Err(vec![FieldError::new(
                format!("items[{i}]"),
                "fields that do not fit its op",
            )]);
        }
    })
}

/// The answer for result `r` of item `index`.
fn answer(index: usize, r: ItemResult) -> ItemAnswer {
    let made = |list: Vec<Creative>| {
        Some(
            list.iter()
                .map(|c| CreativeAnswer {
                    id: c.id.0,
                    version: c.version,
                })
                .collect(),
        )
    };
    match r {
        ItemResult::Created {
            campaign,
            creatives,
        } => ItemAnswer {
            index,
            op: Op::Create,
            status: StatusCode::CREATED.as_u16(),
            id: campaign.id.0,
            version: campaign.version,
            creatives: made(creatives),
        },
        ItemResult::Updated {
            campaign,
            creatives,
        } => ItemAnswer {
            index,
            op: Op::Update,
            status: StatusCode::OK.as_u16(),
            id: campaign.id.0,
            version: campaign.version,
            creatives: made(creatives),
        },
        ItemResult::CreativeUpdated(c) => ItemAnswer {
            index,
            op: Op::UpdateCreative,
            status: StatusCode::OK.as_u16(),
            id: c.id.0,
            version: c.version,
            creatives: None,
        },
    }
}

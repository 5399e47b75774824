//! A funnel: one advertiser's stages of the customer journey, with the
//! names the buyer gives them. Its members live in the audience store and
//! table, not here.

use audiences::Stage;
use audiences::table::FunnelId;
use serde::{Deserialize, Serialize};

use super::{AdvertiserId, UnixTime};

/// A funnel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Funnel {
    /// Id.
    pub id: FunnelId,
    /// Owner.
    pub advertiser_id: AdvertiserId,
    /// Display name.
    pub name: String,
    /// The buyer's names of the six stages, in funnel order.
    pub stage_names: StageNames,
    /// Where impressions, clicks and conversions move a user.
    #[serde(default)]
    pub moves: FunnelMoves,
    /// Incremented on every write; the admin API's ETag.
    pub version: i64,
    /// Creation time.
    pub created_at: UnixTime,
    /// Last update.
    pub updated_at: UnixTime,
}

/// The stage each kind of event moves a user to, at least: a user already
/// further along stays where they are (moves only go forward). `null`
/// turns a move off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FunnelMoves {
    /// After an impression (default `awareness`).
    pub impression: Option<Stage>,
    /// After a click (default `consideration`).
    pub click: Option<Stage>,
    /// After a conversion (default `customer`).
    pub conversion: Option<Stage>,
}

impl Default for FunnelMoves {
    fn default() -> FunnelMoves {
        FunnelMoves {
            impression: Some(Stage::Awareness),
            click: Some(Stage::Consideration),
            conversion: Some(Stage::Customer),
        }
    }
}

/// Names of the six stages in funnel order: renamed, never reordered or
/// counted differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StageNames(pub [String; 6]);

impl Default for StageNames {
    fn default() -> StageNames {
        StageNames(Stage::ALL.map(|s| s.as_str().to_owned()))
    }
}

impl StageNames {
    /// The name of `stage`.
    pub fn name(&self, stage: Stage) -> &str {
        &self.0[stage.index()]
    }

    /// The stage called `name` here or canonically (case-insensitive), or
    /// by its position `0`..`5`.
    pub fn parse(&self, name: &str) -> Option<Stage> {
        let name = name.trim();
        if let Ok(i) = name.parse::<usize>() {
            return Stage::ALL.get(i).copied();
        }
        Stage::ALL
            .into_iter()
            .find(|s| self.name(*s).eq_ignore_ascii_case(name))
            .or_else(|| name.parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_found_by_the_buyers_name_the_canonical_name_or_position() {
        let mut names = StageNames::default();
        names.0[3] = "Ready to buy".into();
        assert_eq!(names.parse("ready to BUY"), Some(Stage::Intent));
        assert_eq!(names.parse("intent"), Some(Stage::Intent));
        assert_eq!(names.parse("5"), Some(Stage::Loyal));
        assert_eq!(names.parse("6"), None);
        assert_eq!(names.parse("buyer"), None);
    }
}

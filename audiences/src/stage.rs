//! Funnel stages and the per-stage bid multipliers of a campaign.
//!
//! A multiplier is an integer in per-mille (1000 = bid the base price) so
//! that applying it to a price in micros stays integer arithmetic.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where a user stands with one advertiser, from not knowing it to loyal.
/// The order is meaningful: later stages are closer to (repeat) purchase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Stage {
    /// Has not met the brand.
    Unaware = 0,
    /// Has seen the brand.
    Awareness = 1,
    /// Is weighing it.
    Consideration = 2,
    /// Is about to buy.
    Intent = 3,
    /// Has bought.
    Customer = 4,
    /// Buys again.
    Loyal = 5,
}

impl Stage {
    /// Every stage, in funnel order.
    pub const ALL: [Stage; 6] = [
        Stage::Unaware,
        Stage::Awareness,
        Stage::Consideration,
        Stage::Intent,
        Stage::Customer,
        Stage::Loyal,
    ];

    /// The stage's canonical lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Unaware => "unaware",
            Stage::Awareness => "awareness",
            Stage::Consideration => "consideration",
            Stage::Intent => "intent",
            Stage::Customer => "customer",
            Stage::Loyal => "loyal",
        }
    }

    /// Position in the funnel, 0 for `unaware`.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A name that is not a funnel stage.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "unknown funnel stage {0:?} (expected one of unaware, awareness, consideration, intent, customer, loyal)"
)]
pub struct StageError(pub String);

impl FromStr for Stage {
    type Err = StageError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stage::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| StageError(s.to_owned()))
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Stage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Stage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

/// Per-stage bid multipliers in per-mille; 1000 (1.0x) for a stage not set.
/// On the wire an object of stage name to a decimal factor between 0 and 10,
/// e.g. `{"intent": 1.5, "loyal": 0.5}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StageMultipliers([u32; 6]);

impl StageMultipliers {
    /// One (per-mille).
    pub const ONE: u32 = 1000;
    /// Largest factor accepted, in per-mille: 10x.
    pub const MAX: u32 = 10_000;

    /// The multiplier for `stage`, in per-mille.
    pub fn get(&self, stage: Stage) -> u32 {
        self.0[stage.index()]
    }

    /// Sets the multiplier for `stage`, in per-mille, capped at [`Self::MAX`].
    pub fn set(&mut self, stage: Stage, permille: u32) {
        self.0[stage.index()] = permille.min(Self::MAX);
    }

    /// True when no stage differs from 1.0x.
    pub fn is_neutral(&self) -> bool {
        self.0.iter().all(|&m| m == Self::ONE)
    }
}

impl Default for StageMultipliers {
    fn default() -> Self {
        StageMultipliers([Self::ONE; 6])
    }
}

impl Serialize for StageMultipliers {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let set: Vec<Stage> = Stage::ALL
            .into_iter()
            .filter(|st| self.get(*st) != Self::ONE)
            .collect();
        let mut map = s.serialize_map(Some(set.len()))?;
        for st in set {
            map.serialize_entry(st.as_str(), &(self.get(st) as f64 / Self::ONE as f64))?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for StageMultipliers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StageMultipliers;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of funnel stage to a factor between 0 and 10")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = StageMultipliers::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let stage: Stage = key.parse().map_err(de::Error::custom)?;
                    let factor: f64 = map.next_value()?;
                    if !factor.is_finite() || !(0.0..=10.0).contains(&factor) {
                        return Err(de::Error::custom(format!(
                            "multiplier for {stage} must be between 0 and 10, got {factor}"
                        )));
                    }
                    out.set(
                        stage,
                        (factor * StageMultipliers::ONE as f64).round() as u32,
                    );
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_parse_case_insensitively_and_keep_funnel_order() {
        assert_eq!("Intent".parse::<Stage>(), Ok(Stage::Intent));
        assert!(Stage::Awareness < Stage::Customer);
        assert!("buyer".parse::<Stage>().is_err());
    }

    #[test]
    fn multipliers_round_trip_as_stage_factor_objects() {
        let m: StageMultipliers = serde_json::from_str(r#"{"intent": 1.5, "loyal": 0}"#).unwrap();
        assert_eq!(m.get(Stage::Intent), 1500);
        assert_eq!(m.get(Stage::Loyal), 0);
        assert_eq!(m.get(Stage::Awareness), 1000);
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"intent":1.5,"loyal":0.0}"#
        );
    }

    #[test]
    fn multipliers_outside_zero_to_ten_are_rejected() {
        assert!(serde_json::from_str::<StageMultipliers>(r#"{"intent": 11}"#).is_err());
        assert!(serde_json::from_str::<StageMultipliers>(r#"{"intent": -1}"#).is_err());
        assert!(serde_json::from_str::<StageMultipliers>(r#"{"buyer": 1}"#).is_err());
    }
}

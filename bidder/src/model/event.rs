//! An event as the event log keeps it: one notice or tracker call, checked
//! against its token, with what it costs.

use audiences::Stage;
use creative::assembly::ComboKey;
use openrtb::Micros;

use super::{CampaignId, UnixTime};

/// What came back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The exchange's win notice (`nurl`).
    Win,
    /// The billing notice (`burl`): the impression is billable.
    Bill,
    /// The loss notice (`lurl`).
    Loss,
    /// The creative's impression pixel.
    Impression,
    /// A click through the click tracker.
    Click,
}

impl EventKind {
    /// Every kind, in the order metrics list them.
    pub const ALL: [EventKind; 5] = [
        EventKind::Win,
        EventKind::Bill,
        EventKind::Loss,
        EventKind::Impression,
        EventKind::Click,
    ];

    /// The name in the event log, URLs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Win => "win",
            EventKind::Bill => "bill",
            EventKind::Loss => "loss",
            EventKind::Impression => "imp",
            EventKind::Click => "click",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One event to record. At most one per (bid, kind) is ever counted.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRecord {
    /// The bid id.
    pub bid: String,
    /// What happened.
    pub kind: EventKind,
    /// The campaign that bid.
    pub campaign: CampaignId,
    /// The exchange's name.
    pub exchange: String,
    /// The user's stage when the bid was made.
    pub stage: Option<Stage>,
    /// The assembled creative's combination.
    pub combo: Option<ComboKey>,
    /// The user's key, where consent allowed.
    pub user_key: Option<u64>,
    /// What we bid, CPM.
    pub bid_price: Micros,
    /// The clearing price the exchange reported, CPM.
    pub price: Option<Micros>,
    /// What this event books as spend (one impression at the clearing
    /// price: CPM / 1000, in the campaign's currency); zero for events that
    /// do not book.
    pub cost: Micros,
    /// What the bid reserved (its expected cost, in the campaign's
    /// currency); not stored, read from the token.
    pub reserved: Micros,
    /// Until when the bid's reservation is held; not stored, read from
    /// the token.
    pub held_until: UnixTime,
    /// Whether this instance made the bid and so holds its reservation
    /// (always, embedded). In a fleet a notice may reach another
    /// instance: it books the cost but releases nothing there, and the
    /// settle is forwarded to the instance that bid
    /// ([`crate::fleet::settles`]). Not stored.
    pub held_here: bool,
    /// When the bid was made.
    pub issued: UnixTime,
    /// When the event arrived.
    pub at: UnixTime,
    /// Whether it settles the bid's budget reservation: its billing point
    /// (books `cost`) or its loss.
    pub settles: bool,
    /// The user's country (ISO-3166-1 alpha-3), or empty.
    pub country: String,
    /// The OpenRTB device type, or 0.
    pub device_type: u8,
}

#[cfg(test)]
impl EventRecord {
    /// An impression of `campaign` shown to `user` at `at`, for tests of
    /// what impressions count toward.
    pub fn test_impression(campaign: CampaignId, user: u64, at: UnixTime) -> EventRecord {
        EventRecord {
            bid: format!("imp-{}-{user}-{}", campaign.0, at.0),
            kind: EventKind::Impression,
            campaign,
            exchange: "ex".into(),
            stage: None,
            combo: None,
            user_key: Some(user),
            bid_price: Micros(2_000_000),
            price: None,
            cost: Micros(0),
            reserved: Micros(0),
            held_until: at,
            held_here: true,
            issued: UnixTime(at.0 - 1),
            at,
            settles: false,
            country: String::new(),
            device_type: 0,
        }
    }
}

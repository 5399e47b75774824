//! What reading a request had to leave out or convert, which of its imps
//! cannot be served and why, and whether any part of it can be: the
//! bidder's record of being liberal in what it accepts
//! ([`BidRequest::repairs`](crate::BidRequest::repairs)).
//!
//! A request whose every field has the spec's type carries an empty
//! record, which costs nothing to build. Only requests the parser had to
//! read leniently (see [`crate::parse`]) or that [`crate::validate`]
//! trims allocate one.

/// A field's path with array indices left out (`imp[].banner.mimes`), so
/// that counting by path stays a short list. Built only from the model's
/// own keys: a repair never names a key the sender made up.
pub type FieldPath = String;

/// What was done to a field the request sent with the wrong type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// A value of the wrong type, or a repeated key: left out, as if
    /// absent.
    Dropped,
    /// `null` where the spec has no null: read as absent. Carries no
    /// restriction, so it never makes an imp unservable.
    Null,
    /// Read as what it plainly means: a number written as a string
    /// (`"1.5"`), an integer written as a float (`300.0`) or a boolean
    /// (`true` for 1), one value where a list belongs (`"cur":"USD"`), a
    /// native request encoded twice or sent without its braces.
    Coerced,
}

/// One field the parser did not read as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRepair {
    /// Where, indices left out.
    pub path: FieldPath,
    /// The index in the request's `imp` array, for a field inside an imp.
    pub imp: Option<usize>,
    /// What was done.
    pub action: Action,
}

/// Why an imp is left out of the request the bidder decides on: it gets
/// no bid, the other imps are still served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// An earlier imp has the same id: a bid names its imp by id, so only
    /// the first of each id can be bid on unambiguously.
    DuplicateId,
    /// No banner, video, audio or native object that can be read.
    NoMedia,
    /// Only a native object, and its request has no assets (Native 1.0
    /// `layout`/`adunit` requests, an empty or unreadable `request`).
    NativeWithoutAssets,
    /// The floor, its currency or the deals' terms cannot be read, or are
    /// negative or not a currency: bidding could undercut a real floor.
    Floor,
}

impl SkipReason {
    /// Every reason, in a stable order (metrics rows).
    pub const ALL: [SkipReason; 4] = [
        SkipReason::DuplicateId,
        SkipReason::NoMedia,
        SkipReason::NativeWithoutAssets,
        SkipReason::Floor,
    ];

    /// Stable snake_case name, the `reason` label in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::DuplicateId => "duplicate_id",
            SkipReason::NoMedia => "no_media",
            SkipReason::NativeWithoutAssets => "native_without_assets",
            SkipReason::Floor => "floor",
        }
    }

    /// Its position in [`SkipReason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// An imp left out of [`BidRequest::imp`](crate::BidRequest::imp).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Its index in the request as sent.
    pub index: usize,
    /// Why.
    pub reason: SkipReason,
}

/// Why no part of a request can be served: answered with a no-bid (the
/// spec's `nbr` 2, invalid request), never with an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unservable {
    /// A field the bidder must honour could not be read: a block list
    /// (`bcat`, `badv`, `bapp`, seats, languages, currencies), a privacy
    /// signal (`regs`, `device.lmt`) or what campaigns' site and app lists
    /// are checked against. Ignoring it could bid where the seller or the
    /// law forbids.
    NeededField(FieldPath),
    /// Every imp was skipped.
    NoImp,
}

/// The record of one request; see the module documentation.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Repairs {
    /// Fields not read as sent, in the order met.
    pub fields: Vec<FieldRepair>,
    /// Imps left out, in request order.
    pub skipped: Vec<Skipped>,
    /// Set when nothing of the request can be served.
    pub unservable: Option<Unservable>,
}

impl Repairs {
    /// Whether the request was read as sent and is served whole.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.skipped.is_empty() && self.unservable.is_none()
    }
}

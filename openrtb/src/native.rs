//! OpenRTB Native 1.2: the request an impression carries and the response a
//! bid's `adm` holds.
//!
//! The native request is small and parsed once per native impression, so it
//! is owned (no lifetime): exchanges send it either as a JSON string inside
//! `imp.native.request` (the spec) or as an object (common), sometimes wrapped
//! in `{"native": {...}}` (Native 1.0/1.1 style); all three end up here.

use serde::{Deserialize, Serialize};

/// A native ad request (Native 1.2 section 4).
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct NativeRequest {
    /// Version, "1.2".
    pub ver: Option<String>,
    /// Context type (content, social, product).
    pub context: Option<u32>,
    /// Context subtype.
    pub contextsubtype: Option<u32>,
    /// Placement type (in feed, atomic, outside core, recommendation).
    pub plcmttype: Option<u32>,
    /// Number of identical placements.
    pub plcmtcnt: Option<u32>,
    /// Sequence number.
    pub seq: Option<u32>,
    /// Assets the ad may or must carry.
    pub assets: Vec<AssetRequest>,
    /// 1 = the response may use `assetsurl`.
    pub aurlsupport: Option<u8>,
    /// 1 = the response may use `dcourl`.
    pub durlsupport: Option<u8>,
    /// Event trackers the placement supports.
    pub eventtrackers: Vec<EventTrackerRequest>,
    /// 1 = privacy notice supported.
    pub privacy: Option<u8>,
}

/// One asset of a native request; exactly one of `title`, `img`, `video`,
/// `data` is set.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct AssetRequest {
    /// Asset id, echoed in the response.
    pub id: u32,
    /// 1 = the response must carry this asset.
    pub required: u8,
    /// Title asset.
    pub title: Option<TitleRequest>,
    /// Image asset.
    pub img: Option<ImageRequest>,
    /// Video asset.
    pub video: Option<VideoRequest>,
    /// Data asset (description, CTA text, sponsored-by, ...).
    pub data: Option<DataRequest>,
}

/// A title asset request.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct TitleRequest {
    /// Maximum length in characters.
    pub len: u32,
}

/// An image asset request.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct ImageRequest {
    /// Image type: 1 icon, 3 main (see [`crate::enums::native_image`]).
    #[serde(rename = "type")]
    pub kind: Option<u32>,
    /// Exact width.
    pub w: Option<u32>,
    /// Exact height.
    pub h: Option<u32>,
    /// Minimum width.
    pub wmin: Option<u32>,
    /// Minimum height.
    pub hmin: Option<u32>,
    /// Accepted MIME types.
    pub mimes: Vec<String>,
}

/// A video asset request.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct VideoRequest {
    /// Accepted MIME types.
    pub mimes: Vec<String>,
    /// Minimum duration, seconds.
    pub minduration: Option<u32>,
    /// Maximum duration, seconds.
    pub maxduration: Option<u32>,
    /// Supported protocols.
    pub protocols: Vec<u32>,
}

/// A data asset request.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct DataRequest {
    /// Data type: 1 sponsored, 2 description, 12 CTA text, ... (see
    /// [`crate::enums::native_data`]).
    #[serde(rename = "type")]
    pub kind: u32,
    /// Maximum length in characters.
    pub len: Option<u32>,
}

/// An event tracker the placement supports.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct EventTrackerRequest {
    /// Event: 1 impression, 2 viewable-mrc50, ...
    pub event: u32,
    /// Methods: 1 image pixel, 2 JavaScript.
    pub methods: Vec<u32>,
}

/// A native ad response (Native 1.2 section 5), serialised into `bid.adm`.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct NativeResponse {
    /// Version, "1.2".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ver: Option<String>,
    /// Assets, ids echoing the request's.
    pub assets: Vec<AssetResponse>,
    /// Where a click goes.
    pub link: Link,
    /// Event trackers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eventtrackers: Vec<EventTrackerResponse>,
    /// Privacy notice URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privacy: Option<String>,
}

/// One asset of a native response.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct AssetResponse {
    /// Id of the requested asset this answers.
    pub id: u32,
    /// 1 = required (echo).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<u8>,
    /// Title text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<TitleResponse>,
    /// Image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub img: Option<ImageResponse>,
    /// Video (VAST tag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video: Option<VideoResponse>,
    /// Data value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<DataResponse>,
}

/// Title text.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct TitleResponse {
    /// The text.
    pub text: String,
}

/// An image.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImageResponse {
    /// Image type echoed.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<u32>,
    /// https URL.
    pub url: String,
    /// Width.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub w: Option<u32>,
    /// Height.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub h: Option<u32>,
}

/// A video asset.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct VideoResponse {
    /// A VAST document.
    pub vasttag: String,
}

/// A data value.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct DataResponse {
    /// Data type echoed.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<u32>,
    /// The value.
    pub value: String,
}

/// A click destination.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct Link {
    /// Landing (or click tracker) URL.
    pub url: String,
    /// Click trackers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clicktrackers: Vec<String>,
}

/// An event tracker in a response.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct EventTrackerResponse {
    /// Event type.
    pub event: u32,
    /// Method.
    pub method: u32,
    /// Tracker URL.
    pub url: String,
}

/// Whether native request text is the legacy `{"native": ...}` wrapper.
/// The wrapper's one key is `native`, which a bare request never has: the
/// first key tells the two apart.
pub(crate) fn is_wrapped(text: &str) -> bool {
    let inner = text.trim_start().strip_prefix('{').unwrap_or("");
    inner.trim_start().starts_with("\"native\"")
}

/// A native request sent as the spec says, as JSON text, bare or in the
/// legacy `{"native": ...}` wrapper.
pub(crate) fn from_text(text: &str) -> Result<NativeRequest, serde_json::Error> {
    /// The legacy wrapper, when the text says it is one.
    #[derive(Deserialize)]
    struct Wrapped {
        native: NativeRequest,
    }
    if is_wrapped(text) {
        serde_json::from_str::<Wrapped>(text).map(|w| w.native)
    } else {
        serde_json::from_str::<NativeRequest>(text)
    }
}

/// Deserialises `imp.native.request`: a JSON string holding the request, or
/// the request object itself, either optionally wrapped in `{"native": ..}`.
///
/// The string form (what Native 1.1 and later send) is parsed straight into
/// the request: serde's untagged enums would first buffer the whole value
/// (and the object inside the string once more), which cost about a sixth
/// of parsing a corpus with native imps.
pub fn deserialize_request<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<NativeRequest, D::Error> {
    use serde::de::{Error, MapAccess, Visitor};

    /// The two shapes a native request comes in once it is an object.
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Shape {
        Wrapped { native: NativeRequest },
        Bare(NativeRequest),
    }

    struct Request;
    impl<'de> Visitor<'de> for Request {
        type Value = NativeRequest;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a native request, as a JSON string or an object")
        }

        fn visit_str<E: Error>(self, text: &str) -> Result<NativeRequest, E> {
            from_text(text).map_err(|e| E::custom(format_args!("native request string: {e}")))
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<NativeRequest, A::Error> {
            // The object form is rare (pre-1.1 exchanges): buffered.
            let value =
                serde_json::Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
            match serde_json::from_value::<Shape>(value) {
                Ok(Shape::Wrapped { native }) | Ok(Shape::Bare(native)) => Ok(native),
                Err(e) => Err(A::Error::custom(format_args!("native request: {e}"))),
            }
        }
    }
    d.deserialize_any(Request)
}

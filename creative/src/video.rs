//! Video a player can play: the VAST versions a creative can be served
//! as, inline or wrapper, its media files (type, delivery, bit rate, the
//! API a file needs), its duration, linearity, skippability and the
//! placements it is made for ([`Playable`]); and whether an impression's
//! `video` object takes it, in which version ([`Playable::fit`]).
//!
//! A [`Playable`] is computed once per creative, when a snapshot is built
//! (the bidder reads a fixed VAST document; a plan derives it from an
//! assembled ad's video asset). The check per request reads small fields,
//! never parses and never allocates.
//!
//! Codes are AdCOM 1.0's: "Creative Subtypes - Audio/Video" for protocols
//! (1 VAST 1.0, 2 VAST 2.0, 3 VAST 3.0, 4-6 their wrappers, 7 VAST 4.0, 8
//! its wrapper, 11 VAST 4.1, 12 its wrapper, 13 VAST 4.2, 14 its
//! wrapper), "Delivery Methods" (1 streaming, 2 progressive, 3 download),
//! "API Frameworks" (1 VPAID 1.0, 2 VPAID 2.0, ...), "Plcmt Subtypes -
//! Video" (1 instream, 2 accompanying content, 3 interstitial, 4 no
//! content/standalone) and OpenRTB 2.5's placement types, read as the
//! 2.6 subtype they became when `plcmt` is absent.

use openrtb::Video;

/// A VAST version this bidder writes or serves, oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VastVersion {
    /// VAST 2.0.
    V2,
    /// VAST 3.0.
    V3,
    /// VAST 4.0.
    V4_0,
    /// VAST 4.1.
    V4_1,
    /// VAST 4.2.
    V4_2,
}

impl VastVersion {
    /// Every version, oldest first.
    pub const ALL: [VastVersion; 5] = [
        VastVersion::V2,
        VastVersion::V3,
        VastVersion::V4_0,
        VastVersion::V4_1,
        VastVersion::V4_2,
    ];

    /// The `version` attribute this version is written with.
    pub fn as_str(self) -> &'static str {
        match self {
            VastVersion::V2 => "2.0",
            VastVersion::V3 => "3.0",
            VastVersion::V4_0 => "4.0",
            VastVersion::V4_1 => "4.1",
            VastVersion::V4_2 => "4.2",
        }
    }

    /// The version a `version` attribute names: `major.minor`, a patch
    /// number ignored (`4.2.0`), a bare major meaning `.0`. `None` for
    /// versions without a protocol code to tell an exchange (1.0, 4.3).
    pub fn parse(text: &str) -> Option<VastVersion> {
        let mut parts = text.trim().split('.');
        let major = parts.next()?;
        let minor = parts.next().unwrap_or("0");
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(major) || !digits(minor) || parts.any(|p| !digits(p)) {
            return None;
        }
        match (major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?) {
            (2, 0) => Some(VastVersion::V2),
            (3, 0) => Some(VastVersion::V3),
            (4, 0) => Some(VastVersion::V4_0),
            (4, 1) => Some(VastVersion::V4_1),
            (4, 2) => Some(VastVersion::V4_2),
            _ => None,
        }
    }

    /// Its position in [`VastVersion::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The AdCOM protocol code of an inline ad (or, with `wrapper`, of a
    /// wrapper) in this version.
    pub fn protocol(self, wrapper: bool) -> u32 {
        match (self, wrapper) {
            (VastVersion::V2, false) => 2,
            (VastVersion::V2, true) => 5,
            (VastVersion::V3, false) => 3,
            (VastVersion::V3, true) => 6,
            (VastVersion::V4_0, false) => 7,
            (VastVersion::V4_0, true) => 8,
            (VastVersion::V4_1, false) => 11,
            (VastVersion::V4_1, true) => 12,
            (VastVersion::V4_2, false) => 13,
            (VastVersion::V4_2, true) => 14,
        }
    }
}

/// A set of VAST versions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Versions(u8);

impl Versions {
    /// Every version this bidder writes: what an assembled ad can be.
    pub const ALL: Versions = Versions(0b1_1111);

    /// The set with `v` added.
    pub fn with(self, v: VastVersion) -> Versions {
        Versions(self.0 | 1 << v.index())
    }

    /// Whether `v` is in the set.
    pub fn contains(self, v: VastVersion) -> bool {
        self.0 & 1 << v.index() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The versions in the set, newest first.
    pub fn newest_first(self) -> impl Iterator<Item = VastVersion> {
        VastVersion::ALL
            .into_iter()
            .rev()
            .filter(move |v| self.contains(*v))
    }
}

/// How a media file reaches the player (its `delivery` attribute).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Streamed (HLS, DASH, ...): AdCOM delivery method 1.
    Streaming,
    /// Downloaded while it plays: AdCOM delivery method 2.
    Progressive,
}

impl Delivery {
    /// The delivery a `delivery` attribute names.
    pub fn parse(text: &str) -> Option<Delivery> {
        match text.trim() {
            t if t.eq_ignore_ascii_case("streaming") => Some(Delivery::Streaming),
            t if t.eq_ignore_ascii_case("progressive") => Some(Delivery::Progressive),
            _ => None,
        }
    }

    /// Its AdCOM delivery method code.
    pub fn code(self) -> u32 {
        match self {
            Delivery::Streaming => 1,
            Delivery::Progressive => 2,
        }
    }
}

/// API frameworks a VPAID media file can run under (AdCOM: VPAID 1.0 and
/// 2.0).
pub const VPAID: &[u32] = &[1, 2];

/// One media file a player may choose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaFile {
    /// MIME type (`type`).
    pub mime: Box<str>,
    /// How it is delivered; `None` when the document does not say (a
    /// wrapper's declared types).
    pub delivery: Option<Delivery>,
    /// Bit rate in Kbps, lowest and highest (equal for a fixed rate);
    /// `None` when not stated.
    pub bitrate: Option<(u32, u32)>,
    /// API frameworks it plays under, any one of them (a VPAID unit);
    /// empty for a plain video file.
    pub api: &'static [u32],
}

impl MediaFile {
    /// A plain file of `mime`, delivery and bit rate unknown.
    pub fn of_type(mime: &str) -> MediaFile {
        MediaFile {
            mime: mime.into(),
            delivery: None,
            bitrate: None,
            api: &[],
        }
    }
}

/// What a video creative is and needs, for matching it with a slot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Playable {
    /// The versions it can be served as; empty when it names none (then
    /// it is served only where the request names no protocol).
    pub versions: Versions,
    /// It holds an inline ad.
    pub inline: bool,
    /// It holds a wrapper.
    pub wrapper: bool,
    /// The media files of its linear ads, any one of which a player may
    /// play; empty when unknown.
    pub media: Box<[MediaFile]>,
    /// Duration of the linear ad, milliseconds.
    pub duration_ms: u32,
    /// It has a linear ad.
    pub linear: bool,
    /// It has a non-linear ad.
    pub non_linear: bool,
    /// Its linear ad can be skipped (`skipoffset`).
    pub skippable: bool,
    /// The 2.6 placement subtypes it is made for; empty means any.
    pub placements: Box<[u32]>,
}

/// Why a creative does not fit a video slot, in the order they are
/// checked: a later one means the creative came closer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Misfit {
    /// No version it can be served as (inline or wrapper) is among the
    /// slot's protocols.
    Protocol,
    /// No media file of a MIME type the slot takes.
    Mime,
    /// None of those in a delivery method the slot takes.
    Delivery,
    /// None of those within the slot's bit rates.
    Bitrate,
    /// None of those playable without an API framework the slot lacks.
    Api,
    /// It lasts outside the slot's durations.
    Duration,
    /// The slot's placement, linearity or skip setting excludes it.
    Placement,
}

impl Playable {
    /// The version to serve it as in `video` (the newest the slot
    /// accepts; `None` for a creative that names no version, served as
    /// it is), or the first reason it does not fit. An AdCOM code the
    /// slot lists that is not a VAST version (DAAST) matches nothing.
    pub fn fit(&self, video: &Video<'_>) -> Result<Option<VastVersion>, Misfit> {
        let version = self.version_for(video)?;
        self.media_fit(video)?;
        self.duration_fit(video)?;
        self.placement_fit(video)?;
        Ok(version)
    }

    fn version_for(&self, video: &Video<'_>) -> Result<Option<VastVersion>, Misfit> {
        let listed = |code: u32| video.protocols.contains(&code) || video.protocol == Some(code);
        if video.protocols.is_empty() && video.protocol.is_none() {
            return Ok(self.versions.newest_first().next());
        }
        self.versions
            .newest_first()
            .find(|v| {
                (!self.inline || listed(v.protocol(false)))
                    && (!self.wrapper || listed(v.protocol(true)))
            })
            .map(Some)
            .ok_or(Misfit::Protocol)
    }

    /// Some media file meets the slot's MIME types, delivery methods, bit
    /// rates and API frameworks at once.
    fn media_fit(&self, video: &Video<'_>) -> Result<(), Misfit> {
        if self.media.is_empty() {
            return Ok(());
        }
        let mime = |m: &&MediaFile| {
            video.mimes.is_empty() || video.mimes.iter().any(|t| t.eq_ignore_ascii_case(&m.mime))
        };
        let delivery = |m: &&MediaFile| {
            video.delivery.is_empty()
                || m.delivery
                    .is_none_or(|d| video.delivery.contains(&d.code()))
        };
        let bitrate = |m: &&MediaFile| {
            m.bitrate.is_none_or(|(low, high)| {
                video.minbitrate.is_none_or(|min| high >= min)
                    && video.maxbitrate.is_none_or(|max| max == 0 || low <= max)
            })
        };
        let api = |m: &&MediaFile| m.api.is_empty() || m.api.iter().any(|a| video.api.contains(a));
        let files = || self.media.iter();
        if !files().any(|m| mime(&m)) {
            return Err(Misfit::Mime);
        }
        if !files().filter(mime).any(|m| delivery(&m)) {
            return Err(Misfit::Delivery);
        }
        if !files().filter(mime).filter(delivery).any(|m| bitrate(&m)) {
            return Err(Misfit::Bitrate);
        }
        if !files()
            .filter(mime)
            .filter(delivery)
            .filter(bitrate)
            .any(|m| api(&m))
        {
            return Err(Misfit::Api);
        }
        Ok(())
    }

    /// The duration is among `rqddurs` when the slot lists them, else
    /// within `minduration`..`maxduration` (0: no maximum).
    fn duration_fit(&self, video: &Video<'_>) -> Result<(), Misfit> {
        let ms = u64::from(self.duration_ms);
        let fits = if video.rqddurs.is_empty() {
            video
                .minduration
                .is_none_or(|min| ms >= u64::from(min) * 1000)
                && video
                    .maxduration
                    .is_none_or(|max| max == 0 || ms <= u64::from(max) * 1000)
        } else {
            video.rqddurs.iter().any(|d| u64::from(*d) * 1000 == ms)
        };
        fits.then_some(()).ok_or(Misfit::Duration)
    }

    /// Linearity, skippability and placement, where the slot states them.
    fn placement_fit(&self, video: &Video<'_>) -> Result<(), Misfit> {
        let linearity = match video.linearity {
            Some(1) => self.linear,
            Some(2) => self.non_linear,
            _ => true,
        };
        // A player that will not let the ad be skipped is no place for an
        // ad built to be skipped.
        let skip = !(self.skippable && video.skip == Some(0));
        let placement =
            self.placements.is_empty() || plcmt(video).is_none_or(|p| self.placements.contains(&p));
        (linearity && skip && placement)
            .then_some(())
            .ok_or(Misfit::Placement)
    }
}

/// The slot's 2.6 placement subtype: `plcmt`, else the 2.5 `placement`
/// it became (in-stream stays instream; in-banner, in-article and in-feed
/// play without content; interstitial and floating are interstitial).
pub fn plcmt(video: &Video<'_>) -> Option<u32> {
    video.plcmt.or(match video.placement {
        Some(1) => Some(1),
        Some(2..=4) => Some(4),
        Some(5) => Some(3),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(json: &str) -> Video<'static> {
        let leaked: &'static str = Box::leak(json.to_owned().into_boxed_str());
        serde_json::from_str(leaked).expect("a video object")
    }

    /// A 15 s inline mp4 of 2,000 Kbps, progressive, written in any
    /// version.
    fn assembled() -> Playable {
        Playable {
            versions: Versions::ALL,
            inline: true,
            wrapper: false,
            media: Box::new([MediaFile {
                mime: "video/mp4".into(),
                delivery: Some(Delivery::Progressive),
                bitrate: Some((2000, 2000)),
                api: &[],
            }]),
            duration_ms: 15_000,
            linear: true,
            non_linear: false,
            skippable: false,
            placements: Box::new([]),
        }
    }

    #[test]
    fn versions_parse_with_or_without_minor_and_patch() {
        assert_eq!(VastVersion::parse("4.2"), Some(VastVersion::V4_2));
        assert_eq!(VastVersion::parse(" 4.2.0 "), Some(VastVersion::V4_2));
        assert_eq!(VastVersion::parse("3"), Some(VastVersion::V3));
        assert_eq!(VastVersion::parse("2.0.1"), Some(VastVersion::V2));
        for unknown in ["1.0", "4.3", "4.x", "", "4..2"] {
            assert_eq!(VastVersion::parse(unknown), None, "{unknown}");
        }
        for v in VastVersion::ALL {
            assert_eq!(VastVersion::parse(v.as_str()), Some(v));
            assert_eq!(VastVersion::ALL[v.index()], v);
        }
    }

    #[test]
    fn the_newest_accepted_version_is_served() {
        let ad = assembled();
        let served = |json| ad.fit(&video(json));
        assert_eq!(
            served(r#"{"protocols":[2,3,5,6,7,8]}"#),
            Ok(Some(VastVersion::V4_0))
        );
        assert_eq!(
            served(r#"{"protocols":[3,7]}"#),
            Ok(Some(VastVersion::V4_0))
        );
        assert_eq!(served(r#"{"protocols":[3,6]}"#), Ok(Some(VastVersion::V3)));
        assert_eq!(served(r#"{"protocol":3}"#), Ok(Some(VastVersion::V3)));
        assert_eq!(served("{}"), Ok(Some(VastVersion::V4_2)));
        // Wrapper codes only, or DAAST: an inline ad is not among them.
        assert_eq!(served(r#"{"protocols":[6,8,14]}"#), Err(Misfit::Protocol));
        assert_eq!(served(r#"{"protocols":[9,10]}"#), Err(Misfit::Protocol));
    }

    #[test]
    fn a_wrapper_needs_the_wrapper_code_of_its_version() {
        let wrapper = Playable {
            versions: Versions::default().with(VastVersion::V4_2),
            inline: false,
            wrapper: true,
            ..assembled()
        };
        assert_eq!(
            wrapper.fit(&video(r#"{"protocols":[13]}"#)),
            Err(Misfit::Protocol)
        );
        assert_eq!(
            wrapper.fit(&video(r#"{"protocols":[14]}"#)),
            Ok(Some(VastVersion::V4_2))
        );
        // A pod with both kinds needs both codes.
        let pod = Playable {
            inline: true,
            ..wrapper
        };
        assert_eq!(
            pod.fit(&video(r#"{"protocols":[14]}"#)),
            Err(Misfit::Protocol)
        );
        assert!(pod.fit(&video(r#"{"protocols":[13,14]}"#)).is_ok());
    }

    #[test]
    fn one_media_file_must_meet_type_delivery_bit_rate_and_api_at_once() {
        let ad = assembled();
        let fit = |json| ad.fit(&video(json));
        assert_eq!(fit(r#"{"mimes":["video/webm"]}"#), Err(Misfit::Mime));
        assert_eq!(fit(r#"{"delivery":[1]}"#), Err(Misfit::Delivery));
        assert_eq!(fit(r#"{"maxbitrate":1500}"#), Err(Misfit::Bitrate));
        assert_eq!(fit(r#"{"minbitrate":2500}"#), Err(Misfit::Bitrate));
        assert!(
            fit(r#"{"mimes":["VIDEO/MP4"],"delivery":[2],"minbitrate":300,"maxbitrate":2000}"#)
                .is_ok()
        );
        // A VPAID file plays only where the player runs VPAID; a plain
        // file beside it serves elsewhere.
        let vpaid = MediaFile {
            mime: "application/javascript".into(),
            api: VPAID,
            ..MediaFile::of_type("x")
        };
        let only_vpaid = Playable {
            media: Box::new([vpaid.clone()]),
            ..assembled()
        };
        assert_eq!(only_vpaid.fit(&video(r#"{"api":[7]}"#)), Err(Misfit::Api));
        assert!(only_vpaid.fit(&video(r#"{"api":[2,7]}"#)).is_ok());
        let both = Playable {
            media: Box::new([vpaid, assembled().media[0].clone()]),
            ..assembled()
        };
        assert!(both.fit(&video(r#"{"api":[7]}"#)).is_ok());
        // Unstated delivery and bit rate never refuse.
        let declared = Playable {
            media: Box::new([MediaFile::of_type("video/mp4")]),
            ..assembled()
        };
        assert!(
            declared
                .fit(&video(r#"{"delivery":[1],"maxbitrate":100}"#))
                .is_ok()
        );
    }

    #[test]
    fn durations_are_a_range_or_an_exact_list() {
        let ad = assembled();
        let fit = |json| ad.fit(&video(json));
        assert!(fit(r#"{"minduration":5,"maxduration":15}"#).is_ok());
        assert!(fit(r#"{"maxduration":0}"#).is_ok());
        assert_eq!(fit(r#"{"maxduration":10}"#), Err(Misfit::Duration));
        assert_eq!(fit(r#"{"minduration":20}"#), Err(Misfit::Duration));
        assert!(fit(r#"{"rqddurs":[6,15,30]}"#).is_ok());
        assert_eq!(fit(r#"{"rqddurs":[6,30]}"#), Err(Misfit::Duration));
        let longer = Playable {
            duration_ms: 15_500,
            ..assembled()
        };
        assert_eq!(
            longer.fit(&video(r#"{"rqddurs":[15]}"#)),
            Err(Misfit::Duration)
        );
    }

    #[test]
    fn linearity_skip_and_placement_are_respected_where_stated() {
        let ad = Playable {
            skippable: true,
            placements: Box::new([1]),
            ..assembled()
        };
        let fit = |json| ad.fit(&video(json));
        assert!(fit(r#"{"linearity":1,"skip":1,"plcmt":1}"#).is_ok());
        assert_eq!(fit(r#"{"linearity":2}"#), Err(Misfit::Placement));
        assert_eq!(fit(r#"{"skip":0}"#), Err(Misfit::Placement));
        assert_eq!(fit(r#"{"plcmt":4}"#), Err(Misfit::Placement));
        // 2.5: in-article is a standalone placement; in-stream is instream.
        assert_eq!(fit(r#"{"placement":3}"#), Err(Misfit::Placement));
        assert!(fit(r#"{"placement":1}"#).is_ok());
        // Unstated placement: the creative's wish cannot be checked.
        assert!(fit("{}").is_ok());
    }

    #[test]
    fn a_creative_without_a_version_plays_only_where_none_is_asked() {
        let old = Playable {
            versions: Versions::default(),
            ..assembled()
        };
        assert_eq!(old.fit(&video("{}")), Ok(None));
        assert_eq!(
            old.fit(&video(r#"{"protocols":[2,3]}"#)),
            Err(Misfit::Protocol)
        );
    }
}

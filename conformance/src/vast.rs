//! VAST: what a video player needs of a document to play an ad and count
//! it, by the VAST 4.x spec. Most rules hold for 2.0 and 3.0 as well; the
//! 4.x additions (`<UniversalAdId>` from 4.0, `<AdServingId>` from 4.1)
//! apply to the versions that have them.
//!
//! Elements are matched by local name: a document may or may not declare
//! the VAST namespace, and players accept both.
//!
//! Element order is not checked. The IAB's 4.2 schema fixes an order
//! (`<Impression>` before `<AdTitle>`, `<UniversalAdId>` after
//! `<Linear>`, `<VASTAdTagURI>` last in a wrapper) that the spec's own
//! text and examples do not keep and that players do not require; no
//! order is both the schema's and the players', so none is a rule here.

use roxmltree::{Document, Node};

use crate::violation::{Rule, Violation};

/// Checks a VAST document as the markup of a bid: well-formed, a
/// `<VAST version=...>` root, at least one `<Ad>`, and in each ad the
/// elements a player needs (see [`Rule`]'s `Vast*` rules). Returns every
/// violation found; none means the document passes.
///
/// ```
/// let doc = r#"<VAST version="4.2"><Ad><Wrapper>
///   <AdSystem>x</AdSystem><Impression>https://t.example/i</Impression>
///   <VASTAdTagURI>https://ads.example/next.xml</VASTAdTagURI>
/// </Wrapper></Ad></VAST>"#;
/// assert!(conformance::check_vast(doc).is_empty());
/// ```
pub fn check_vast(xml: &str) -> Vec<Violation> {
    inspect(xml).violations
}

/// What checking a document found, its version and kinds of ad, and the
/// linear ads it plays (for the checks that compare them with the
/// request).
pub(crate) struct Inspection {
    pub(crate) violations: Vec<Violation>,
    pub(crate) linears: Vec<LinearAd>,
    /// The root's `version`, when it is a VAST 2, 3 or 4 version.
    pub(crate) version: Option<Version>,
    /// It holds an `<InLine>` ad.
    pub(crate) inline: bool,
    /// It holds a `<Wrapper>` ad.
    pub(crate) wrapper: bool,
}

/// A linear ad of an `<InLine>`: what the request's duration and media
/// limits apply to.
pub(crate) struct LinearAd {
    /// Element path of the `<Linear>`.
    pub(crate) path: String,
    /// Its `<Duration>` in seconds, when valid.
    pub(crate) seconds: Option<f64>,
    /// The `type` of each of its `<MediaFile>`s.
    pub(crate) mimes: Vec<String>,
    /// The `delivery` of each of its `<MediaFile>`s, as written.
    pub(crate) deliveries: Vec<String>,
    /// The bit rate each of its `<MediaFile>`s states, Kbps, lowest and
    /// highest (`bitrate`, or `minBitrate` and `maxBitrate`).
    pub(crate) bitrates: Vec<Option<(f64, f64)>>,
}

/// Checks `xml` and collects its linear ads.
pub(crate) fn inspect(xml: &str) -> Inspection {
    let mut found = Inspection {
        violations: Vec::new(),
        linears: Vec::new(),
        version: None,
        inline: false,
        wrapper: false,
    };
    let doc = match Document::parse(xml) {
        Ok(doc) => doc,
        Err(roxmltree::Error::DtdDetected) => {
            found.add(
                "VAST",
                Rule::VastXml,
                "declares a DTD; VAST documents do not",
            );
            return found;
        }
        Err(e) => {
            found.add("VAST", Rule::VastXml, format!("not well-formed XML: {e}"));
            return found;
        }
    };
    let root = doc.root_element();
    if name(root) != "VAST" {
        found.add(
            name(root),
            Rule::VastRoot,
            format!("the root element is <{}>, not <VAST>", name(root)),
        );
        return found;
    }
    let version = match root.attribute("version") {
        None => {
            found.add("VAST", Rule::VastRoot, "<VAST> has no version attribute");
            return found;
        }
        Some(v) => match Version::parse(v) {
            Some(version) => version,
            None => {
                found.add(
                    "VAST",
                    Rule::VastRoot,
                    format!("version {v:?} is not a VAST 2, 3 or 4 version"),
                );
                return found;
            }
        },
    };
    found.version = Some(version);
    let mut ads = 0;
    for ad in children(root, "Ad") {
        ads += 1;
        found.ad(ad, &path_of("VAST", ad), version);
    }
    if ads == 0 {
        found.add("VAST", Rule::VastAd, "no <Ad>: nothing to play");
    }
    for error in children(root, "Error") {
        found.uri(error, &path_of("VAST", error));
    }
    found
}

/// A VAST version, major and minor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Version(pub(crate) u32, pub(crate) u32);

impl Version {
    /// Its AdCOM protocol codes, inline and wrapper; `None` for a version
    /// the list has no code for (4.3).
    pub(crate) fn protocols(self) -> Option<(i64, i64)> {
        match (self.0, self.1) {
            (2, 0) => Some((2, 5)),
            (3, 0) => Some((3, 6)),
            (4, 0) => Some((7, 8)),
            (4, 1) => Some((11, 12)),
            (4, 2) => Some((13, 14)),
            _ => None,
        }
    }

    /// `2.0`, `3.0`, `4.0` ... `4.3`, also with a patch number (`4.2.0`).
    fn parse(text: &str) -> Option<Version> {
        let mut parts = text.trim().split('.');
        let major: u32 = parts.next()?.parse().ok()?;
        let minor: u32 = match parts.next() {
            Some(m) => m.parse().ok()?,
            None => 0,
        };
        (2..=4).contains(&major).then_some(Version(major, minor))
    }
}

/// URI elements that must not be empty: what a player fetches or opens.
/// `<MediaFile>` is checked with its attributes.
const URI_ELEMENTS: &[&str] = &[
    "Impression",
    "Error",
    "Tracking",
    "ClickThrough",
    "ClickTracking",
    "CustomClick",
    "NonLinearClickThrough",
    "NonLinearClickTracking",
    "CompanionClickThrough",
    "CompanionClickTracking",
    "IconClickThrough",
    "IconClickTracking",
    "IconViewTracking",
    "Viewable",
    "NotViewable",
    "ViewUndetermined",
    "StaticResource",
    "IFrameResource",
    "JavaScriptResource",
    "ExecutableResource",
    "VASTAdTagURI",
];

/// Subtrees whose content is free-form: not read for URIs.
const OPAQUE: &[&str] = &[
    "Extensions",
    "CreativeExtensions",
    "AdParameters",
    "VerificationParameters",
];

impl Inspection {
    fn add(&mut self, path: impl Into<String>, rule: Rule, message: impl Into<String>) {
        self.violations.push(Violation::new(path, rule, message));
    }

    /// One `<Ad>`: exactly one `<InLine>` or `<Wrapper>`.
    fn ad(&mut self, ad: Node, at: &str, version: Version) {
        let inline: Vec<_> = children(ad, "InLine").collect();
        let wrapper: Vec<_> = children(ad, "Wrapper").collect();
        match (inline.as_slice(), wrapper.as_slice()) {
            ([inline], []) => {
                self.inline = true;
                self.inline(*inline, &format!("{at}/InLine"), version)
            }
            ([], [wrapper]) => {
                self.wrapper = true;
                self.wrapper(*wrapper, &format!("{at}/Wrapper"))
            }
            ([], []) => self.add(at, Rule::VastAd, "has neither <InLine> nor <Wrapper>"),
            _ => self.add(
                at,
                Rule::VastAd,
                format!(
                    "has {} <InLine> and {} <Wrapper>; exactly one of them",
                    inline.len(),
                    wrapper.len()
                ),
            ),
        }
    }

    /// What `<InLine>` and `<Wrapper>` both require, and their URIs.
    fn common(&mut self, ad: Node, at: &str) {
        match children(ad, "AdSystem").count() {
            1 => {}
            0 => self.add(at, Rule::VastRequired, "no <AdSystem>"),
            n => self.add(at, Rule::VastRequired, format!("{n} <AdSystem>; one")),
        }
        if children(ad, "Impression").next().is_none() {
            self.add(
                at,
                Rule::VastRequired,
                "no <Impression>: the ad cannot be counted",
            );
        }
        self.uris_under(ad, at);
    }

    /// An `<InLine>`: the ad itself.
    fn inline(&mut self, inline: Node, at: &str, version: Version) {
        self.common(inline, at);
        if children(inline, "AdTitle").next().is_none() {
            self.add(at, Rule::VastRequired, "no <AdTitle>");
        }
        if version >= Version(4, 1) && children(inline, "AdServingId").next().is_none() {
            self.add(
                at,
                Rule::VastRequired,
                "no <AdServingId> (required from VAST 4.1)",
            );
        }
        let Some(creatives) = children(inline, "Creatives").next() else {
            self.add(at, Rule::VastRequired, "no <Creatives>");
            return;
        };
        let at = format!("{at}/Creatives");
        let mut count = 0;
        for creative in children(creatives, "Creative") {
            count += 1;
            self.inline_creative(creative, &path_of(&at, creative), version);
        }
        if count == 0 {
            self.add(at, Rule::VastRequired, "no <Creative>");
        }
    }

    /// A `<Creative>` of an `<InLine>`.
    fn inline_creative(&mut self, creative: Node, at: &str, version: Version) {
        if version >= Version(4, 0) && children(creative, "UniversalAdId").next().is_none() {
            self.add(
                at,
                Rule::VastRequired,
                "no <UniversalAdId> (required from VAST 4.0)",
            );
        }
        let shows = ["Linear", "NonLinearAds", "CompanionAds"]
            .iter()
            .any(|kind| children(creative, kind).next().is_some());
        if !shows {
            self.add(
                at,
                Rule::VastRequired,
                "none of <Linear>, <NonLinearAds>, <CompanionAds>: nothing to show",
            );
        }
        for linear in children(creative, "Linear") {
            self.inline_linear(linear, &path_of(at, linear));
        }
    }

    /// A `<Linear>` of an `<InLine>`: how long it plays, and what.
    fn inline_linear(&mut self, linear: Node, at: &str) {
        let mut ad = LinearAd {
            path: at.to_owned(),
            seconds: None,
            mimes: Vec::new(),
            deliveries: Vec::new(),
            bitrates: Vec::new(),
        };
        if let Some(offset) = linear.attribute("skipoffset")
            && !is_offset(offset)
        {
            self.add(
                at,
                Rule::VastTime,
                format!("skipoffset {offset:?} is neither HH:MM:SS(.mmm) nor n%"),
            );
        }
        match children(linear, "Duration").next() {
            None => self.add(at, Rule::VastRequired, "no <Duration>"),
            Some(duration) => {
                let value = text(duration);
                ad.seconds = seconds(&value);
                if ad.seconds.is_none() {
                    self.add(
                        format!("{at}/Duration"),
                        Rule::VastTime,
                        format!("{value:?} is not HH:MM:SS or HH:MM:SS.mmm"),
                    );
                }
            }
        }
        match children(linear, "MediaFiles").next() {
            None => self.add(at, Rule::VastRequired, "no <MediaFiles>"),
            Some(files) => {
                let at = format!("{at}/MediaFiles");
                for file in children(files, "MediaFile") {
                    ad.mimes
                        .push(file.attribute("type").unwrap_or_default().to_owned());
                    ad.deliveries
                        .push(file.attribute("delivery").unwrap_or_default().to_owned());
                    ad.bitrates.push(bitrate(file));
                    self.media_file(file, &path_of(&at, file));
                }
                if ad.mimes.is_empty() {
                    self.add(at, Rule::VastRequired, "no <MediaFile>");
                }
            }
        }
        self.linears.push(ad);
    }

    /// A `<MediaFile>`: how to fetch it, what it is, how big, where.
    fn media_file(&mut self, file: Node, at: &str) {
        match file.attribute("delivery") {
            Some("progressive" | "streaming") => {}
            Some(other) => self.add(
                at,
                Rule::VastMediaFile,
                format!("delivery {other:?} is neither progressive nor streaming"),
            ),
            None => self.add(at, Rule::VastMediaFile, "no delivery attribute"),
        }
        if file.attribute("type").is_none_or(|t| t.trim().is_empty()) {
            self.add(at, Rule::VastMediaFile, "no type (MIME) attribute");
        }
        for dimension in ["width", "height"] {
            match file.attribute(dimension) {
                Some(v) if v.trim().parse::<u32>().is_ok() => {}
                Some(v) => self.add(
                    at,
                    Rule::VastMediaFile,
                    format!("{dimension} {v:?} is not a whole number of pixels"),
                ),
                None => self.add(at, Rule::VastMediaFile, format!("no {dimension} attribute")),
            }
        }
        if text(file).is_empty() {
            self.add(at, Rule::VastMediaFile, "no URI");
        }
    }

    /// A `<Wrapper>`: trackers, and where the ad is.
    fn wrapper(&mut self, wrapper: Node, at: &str) {
        self.common(wrapper, at);
        match children(wrapper, "VASTAdTagURI").count() {
            1 => {}
            0 => self.add(
                at,
                Rule::VastRequired,
                "no <VASTAdTagURI>: the ad is nowhere",
            ),
            n => self.add(at, Rule::VastRequired, format!("{n} <VASTAdTagURI>; one")),
        }
    }

    /// Every URI element under `el` (free-form subtrees aside) is not
    /// empty, and every `<Tracking>` names its event.
    fn uris_under(&mut self, el: Node, at: &str) {
        for child in el.children().filter(Node::is_element) {
            let name = name(child);
            if OPAQUE.contains(&name) {
                continue;
            }
            let here = path_of(at, child);
            if URI_ELEMENTS.contains(&name) {
                self.uri(child, &here);
            }
            if name == "Tracking" && child.attribute("event").is_none() {
                self.add(
                    &here,
                    Rule::VastRequired,
                    "<Tracking> without an event attribute",
                );
            }
            self.uris_under(child, &here);
        }
    }

    /// A URI element is not empty.
    fn uri(&mut self, el: Node, at: &str) {
        if text(el).is_empty() {
            self.add(at, Rule::VastUri, format!("empty <{}>", name(el)));
        }
    }
}

/// The bit rate a `<MediaFile>` states: `bitrate`, else `minBitrate` to
/// `maxBitrate`.
fn bitrate(file: Node) -> Option<(f64, f64)> {
    let kbps = |name: &str| {
        file.attribute(name)
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    match (kbps("bitrate"), kbps("minBitrate"), kbps("maxBitrate")) {
        (Some(b), ..) => Some((b, b)),
        (None, Some(low), Some(high)) => Some((low, high)),
        _ => None,
    }
}

/// Whether `value` is a VAST time, `HH:MM:SS` or `HH:MM:SS.mmm`, and its
/// seconds.
fn seconds(value: &str) -> Option<f64> {
    let (clock, millis) = match value.split_once('.') {
        Some((clock, millis)) => (clock, Some(millis)),
        None => (value, None),
    };
    let mut parts = clock.split(':');
    let mut field = |max: u32| -> Option<u32> {
        let part = parts.next()?;
        let n: u32 = (part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse().ok())??;
        (n < max).then_some(n)
    };
    let (h, m, s) = (field(100)?, field(60)?, field(60)?);
    if parts.next().is_some() {
        return None;
    }
    let ms = match millis {
        None => 0,
        Some(ms) if ms.len() == 3 && ms.bytes().all(|b| b.is_ascii_digit()) => {
            ms.parse::<u32>().ok()?
        }
        Some(_) => return None,
    };
    Some(f64::from(h * 3600 + m * 60 + s) + f64::from(ms) / 1000.0)
}

/// Whether `value` is a `skipoffset`: a VAST time or a percentage 0-100.
fn is_offset(value: &str) -> bool {
    match value.strip_suffix('%') {
        Some(n) => n.parse::<u8>().is_ok_and(|n| n <= 100),
        None => seconds(value).is_some(),
    }
}

/// The child elements of `el` with local name `local`.
fn children<'a, 'i>(el: Node<'a, 'i>, local: &'a str) -> impl Iterator<Item = Node<'a, 'i>> {
    el.children()
        .filter(move |n| n.is_element() && n.tag_name().name() == local)
}

/// The local name of an element.
fn name<'i>(el: Node<'_, 'i>) -> &'i str {
    el.tag_name().name()
}

/// The text of an element (CDATA included), trimmed.
fn text(el: Node) -> String {
    el.children()
        .filter(Node::is_text)
        .filter_map(|t| t.text())
        .collect::<String>()
        .trim()
        .to_owned()
}

/// `parent/Name`, or `parent/Name[i]` when `el` has siblings of its name.
fn path_of(parent: &str, el: Node) -> String {
    let name = name(el);
    let same = |n: &Node| n.is_element() && n.tag_name().name() == name;
    let before = el.prev_siblings().skip(1).filter(same).count();
    let after = el.next_siblings().skip(1).filter(same).count();
    match before + after {
        0 => format!("{parent}/{name}"),
        _ => format!("{parent}/{name}[{before}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4.2 inline ad with everything a player needs, `$LINEAR` inside
    /// its creative.
    fn inline(linear: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<VAST version="4.2" xmlns="http://www.iab.com/VAST">
  <Ad id="a1">
    <InLine>
      <AdSystem>acme</AdSystem>
      <Impression><![CDATA[https://t.example/imp]]></Impression>
      <AdServingId>s1</AdServingId>
      <AdTitle>Acme</AdTitle>
      <Creatives>
        <Creative>
          {linear}
          <UniversalAdId idRegistry="acme">c1</UniversalAdId>
        </Creative>
      </Creatives>
    </InLine>
  </Ad>
</VAST>"#
        )
    }

    const LINEAR: &str = r#"<Linear skipoffset="00:00:05">
        <TrackingEvents><Tracking event="start">https://t.example/start</Tracking></TrackingEvents>
        <Duration>00:00:15</Duration>
        <MediaFiles>
          <MediaFile delivery="progressive" type="video/mp4" width="640" height="360">
            <![CDATA[https://cdn.example/15s.mp4]]>
          </MediaFile>
        </MediaFiles>
      </Linear>"#;

    fn rules(xml: &str) -> Vec<Rule> {
        check_vast(xml).into_iter().map(|v| v.rule).collect()
    }

    #[test]
    fn a_complete_inline_ad_passes() {
        assert_eq!(check_vast(&inline(LINEAR)), []);
    }

    #[test]
    fn a_complete_wrapper_passes_without_creatives() {
        let doc = r#"<VAST version="3.0"><Ad><Wrapper><AdSystem>x</AdSystem>
            <Impression>https://t.example/i</Impression>
            <VASTAdTagURI><![CDATA[https://ads.example/next.xml]]></VASTAdTagURI>
            </Wrapper></Ad></VAST>"#;
        assert_eq!(check_vast(doc), []);
    }

    #[test]
    fn malformed_xml_and_a_dtd_are_refused() {
        assert_eq!(rules("<VAST version=\"4.2\"><Ad>"), [Rule::VastXml]);
        let dtd = "<!DOCTYPE VAST [<!ENTITY x \"y\">]><VAST version=\"4.2\"/>";
        assert_eq!(rules(dtd), [Rule::VastXml]);
    }

    #[test]
    fn the_root_must_be_vast_with_a_known_version() {
        assert_eq!(rules("<VMAP version=\"1.0\"/>"), [Rule::VastRoot]);
        assert_eq!(rules("<VAST><Ad/></VAST>"), [Rule::VastRoot]);
        assert_eq!(
            rules("<VAST version=\"9.1\"><Ad/></VAST>"),
            [Rule::VastRoot]
        );
    }

    #[test]
    fn a_document_without_ads_is_caught() {
        assert_eq!(rules("<VAST version=\"4.2\"/>"), [Rule::VastAd]);
    }

    #[test]
    fn an_ad_needs_exactly_one_of_inline_and_wrapper() {
        assert_eq!(rules("<VAST version=\"4.2\"><Ad/></VAST>"), [Rule::VastAd]);
        let both = inline(LINEAR).replace(
            "</InLine>",
            "</InLine><Wrapper><AdSystem>x</AdSystem><Impression>i</Impression><VASTAdTagURI>u</VASTAdTagURI></Wrapper>",
        );
        assert_eq!(rules(&both), [Rule::VastAd]);
    }

    #[test]
    fn an_inline_ad_without_its_required_elements_is_caught() {
        for element in [
            "<AdSystem>acme</AdSystem>",
            "<AdTitle>Acme</AdTitle>",
            "<AdServingId>s1</AdServingId>",
        ] {
            let doc = inline(LINEAR).replace(element, "");
            let found = check_vast(&doc);
            assert_eq!(found.len(), 1, "{element}: {found:?}");
            assert_eq!(found[0].rule, Rule::VastRequired);
            assert_eq!(found[0].path, "VAST/Ad/InLine");
        }
        let no_impression = inline(LINEAR).replace(
            "<Impression><![CDATA[https://t.example/imp]]></Impression>",
            "",
        );
        assert_eq!(rules(&no_impression), [Rule::VastRequired]);
    }

    #[test]
    fn the_4x_elements_are_required_of_4x_documents_only() {
        let old = inline(LINEAR)
            .replace("version=\"4.2\"", "version=\"3.0\"")
            .replace("<AdServingId>s1</AdServingId>", "")
            .replace("<UniversalAdId idRegistry=\"acme\">c1</UniversalAdId>", "");
        assert_eq!(check_vast(&old), []);
        let new = old.replace("version=\"3.0\"", "version=\"4.0\"");
        let found = check_vast(&new);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].message.contains("UniversalAdId"), "{found:?}");
    }

    #[test]
    fn an_inline_without_creatives_or_with_an_empty_creative_is_caught() {
        let doc = inline(LINEAR);
        let start = doc.find("<Creatives>").unwrap();
        let end = doc.find("</Creatives>").unwrap() + "</Creatives>".len();
        let mut none = doc.clone();
        none.replace_range(start..end, "");
        assert_eq!(rules(&none), [Rule::VastRequired]);
        assert_eq!(rules(&inline("")), [Rule::VastRequired]);
    }

    #[test]
    fn a_linear_needs_a_duration_in_vast_time() {
        let missing = LINEAR.replace("<Duration>00:00:15</Duration>", "");
        assert_eq!(rules(&inline(&missing)), [Rule::VastRequired]);
        for bad in ["15", "0:00:15", "00:00:60", "00:00:15.5", "00:15"] {
            let doc = inline(&LINEAR.replace("00:00:15<", &format!("{bad}<")));
            let found = check_vast(&doc);
            assert_eq!(found.len(), 1, "{bad}: {found:?}");
            assert_eq!(found[0].rule, Rule::VastTime, "{bad}");
            assert!(found[0].path.ends_with("Linear/Duration"), "{found:?}");
        }
        let millis = inline(&LINEAR.replace("00:00:15<", "00:00:15.250<"));
        assert_eq!(check_vast(&millis), []);
    }

    #[test]
    fn a_skipoffset_is_a_time_or_a_percentage() {
        let percent = inline(&LINEAR.replace("00:00:05", "25%"));
        assert_eq!(check_vast(&percent), []);
        let bad = inline(&LINEAR.replace("00:00:05", "5s"));
        assert_eq!(rules(&bad), [Rule::VastTime]);
    }

    #[test]
    fn a_linear_needs_media_files() {
        let start = LINEAR.find("<MediaFiles>").unwrap();
        let end = LINEAR.find("</MediaFiles>").unwrap() + "</MediaFiles>".len();
        let mut none = LINEAR.to_owned();
        none.replace_range(start..end, "");
        assert_eq!(rules(&inline(&none)), [Rule::VastRequired]);
        let mut empty = LINEAR.to_owned();
        empty.replace_range(start..end, "<MediaFiles></MediaFiles>");
        assert_eq!(rules(&inline(&empty)), [Rule::VastRequired]);
    }

    #[test]
    fn a_media_file_needs_its_attributes_and_a_uri() {
        for (from, to) in [
            (" delivery=\"progressive\"", ""),
            ("progressive", "download"),
            (" type=\"video/mp4\"", ""),
            (" width=\"640\"", ""),
            ("height=\"360\"", "height=\"tall\""),
            ("<![CDATA[https://cdn.example/15s.mp4]]>", ""),
        ] {
            let doc = inline(&LINEAR.replace(from, to));
            assert_eq!(rules(&doc), [Rule::VastMediaFile], "{from} -> {to}");
        }
    }

    #[test]
    fn empty_trackers_are_caught_wherever_they_are() {
        let doc = inline(&LINEAR.replace("https://t.example/start", " "));
        let found = check_vast(&doc);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].rule, Rule::VastUri);
        assert_eq!(
            found[0].path,
            "VAST/Ad/InLine/Creatives/Creative/Linear/TrackingEvents/Tracking"
        );
        let impression = inline(LINEAR).replace("<![CDATA[https://t.example/imp]]>", "");
        assert_eq!(rules(&impression), [Rule::VastUri]);
    }

    #[test]
    fn a_tracking_event_must_be_named() {
        let doc = inline(&LINEAR.replace(" event=\"start\"", ""));
        assert_eq!(rules(&doc), [Rule::VastRequired]);
    }

    #[test]
    fn extensions_are_not_read_for_uris() {
        let doc = inline(LINEAR).replace(
            "<AdTitle>",
            "<Extensions><Extension><Impression/></Extension></Extensions><AdTitle>",
        );
        assert_eq!(check_vast(&doc), []);
    }

    #[test]
    fn a_wrapper_needs_its_tag_uri_and_an_impression() {
        let doc =
            r#"<VAST version="4.2"><Ad><Wrapper><AdSystem>x</AdSystem></Wrapper></Ad></VAST>"#;
        assert_eq!(rules(doc), [Rule::VastRequired, Rule::VastRequired]);
        let empty = r#"<VAST version="4.2"><Ad><Wrapper><AdSystem>x</AdSystem>
            <Impression>i</Impression><VASTAdTagURI> </VASTAdTagURI></Wrapper></Ad></VAST>"#;
        assert_eq!(rules(empty), [Rule::VastUri]);
    }

    #[test]
    fn a_wrappers_linear_needs_no_media() {
        let doc = r#"<VAST version="4.2"><Ad><Wrapper><AdSystem>x</AdSystem>
            <Impression>i</Impression><Creatives><Creative><Linear/></Creative></Creatives>
            <VASTAdTagURI>u</VASTAdTagURI></Wrapper></Ad></VAST>"#;
        assert_eq!(check_vast(doc), []);
    }

    #[test]
    fn pods_are_checked_ad_by_ad_with_indexed_paths() {
        let doc = r#"<VAST version="4.2">
            <Ad sequence="1"><Wrapper><AdSystem>x</AdSystem><Impression>i</Impression><VASTAdTagURI>u</VASTAdTagURI></Wrapper></Ad>
            <Ad sequence="2"><Wrapper><AdSystem>x</AdSystem><Impression>i</Impression></Wrapper></Ad>
            </VAST>"#;
        let found = check_vast(doc);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].path, "VAST/Ad[1]/Wrapper");
    }

    #[test]
    fn linear_ads_report_their_duration_and_media_files() {
        let found = inspect(&inline(
            &LINEAR.replace("height=\"360\"", "height=\"360\" bitrate=\"800\""),
        ));
        assert_eq!(found.linears.len(), 1);
        assert_eq!(found.linears[0].seconds, Some(15.0));
        assert_eq!(found.linears[0].mimes, ["video/mp4"]);
        assert_eq!(found.linears[0].deliveries, ["progressive"]);
        assert_eq!(found.linears[0].bitrates, [Some((800.0, 800.0))]);
        assert_eq!(found.version, Some(Version(4, 2)));
        assert!(found.inline && !found.wrapper);
    }

    #[test]
    fn vast_times_read_as_seconds() {
        assert_eq!(seconds("01:02:03"), Some(3723.0));
        assert_eq!(seconds("00:00:01.500"), Some(1.5));
        assert_eq!(seconds("00:61:00"), None);
    }
}

//! A campaign's plan: every assembled creative it can serve, precomputed
//! when a snapshot is built, grouped by (language, stage, format), each
//! group with the distribution the learner gives its combinations.
//!
//! Built on the cold path ([`Plan::build`]); read by the bid path, which
//! only picks ([`Plan::choose`]) and writes ([`Item::write`]). Immutable
//! once built.

use std::collections::HashMap;

use audiences::Stage;
use openrtb::native::NativeRequest;

use crate::assembly::{
    Approved, ComboKey, FragmentId, Parts, Prepared, Trackers, compatible, crid, native_assets,
    prepare_banner, prepare_vast, shows_offer,
};
use crate::fixed::NativeAssets;
use crate::fragment::{Content, FragmentBody, Message, Tone, VideoAsset};
use crate::learning::{Choice, Counts, Objective, Policy, probabilities};
use crate::native::{Links, NativeMismatch, NativeVersion, render_native_with};
use crate::template::Format;
use crate::validate::is_https;
use crate::video::{Delivery, MediaFile, Playable, VastVersion, Versions};

/// Most combinations one campaign assembles, so that a large fragment
/// library cannot blow up a snapshot; beyond it, the first in id order.
pub const MAX_COMBINATIONS: usize = 512;

const STAGES: usize = Stage::ALL.len();
const FORMATS: usize = Format::ALL.len();

/// The approved fragments a campaign may combine.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Library {
    /// Messages.
    pub messages: Vec<Approved<Message>>,
    /// Contents.
    pub contents: Vec<Approved<Content>>,
    /// Tones.
    pub tones: Vec<Approved<Tone>>,
}

impl Library {
    /// `bodies` as version 1 of fragments numbered from 1 in order (for
    /// tests, benchmarks and demos; the bidder's come from its store).
    pub fn from_bodies(bodies: Vec<FragmentBody>) -> Library {
        let mut lib = Library::default();
        for (i, body) in bodies.into_iter().enumerate() {
            let (id, version) = (FragmentId(i as i64 + 1), 1);
            match body {
                FragmentBody::Message(body) => lib.messages.push(Approved { id, version, body }),
                FragmentBody::Content(body) => lib.contents.push(Approved { id, version, body }),
                FragmentBody::Tone(body) => lib.tones.push(Approved { id, version, body }),
            }
        }
        lib
    }
}

/// Everything a plan is built from besides the library.
pub struct PlanInput<'a> {
    /// Sponsored-by name (the advertiser).
    pub brand: &'a str,
    /// Language served when the request's is not available.
    pub default_language: Option<&'a str>,
    /// Click tracker URL with the campaign's static query, e.g.
    /// `https://bidder.example/events/click?cid=1`.
    pub click_base: &'a str,
    /// Impression tracker URL, likewise.
    pub impression_base: &'a str,
    /// The privacy page native ads link to when their content names none.
    pub privacy_url: Option<&'a str>,
    /// Renders for people rather than exchanges: banners and native carry
    /// no impression tracker, so that looking at a creative never counts
    /// as an impression. (VAST keeps it: a preview shows it as text.)
    pub preview: bool,
    /// Formats the campaign's targeting allows.
    pub allows: &'a dyn Fn(Format) -> bool,
    /// Exchanges whose creative audit rejected a `crid`.
    pub rejected_at: &'a dyn Fn(&str) -> Vec<Box<str>>,
    /// What was learnt about a combination at a stage.
    pub counts: &'a dyn Fn(Stage, ComboKey) -> Counts,
    /// Exploration floor and Monte Carlo settings.
    pub policy: &'a Policy,
    /// What the campaign's combinations are chosen for at a stage.
    pub objective: &'a dyn Fn(Stage) -> Objective,
}

/// How an item is rendered per bid.
#[derive(Debug, Clone, PartialEq)]
pub enum Render {
    /// Banner HTML with holes for the bid's tail.
    Markup(Prepared),
    /// A VAST document with holes for the bid's tail, once per version
    /// (indexed by [`VastVersion::index`]).
    Vast(Box<[Prepared]>),
    /// Native assets, rendered against each request's asset list.
    Native {
        /// The assets; `landing_url` is the click tracker. Boxed: far
        /// larger than the other variants' handles.
        assets: Box<NativeAssets>,
        /// The impression tracker (none in previews).
        impression: Option<Box<str>>,
    },
}

/// One assembled creative: a combination in a format (with or without
/// its offer).
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Its fragments.
    pub key: ComboKey,
    /// Its template.
    pub format: Format,
    /// Stable creative id.
    pub crid: Box<str>,
    /// Whether the offer shows.
    pub offer: bool,
    /// The markup.
    pub render: Render,
    /// Exchanges whose audit rejected it: it never bids there.
    pub rejected_at: Box<[Box<str>]>,
    /// Where its click tracker redirects (the content's landing page).
    pub landing_url: Box<str>,
    /// The video asset of a VAST item (its size is the bid's).
    pub video: Option<VideoAsset>,
    /// What a player needs of a VAST item, matched against the request.
    pub playable: Option<Box<Playable>>,
    /// Every asset URL it shows is https (its trackers are the bidder's,
    /// whose own address decides for them).
    pub secure: bool,
}

/// What one bid's markup of an item is written for.
#[derive(Debug, Clone, Copy)]
pub enum Slot<'a> {
    /// A banner (or anything the item's markup does not vary for).
    Markup,
    /// A native request, answered in its version.
    Native(&'a NativeRequest, NativeVersion),
    /// A video slot, in the VAST version chosen for it.
    Video(VastVersion),
}

impl Item {
    /// Whether it may bid at `exchange`.
    pub fn allowed_at(&self, exchange: &str) -> bool {
        !self.rejected_at.iter().any(|e| &**e == exchange)
    }

    /// Appends its markup as previews show it: native items against
    /// `native` in that request's version, VAST in the newest version.
    /// See [`Item::write_for`].
    pub fn write(
        &self,
        tail: &str,
        native: Option<&NativeRequest>,
        out: &mut String,
    ) -> Result<(), NativeMismatch> {
        let slot = match native {
            Some(req) => Slot::Native(req, NativeVersion::of(req.ver.as_deref(), None)),
            None => Slot::Video(VastVersion::V4_2),
        };
        self.write_for(tail, slot, out)
    }

    /// Appends its markup for one bid in `slot`: `tail` fills the
    /// trackers. Native items render against the slot's request and fail
    /// when a required asset cannot be filled; `out` is then unchanged.
    /// VAST items are written in the slot's version (the newest when the
    /// slot is not a video slot).
    pub fn write_for(
        &self,
        tail: &str,
        slot: Slot<'_>,
        out: &mut String,
    ) -> Result<(), NativeMismatch> {
        match (&self.render, slot) {
            (Render::Markup(p), _) => {
                p.write(tail, out);
                Ok(())
            }
            (Render::Vast(versions), slot) => {
                let version = match slot {
                    Slot::Video(v) => v,
                    _ => VastVersion::V4_2,
                };
                versions[version.index()].write(tail, out);
                Ok(())
            }
            (Render::Native { assets, impression }, Slot::Native(req, version)) => {
                let links = Links {
                    click: None,
                    tail,
                    impression: impression.as_deref(),
                    strict: true,
                    version,
                };
                render_native_with(assets, req, &links, out)
            }
            (Render::Native { .. }, _) => Err(NativeMismatch {
                asset_id: 0,
                image_fit: false,
            }),
        }
    }
}

/// The items of one (language, stage, format) and how to choose among them.
#[derive(Debug, Clone, Default, PartialEq)]
struct Group {
    items: Box<[u32]>,
    choice: Choice,
}

/// A chosen item and the probability with which it was chosen.
#[derive(Debug, Clone, Copy)]
pub struct Served<'p> {
    /// The item.
    pub item: &'p Item,
    /// Its index in [`Plan::items`].
    pub index: u32,
    /// Probability of this choice, parts per million.
    pub ppm: u32,
}

/// Every assembled creative of one campaign, grouped for choosing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    languages: Vec<Box<str>>,
    default_language: usize,
    items: Vec<Item>,
    /// `(language * STAGES + stage) * FORMATS + format`.
    groups: Vec<Group>,
    /// Bit `format.index()` set when some group of that format has items.
    formats: u16,
}

impl Plan {
    /// Precomputes every compatible combination of `library` in every
    /// format `input` allows, for every stage, and the learner's choice
    /// among them.
    pub fn build(library: &Library, input: &PlanInput<'_>) -> Plan {
        let mut languages: Vec<Box<str>> = library
            .messages
            .iter()
            .map(|m| m.body.language.as_str().into())
            .collect();
        languages.sort();
        languages.dedup();
        let default_language = input
            .default_language
            .and_then(|d| languages.iter().position(|l| &**l == d))
            .or_else(|| languages.iter().position(|l| &**l == "en"))
            .unwrap_or(0);
        let lang_index: HashMap<&str, usize> = languages
            .iter()
            .enumerate()
            .map(|(i, l)| (&**l, i))
            .collect();

        let combos = combinations(library);
        let mut plan = Plan {
            groups: vec![Group::default(); languages.len() * STAGES * FORMATS],
            languages: languages.clone(),
            default_language,
            items: Vec::new(),
            formats: 0,
        };
        let mut group_items: Vec<Vec<u32>> = vec![Vec::new(); plan.groups.len()];
        let mut item_of: HashMap<(Format, ComboKey, bool), u32> = HashMap::new();
        // Video has no tone: one combination per (message, content).
        let mut video: Vec<(usize, usize, Option<usize>)> =
            combos.iter().map(|&(m, c, _)| (m, c, None)).collect();
        video.dedup();
        for format in Format::ALL.into_iter().filter(|f| (input.allows)(*f)) {
            let combos = if format == Format::Video {
                &video
            } else {
                &combos
            };
            for &(mi, ci, ti) in combos {
                let parts = Parts {
                    message: &library.messages[mi],
                    content: &library.contents[ci],
                    tone: ti.map(|t| &library.tones[t]),
                };
                let Some(&lang) = lang_index.get(parts.message.body.language.as_str()) else {
                    continue;
                };
                for stage in Stage::ALL {
                    if !compatible(format, stage, &parts) {
                        continue;
                    }
                    let offer = shows_offer(format, stage, &parts.content.body);
                    let key = parts.key();
                    let item = *item_of.entry((format, key, offer)).or_insert_with(|| {
                        plan.items
                            .push(make_item(format, stage, offer, &parts, input));
                        (plan.items.len() - 1) as u32
                    });
                    group_items[group_index(lang, stage, format)].push(item);
                    plan.formats |= 1 << format.index();
                }
            }
        }
        // One estimate per stage: a combination's posterior at a stage is
        // shared by every language and format group it appears in.
        for stage in Stage::ALL {
            let mut keys: Vec<ComboKey> = Vec::new();
            let mut key_index: HashMap<ComboKey, u32> = HashMap::new();
            let mut subsets = Vec::new();
            let mut owners = Vec::new();
            for lang in 0..languages.len() {
                for format in Format::ALL {
                    let g = group_index(lang, stage, format);
                    if group_items[g].is_empty() {
                        continue;
                    }
                    let subset = group_items[g]
                        .iter()
                        .map(|&it| {
                            let key = plan.items[it as usize].key;
                            *key_index.entry(key).or_insert_with(|| {
                                keys.push(key);
                                (keys.len() - 1) as u32
                            })
                        })
                        .collect();
                    subsets.push(subset);
                    owners.push(g);
                }
            }
            let counts: Vec<Counts> = keys.iter().map(|k| (input.counts)(stage, *k)).collect();
            let probs = probabilities(&counts, &subsets, input.policy, (input.objective)(stage));
            for (g, p) in owners.into_iter().zip(probs) {
                plan.groups[g] = Group {
                    items: std::mem::take(&mut group_items[g]).into(),
                    choice: Choice::new(&p),
                };
            }
        }
        plan
    }

    /// Whether it has any creative in `format`.
    pub fn has_format(&self, format: Format) -> bool {
        self.formats & (1 << format.index()) != 0
    }

    /// Whether it has any creative at all.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Languages it has creatives in, sorted.
    pub fn languages(&self) -> &[Box<str>] {
        &self.languages
    }

    /// The language to serve: the first of `preferred` (ISO-639-1 or BCP
    /// 47 tags, best first) it has and `allowed` accepts, else its default
    /// if allowed, else any it has that is allowed.
    pub fn language<'r>(
        &self,
        preferred: impl IntoIterator<Item = &'r str>,
        allowed: impl Fn(&str) -> bool,
    ) -> Option<usize> {
        let find = |tag: &str| {
            let primary = tag.split(['-', '_']).next().unwrap_or("");
            self.languages
                .iter()
                .position(|l| l.eq_ignore_ascii_case(primary))
        };
        preferred
            .into_iter()
            .filter_map(find)
            .chain(std::iter::once(self.default_language))
            .chain(0..self.languages.len())
            .find(|&i| i < self.languages.len() && allowed(&self.languages[i]))
    }

    /// Draws an item for (language, stage, format) with the uniform `u`;
    /// `allow` vetoes items this request cannot take.
    pub fn choose(
        &self,
        lang: usize,
        stage: Stage,
        format: Format,
        u: u32,
        mut allow: impl FnMut(&Item) -> bool,
    ) -> Option<Served<'_>> {
        let g = self.groups.get(group_index(lang, stage, format))?;
        let (i, ppm) = g
            .choice
            .pick(u, |i| allow(&self.items[g.items[i] as usize]))?;
        Some(Served {
            item: &self.items[g.items[i] as usize],
            index: g.items[i],
            ppm,
        })
    }

    /// The items of (language, stage, format) with their probabilities in
    /// parts per million, most likely first: previews and the gallery.
    pub fn group(&self, lang: usize, stage: Stage, format: Format) -> Vec<(&Item, u32)> {
        let Some(g) = self.groups.get(group_index(lang, stage, format)) else {
            return Vec::new();
        };
        let mut out: Vec<(&Item, u32)> = g
            .items
            .iter()
            .enumerate()
            .map(|(i, &it)| (&self.items[it as usize], g.choice.ppm(i)))
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.crid.cmp(&b.0.crid)));
        out
    }

    /// Every item.
    pub fn items(&self) -> &[Item] {
        &self.items
    }
}

fn group_index(lang: usize, stage: Stage, format: Format) -> usize {
    (lang * STAGES + stage.index()) * FORMATS + format.index()
}

/// (message, content, tone) index triples of one language, at most
/// [`MAX_COMBINATIONS`]; `None` as tone when there are no tones.
fn combinations(lib: &Library) -> Vec<(usize, usize, Option<usize>)> {
    let mut out = Vec::new();
    for (mi, m) in lib.messages.iter().enumerate() {
        for (ci, c) in lib.contents.iter().enumerate() {
            if c.body.language != m.body.language {
                continue;
            }
            let tones: Vec<Option<usize>> = if lib.tones.is_empty() {
                vec![None]
            } else {
                (0..lib.tones.len())
                    .filter(|&t| lib.tones[t].body.language == m.body.language)
                    .map(Some)
                    .collect()
            };
            for ti in tones {
                if out.len() == MAX_COMBINATIONS {
                    return out;
                }
                out.push((mi, ci, ti));
            }
        }
    }
    out
}

fn make_item(
    format: Format,
    stage: Stage,
    offer: bool,
    parts: &Parts<'_>,
    input: &PlanInput<'_>,
) -> Item {
    let crid = crid(format, parts, offer);
    let key = parts.key();
    // The click names its creative, so that a person whose token has
    // expired still reaches the landing page; everything else a tracker
    // counts by is in the token (and every byte is in every answer).
    let click = format!("{}&crid={crid}", input.click_base);
    let impression = input.impression_base.to_string();
    let counted = (!input.preview || format == Format::Video).then_some(impression.as_str());
    let trackers = Trackers {
        click: &click,
        impression: counted,
    };
    let render = match format {
        Format::Banner(_) => Render::Markup(prepare_banner(
            format.layout().expect("banner format"),
            stage,
            parts,
            &trackers,
        )),
        Format::Video => Render::Vast(
            VastVersion::ALL
                .iter()
                .map(|v| prepare_vast(*v, stage, parts, &crid, input.brand, &trackers))
                .collect(),
        ),
        Format::Native => Render::Native {
            assets: Box::new(native_assets(
                stage,
                parts,
                input.brand,
                &trackers,
                input.privacy_url,
            )),
            impression: counted.map(Into::into),
        },
    };
    let content = &parts.content.body;
    let video = (format == Format::Video)
        .then(|| content.video.clone())
        .flatten();
    let secure = match &render {
        Render::Native { assets, .. } => {
            let images = assets.image.iter().chain(&assets.icon);
            images.flat_map(|i| i.variants()).all(|v| is_https(v.url))
                && assets.privacy_url.as_deref().is_none_or(is_https)
        }
        // Banners show the content's closest image; VAST its video.
        _ => {
            let images = content.images.iter().flat_map(|i| i.variants());
            images
                .map(|v| v.url)
                .chain(video.as_ref().map(|v| v.url.as_str()))
                .all(is_https)
        }
    };
    Item {
        key,
        format,
        landing_url: content.landing_url.as_str().into(),
        playable: video.as_ref().map(|v| Box::new(playable(v))),
        video,
        rejected_at: (input.rejected_at)(&crid).into(),
        crid: crid.into(),
        offer,
        render,
        secure,
    }
}

/// What a player needs of the VAST we write for `video`: any version we
/// write, inline and linear, its one progressive file.
fn playable(video: &VideoAsset) -> Playable {
    Playable {
        versions: Versions::ALL,
        inline: true,
        wrapper: false,
        media: Box::new([MediaFile {
            mime: video.mime.as_str().into(),
            delivery: Some(Delivery::Progressive),
            bitrate: video.bitrate_kbps.map(|b| (b, b)),
            api: &[],
        }]),
        duration_ms: video.duration_secs.saturating_mul(1000),
        linear: true,
        non_linear: false,
        skippable: false,
        placements: Box::new([]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assembly::FragmentId;
    use crate::assembly::tests::{content, message, tone};

    fn library() -> Library {
        let mut de = message(9, "Zelte für jedes Wetter");
        de.body.language = "de".into();
        let mut de_tone = tone(10);
        de_tone.body.language = "de".into();
        de_tone.body.cta = "Jetzt kaufen".into();
        let mut de_content = content(11);
        de_content.body.language = "de".into();
        Library {
            messages: vec![
                message(1, "Tents for every storm"),
                message(2, "Sleep dry"),
                de,
            ],
            contents: vec![content(3), de_content],
            tones: vec![tone(4), tone(5), de_tone],
        }
    }

    fn build(
        counts: &dyn Fn(Stage, ComboKey) -> Counts,
        rejected: &dyn Fn(&str) -> Vec<Box<str>>,
    ) -> Plan {
        build_as(false, counts, rejected)
    }

    fn build_as(
        preview: bool,
        counts: &dyn Fn(Stage, ComboKey) -> Counts,
        rejected: &dyn Fn(&str) -> Vec<Box<str>>,
    ) -> Plan {
        let policy = Policy {
            exploration_floor: 0.0,
            rounds: 2000,
            seed: Some(3),
            ..Policy::default()
        };
        Plan::build(
            &library(),
            &PlanInput {
                brand: "Acme",
                default_language: Some("en"),
                click_base: "https://b.example/events/click?cid=1",
                impression_base: "https://b.example/events/imp?cid=1",
                privacy_url: None,
                preview,
                allows: &|_| true,
                rejected_at: rejected,
                counts,
                policy: &policy,
                objective: &|_| Objective::Clicks,
            },
        )
    }

    #[test]
    fn groups_hold_every_compatible_combination_of_their_language() {
        let plan = build(&|_, _| Counts::default(), &|_| Vec::new());
        let en = plan.language(["en-US"], |_| true).unwrap();
        let de = plan.language(["de"], |_| true).unwrap();
        assert_ne!(en, de);
        let banners = plan.group(en, Stage::Intent, Format::Banner(0));
        assert_eq!(banners.len(), 4, "2 messages x 1 content x 2 tones");
        assert!(banners.iter().all(|(_, ppm)| *ppm == 250_000));
        assert_eq!(plan.group(de, Stage::Intent, Format::Banner(0)).len(), 1);
        let video = plan.group(en, Stage::Intent, Format::Video);
        assert_eq!(video.len(), 2, "video ignores tones");
        assert!(plan.has_format(Format::Native));
    }

    #[test]
    fn previews_never_count_an_impression() {
        let write = |preview: bool, format: Format| {
            let plan = build_as(preview, &|_, _| Counts::default(), &|_| Vec::new());
            let en = plan.language(["en"], |_| true).unwrap();
            let (item, _) = plan.group(en, Stage::Intent, format)[0];
            let req: NativeRequest =
                serde_json::from_str(r#"{"assets":[{"id":1,"title":{"len":90}}]}"#).unwrap();
            let mut out = String::new();
            item.write("&bid=1", Some(&req), &mut out).unwrap();
            out
        };
        for format in [Format::Banner(0), Format::Native] {
            assert!(write(false, format).contains("/events/imp?cid=1"));
            let preview = write(true, format);
            assert!(!preview.contains("/events/imp"), "{preview}");
            assert!(preview.contains("/events/click?cid=1"), "{preview}");
        }
        // VAST must name an impression; a preview shows it, never plays it.
        assert!(write(true, Format::Video).contains("<Impression"));
    }

    #[test]
    fn language_falls_back_to_the_default_then_to_what_is_allowed() {
        let plan = build(&|_, _| Counts::default(), &|_| Vec::new());
        let en = plan.language(["en"], |_| true);
        assert_eq!(plan.language(["fr", "it"], |_| true), en);
        assert_eq!(
            plan.language(["fr"], |l| l == "de"),
            plan.language(["de"], |_| true)
        );
        assert_eq!(plan.language(["en"], |l| l == "fr"), None);
    }

    #[test]
    fn learning_shifts_traffic_to_the_combination_that_works() {
        let good = ComboKey {
            message: FragmentId(2),
            content: FragmentId(3),
            tone: Some(FragmentId(5)),
        };
        let counts = move |stage: Stage, k: ComboKey| {
            let clicks = if k == good && stage == Stage::Intent {
                80
            } else {
                20
            };
            Counts {
                impressions: 2000,
                clicks,
                ..Counts::default()
            }
        };
        let plan = build(&counts, &|_| Vec::new());
        let en = plan.language(["en"], |_| true).unwrap();
        let top = plan.group(en, Stage::Intent, Format::Banner(0));
        assert_eq!(top[0].0.key, good);
        assert!(top[0].1 > 990_000, "{}", top[0].1);
        let aware = plan.group(en, Stage::Awareness, Format::Banner(0));
        assert!(aware[0].1 < 500_000, "no winner at another stage");
    }

    #[test]
    fn a_combination_rejected_by_an_exchange_is_not_chosen_there() {
        let plan = build(&|_, _| Counts::default(), &|crid| {
            if crid.starts_with("a300x250-m1v1") {
                vec!["adx".into()]
            } else {
                Vec::new()
            }
        });
        let en = plan.language(["en"], |_| true).unwrap();
        for u in (0..u32::MAX).step_by(1 << 26) {
            let at_adx = plan
                .choose(en, Stage::Intent, Format::Banner(0), u, |i| {
                    i.allowed_at("adx")
                })
                .unwrap();
            assert_eq!(at_adx.item.key.message, FragmentId(2));
            // Draws of the two vetoed items fall through to the first
            // allowed one after them, and its logged probability says so.
            let expected = if at_adx.item.key.tone == Some(FragmentId(4)) {
                750_000
            } else {
                250_000
            };
            assert_eq!(at_adx.ppm, expected);
        }
        let elsewhere: std::collections::HashSet<_> = (0..u32::MAX)
            .step_by(1 << 26)
            .map(|u| {
                plan.choose(en, Stage::Intent, Format::Banner(0), u, |i| {
                    i.allowed_at("other")
                })
                .unwrap()
                .item
                .key
                .message
            })
            .collect();
        assert_eq!(elsewhere.len(), 2);
    }

    fn first(plan: &Plan, format: Format, stage: Stage) -> &Item {
        let en = plan.language(["en"], |_| true).unwrap();
        plan.choose(en, stage, format, 0, |_| true).unwrap().item
    }

    #[test]
    fn vast_documents_parse_and_carry_the_required_elements() {
        let plan = build(&|_, _| Counts::default(), &|_| Vec::new());
        let item = first(&plan, Format::Video, Stage::Intent);
        let mut out = String::new();
        item.write("&bid=9&stage=intent", None, &mut out).unwrap();
        let doc = roxmltree::Document::parse(&out).expect("well-formed XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "VAST");
        assert_eq!(root.attribute("version"), Some("4.2"));
        let find = |name: &str| {
            doc.descendants()
                .find(|n| n.tag_name().name() == name)
                .unwrap_or_else(|| panic!("{name} missing"))
        };
        for required in [
            "Ad",
            "InLine",
            "AdSystem",
            "AdTitle",
            "AdServingId",
            "Impression",
            "Creatives",
            "Creative",
            "UniversalAdId",
            "Linear",
            "Duration",
            "MediaFiles",
            "MediaFile",
        ] {
            find(required);
        }
        assert_eq!(find("Duration").text(), Some("00:00:15.000"));
        assert_eq!(find("MediaFile").attribute("type"), Some("video/mp4"));
        assert_eq!(
            find("MediaFile").text(),
            Some("https://cdn.example/tent.mp4")
        );
        let click = find("ClickThrough").text().unwrap();
        assert!(click.starts_with("https://b.example/events/click?cid=1&crid=avideo-"));
        assert!(click.ends_with("&bid=9&stage=intent"), "{click}");
        assert!(
            find("Description")
                .text()
                .unwrap()
                .contains("10% off today")
        );
    }

    #[test]
    fn vast_items_are_written_in_the_version_of_their_slot() {
        let plan = build(&|_, _| Counts::default(), &|_| Vec::new());
        let item = first(&plan, Format::Video, Stage::Intent);
        let p = item
            .playable
            .as_deref()
            .expect("a VAST item says what it needs");
        assert_eq!(p.versions, Versions::ALL);
        assert_eq!(p.duration_ms, 15_000);
        assert!(item.secure);
        for version in VastVersion::ALL {
            let mut out = String::new();
            item.write_for("&bid=9", Slot::Video(version), &mut out)
                .unwrap();
            let doc = roxmltree::Document::parse(&out).expect("well-formed XML");
            assert_eq!(
                doc.root_element().attribute("version"),
                Some(version.as_str())
            );
        }
    }

    #[test]
    fn native_ads_fill_the_requested_assets_and_never_cut_a_headline() {
        let plan = build(&|_, _| Counts::default(), &|_| Vec::new());
        let item = first(&plan, Format::Native, Stage::Intent);
        let req: NativeRequest = serde_json::from_str(
            r#"{"assets":[{"id":1,"required":1,"title":{"len":90}},
            {"id":2,"required":1,"img":{"type":3,"wmin":600,"hmin":300}},
            {"id":3,"data":{"type":1}},{"id":4,"data":{"type":12}},
            {"id":5,"data":{"type":10}},{"id":6,"data":{"type":6}}]}"#,
        )
        .unwrap();
        let mut out = String::new();
        item.write("&bid=9", Some(&req), &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let assets = v["assets"].as_array().unwrap();
        assert_eq!(assets.len(), 6, "{v}");
        assert_eq!(assets[2]["data"]["value"], "Acme");
        assert_eq!(assets[4]["data"]["value"], "10% off today");
        assert_eq!(assets[5]["data"]["value"], "$129.00");
        assert!(v["link"]["url"].as_str().unwrap().ends_with("&bid=9"));
        // The request offers no event trackers: the 1.2 impression tracker
        // goes where every version reads it.
        assert!(v.get("eventtrackers").is_none(), "{v}");
        assert!(
            v["imptrackers"][0]
                .as_str()
                .unwrap()
                .contains("/events/imp?cid=1")
        );

        let short: NativeRequest =
            serde_json::from_str(r#"{"assets":[{"id":1,"required":1,"title":{"len":5}}]}"#)
                .unwrap();
        let mut out = String::from("keep");
        assert!(item.write("", Some(&short), &mut out).is_err());
        assert_eq!(out, "keep");
    }
}

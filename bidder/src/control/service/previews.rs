//! Previews for advertisers: one assembled creative rendered as it would
//! serve, and the plan behind a campaign's gallery (every approved
//! combination in every format, language and stage), with the formats
//! the campaign asks for but cannot fill and the fragments' texts that
//! are too long for them ([`format_warnings`]).
//!
//! Plans are built from the store on demand (so paused campaigns preview
//! too) with the bid path's own code; trackers carry a preview tail instead
//! of a bid's. Never writes HTML pages, picks content types or sets
//! security headers: that is the adapter's job.

use audiences::Stage;
use creative::native::NativeMismatch;
use creative::plan::{Item, Plan};
use creative::template::Format;
use openrtb::native::NativeRequest;

use creative::assembly::FragmentId;
use creative::fragment::FragmentBody;

use super::{ServiceError, Services, format_warnings};
use crate::bid::snapshot::preview_plan;
use crate::control::auth::Principal;
use crate::model::{Campaign, CampaignId, Catalog};

/// The tail preview trackers carry instead of a bid's.
const PREVIEW_TAIL: &str = "&preview=1";

/// A native request asking for every asset a card shows.
const CARD_REQUEST: &str = r#"{"assets":[{"id":1,"required":1,"title":{"len":90}},
    {"id":2,"img":{"type":3,"wmin":100,"hmin":50}},{"id":3,"data":{"type":2}},
    {"id":4,"data":{"type":12}},{"id":5,"data":{"type":1}},{"id":6,"data":{"type":10}},
    {"id":7,"data":{"type":6}}]}"#;

fn card_request() -> NativeRequest {
    serde_json::from_str(CARD_REQUEST).expect("static native request parses")
}

/// The markup of an item as a preview serves it: HTML for banners, the
/// native response for native, VAST for video.
pub fn render(item: &Item) -> Result<String, NativeMismatch> {
    let mut out = String::new();
    let req = card_request();
    item.write(PREVIEW_TAIL, Some(&req), &mut out)?;
    Ok(out)
}

/// Which creative to preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewRequest {
    /// The campaign.
    pub campaign: CampaignId,
    /// The user's stage.
    pub stage: Stage,
    /// The format.
    pub format: Format,
    /// The language; the plan's first when `None` or not offered.
    pub lang: Option<String>,
    /// The combination's key; the group's first when `None`.
    pub combination: Option<String>,
}

/// One rendered creative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// Its format, which says what the markup is.
    pub format: Format,
    /// Its creative id, as bids carry it.
    pub crid: String,
    /// The markup, as it would serve.
    pub markup: String,
}

/// A campaign and its plan (`None`: no approved combination yet).
#[derive(Debug)]
pub struct Gallery {
    /// The campaign.
    pub campaign: Campaign,
    /// What it would serve.
    pub plan: Option<Box<Plan>>,
    /// The formats its targeting asks for that the plan has no creative
    /// in, per language, in [`Format::ALL`]'s order.
    pub missing: Vec<MissingFormat>,
}

/// A format a campaign asks for but has no creative in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingFormat {
    /// The format.
    pub format: Format,
    /// The language it is missing in; `None` when the plan has no
    /// combination in any language.
    pub language: Option<String>,
    /// The approved fragments (of the campaign's sets, in that language)
    /// whose texts are too long for it. Empty when none is: then a
    /// fragment's claimed formats, stages or languages, a missing tone
    /// (a video needs a content with a video) leave it out.
    pub excluded_by: Vec<Exclusion>,
}

/// One fragment's text that leaves a format out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusion {
    /// The fragment.
    pub fragment: FragmentId,
    /// Its approved version.
    pub version: i64,
    /// `message`, `content` or `tone`.
    pub kind: &'static str,
    /// Why, as a person reads it: `body: 61 characters; 300x250 and
    /// 728x90 show at most 60`.
    pub warning: String,
}

/// Previews, for whoever may see the campaign.
#[derive(Debug, Clone, Copy)]
pub struct Previews<'s> {
    pub(super) s: &'s Services,
}

impl Previews<'_> {
    fn plan_of(&self, c: &Campaign) -> Result<Option<Box<Plan>>, ServiceError> {
        let catalog = self.s.store.catalog_of_campaign(c)?;
        Ok(preview_plan(&catalog, c, &self.s.settings))
    }

    /// The creative `r` names, rendered; not found when the campaign has
    /// no such language, format, stage or combination.
    pub fn preview(&self, who: &Principal, r: &PreviewRequest) -> Result<Preview, ServiceError> {
        let c = self.s.campaigns().get(who, r.campaign)?;
        let plan = self.plan_of(&c)?.ok_or(ServiceError::NotFound)?;
        let lang = plan
            .language(r.lang.as_deref(), |_| true)
            .ok_or(ServiceError::NotFound)?;
        let group = plan.group(lang, r.stage, r.format);
        let item = match &r.combination {
            Some(key) => group.iter().find(|(it, _)| it.key.to_string() == *key),
            None => group.first(),
        }
        .map(|(it, _)| *it)
        .ok_or(ServiceError::NotFound)?;
        Ok(Preview {
            format: r.format,
            crid: item.crid.to_string(),
            markup: render(item)?,
        })
    }

    /// Campaign `id` and the plan its gallery shows.
    pub fn gallery(&self, who: &Principal, id: CampaignId) -> Result<Gallery, ServiceError> {
        let campaign = self.s.campaigns().get(who, id)?;
        let catalog = self.s.store.catalog_of_campaign(&campaign)?;
        let plan = preview_plan(&catalog, &campaign, &self.s.settings);
        let missing = missing_formats(&catalog, &campaign, plan.as_deref());
        Ok(Gallery {
            campaign,
            plan,
            missing,
        })
    }
}

/// The formats `c` asks for that `plan` has no creative in, per
/// language, each with the fragments whose texts leave it out. None for
/// a campaign without fragment sets (it serves fixed creatives).
fn missing_formats(catalog: &Catalog, c: &Campaign, plan: Option<&Plan>) -> Vec<MissingFormat> {
    if c.fragment_sets.is_empty() {
        return Vec::new();
    }
    let fragments: Vec<_> = catalog
        .fragments
        .iter()
        .filter(|f| f.advertiser_id == c.advertiser_id && c.fragment_sets.contains(&f.set))
        .collect();
    let exclusions = |format: Format, language: Option<&str>| -> Vec<Exclusion> {
        let mut out = Vec::new();
        for f in &fragments {
            let (kind, lang) = match &f.body {
                FragmentBody::Message(m) => ("message", m.language.as_str()),
                FragmentBody::Content(x) => ("content", x.language.as_str()),
                FragmentBody::Tone(t) => ("tone", t.language.as_str()),
            };
            if language.is_some_and(|l| !l.eq_ignore_ascii_case(lang)) {
                continue;
            }
            for w in format_warnings(&f.body) {
                if w.excluded.iter().any(|(name, _)| name == format.name()) {
                    out.push(Exclusion {
                        fragment: f.id,
                        version: f.version,
                        kind,
                        warning: w.sentence(),
                    });
                }
            }
        }
        out
    };
    let wanted = Format::ALL
        .into_iter()
        .filter(|f| c.targeting.wants_format(*f));
    let Some(plan) = plan else {
        return wanted
            .map(|format| MissingFormat {
                format,
                language: None,
                excluded_by: exclusions(format, None),
            })
            .collect();
    };
    let wanted: Vec<Format> = wanted.collect();
    let mut out = Vec::new();
    for (lang, name) in plan.languages().iter().enumerate() {
        for format in &wanted {
            let filled = Stage::ALL
                .into_iter()
                .any(|stage| !plan.group(lang, stage, *format).is_empty());
            if !filled {
                out.push(MissingFormat {
                    format: *format,
                    language: Some(name.to_string()),
                    excluded_by: exclusions(*format, Some(name)),
                });
            }
        }
    }
    out
}

//! Previews for advertisers: one assembled creative rendered as it would
//! serve, and the plan behind a campaign's gallery (every approved
//! combination in every format, language and stage).
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

use super::{ServiceError, Services};
use crate::bid::snapshot::preview_plan;
use crate::control::auth::Principal;
use crate::model::{Campaign, CampaignId};

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
}

/// Previews, for whoever may see the campaign.
#[derive(Debug, Clone, Copy)]
pub struct Previews<'s> {
    pub(super) s: &'s Services,
}

impl Previews<'_> {
    fn plan_of(&self, c: &Campaign) -> Result<Option<Box<Plan>>, ServiceError> {
        let catalog = self.s.store.load_catalog()?;
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
        let plan = self.plan_of(&campaign)?;
        Ok(Gallery { campaign, plan })
    }
}

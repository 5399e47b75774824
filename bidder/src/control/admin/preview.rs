//! Previews for advertisers: `GET /api/v1/preview` renders one assembled
//! creative; `GET /api/v1/campaigns/{id}/gallery` is an HTML page with
//! every approved combination in every format and stage side by side.
//!
//! The service builds plans and renders markup; this module picks content
//! types, writes the gallery's HTML and sets the security headers.
//! Creatives render inside sandboxed `srcdoc` frames under a
//! Content-Security-Policy that allows no script.

use std::fmt::Write as _;

use audiences::Stage;
use bytes::Bytes;
use creative::escape;
use creative::plan::{Item, Render};
use creative::template::Format;
use http::{HeaderValue, Response, header};
use http_body_util::Full;

use super::Admin;
use crate::control::auth::Principal;
use crate::control::service::{MissingFormat, PreviewRequest, render};
use crate::error::{ApiError, Body, FieldError};
use crate::model::CampaignId;

/// The policy of every preview and gallery page: no script anywhere, images
/// over https or from this server (the demo's pictures, also when it is
/// reached over plain http), inline styles (the creatives' own), frames
/// only from `srcdoc`.
pub const CSP: &str = "default-src 'none'; img-src 'self' https: data:; style-src 'unsafe-inline'; \
     frame-src 'self' about:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn response(content_type: &'static str, body: String) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

impl Admin {
    /// `GET /api/v1/preview?campaign=&stage=&format=&lang=[&combination=]`.
    pub(crate) fn preview(
        &self,
        who: &Principal,
        query: Option<&str>,
    ) -> Result<Response<Body>, ApiError> {
        let (mut campaign, mut stage, mut format, mut lang, mut combo) =
            (None, Stage::Unaware, None, None, None);
        let mut errors = Vec::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "campaign" => campaign = v.parse::<i64>().ok(),
                "stage" => match v.parse() {
                    Ok(s) => stage = s,
                    Err(_) => errors.push(FieldError::new("stage", "a funnel stage")),
                },
                "format" => match Format::parse(v) {
                    Some(f) => format = Some(f),
                    None => errors.push(FieldError::new(
                        "format",
                        "a banner size (e.g. 300x250), native or video",
                    )),
                },
                "lang" => lang = Some(v.to_owned()),
                "combination" => combo = Some(v.to_owned()),
                other => errors.push(FieldError::new(other, "unknown query parameter")),
            }
        }
        let Some(campaign) = campaign else {
            errors.push(FieldError::new("campaign", "required: a campaign id"));
            return Err(ApiError::Unprocessable(errors));
        };
        let format = format.unwrap_or(Format::Banner(0));
        if !errors.is_empty() {
            return Err(ApiError::Unprocessable(errors));
        }
        let preview = self.services.previews().preview(
            who,
            &PreviewRequest {
                campaign: CampaignId(campaign),
                stage,
                format,
                lang,
                combination: combo,
            },
        )?;
        let content_type = match preview.format {
            Format::Banner(_) => "text/html; charset=utf-8",
            Format::Native => "application/json",
            Format::Video => "application/xml",
        };
        let mut resp = response(content_type, preview.markup);
        if let Ok(v) = HeaderValue::from_str(&preview.crid) {
            resp.headers_mut().insert("x-crid", v);
        }
        Ok(resp)
    }

    /// `GET /api/v1/campaigns/{id}/gallery`.
    pub(crate) fn gallery(&self, who: &Principal, id: i64) -> Result<Response<Body>, ApiError> {
        let gallery = self.services.previews().gallery(who, CampaignId(id))?;
        let (c, plan, missing) = (&gallery.campaign, gallery.plan, &gallery.missing);
        let mut page = String::with_capacity(64 * 1024);
        page.push_str(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Gallery: ",
        );
        escape::html(&c.name, &mut page);
        page.push_str("</title><style>body{font:14px/1.4 sans-serif;margin:16px;background:#f4f4f4;color:#222}h2{margin:24px 0 8px}h3{margin:0 0 4px;font-size:14px}.stages{display:flex;flex-wrap:wrap;gap:16px 32px;align-items:flex-start}.row{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}figure{margin:0;background:#fff;padding:8px;border:1px solid #ddd}figcaption{font:11px monospace;color:#555;margin-top:4px;max-width:320px;overflow-wrap:anywhere}iframe{border:0;display:block}.card{width:300px}.card img{width:100%;height:auto;display:block}.card h4{margin:6px 0}.card p{margin:4px 0}pre{max-width:600px;white-space:pre-wrap;overflow-wrap:anywhere;font-size:11px}.missing{background:#fff8e1;border-left:4px solid #b26a00;padding:4px 12px;margin:16px 0}.missing h2{margin:8px 0;font-size:16px}</style></head><body><h1>");
        escape::html(&c.name, &mut page);
        page.push_str("</h1>");
        let Some(plan) = plan else {
            page.push_str("<p>No approved combination: approve a message, a content and a tone of the campaign's fragment sets.</p>");
            for m in missing {
                missing_section(m, &mut page);
            }
            page.push_str("</body></html>");
            return Ok(response("text/html; charset=utf-8", page));
        };
        for (lang, name) in plan.languages().iter().enumerate() {
            for format in Format::ALL {
                let absent = missing
                    .iter()
                    .find(|m| m.format == format && m.language.as_deref() == Some(&**name));
                if let Some(m) = absent {
                    missing_section(m, &mut page);
                    continue;
                }
                if !plan.has_format(format) {
                    continue;
                }
                let _ = write!(page, "<section class=\"format\"><h2>{} · ", format.name());
                escape::html(name, &mut page);
                page.push_str("</h2><div class=\"stages\">");
                for stage in Stage::ALL {
                    let group = plan.group(lang, stage, format);
                    if group.is_empty() {
                        continue;
                    }
                    let _ = write!(
                        page,
                        "<section><h3>{}</h3><div class=\"row\">",
                        stage.as_str()
                    );
                    for (item, ppm) in group {
                        gallery_item(item, ppm, &mut page);
                    }
                    page.push_str("</div></section>");
                }
                page.push_str("</div></section>");
            }
        }
        page.push_str("</body></html>");
        Ok(response("text/html; charset=utf-8", page))
    }
}

/// A format the campaign asks for but has no creative in, where its
/// section would be: which fragments' texts leave it out, and why.
fn missing_section(m: &MissingFormat, page: &mut String) {
    let _ = write!(
        page,
        "<section class=\"missing\" data-format=\"{}\"><h2>{}",
        m.format.name(),
        m.format.name()
    );
    if let Some(lang) = &m.language {
        page.push_str(" · ");
        escape::html(lang, page);
    }
    page.push_str(": no creative</h2>");
    if m.excluded_by.is_empty() {
        page.push_str("<p>No approved fragment's text is too long for it: its fragments' claimed formats, stages or language, or a missing tone (a video needs a content with a video), leave it out.</p></section>");
        return;
    }
    page.push_str("<p>Left out by:</p><ul>");
    for e in &m.excluded_by {
        let _ = write!(
            page,
            "<li class=\"excluded\">{} {} v{}: ",
            e.kind, e.fragment.0, e.version
        );
        escape::html(&e.warning, page);
        page.push_str("</li>");
    }
    page.push_str("</ul></section>");
}

/// One figure of the gallery: the creative in a sandboxed frame of its
/// size (banners), as a card (native) or as its VAST text (video).
fn gallery_item(item: &Item, ppm: u32, page: &mut String) {
    page.push_str("<figure data-crid=\"");
    escape::html(&item.crid, page);
    page.push_str("\">");
    match (&item.render, item.format.layout()) {
        (Render::Markup(_), Some(layout)) => {
            let markup = render(item).unwrap_or_default();
            let _ = write!(
                page,
                "<iframe sandbox=\"\" width=\"{}\" height=\"{}\" title=\"",
                layout.w, layout.h
            );
            escape::html(&item.crid, page);
            page.push_str("\" srcdoc=\"");
            escape::html(&markup, page);
            page.push_str("\"></iframe>");
        }
        (Render::Native { assets, .. }, _) => {
            page.push_str("<div class=\"card\">");
            if let Some(img) = &assets.image {
                page.push_str("<img alt=\"\" src=\"");
                escape::html(&img.url, page);
                page.push_str("\">");
            }
            page.push_str("<h4>");
            escape::html(&assets.title, page);
            page.push_str("</h4>");
            for text in [
                &assets.description,
                &assets.desc2,
                &assets.price,
                &assets.cta,
                &assets.sponsored,
            ]
            .into_iter()
            .flatten()
            {
                page.push_str("<p>");
                escape::html(text, page);
                page.push_str("</p>");
            }
            page.push_str("</div>");
        }
        _ => {
            page.push_str("<pre>");
            escape::html(&render(item).unwrap_or_default(), page);
            page.push_str("</pre>");
        }
    }
    page.push_str("<figcaption>");
    escape::html(&item.crid, page);
    let _ = write!(page, " · p={:.3}", f64::from(ppm) / 1e6);
    page.push_str("</figcaption></figure>");
}

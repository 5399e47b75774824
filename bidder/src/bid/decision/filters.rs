//! Per-candidate checks the index cannot express: the request's blocks
//! (bcat, badv, bapp, battr, seats), languages, regions, the campaign's
//! site and app lists, and flight dates.
//!
//! Pure functions of the request and one compiled campaign; no allocation.

use openrtb::{BidRequest, Imp};

use super::BidContext;
use crate::bid::snapshot::CompiledCampaign;
use crate::model::ListFilter;
use crate::model::NoBidReason;

/// Whether campaign `c` may bid on `imp` of `req` at all.
pub fn check(
    req: &BidRequest<'_>,
    imp: &Imp<'_>,
    c: &CompiledCampaign,
    ctx: &BidContext<'_>,
) -> Result<(), NoBidReason> {
    if c.flight_start.is_some_and(|s| ctx.now < s) || c.flight_end.is_some_and(|e| ctx.now >= e) {
        return Err(NoBidReason::NoEligibleCampaign);
    }
    if req
        .bcat
        .iter()
        .any(|b| c.cat.iter().any(|cat| category_blocked(cat, b)))
    {
        return Err(NoBidReason::BlockedCategory);
    }
    if req
        .badv
        .iter()
        .any(|b| c.adomain.iter().any(|d| domain_matches(d, b)))
    {
        return Err(NoBidReason::BlockedAdvertiser);
    }
    if let Some(bundle) = &c.app_bundle
        && req.bapp.iter().any(|b| b.eq_ignore_ascii_case(bundle))
    {
        return Err(NoBidReason::BlockedApp);
    }
    if !c.attr.is_empty() && blocked_attrs(imp).any(|a| c.attr.contains(a)) {
        return Err(NoBidReason::BlockedAttribute);
    }
    let seat = ctx.exchange.seat.as_deref();
    if !req.wseat.is_empty() && !seat.is_some_and(|s| req.wseat.iter().any(|w| w == s)) {
        return Err(NoBidReason::SeatBlocked);
    }
    if seat.is_some_and(|s| req.bseat.iter().any(|b| b == s)) {
        return Err(NoBidReason::SeatBlocked);
    }
    if let Some(lang) = &c.language {
        let in_wlang =
            req.wlang.is_empty() || req.wlang.iter().any(|w| w.eq_ignore_ascii_case(lang));
        let in_wlangb = req.wlangb.is_empty() || req.wlangb.iter().any(|w| bcp47_matches(w, lang));
        if !in_wlang || !in_wlangb {
            return Err(NoBidReason::Language);
        }
    }
    if !c.languages.is_empty() {
        let audience = audience_language(req);
        if !audience.is_some_and(|l| c.languages.iter().any(|t| bcp47_matches(l, t))) {
            return Err(NoBidReason::Language);
        }
    }
    if !c.regions.is_empty() && !region_targeted(req, &c.regions) {
        return Err(NoBidReason::NoEligibleCampaign);
    }
    if let Some(site) = &req.site {
        let host = site
            .domain
            .as_deref()
            .or_else(|| site.page.as_deref().map(host_of));
        if !list_allows(&c.site_domains, host, domain_matches) {
            return Err(NoBidReason::BlockedPublisher);
        }
    }
    if let Some(app) = &req.app
        && !list_allows(&c.app_bundles, app.bundle.as_deref(), |a, b| {
            a.eq_ignore_ascii_case(b)
        })
    {
        return Err(NoBidReason::BlockedPublisher);
    }
    Ok(())
}

/// Blocked category `block` covers `cat` itself and its subcategories
/// (`IAB1` blocks `IAB1-2`).
pub(super) fn category_blocked(cat: &str, block: &str) -> bool {
    cat.eq_ignore_ascii_case(block)
        || (cat.len() > block.len()
            && cat.as_bytes()[block.len()] == b'-'
            && cat[..block.len()].eq_ignore_ascii_case(block))
}

/// `host` is `rule` or one of its subdomains, case-insensitively.
pub fn domain_matches(host: &str, rule: &str) -> bool {
    let (h, r) = (host.as_bytes(), rule.as_bytes());
    if h.len() == r.len() {
        return h.eq_ignore_ascii_case(r);
    }
    h.len() > r.len()
        && h[h.len() - r.len() - 1] == b'.'
        && h[h.len() - r.len()..].eq_ignore_ascii_case(r)
}

/// A BCP 47 tag (`en-US`) matches a language (`en`) it starts with.
fn bcp47_matches(tag: &str, lang: &str) -> bool {
    tag.eq_ignore_ascii_case(lang)
        || (tag.len() > lang.len()
            && tag.as_bytes()[lang.len()] == b'-'
            && tag[..lang.len()].eq_ignore_ascii_case(lang))
}

pub(super) fn blocked_attrs<'r>(imp: &'r Imp<'_>) -> impl Iterator<Item = &'r u32> {
    let banner = imp.banner.iter().flat_map(|b| b.battr.iter());
    let video = imp.video.iter().flat_map(|v| v.battr.iter());
    let native = imp.native.iter().flat_map(|n| n.battr.iter());
    banner.chain(video).chain(native)
}

pub(super) fn audience_language<'r>(req: &'r BidRequest<'_>) -> Option<&'r str> {
    let content = req
        .site
        .as_ref()
        .and_then(|s| s.content.as_ref())
        .or_else(|| req.app.as_ref().and_then(|a| a.content.as_ref()));
    content
        .and_then(|c| c.language.as_deref())
        .or_else(|| req.device.as_ref().and_then(|d| d.language.as_deref()))
}

fn region_targeted(req: &BidRequest<'_>, regions: &[String]) -> bool {
    let Some(geo) = req.device.as_ref().and_then(|d| d.geo.as_ref()) else {
        return false;
    };
    let (Some(country), Some(region)) = (geo.country.as_deref(), geo.region.as_deref()) else {
        return false;
    };
    regions.iter().any(|r| {
        r.len() == country.len() + 1 + region.len()
            && r[..country.len()].eq_ignore_ascii_case(country)
            && r.as_bytes()[country.len()] == b'-'
            && r[country.len() + 1..].eq_ignore_ascii_case(region)
    })
}

/// Host of a URL: between `://` and the next `/`, `:`, `?` or `#`.
pub(super) fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', ':', '?', '#']).unwrap_or(rest.len());
    &rest[..end]
}

/// Deny wins; a non-empty allow list requires a known, listed value.
fn list_allows(
    list: &ListFilter,
    value: Option<&str>,
    matches: impl Fn(&str, &str) -> bool,
) -> bool {
    match value {
        Some(v) => {
            !list.deny.iter().any(|d| matches(v, d))
                && (list.allow.is_empty() || list.allow.iter().any(|a| matches(v, a)))
        }
        None => list.allow.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_a_category_blocks_its_subcategories_only() {
        assert!(category_blocked("IAB1-2", "IAB1"));
        assert!(category_blocked("IAB1", "IAB1"));
        assert!(!category_blocked("IAB12", "IAB1"));
        assert!(!category_blocked("IAB1", "IAB1-2"));
    }

    #[test]
    fn a_blocked_domain_blocks_its_subdomains() {
        assert!(domain_matches("www.Example.com", "example.com"));
        assert!(domain_matches("example.com", "EXAMPLE.com"));
        assert!(!domain_matches("badexample.com", "example.com"));
    }

    #[test]
    fn host_is_taken_from_a_page_url() {
        assert_eq!(host_of("https://news.example:8443/a?b"), "news.example");
        assert_eq!(host_of("news.example/path"), "news.example");
    }

    #[test]
    fn deny_wins_and_allow_requires_a_value() {
        let list = ListFilter {
            allow: vec!["a.com".into()],
            deny: vec!["x.a.com".into()],
        };
        assert!(list_allows(&list, Some("www.a.com"), domain_matches));
        assert!(!list_allows(&list, Some("x.a.com"), domain_matches));
        assert!(!list_allows(&list, None, domain_matches));
        assert!(list_allows(&ListFilter::default(), None, domain_matches));
    }

    #[test]
    fn language_tags_match_their_language() {
        assert!(bcp47_matches("en-US", "en"));
        assert!(!bcp47_matches("eng", "en"));
    }
}

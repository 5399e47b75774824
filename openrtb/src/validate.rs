//! What no answer can be built without, and which parts of a request can
//! be served. A bidder is liberal in what it accepts: exchanges throttle
//! bidders that answer with errors, and a request that can be read gets a
//! bid or a no-bid.
//!
//! Errors (the bid endpoint's 400, naming the field): an empty `id`, no
//! imp, an imp with an empty `id`. Everything else costs at most part of
//! the request, and is written in [`BidRequest::repairs`]:
//!
//! - **`site` and `app` both present** (traffic between 2.5 and 2.6):
//!   `app` is kept when it names a `bundle`, the identity app campaigns
//!   and block lists use; else `site`. The other is dropped and recorded
//!   as a dropped field.
//! - **A field the bidder needs could not be read** (the parser left it
//!   out; a `null` is only absent and costs nothing): a block list, seat,
//!   language or currency list, a privacy signal (`regs`, `device.lmt`) or
//!   what campaigns' site and app lists check (`site.domain`, `site.page`,
//!   `app.bundle`) makes the whole request unservable; an imp's floor,
//!   floor currency or deals make that imp unservable (bidding could
//!   undercut a real floor); an unreadable `secure` is read as 1 (https
//!   only, the stricter of the two); a media object's sizes, durations,
//!   MIME types, protocols, delivery, bit rates, placement, blocked
//!   attributes or native assets take that object out of its imp (a bid
//!   could not be known to fit).
//! - **An imp is skipped** (taken out of `imp`, so nothing downstream
//!   sees it): a repeated id (the first imp of each id stays when the
//!   others repeat what a bid must fit, so that a bid naming the id fits
//!   whichever imp the exchange takes it for; imps sharing an id but
//!   differing in media or price terms are all skipped), no media object
//!   left, only a native object whose request has no assets (Native 1.0
//!   `layout`/`adunit` requests), a negative or non-finite floor, a floor
//!   currency or deal that is not usable.
//! - **Nothing left**: every imp skipped, or a needed field unreadable:
//!   [`Unservable`], answered with a no-bid.
//!
//! A request read as sent, whose imps are all servable, passes one loop
//! over its imps and allocates nothing.

use std::collections::HashSet;

use crate::error::Error;
use crate::money::Currency;
use crate::repair::{Action, FieldRepair, SkipReason, Skipped, Unservable};
use crate::request::{BidRequest, Imp};
use crate::tape::is_under;

/// Fields that limit what may be bid anywhere in the request: unreadable,
/// they make it unservable.
const NEEDED_BY_REQUEST: &[&str] = &[
    "bcat",
    "badv",
    "bapp",
    "wseat",
    "bseat",
    "wlang",
    "wlangb",
    "cur",
    "regs",
    "device.lmt",
    "site.domain",
    "site.page",
    "app.bundle",
];

/// Fields of an imp's price terms: unreadable, they make the imp
/// unservable.
const NEEDED_BY_IMP: &[&str] = &["imp[].bidfloor", "imp[].bidfloorcur", "imp[].pmp"];

/// An imp's `secure`: unreadable, it is read as 1.
const SECURE: &str = "imp[].secure";

/// Fields a bid must fit, per media object: unreadable, they take the
/// object out of its imp.
const NEEDED_BY_MEDIA: &[(Media, &str)] = &[
    (Media::Banner, "imp[].banner.format"),
    (Media::Banner, "imp[].banner.w"),
    (Media::Banner, "imp[].banner.h"),
    (Media::Banner, "imp[].banner.battr"),
    (Media::Video, "imp[].video.mimes"),
    (Media::Video, "imp[].video.minduration"),
    (Media::Video, "imp[].video.maxduration"),
    (Media::Video, "imp[].video.protocols"),
    (Media::Video, "imp[].video.protocol"),
    (Media::Video, "imp[].video.rqddurs"),
    (Media::Video, "imp[].video.delivery"),
    (Media::Video, "imp[].video.minbitrate"),
    (Media::Video, "imp[].video.maxbitrate"),
    (Media::Video, "imp[].video.api"),
    (Media::Video, "imp[].video.linearity"),
    (Media::Video, "imp[].video.skip"),
    (Media::Video, "imp[].video.plcmt"),
    (Media::Video, "imp[].video.placement"),
    (Media::Video, "imp[].video.battr"),
    (Media::Audio, "imp[].audio.mimes"),
    (Media::Audio, "imp[].audio.minduration"),
    (Media::Audio, "imp[].audio.maxduration"),
    (Media::Audio, "imp[].audio.protocols"),
    (Media::Audio, "imp[].audio.battr"),
    (Media::Native, "imp[].native.request.assets"),
    (Media::Native, "imp[].native.assets"),
    (Media::Native, "imp[].native.battr"),
];

#[derive(Debug, Clone, Copy)]
enum Media {
    Banner,
    Video,
    Audio,
    Native,
}

/// Whether leaving out `dropped` loses `needed`: the field itself, one
/// inside it, or one holding it.
fn loses(dropped: &str, needed: &str) -> bool {
    dropped == needed || is_under(dropped, needed) || is_under(needed, dropped)
}

/// Checks `req` and trims it to what can be served; see the module
/// documentation. The error names the first required field missing.
pub fn validate(req: &mut BidRequest<'_>) -> Result<(), Error> {
    if req.id.is_empty() {
        return Err(Error::invalid(
            "id",
            "required: the request id must not be empty",
        ));
    }
    if req.imp.is_empty() {
        return Err(Error::invalid("imp", "required: at least one impression"));
    }
    if !req.repairs.fields.is_empty() {
        apply_field_repairs(req);
    }
    if req.site.is_some() && req.app.is_some() {
        keep_site_or_app(req);
    }
    // Requests carry a handful of imps: comparing each with those before it
    // costs less than a hash set's allocation. Past a few dozen, hash.
    let mut seen: Option<HashSet<&str>> =
        (req.imp.len() > 32).then(|| HashSet::with_capacity(req.imp.len()));
    let mut native_without_assets = false;
    let skipped = &mut req.repairs.skipped;
    for (i, imp) in req.imp.iter().enumerate() {
        if imp.id.is_empty() {
            return Err(Error::invalid(
                format!("imp[{i}].id"),
                "required: the impression id must not be empty",
            ));
        }
        let duplicate = match seen.as_mut() {
            Some(set) => !set.insert(&imp.id),
            None => req.imp[..i].iter().any(|earlier| earlier.id == imp.id),
        };
        if duplicate {
            // The first of the id is bid on only if this one repeats what
            // a bid must fit: the exchange may take the bid for either.
            let first = req.imp.iter().position(|e| e.id == imp.id).unwrap_or(i);
            if !same_terms(&req.imp[first], imp) && !skipped.iter().any(|s| s.index == first) {
                skipped.push(Skipped {
                    index: first,
                    reason: SkipReason::DuplicateId,
                });
            }
        }
        let empty_native = imp
            .native
            .as_ref()
            .is_some_and(|n| n.request.assets.is_empty());
        native_without_assets |= empty_native;
        if skipped.iter().any(|s| s.index == i) {
            // Its price terms could not be read (apply_field_repairs).
            continue;
        }
        let reason = if duplicate {
            Some(SkipReason::DuplicateId)
        } else if imp.banner.is_none() && imp.video.is_none() && imp.audio.is_none() {
            match &imp.native {
                None => Some(SkipReason::NoMedia),
                Some(_) if empty_native => Some(SkipReason::NativeWithoutAssets),
                Some(_) => None,
            }
        } else {
            None
        };
        let reason = reason.or_else(|| (!price_terms_usable(imp)).then_some(SkipReason::Floor));
        if let Some(reason) = reason {
            skipped.push(Skipped { index: i, reason });
        }
    }
    if native_without_assets {
        // Served by its other media, if any; never as a native ad of nothing.
        for imp in &mut req.imp {
            if imp
                .native
                .as_ref()
                .is_some_and(|n| n.request.assets.is_empty())
            {
                imp.native = None;
            }
        }
    }
    if !req.repairs.skipped.is_empty() {
        skip_imps(req);
    }
    Ok(())
}

/// Whether a bid that fits `a` fits `b`: the same media objects and
/// price terms (a tag id or an `ext` may differ).
fn same_terms(a: &Imp<'_>, b: &Imp<'_>) -> bool {
    a.banner == b.banner
        && a.video == b.video
        && a.audio == b.audio
        && a.native == b.native
        && a.pmp == b.pmp
        && a.bidfloor.to_bits() == b.bidfloor.to_bits()
        && a.bidfloorcur == b.bidfloorcur
        && a.secure == b.secure
        && a.instl == b.instl
        && a.rwdd == b.rwdd
}

/// Whether the imp's floor, its currency and its deals can be priced
/// against: a negative or non-finite floor, a currency that is not three
/// letters, or a deal without an id cannot.
fn price_terms_usable(imp: &Imp<'_>) -> bool {
    let floor_ok = |floor: f64, cur: Option<&str>| {
        floor.is_finite() && floor >= 0.0 && cur.is_none_or(|c| Currency::parse(c).is_some())
    };
    floor_ok(imp.bidfloor, imp.bidfloorcur.as_deref())
        && imp.pmp.as_ref().is_none_or(|pmp| {
            pmp.deals
                .iter()
                .all(|d| !d.id.is_empty() && floor_ok(d.bidfloor, d.bidfloorcur.as_deref()))
        })
}

/// What the parser had to leave out, applied: a needed field lost makes
/// the request, an imp or a media object unservable.
fn apply_field_repairs(req: &mut BidRequest<'_>) {
    let lost =
        |needed: &str, r: &FieldRepair| r.action == Action::Dropped && loses(&r.path, needed);
    for r in &req.repairs.fields {
        if req.repairs.unservable.is_none()
            && let Some(needed) = NEEDED_BY_REQUEST.iter().find(|n| lost(n, r))
        {
            req.repairs.unservable = Some(Unservable::NeededField((*needed).to_string()));
        }
        let Some(imp) = r.imp.and_then(|i| req.imp.get_mut(i)) else {
            continue;
        };
        for (media, needed) in NEEDED_BY_MEDIA {
            if lost(needed, r) {
                match media {
                    Media::Banner => imp.banner = None,
                    Media::Video => imp.video = None,
                    Media::Audio => imp.audio = None,
                    // Unreadable assets are no assets (the imp's reason,
                    // when native was all it offered).
                    Media::Native if needed.ends_with("assets") => {
                        if let Some(native) = imp.native.as_mut() {
                            native.request.assets.clear();
                            native.assets.clear();
                        }
                    }
                    Media::Native => imp.native = None,
                }
            }
        }
        if r.action == Action::Dropped && r.path == SECURE {
            // Never bid past a limit that cannot be read: https only.
            imp.secure = Some(1);
        }
        let index = r.imp.unwrap_or_default();
        if NEEDED_BY_IMP.iter().any(|n| lost(n, r))
            && !req.repairs.skipped.iter().any(|s| s.index == index)
        {
            req.repairs.skipped.push(Skipped {
                index,
                reason: SkipReason::Floor,
            });
        }
    }
}

/// Of `site` and `app`, keeps `app` when it names a bundle, else `site`,
/// and records the other as dropped.
fn keep_site_or_app(req: &mut BidRequest<'_>) {
    let app_named = req
        .app
        .as_ref()
        .and_then(|a| a.bundle.as_deref())
        .is_some_and(|b| !b.trim().is_empty());
    let dropped = if app_named {
        req.site = None;
        "site"
    } else {
        req.app = None;
        "app"
    };
    req.repairs.fields.push(FieldRepair {
        path: dropped.to_string(),
        imp: None,
        action: Action::Dropped,
    });
}

/// Takes the skipped imps out of `imp`, in request order; nothing left is
/// [`Unservable::NoImp`].
fn skip_imps(req: &mut BidRequest<'_>) {
    let skipped = &mut req.repairs.skipped;
    skipped.sort_by_key(|s| s.index);
    let mut at = 0;
    req.imp.retain(|_| {
        let keep = skipped.binary_search_by_key(&at, |s| s.index).is_err();
        at += 1;
        keep
    });
    if req.imp.is_empty() && req.repairs.unservable.is_none() {
        req.repairs.unservable = Some(Unservable::NoImp);
    }
}

//! What the OpenRTB spec requires of a bid request, and nothing stricter:
//! real exchanges send sloppy but valid JSON, and refusing it loses money.
//!
//! Required: a non-empty `id`; at least one `imp`; each imp with a non-empty
//! `id` unique in the request and at least one of banner, video, audio or
//! native; a native imp whose request has assets. Also refused, because no
//! bid could be priced or placed: a negative or non-finite floor, a currency
//! that is not three letters, and `site` together with `app`.

use std::collections::HashSet;

use crate::error::Error;
use crate::money::Currency;
use crate::request::BidRequest;

/// Checks `req`; the error names the first offending field's path.
pub fn validate(req: &BidRequest<'_>) -> Result<(), Error> {
    if req.id.is_empty() {
        return Err(Error::invalid(
            "id",
            "required: the request id must not be empty",
        ));
    }
    if req.imp.is_empty() {
        return Err(Error::invalid("imp", "required: at least one impression"));
    }
    if req.site.is_some() && req.app.is_some() {
        return Err(Error::invalid(
            "app",
            "a request has either site or app, not both",
        ));
    }
    for (i, cur) in req.cur.iter().enumerate() {
        if Currency::parse(cur).is_none() {
            return Err(Error::invalid(
                format!("cur[{i}]"),
                format!("{cur:?} is not a 3-letter currency code"),
            ));
        }
    }
    // Requests carry a handful of imps: comparing each with those before it
    // costs less than a hash set's allocation. Past a few dozen, hash.
    let mut seen: Option<HashSet<&str>> =
        (req.imp.len() > 32).then(|| HashSet::with_capacity(req.imp.len()));
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
            return Err(Error::invalid(
                format!("imp[{i}].id"),
                format!("duplicate impression id {:?}", imp.id),
            ));
        }
        if imp.banner.is_none()
            && imp.video.is_none()
            && imp.audio.is_none()
            && imp.native.is_none()
        {
            return Err(Error::invalid(
                format!("imp[{i}]"),
                "an impression needs one of banner, video, audio or native",
            ));
        }
        if !imp.bidfloor.is_finite() || imp.bidfloor < 0.0 {
            return Err(Error::invalid(
                format!("imp[{i}].bidfloor"),
                "must be a non-negative number",
            ));
        }
        if let Some(cur) = &imp.bidfloorcur
            && Currency::parse(cur).is_none()
        {
            return Err(Error::invalid(
                format!("imp[{i}].bidfloorcur"),
                format!("{cur:?} is not a 3-letter currency code"),
            ));
        }
        if let Some(native) = &imp.native
            && native.request.assets.is_empty()
        {
            return Err(Error::invalid(
                format!("imp[{i}].native.request.assets"),
                "a native request needs at least one asset",
            ));
        }
        if let Some(pmp) = &imp.pmp {
            for (j, deal) in pmp.deals.iter().enumerate() {
                if deal.id.is_empty() {
                    return Err(Error::invalid(
                        format!("imp[{i}].pmp.deals[{j}].id"),
                        "required: the deal id must not be empty",
                    ));
                }
                if !deal.bidfloor.is_finite() || deal.bidfloor < 0.0 {
                    return Err(Error::invalid(
                        format!("imp[{i}].pmp.deals[{j}].bidfloor"),
                        "must be a non-negative number",
                    ));
                }
                if let Some(cur) = &deal.bidfloorcur
                    && Currency::parse(cur).is_none()
                {
                    return Err(Error::invalid(
                        format!("imp[{i}].pmp.deals[{j}].bidfloorcur"),
                        format!("{cur:?} is not a 3-letter currency code"),
                    ));
                }
            }
        }
    }
    Ok(())
}

//! Candidate campaigns from the targeting index: the request's country,
//! device type, OS and inventory once, then per impression its formats and
//! banner sizes. A few word operations per 64 campaigns, whatever their
//! rules; never allocates once the buffers have grown.

use openrtb::{BidRequest, Imp};
use smallvec::SmallVec;

use crate::bid::snapshot::Index;
use crate::bid::snapshot::bitset::{Bitset, and_into, intersect_into, or_into};

/// Campaigns whose country, device type, OS and inventory rules admit the
/// request, into `out`.
pub fn base_candidates(req: &BidRequest<'_>, ix: &Index, out: &mut Vec<u64>) {
    let device = req.device.as_ref();
    let geo = device
        .and_then(|d| d.geo.as_ref())
        .or_else(|| req.user.as_ref().and_then(|u| u.geo.as_ref()));
    let mut country_buf = [0u8; 3];
    let country = geo
        .and_then(|g| g.country.as_deref())
        .and_then(|c| upper3(c, &mut country_buf))
        .and_then(|c| ix.country.get(c));
    let device_type = device
        .and_then(|d| d.devicetype)
        .and_then(|t| ix.device_type.get(&t));
    let mut os_buf = [0u8; 32];
    let os = device
        .and_then(|d| d.os.as_deref())
        .and_then(|o| lower_into(o, &mut os_buf))
        .and_then(|o| ix.os.get(o));
    // A value no campaign names admits only the campaigns open to any.
    fn either<'a>(named: Option<&'a Bitset>, any: &'a Bitset) -> (&'a [u64], &'a [u64]) {
        (named.map_or(any.words(), Bitset::words), any.words())
    }
    let inventory = if req.app.is_some() {
        ix.app.words()
    } else if req.site.is_some() {
        ix.site.words()
    } else {
        ix.all.words()
    };
    intersect_into(
        out,
        ix.all.words(),
        [
            either(country, &ix.country_any),
            either(device_type, &ix.device_type_any),
            either(os, &ix.os_any),
        ],
        inventory,
    );
}

/// Of `base`, the campaigns with a creative of a format and size `imp`
/// takes, into `out`.
pub fn imp_candidates(imp: &Imp<'_>, ix: &Index, base: &[u64], out: &mut Vec<u64>) {
    let mut takes: SmallVec<[&Bitset; 4]> = SmallVec::new();
    if let Some(banner) = &imp.banner {
        let mut any_size = false;
        for (w, h) in banner_sizes(banner) {
            any_size = true;
            takes.extend(ix.banner_size.get(&(w, h)));
        }
        if !any_size {
            takes.push(&ix.banner_any);
        }
    }
    if imp.native.is_some() {
        takes.push(&ix.native);
    }
    if imp.video.is_some() {
        takes.push(&ix.video);
    }
    out.clear();
    // Most impressions take one format in one size: one pass.
    if let [only] = takes[..] {
        out.extend(only.words().iter().zip(base).map(|(a, b)| a & b));
        return;
    }
    out.resize(ix.words, 0);
    for set in takes {
        or_into(out, set);
    }
    and_into(out, base);
}

/// The sizes a banner slot accepts, in the exchange's order of preference.
pub fn banner_sizes<'r>(b: &'r openrtb::Banner<'_>) -> impl Iterator<Item = (u32, u32)> + 'r {
    let single = match (b.w, b.h) {
        (Some(w), Some(h)) if w > 0 && h > 0 => Some((w, h)),
        _ => None,
    };
    b.format
        .iter()
        .filter(|f| f.w > 0 && f.h > 0)
        .map(|f| (f.w, f.h))
        .chain(single)
}

/// `s` uppercased (into `buf` when it is not already) when it is three
/// bytes (ISO alpha-3).
pub fn upper3<'b>(s: &'b str, buf: &'b mut [u8; 3]) -> Option<&'b str> {
    let b = s.as_bytes();
    if b.len() != 3 {
        return None;
    }
    // As exchanges send it: nothing to copy or check again.
    if !b.iter().any(u8::is_ascii_lowercase) {
        return Some(s);
    }
    for (o, c) in buf.iter_mut().zip(b) {
        *o = c.to_ascii_uppercase();
    }
    std::str::from_utf8(buf).ok()
}

/// `s` lowercased into `buf` when it fits.
pub fn lower_into<'b>(s: &str, buf: &'b mut [u8; 32]) -> Option<&'b str> {
    let b = s.trim().as_bytes();
    let out = buf.get_mut(..b.len())?;
    for (o, c) in out.iter_mut().zip(b) {
        *o = c.to_ascii_lowercase();
    }
    std::str::from_utf8(out).ok()
}

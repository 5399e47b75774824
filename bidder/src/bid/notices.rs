//! A bid's own text: its process-unique id, its signed token and the
//! notice URLs (`{public_url}/events/{win,bill,loss}` with the exchange's
//! macros in place), and its markup with the trackers filled in. When an
//! exchange does not call `burl`, the win notice is the billing point and
//! no `burl` is sent.
//!
//! Writes into the request's text buffer; the fixed parts of every URL are
//! the snapshot's ([`crate::bid::snapshot::NoticePrefixes`]). Never allocates per bid.

use std::fmt::Write as _;
use std::ops::Range;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use audiences::Stage;
use creative::native::{Links, render_native_with};
use creative::plan::Slot;
use creative::template::Format;
use creative::video::VastVersion;
use openrtb::Imp;
use openrtb::macros::AUCTION_LOSS;

use super::decision::{BidContext, Chosen, Origin, Pick, assembled_item, native_version};
use super::snapshot::Snapshot;
use crate::events::token::{Claims, Reserved, Signer, auction_hash};
use crate::state::budget::Held;

/// Where one bid's strings are in the text buffer.
#[derive(Debug)]
pub(crate) struct Notices {
    pub(crate) id: Range<usize>,
    pub(crate) nurl: Range<usize>,
    pub(crate) burl: Option<Range<usize>>,
    pub(crate) lurl: Range<usize>,
    /// The markup as sent: an assembled creative rendered with this bid's
    /// trackers, or a fixed one with its impression tracker added.
    pub(crate) adm: Range<usize>,
}

/// This process's part of every bid id it makes: its start time in
/// nanoseconds, so that bid ids never repeat across restarts, nor across
/// the instances of a fleet.
pub fn process_id() -> u64 {
    static PROCESS: OnceLock<u64> = OnceLock::new();
    *PROCESS.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    })
}

/// A process-unique bid id and the notice URLs, written into `text`. The
/// URLs carry the bid's stage (`-` when none), so that what the notices
/// report can be attributed to it; the creative's own trackers carry the
/// same one. The token carries what the bid `held`.
pub(crate) fn write(
    (request_id, imp_req): (&str, &Imp<'_>),
    (pick, held): (&Pick, Held),
    (ctx, origin): (&BidContext<'_>, &Origin),
    snap: &Snapshot,
    signer: &Signer,
    text: &mut String,
) -> Notices {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let process = process_id();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let start = text.len();
    push_hex(text, process);
    text.push('-');
    push_hex(text, n);
    let id = start..text.len();

    let (creative, price) = (&pick.creative, pick.price);
    let c = &snap.campaigns[pick.campaign];
    // One stage per bid, the one its token claims and reports count it
    // under, in every URL: the notices' and the creative's trackers. A
    // fixed creative's is the user's stage as known (`-`: unknown or not
    // to be used); an assembled creative's is the stage it was drawn for
    // (unknown users count as unaware), whose learning its reactions feed.
    let stage = pick.reported_stage();
    let stage_name = stage.map_or("-", Stage::as_str);
    // Everything the notices will claim, signed once for all of them.
    let token = signer.sign(&Claims {
        issued: ctx.now.0.clamp(0, i64::from(u32::MAX)) as u32,
        exchange: ctx.exchange.index,
        campaign: c.id,
        price,
        stage,
        combo: match creative {
            Chosen::Assembled { item, .. } => Some(assembled_item(c, *item).key),
            _ => None,
        },
        user: ctx.user.key,
        bid: (process, n),
        auction: auction_hash(request_id, &imp_req.id),
        currency: origin.cur,
        country: origin.country,
        device_type: origin.device_type,
        reserved: Some(Reserved {
            amount: held.amount,
            hold_secs: (held.until.0 - ctx.now.0).clamp(0, i64::from(u32::MAX)) as u32,
        }),
    });
    let token = token.as_str();
    // The markup of an assembled creative carries the bid's tail in its
    // trackers: the stage and the probability the combination was drawn
    // with (for offline evaluation), and the token, which names the bid.
    let mut adm = 0..0;
    if let Chosen::Assembled {
        item, ppm, vast, ..
    } = creative
    {
        let mut tail = StackText::<256>::new();
        for piece in [
            "&stage=",
            stage_name,
            "&pp=",
            itoa::Buffer::new().format(*ppm),
            "&t=",
            token,
        ] {
            let _ = tail.write_str(piece);
        }
        let start = text.len();
        let it = assembled_item(c, *item);
        // In the version the slot was matched for.
        let slot = match (it.format, &imp_req.native) {
            (Format::Video, _) => Slot::Video(vast.unwrap_or(VastVersion::V4_2)),
            (Format::Native, Some(native)) => Slot::Native(&native.request, native_version(native)),
            _ => Slot::Markup,
        };
        // The fit was checked when it was drawn; a failure here leaves an
        // empty adm only if that check and this render disagree.
        let _ = it.write_for(tail.as_str(), slot, text);
        adm = start..text.len();
    }
    // A fixed creative gets the impression tracker added: a 1x1 pixel after
    // the HTML, an `<Impression>` in the VAST document, an impression
    // tracker in the native response (in the form the request's version
    // reads). Without it frequency caps, funnel moves and
    // reports would never see the impressions of fixed creatives. Clicks
    // go through the click tracker for the same reason: where the HTML
    // says `${CLICK_URL}`, first in VAST's `<VideoClicks>`, as the native
    // link. The snapshot placed them; the bid fills in its tail.
    if !matches!(creative, Chosen::Assembled { .. }) {
        let start = text.len();
        match creative {
            Chosen::Banner(k) => c.banners[*k].markup.write(stage_name, token, text),
            Chosen::Video(k, version) => c.videos[*k].document.tracked.write_as(
                stage_name,
                token,
                version.map(VastVersion::as_str),
                text,
            ),
            Chosen::Native(k, _) => {
                if let Some(native) = &imp_req.native {
                    let ad = &c.natives[*k];
                    let mut tail = StackText::<256>::new();
                    for piece in ["&stage=", stage_name, "&t=", token] {
                        let _ = tail.write_str(piece);
                    }
                    let links = Links {
                        click: Some(&ad.click),
                        tail: tail.as_str(),
                        impression: Some(&ad.impression),
                        strict: false,
                        version: native_version(native),
                    };
                    // The same assets fitted when the creative was chosen.
                    let _ = render_native_with(&ad.assets, &native.request, &links, text);
                }
            }
            Chosen::Assembled { .. } => {}
        }
        adm = start..text.len();
    }
    let combo = match creative {
        Chosen::Assembled { item, ppm, .. } => Some((assembled_item(c, *item).key, *ppm)),
        _ => None,
    };
    // Notice URLs carry the macros, what the exchange cannot read in the
    // bid itself (stage, combination, propensity) and the token; the bid
    // id, campaign, creative and exchange are in the bid and in the token,
    // and repeating them in three URLs cost 200 bytes an answer.
    // Each is the snapshot's prefix for its kind and a tail they share:
    // the tail is written once, after the win URL's prefix, and the other
    // URLs copy it from there (`write!` went through `fmt` for every piece,
    // 4 % of the bid path; pushing the pieces into each URL took 60 copies
    // a bid).
    let prefix = &snap.notice_prefixes;
    let start = text.len();
    text.push_str(&prefix.win);
    let tail_start = text.len();
    text.push_str("&stage=");
    text.push_str(stage_name);
    if let Some((key, ppm)) = combo {
        text.push_str("&combo=");
        let _ = key.write(text);
        text.push_str("&pp=");
        text.push_str(itoa::Buffer::new().format(ppm));
    }
    let before_token = text.len();
    text.push_str("&t=");
    text.push_str(token);
    let nurl = start..text.len();
    let tail = tail_start..nurl.end;
    let burl = ctx.exchange.sends_burl.then(|| {
        let start = text.len();
        text.push_str(&prefix.bill);
        text.extend_from_within(tail.clone());
        start..text.len()
    });
    let start = text.len();
    text.push_str(&prefix.loss);
    text.extend_from_within(tail_start..before_token);
    for piece in ["&loss=", AUCTION_LOSS, "&t=", token] {
        text.push_str(piece);
    }
    let lurl = start..text.len();
    Notices {
        id,
        nurl,
        burl,
        lurl,
        adm,
    }
}

/// Appends `v` in lower-case hex without leading zeros, as `{v:x}` would,
/// without going through `fmt`.
fn push_hex(text: &mut String, v: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 16];
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        buf[i] = DIGITS[(v & 0xf) as usize];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    // Only ASCII hex digits were written.
    text.push_str(std::str::from_utf8(&buf[i..]).unwrap_or(""));
}

/// A short string on the stack, for text assembled per bid that must not
/// allocate.
struct StackText<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackText<N> {
    fn new() -> Self {
        StackText {
            buf: [0; N],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        // Only whole `&str`s are ever copied in.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> std::fmt::Write for StackText<N> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bid_ids_are_written_in_hex_as_fmt_would() {
        for v in [0, 1, 9, 10, 15, 16, 255, 0x18ea_e1e6_41a9_21f8, u64::MAX] {
            let mut text = String::from("x");
            push_hex(&mut text, v);
            assert_eq!(text, format!("x{v:x}"));
        }
    }
}

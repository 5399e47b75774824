//! The commit step of the bid path: for each pick of the pure decision,
//! reserve its cost in the campaign's budget, give it a bid id, sign its
//! notice token and write its notice URLs and markup; then the answer.
//!
//! The only part of the bid path with side effects on shared state (the
//! budget reservation and the bid-id counter); atomics only, never blocks.
//! A pick whose reservation fails here (another bid took the last room
//! since the decision checked) is dropped: its imp gets no bid.

use creative::plan::Render;
use creative::template::Format;
use openrtb::{Bid, BidRequest, BidResponse, Currency, SeatBid};
use smallvec::SmallVec;

use super::decision::{BidContext, Chosen, Scratch, assembled_item, refusal_reason};
use super::notices::{self, Notices};
use super::snapshot::Snapshot;
use crate::events::token::Signer;
use crate::model::NoBidReason;
use crate::state::reports::BidFact;

/// The result of committing one request's picks.
// The bid variant is large (bids inline in a SmallVec); it lives once per
// request on the stack, where boxing it would cost an allocation instead.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Outcome<'a> {
    /// At least one bid.
    Bid(Decision<'a>),
    /// No bid, and the reason of the candidate that came closest.
    NoBid(NoBidReason),
}

/// The bids of one answer.
#[derive(Debug)]
pub struct Decision<'a> {
    /// The request id.
    pub request_id: &'a str,
    /// Currency of every price.
    pub cur: Currency,
    /// Our seat.
    pub seat: Option<&'a str>,
    /// At most one bid per impression.
    pub bids: SmallVec<[Bid<'a>; 4]>,
    /// Per bid, what reports count it under.
    pub facts: SmallVec<[BidFact; 4]>,
}

impl Decision<'_> {
    /// Writes the BidResponse JSON into `out`.
    pub fn write_into(&self, out: &mut Vec<u8>) {
        let seatbid = [SeatBid {
            seat: self.seat,
            bid: &self.bids,
        }];
        BidResponse {
            id: self.request_id,
            bidid: self.bids.first().map(|b| b.id),
            cur: self.cur,
            seatbid: &seatbid,
            nbr: None,
        }
        .write_into(out);
    }
}

/// Reserves, numbers and signs the picks `decide` left in `scratch`, and
/// builds the bids. No bid when no pick keeps its reservation.
pub fn commit<'a>(
    req: &'a BidRequest<'a>,
    snap: &'a Snapshot,
    ctx: &BidContext<'a>,
    signer: &Signer,
    scratch: &'a mut Scratch,
) -> Outcome<'a> {
    let mut refused = None;
    let mut picks = std::mem::take(&mut scratch.picks);
    let mut held: SmallVec<[_; 4]> = SmallVec::new();
    let hold_secs = ctx.exchange.notice_window_secs;
    picks.retain(|p| {
        let c = &snap.campaigns[p.campaign];
        match c
            .account
            .try_reserve(&c.limits, p.cost, ctx.now, p.pacing_draw, hold_secs)
        {
            Ok(h) => {
                held.push(h);
                true
            }
            Err(r) => {
                refused = Some(refusal_reason(r));
                false
            }
        }
    });
    if picks.is_empty() {
        scratch.picks = picks;
        return Outcome::NoBid(refused.unwrap_or(NoBidReason::BudgetExhausted));
    }
    let origin = scratch.origin;
    let mut written: SmallVec<[Notices; 4]> = SmallVec::new();
    for (p, h) in picks.iter().zip(held) {
        let imp = &req.imp[p.imp];
        written.push(notices::write(
            (&req.id, imp),
            (p, h),
            (ctx, &origin),
            snap,
            signer,
            &mut scratch.text,
        ));
    }
    scratch.picks = picks;

    let scratch: &'a Scratch = scratch;
    let text = scratch.text.as_str();
    let bids = scratch
        .picks
        .iter()
        .zip(&written)
        .map(|(p, n)| {
            let imp = &req.imp[p.imp];
            let c = &snap.campaigns[p.campaign];
            let (crid, adm, w, h, mtype, iurl): (&str, &str, _, _, _, _) = match &p.creative {
                Chosen::Banner(k) => {
                    let b = &c.banners[*k];
                    (&b.crid, &text[n.adm.clone()], Some(b.w), Some(b.h), 1, None)
                }
                Chosen::Native(k, r) => {
                    let ad = &c.natives[*k];
                    let iurl = ad.assets.image.as_ref().map(|i| i.url.as_str());
                    // The render with the tracker, else the fitting render.
                    let adm = if n.adm.is_empty() { r } else { &n.adm };
                    (&ad.crid, &text[adm.clone()], None, None, 4, iurl)
                }
                Chosen::Video(k, _) => {
                    let v = &c.videos[*k];
                    let adm = &text[n.adm.clone()];
                    (&v.crid, adm, Some(v.w), Some(v.h), 2, None)
                }
                Chosen::Assembled { item, .. } => {
                    let it = assembled_item(c, *item);
                    let adm = &text[n.adm.clone()];
                    match (it.format, &it.render) {
                        (Format::Banner(_), _) => {
                            let l = it.format.layout();
                            (&*it.crid, adm, l.map(|l| l.w), l.map(|l| l.h), 1, None)
                        }
                        (Format::Video, _) => {
                            let v = it.video.as_ref();
                            (&*it.crid, adm, v.map(|v| v.w), v.map(|v| v.h), 2, None)
                        }
                        (Format::Native, Render::Native { assets, .. }) => {
                            let iurl = assets.image.as_ref().map(|i| i.url.as_str());
                            (&*it.crid, adm, None, None, 4, iurl)
                        }
                        (Format::Native, _) => (&*it.crid, adm, None, None, 4, None),
                    }
                }
            };
            Bid {
                id: &text[n.id.clone()],
                impid: &imp.id,
                price: p.price,
                adm: Some(adm),
                nurl: Some(&text[n.nurl.clone()]),
                burl: n.burl.clone().map(|r| &text[r]),
                lurl: Some(&text[n.lurl.clone()]),
                adomain: &c.adomain,
                bundle: c.app_bundle.as_deref(),
                iurl,
                cid: Some(&c.cid),
                crid: Some(crid),
                cat: &c.cat,
                attr: &c.attr,
                dealid: p
                    .deal
                    .and_then(|d| imp.pmp.as_ref().map(|pmp| pmp.deals[d].id.as_ref())),
                w,
                h,
                mtype: Some(mtype),
                exp: snap.settings.bid_ttl_secs,
            }
        })
        .collect();
    let facts = scratch
        .picks
        .iter()
        .map(|p| BidFact {
            campaign: snap.campaigns[p.campaign].id,
            stage: p.reported_stage(),
            combo: match &p.creative {
                Chosen::Assembled { item, .. } => {
                    Some(assembled_item(&snap.campaigns[p.campaign], *item).key)
                }
                _ => None,
            },
        })
        .collect();
    Outcome::Bid(Decision {
        request_id: &req.id,
        cur: origin.cur,
        seat: ctx.exchange.seat.as_deref(),
        bids,
        facts,
    })
}

//! BidResponse to JSON, by hand, into a caller-owned buffer.
//!
//! A response is a few hundred bytes of known shape; writing it directly
//! avoids serde's per-field machinery and any intermediate allocation. Prices
//! are written from integer micros as exact decimals (`2.5`, `0.000001`),
//! never through float formatting, so what the bidder decided is what the
//! exchange reads.

use crate::money::Micros;
use crate::response::{Bid, BidResponse, SeatBid};

impl BidResponse<'_> {
    /// Appends this response as JSON to `out`. Empty and absent fields are
    /// left out; a response without seat bids is a no-bid carrying `nbr`.
    pub fn write_into(&self, out: &mut Vec<u8>) {
        let mut w = Object::open(out);
        w.str("id", self.id);
        if let Some(bidid) = self.bidid {
            w.str("bidid", bidid);
        }
        if !self.seatbid.is_empty() {
            w.str("cur", self.cur.as_str());
            w.key("seatbid");
            w.out.push(b'[');
            for (i, sb) in self.seatbid.iter().enumerate() {
                if i > 0 {
                    w.out.push(b',');
                }
                write_seatbid(sb, w.out);
            }
            w.out.push(b']');
        }
        if let Some(nbr) = self.nbr {
            w.uint("nbr", u64::from(nbr));
        }
        w.close();
    }
}

fn write_seatbid(sb: &SeatBid<'_>, out: &mut Vec<u8>) {
    let mut w = Object::open(out);
    w.key("bid");
    w.out.push(b'[');
    for (i, bid) in sb.bid.iter().enumerate() {
        if i > 0 {
            w.out.push(b',');
        }
        write_bid(bid, w.out);
    }
    w.out.push(b']');
    if let Some(seat) = sb.seat {
        w.str("seat", seat);
    }
    w.close();
}

fn write_bid(b: &Bid<'_>, out: &mut Vec<u8>) {
    let mut w = Object::open(out);
    w.str("id", b.id);
    w.str("impid", b.impid);
    w.key("price");
    write_price(b.price, w.out);
    let optional = [
        ("adm", b.adm),
        ("nurl", b.nurl),
        ("burl", b.burl),
        ("lurl", b.lurl),
        ("bundle", b.bundle),
        ("iurl", b.iurl),
        ("cid", b.cid),
        ("crid", b.crid),
        ("dealid", b.dealid),
    ];
    for (key, value) in optional {
        if let Some(v) = value {
            w.str(key, v);
        }
    }
    if !b.adomain.is_empty() {
        w.strs("adomain", b.adomain);
    }
    if !b.cat.is_empty() {
        w.strs("cat", b.cat);
    }
    if !b.attr.is_empty() {
        w.key("attr");
        w.out.push(b'[');
        for (i, a) in b.attr.iter().enumerate() {
            if i > 0 {
                w.out.push(b',');
            }
            write_uint(u64::from(*a), w.out);
        }
        w.out.push(b']');
    }
    for (key, value) in [("w", b.w), ("h", b.h), ("mtype", b.mtype), ("exp", b.exp)] {
        if let Some(v) = value {
            w.uint(key, u64::from(v));
        }
    }
    w.close();
}

/// An object being written: tracks whether a comma is due.
struct Object<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> Object<'o> {
    fn open(out: &'o mut Vec<u8>) -> Object<'o> {
        out.push(b'{');
        Object { out, first: true }
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        write_str(value, self.out);
    }

    fn strs(&mut self, key: &str, values: &[String]) {
        self.key(key);
        self.out.push(b'[');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            write_str(v, self.out);
        }
        self.out.push(b']');
    }

    fn uint(&mut self, key: &str, value: u64) {
        self.key(key);
        write_uint(value, self.out);
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

fn write_uint(v: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Writes micros as the shortest exact decimal: `2500000` -> `2.5`.
fn write_price(price: Micros, out: &mut Vec<u8>) {
    let v = price.0;
    if v < 0 {
        out.push(b'-');
    }
    let abs = v.unsigned_abs();
    write_uint(abs / 1_000_000, out);
    let mut frac = abs % 1_000_000;
    if frac == 0 {
        return;
    }
    let mut digits = 6;
    while frac.is_multiple_of(10) {
        frac /= 10;
        digits -= 1;
    }
    out.push(b'.');
    let mut buf = itoa::Buffer::new();
    let s = buf.format(frac);
    out.extend(std::iter::repeat_n(b'0', digits - s.len()));
    out.extend_from_slice(s.as_bytes());
}

/// Writes `s` as a JSON string, escaping quotes, backslashes and control
/// characters; everything else (including non-ASCII UTF-8) is copied in
/// runs found eight bytes at a time (markup and URLs are long and almost
/// never need escaping).
fn write_str(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    loop {
        let i = next_special(bytes, start);
        out.extend_from_slice(&bytes[start..i]);
        let Some(&b) = bytes.get(i) else { break };
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
        start = i + 1;
    }
    out.push(b'"');
}

fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// The high bit of every byte of `x` (little-endian) that needs escaping:
/// below 0x20, `"` or `\`. The classic SWAR tests; a borrow can also mark
/// a byte above a true match, never below one, so the lowest mark is exact.
fn special_bytes(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
    let q = x ^ (ONES * u64::from(b'"'));
    let quote = q.wrapping_sub(ONES) & !q & HIGH;
    let bs = x ^ (ONES * u64::from(b'\\'));
    let backslash = bs.wrapping_sub(ONES) & !bs & HIGH;
    below_space | quote | backslash
}

fn word(bytes: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(w)
}

/// Index of the first byte at or after `from` that needs escaping, or the
/// length. Markup runs for hundreds of bytes between quotes (an assembled
/// banner's `adm` is about 2 KB without one), so clean 64-byte blocks are
/// skipped first by a loop over a fixed-size array, which the compiler
/// turns into SIMD compares (SSE2, in every x86-64): 2.5x faster than the
/// words below over such markup. The words then find the byte in the
/// block that has one, and scan what is shorter than a block: 32 bytes a
/// step (four independent words, one branch), then the byte from the
/// lowest mark instead of stepping through it.
fn next_special(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    while let Some(block) = bytes.get(i..i + 64) {
        let block: &[u8; 64] = block.try_into().expect("64 bytes");
        if block.iter().fold(false, |any, &b| any | needs_escape(b)) {
            break;
        }
        i += 64;
    }
    while let Some(chunk) = bytes.get(i..i + 32) {
        let marks = [
            special_bytes(word(chunk)),
            special_bytes(word(&chunk[8..])),
            special_bytes(word(&chunk[16..])),
            special_bytes(word(&chunk[24..])),
        ];
        if marks.iter().all(|&m| m == 0) {
            i += 32;
            continue;
        }
        for m in marks {
            if m != 0 {
                return i + (m.trailing_zeros() / 8) as usize;
            }
            i += 8;
        }
    }
    while let Some(chunk) = bytes.get(i..i + 8) {
        let m = special_bytes(word(chunk));
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < bytes.len() && !needs_escape(bytes[i]) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use serde_json::{Value, json};

    fn price_text(micros: i64) -> String {
        let mut out = Vec::new();
        write_price(Micros(micros), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn prices_are_exact_short_decimals() {
        assert_eq!(price_text(2_500_000), "2.5");
        assert_eq!(price_text(3_000_000), "3");
        assert_eq!(price_text(1), "0.000001");
        assert_eq!(price_text(1_230_400), "1.2304");
        assert_eq!(price_text(0), "0");
        assert_eq!(price_text(12_345_678_901), "12345.678901");
    }

    #[test]
    fn strings_are_escaped_so_any_input_stays_valid_json() {
        let nasty = "quote\" backslash\\ newline\n tab\t nul\u{0} bell\u{7} unicode é ✓ </script>";
        let mut out = Vec::new();
        write_str(nasty, &mut out);
        let back: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, nasty);
    }

    #[test]
    fn a_special_byte_at_any_offset_of_a_long_string_is_escaped() {
        for special in ['"', '\\', '\n', '\u{1}', '\u{1f}'] {
            for pos in 0..40 {
                let mut text: String = "abcdefghijklmnopqrstuvwxyzé0123456789ABCDEFGHIJ".into();
                let at = text.char_indices().nth(pos).map_or(text.len(), |(i, _)| i);
                text.insert(at, special);
                let mut out = Vec::new();
                write_str(&text, &mut out);
                let back: String = serde_json::from_slice(&out).unwrap();
                assert_eq!(back, text, "{special:?} at {pos}");
            }
        }
    }

    #[test]
    fn the_block_and_word_scans_find_the_same_byte_as_a_byte_by_byte_scan() {
        // Bytes around the ones that need escaping (so a borrow in the word
        // tricks would show), high bytes, and plain text; lengths past the
        // 64-, 32- and 8-byte steps; every start offset.
        let alphabet = [
            b'a', b' ', b'!', b'"', b'#', b'[', b'\\', b']', 0x00, 0x1f, 0x7f, 0x80, 0xc3, 0xff,
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for len in (0..140).chain([191, 192, 193, 256, 300]) {
            for round in 0..24_u64 {
                // One byte in 2, 10, 18 or 90 from the alphabet, the rest
                // plain text, so that clean blocks of 64 occur too.
                let one_in = [2, 10, 18, 90][round as usize % 4];
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        if state.is_multiple_of(one_in) {
                            alphabet[(state >> 8) as usize % alphabet.len()]
                        } else {
                            b'x'
                        }
                    })
                    .collect();
                for from in 0..=len {
                    let expected = (from..len).find(|&i| needs_escape(bytes[i])).unwrap_or(len);
                    assert_eq!(
                        next_special(&bytes, from),
                        expected,
                        "{bytes:?} from {from}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_full_bid_response_round_trips_through_a_json_parser() {
        let adomain = vec!["acme.example".to_string()];
        let cat = vec!["IAB17".to_string()];
        let native_adm = r#"{"native":{"assets":[{"id":1,"title":{"text":"Hi \"there\""}}]}}"#;
        let bids = [
            Bid {
                id: "b1",
                impid: "1",
                price: Micros(2_500_000),
                adm: Some("<a href=\"x\">ad</a>"),
                nurl: Some("https://b/win?p=${AUCTION_PRICE}"),
                burl: Some("https://b/bill"),
                lurl: Some("https://b/loss?r=${AUCTION_LOSS}"),
                adomain: &adomain,
                bundle: Some("com.acme"),
                iurl: Some("https://cdn/i.png"),
                cid: Some("7"),
                crid: Some("42"),
                cat: &cat,
                attr: &[1, 3],
                dealid: Some("D1"),
                w: Some(300),
                h: Some(250),
                mtype: Some(1),
                exp: Some(300),
            },
            Bid {
                id: "b2",
                impid: "2",
                price: Micros(1),
                adm: Some(native_adm),
                ..Bid::default()
            },
        ];
        let seatbid = [SeatBid {
            seat: Some("seat-1"),
            bid: &bids,
        }];
        let resp = BidResponse {
            id: "req-1",
            bidid: Some("b1"),
            cur: Currency::EUR,
            seatbid: &seatbid,
            nbr: None,
        };
        let mut out = Vec::new();
        resp.write_into(&mut out);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["id"], "req-1");
        assert_eq!(v["bidid"], "b1");
        assert_eq!(v["cur"], "EUR");
        assert_eq!(v["seatbid"][0]["seat"], "seat-1");
        let b = &v["seatbid"][0]["bid"][0];
        assert_eq!(
            *b,
            json!({"id":"b1","impid":"1","price":2.5,"adm":"<a href=\"x\">ad</a>",
                "nurl":"https://b/win?p=${AUCTION_PRICE}","burl":"https://b/bill",
                "lurl":"https://b/loss?r=${AUCTION_LOSS}","bundle":"com.acme","iurl":"https://cdn/i.png",
                "cid":"7","crid":"42","dealid":"D1","adomain":["acme.example"],"cat":["IAB17"],
                "attr":[1,3],"w":300,"h":250,"mtype":1,"exp":300})
        );
        let b2 = &v["seatbid"][0]["bid"][1];
        assert_eq!(b2["price"], 0.000001);
        assert_eq!(b2["adm"], native_adm);
        assert!(b2.get("adomain").is_none());
    }

    #[test]
    fn a_no_bid_carries_only_id_and_reason() {
        let resp = BidResponse {
            id: "r",
            bidid: None,
            cur: Currency::USD,
            seatbid: &[],
            nbr: Some(2),
        };
        let mut out = Vec::new();
        resp.write_into(&mut out);
        assert_eq!(out, br#"{"id":"r","nbr":2}"#);
    }
}

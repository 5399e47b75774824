//! Base64url text to bytes and a big-endian bit reader over them: the
//! encoding shared by TCF and GPP strings.

use smallvec::SmallVec;

/// Decoded bytes; typical consent strings fit inline, so decoding does not
/// allocate.
pub type Bytes = SmallVec<[u8; 512]>;

/// Decoded base64url: the bytes and how many of their bits the text
/// really carried, six per character. The last byte is zero-filled past
/// that; reads stop at the real length, so a string cut short is refused
/// instead of being completed with invented zeros (a publisher-restriction
/// count cut in its leading zeros would otherwise read as "none").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitString {
    bytes: Bytes,
    len: usize,
}

impl BitString {
    /// Every bit of `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> BitString {
        BitString {
            bytes: Bytes::from_slice(bytes),
            len: bytes.len() * 8,
        }
    }

    /// How many bits the string holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no bit at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A reader at bit `pos`.
    pub fn reader(&self, pos: usize) -> BitReader<'_> {
        BitReader {
            bytes: &self.bytes,
            len: self.len,
            pos,
        }
    }

    /// Whether bit `i` is set; false past the end.
    pub fn bit(&self, i: usize) -> bool {
        i < self.len && (self.bytes[i / 8] >> (7 - i % 8)) & 1 == 1
    }
}

/// The sextet of each base64url (or base64) character; [`NOT_BASE64`] for
/// any other byte.
const SEXTETS: [u8; 256] = {
    let mut t = [NOT_BASE64; 256];
    let mut i = 0;
    while i < 26 {
        t[b'A' as usize + i] = i as u8;
        t[b'a' as usize + i] = 26 + i as u8;
        i += 1;
    }
    let mut d = 0;
    while d < 10 {
        t[b'0' as usize + d] = 52 + d as u8;
        d += 1;
    }
    t[b'-' as usize] = 62;
    t[b'+' as usize] = 62;
    t[b'_' as usize] = 63;
    t[b'/' as usize] = 63;
    t
};
const NOT_BASE64: u8 = 0xff;

/// Decodes unpadded base64url (padding `=` tolerated); `None` on any other
/// character.
///
/// Four characters at a time through a table: every bid request from a
/// GDPR country carries a TC string of a few hundred characters, and
/// decoding them a character at a time was a visible part of the bid path.
pub fn base64url(text: &str) -> Option<BitString> {
    let text = text.as_bytes();
    // Padding ends the data; whatever follows it is ignored.
    let text = &text[..text.iter().position(|&c| c == b'=').unwrap_or(text.len())];
    let quads = text.chunks_exact(4);
    let rest = quads.remainder();
    let mut out = Bytes::new();
    out.resize(text.len() / 4 * 3, 0);
    for (quad, three) in quads.zip(out.chunks_exact_mut(3)) {
        let [a, b, c, d] = [quad[0], quad[1], quad[2], quad[3]].map(|ch| SEXTETS[ch as usize]);
        if (a | b | c | d) & 0xc0 != 0 {
            return None;
        }
        let v = u32::from(a) << 18 | u32::from(b) << 12 | u32::from(c) << 6 | u32::from(d);
        three.copy_from_slice(&v.to_be_bytes()[1..]);
    }
    let (mut acc, mut nbits) = (0u32, 0u32);
    for &ch in rest {
        let v = SEXTETS[ch as usize];
        if v == NOT_BASE64 {
            return None;
        }
        acc = (acc << 6) | u32::from(v);
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((acc >> nbits) as u8);
            acc &= (1 << nbits) - 1;
        }
    }
    // Keep the last partial byte, left-aligned: encoders that pad the bit
    // string only to a whole sextet leave real fields there.
    if nbits > 0 {
        out.push((acc << (8 - nbits)) as u8);
    }
    Some(BitString {
        bytes: out,
        len: text.len() * 6,
    })
}

/// Reads fields of up to 64 bits, most significant bit first, never past
/// the string's real length.
#[derive(Clone)]
pub struct BitReader<'b> {
    bytes: &'b [u8],
    len: usize,
    pos: usize,
}

impl BitReader<'_> {
    /// The current bit position.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The next `n` (<= 64) bits as an integer; `None` past the end.
    pub fn read(&mut self, n: u32) -> Option<u64> {
        if self.pos + n as usize > self.len {
            return None;
        }
        // A byte's worth at a time: the vendor and purpose fields are read
        // for every personalised bid.
        let mut v = 0u64;
        let mut left = n;
        while left > 0 {
            let offset = (self.pos % 8) as u32;
            let take = (8 - offset).min(left);
            let byte = u32::from(self.bytes[self.pos / 8]);
            let bits = (byte >> (8 - offset - take)) & ((1 << take) - 1);
            v = (v << take) | u64::from(bits);
            self.pos += take as usize;
            left -= take;
        }
        Some(v)
    }

    /// One bit as a bool.
    pub fn flag(&mut self) -> Option<bool> {
        self.read(1).map(|b| b == 1)
    }

    /// Skips `n` bits; `None` past the end.
    pub fn skip(&mut self, n: usize) -> Option<()> {
        if self.pos + n > self.len {
            return None;
        }
        self.pos += n;
        Some(())
    }
}

/// Base64url of a string of '0'/'1' characters, zero-padded to a whole
/// sextet: how the IAB's own decoder tests build TC strings field by field.
#[cfg(test)]
pub fn from_bit_text(bits: &str) -> String {
    const ALPHA: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut padded = bits.to_string();
    while !padded.len().is_multiple_of(6) {
        padded.push('0');
    }
    padded
        .as_bytes()
        .chunks(6)
        .map(|c| {
            ALPHA[c
                .iter()
                .fold(0usize, |acc, b| acc * 2 + usize::from(*b == b'1'))] as char
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_decodes_and_refuses_foreign_characters() {
        assert_eq!(
            base64url("AQID").unwrap(),
            BitString::from_bytes(&[1, 2, 3])
        );
        let partial = base64url("_-8").unwrap();
        assert_eq!(partial.len(), 18);
        assert_eq!(partial.reader(0).read(18), Some(0b111111_111110_111100));
        assert!(base64url("a b").is_none());
    }

    #[test]
    fn the_zero_fill_of_the_last_byte_is_not_readable() {
        // "A" carries six zero bits; its byte has two more of fill.
        let one = base64url("A").unwrap();
        assert_eq!(one.reader(0).read(6), Some(0));
        assert_eq!(one.reader(0).read(7), None);
        assert_eq!(one.reader(4).skip(3), None);
        assert!(!one.bit(7));
    }

    /// The decoder and reader as first written, a bit at a time: the
    /// reference the faster ones must agree with.
    fn naive(text: &str) -> Option<(Vec<u8>, usize)> {
        let (mut out, mut acc, mut nbits, mut len) = (Vec::new(), 0u32, 0u32, 0usize);
        for c in text.bytes() {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'-' | b'+' => 62,
                b'_' | b'/' => 63,
                b'=' => break,
                _ => return None,
            };
            acc = (acc << 6) | u32::from(v);
            nbits += 6;
            len += 6;
            if nbits >= 8 {
                nbits -= 8;
                out.push((acc >> nbits) as u8);
                acc &= (1 << nbits) - 1;
            }
        }
        if nbits > 0 {
            out.push((acc << (8 - nbits)) as u8);
        }
        Some((out, len))
    }

    #[test]
    fn decoding_and_reading_agree_with_a_bit_at_a_time() {
        const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/";
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for len in 0..40 {
            for _ in 0..20 {
                let mut text: String = (0..len)
                    .map(|_| ALPHA[(next() % ALPHA.len() as u64) as usize] as char)
                    .collect();
                match next() % 8 {
                    0 => text.push_str("=="),
                    1 => text.push_str("=!junk"),
                    2 if len > 0 => text.insert((next() % len) as usize, '.'),
                    _ => {}
                }
                let fast = base64url(&text);
                let reference = naive(&text);
                assert_eq!(
                    fast.as_ref().map(|b| (b.bytes.to_vec(), b.len)),
                    reference,
                    "{text}"
                );
                let Some(bits) = fast else { continue };
                // Every field width from every position, as a bit at a time.
                for pos in 0..bits.len() {
                    for n in [1, 2, 3, 6, 7, 8, 9, 12, 16, 17, 36, 64] {
                        let want = (pos + n <= bits.len()).then(|| {
                            (pos..pos + n).fold(0u64, |v, i| (v << 1) | u64::from(bits.bit(i)))
                        });
                        assert_eq!(bits.reader(pos).read(n as u32), want, "{text} {pos} {n}");
                    }
                }
            }
        }
    }

    #[test]
    fn bits_are_read_most_significant_first() {
        let bits = BitString::from_bytes(&[0b1010_0000, 0xff]);
        let mut r = bits.reader(0);
        assert_eq!(r.read(3), Some(0b101));
        assert_eq!(r.read(5), Some(0));
        assert_eq!(r.read(8), Some(0xff));
        assert_eq!(r.read(1), None);
    }
}

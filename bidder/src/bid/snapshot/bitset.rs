//! Fixed-width sets of campaign numbers, one bit per campaign of a
//! snapshot. The targeting index is made of these; a request ANDs a few.

/// A set of campaign numbers `0..len`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bitset {
    words: Vec<u64>,
}

impl Bitset {
    /// An empty set for `len` campaigns.
    pub fn new(len: usize) -> Bitset {
        Bitset {
            words: vec![0; len.div_ceil(64)],
        }
    }

    /// Adds `i`.
    pub fn insert(&mut self, i: usize) {
        self.words[i / 64] |= 1 << (i % 64);
    }

    /// The words, for in-place arithmetic by the index.
    pub fn words(&self) -> &[u64] {
        &self.words
    }
}

/// Campaigns that keep their relative order from one snapshot to the
/// next: the `len` numbers from `from` become the `len` from `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// First number in the old snapshot.
    pub from: usize,
    /// First number in the new one.
    pub to: usize,
    /// How many.
    pub len: usize,
}

impl Bitset {
    /// Whether no bit is set.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// This set renumbered for a snapshot of `len` campaigns: each bit in
    /// one of `runs` moves to its new number, the others are dropped. A
    /// word at a time, so it costs the set's words, not its campaigns.
    pub fn moved(&self, runs: &[Run], len: usize) -> Bitset {
        let mut out = Bitset::new(len);
        for r in runs {
            out.copy_from(&self.words, *r);
        }
        out
    }

    /// ORs the bits `r.from..r.from + r.len` of `src` into this set at
    /// `r.to..`.
    fn copy_from(&mut self, src: &[u64], r: Run) {
        let mut done = 0;
        while done < r.len {
            let to = r.to + done;
            let n = (64 - to % 64).min(r.len - done);
            let bits = read_64(src, r.from + done) & low_bits(n);
            self.words[to / 64] |= bits << (to % 64);
            done += n;
        }
    }
}

/// The 64 bits of `words` from bit `at` on (zeros past the end).
fn read_64(words: &[u64], at: usize) -> u64 {
    let (w, shift) = (at / 64, at % 64);
    let low = words.get(w).copied().unwrap_or(0) >> shift;
    if shift == 0 {
        low
    } else {
        low | words.get(w + 1).copied().unwrap_or(0) << (64 - shift)
    }
}

/// A word with its lowest `n` bits set (`n` <= 64).
fn low_bits(n: usize) -> u64 {
    if n >= 64 { u64::MAX } else { (1 << n) - 1 }
}

/// `out = all & (a1 | b1) & (a2 | b2) & (a3 | b3) & only`, in one pass
/// over the words: at 10,000 campaigns a set is 157 words, and the five
/// passes of ANDing one set at a time cost as much as the rest of a
/// decision. An absent `a` reads as empty (pass `b` twice); `only` is
/// `all` when nothing narrows it.
pub fn intersect_into(
    out: &mut Vec<u64>,
    all: &[u64],
    either: [(&[u64], &[u64]); 3],
    only: &[u64],
) {
    let [(a1, b1), (a2, b2), (a3, b3)] = either;
    out.clear();
    out.extend(
        all.iter()
            .zip(a1.iter().zip(b1))
            .zip(a2.iter().zip(b2))
            .zip(a3.iter().zip(b3))
            .zip(only)
            .map(|((((w, (x1, y1)), (x2, y2)), (x3, y3)), o)| {
                w & (x1 | y1) & (x2 | y2) & (x3 | y3) & o
            }),
    );
}

/// `out |= a`.
pub fn or_into(out: &mut [u64], a: &Bitset) {
    for (o, x) in out.iter_mut().zip(a.words()) {
        *o |= x;
    }
}

/// `out &= a`.
pub fn and_into(out: &mut [u64], a: &[u64]) {
    for (o, x) in out.iter_mut().zip(a) {
        *o &= x;
    }
}

/// The members of `words`, ascending.
pub fn ones(words: &[u64]) -> impl Iterator<Item = usize> + '_ {
    words.iter().enumerate().flat_map(|(w, &word)| {
        let mut bits = word;
        std::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let b = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            Some(w * 64 + b)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ones_lists_members_in_order_across_words() {
        let mut s = Bitset::new(200);
        for i in [0, 63, 64, 130, 199] {
            s.insert(i);
        }
        assert_eq!(ones(s.words()).collect::<Vec<_>>(), [0, 63, 64, 130, 199]);
    }

    #[test]
    fn intersect_into_is_the_and_of_each_either_pair() {
        let n = 300;
        let set = |f: &dyn Fn(usize) -> bool| {
            let mut s = Bitset::new(n);
            (0..n).filter(|&i| f(i)).for_each(|i| s.insert(i));
            s
        };
        let all = set(&|i| i < 290);
        let (a1, b1) = (set(&|i| i % 2 == 0), set(&|i| i % 3 == 0));
        let (a2, b2) = (set(&|i| i % 5 != 0), set(&|_| false));
        let b3 = set(&|i| i > 10);
        let only = set(&|i| i != 12);
        let mut out = vec![7; 2];
        intersect_into(
            &mut out,
            all.words(),
            [
                (a1.words(), b1.words()),
                (a2.words(), b2.words()),
                (b3.words(), b3.words()),
            ],
            only.words(),
        );
        let expected: Vec<usize> = (0..n)
            .filter(|&i| i < 290 && (i % 2 == 0 || i % 3 == 0) && i % 5 != 0 && i > 10 && i != 12)
            .collect();
        assert_eq!(ones(&out).collect::<Vec<_>>(), expected);
    }

    #[test]
    fn moved_puts_each_kept_bit_at_its_new_number() {
        let member = |i: usize| i.is_multiple_of(7) || i % 11 == 3;
        let mut s = Bitset::new(300);
        (0..300).filter(|&i| member(i)).for_each(|i| s.insert(i));
        // Campaigns 5 and 130..133 leave; two arrive, at 70 and 250.
        let runs = [
            Run {
                from: 0,
                to: 0,
                len: 5,
            },
            Run {
                from: 6,
                to: 5,
                len: 65,
            },
            Run {
                from: 71,
                to: 71,
                len: 59,
            },
            Run {
                from: 133,
                to: 130,
                len: 120,
            },
            Run {
                from: 253,
                to: 251,
                len: 47,
            },
        ];
        let moved = s.moved(&runs, 298);
        let mut expected = Bitset::new(298);
        for r in runs {
            (0..r.len)
                .filter(|k| member(r.from + k))
                .for_each(|k| expected.insert(r.to + k));
        }
        assert!(!expected.is_empty());
        assert_eq!(moved, expected);
        assert!(s.moved(&[], 298).is_empty(), "no run keeps nothing");
    }
}

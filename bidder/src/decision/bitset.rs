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

/// `out &= (a | b)`, word by word; `a` may be absent (empty).
pub fn and_either(out: &mut [u64], a: Option<&Bitset>, b: &Bitset) {
    match a {
        Some(a) => {
            for ((o, x), y) in out.iter_mut().zip(a.words()).zip(b.words()) {
                *o &= x | y;
            }
        }
        None => {
            for (o, y) in out.iter_mut().zip(b.words()) {
                *o &= y;
            }
        }
    }
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
    fn and_either_keeps_members_of_either_set() {
        let (mut a, mut b) = (Bitset::new(10), Bitset::new(10));
        a.insert(1);
        b.insert(2);
        let mut out = vec![u64::MAX; 1];
        and_either(&mut out, Some(&a), &b);
        assert_eq!(ones(&out).collect::<Vec<_>>(), [1, 2]);
        and_either(&mut out, None, &b);
        assert_eq!(ones(&out).collect::<Vec<_>>(), [2]);
    }
}

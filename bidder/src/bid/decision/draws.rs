//! The decision's random draws, derived from the request's seed: the
//! learner's choice among assembled creatives and the pacing throttle, per
//! impression and campaign. The same seed gives the same draws, which is
//! what makes the decision a function of its inputs.

/// What a draw is for: the same candidate draws independently for each.
#[derive(Debug, Clone, Copy)]
pub(super) enum Purpose {
    /// The learner's choice among assembled creatives.
    Learner = 1,
    /// The pacing throttle.
    Pacing = 2,
}

/// A uniform `u32` for `purpose` of the candidate (`imp`, `campaign`).
pub(super) fn draw(seed: u64, imp: usize, campaign: usize, purpose: Purpose) -> u32 {
    let key = ((imp as u64) << 40) ^ ((campaign as u64) << 4) ^ purpose as u64;
    (splitmix64(seed ^ key.wrapping_mul(0x9e37_79b9_7f4a_7c15)) >> 32) as u32
}

/// One step of splitmix64: a full-avalanche mix of 64 bits.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_repeat_for_one_seed_and_differ_across_candidates_and_purposes() {
        let a = draw(7, 0, 3, Purpose::Learner);
        assert_eq!(a, draw(7, 0, 3, Purpose::Learner));
        assert_ne!(a, draw(7, 0, 3, Purpose::Pacing));
        assert_ne!(a, draw(7, 1, 3, Purpose::Learner));
        assert_ne!(a, draw(7, 0, 4, Purpose::Learner));
        assert_ne!(a, draw(8, 0, 3, Purpose::Learner));
    }

    #[test]
    fn draws_are_spread_over_the_whole_range() {
        let n = 10_000;
        let below_half = (0..n)
            .filter(|&c| draw(42, 0, c, Purpose::Pacing) < u32::MAX / 2)
            .count();
        assert!((4_700..5_300).contains(&below_half), "{below_half}");
    }
}

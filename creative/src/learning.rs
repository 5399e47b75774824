//! Learning which combination works: Thompson sampling over click-through
//! or conversion rates (the campaign's [`Objective`]), served as the
//! probabilities it implies.
//!
//! Each combination's rate has a Beta(prior + successes, prior +
//! impressions - successes) posterior, a success being a click or a
//! conversion. Thompson sampling draws one rate per combination and serves
//! the best; the chance that a combination is served is therefore the
//! posterior probability that it is the best. [`probabilities`] estimates
//! those chances (Monte Carlo, on the cold path, whenever a snapshot is
//! built) and mixes in an exploration floor; the bid path then draws from
//! them with one uniform number ([`Choice::pick`]). Serving this way is
//! Thompson sampling with its posterior refreshed at every snapshot rather
//! than at every bid, and it knows the exact probability of every choice it
//! makes, which it logs with the bid so that another policy can be
//! evaluated offline on the logged data (inverse propensity scoring).

use rand::{Rng, SeedableRng};
use rand_distr::{Beta, Distribution};
use serde::{Deserialize, Serialize};

/// What a campaign's combinations are chosen for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Clicks per impression.
    #[default]
    Clicks,
    /// Conversions per impression: for campaigns sold on sales or sign-ups,
    /// where the combination that is clicked most need not be the one that
    /// sells.
    Conversions,
}

/// What the posterior of one combination is built from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Impressions served.
    pub impressions: u64,
    /// Clicks on them.
    pub clicks: u64,
    /// Conversions attributed to them.
    #[serde(default)]
    pub conversions: u64,
}

impl Counts {
    /// The successes `objective` counts, at most one per impression.
    pub fn successes(&self, objective: Objective) -> u64 {
        match objective {
            Objective::Clicks => self.clicks,
            Objective::Conversions => self.conversions,
        }
        .min(self.impressions)
    }

    /// The CTR's Beta posterior parameters under a uniform prior
    /// (reports).
    pub fn posterior(&self) -> (f64, f64) {
        self.posterior_with(Objective::Clicks, 1.0, 2.0)
    }

    /// The Beta posterior's parameters of the `objective`'s rate under a
    /// prior worth `prior_impressions` impressions with `prior_successes`
    /// successes.
    pub fn posterior_with(
        &self,
        objective: Objective,
        prior_successes: f64,
        prior_impressions: f64,
    ) -> (f64, f64) {
        let successes = self.successes(objective) as f64;
        (
            prior_successes + successes,
            (prior_impressions - prior_successes) + self.impressions as f64 - successes,
        )
    }
}

/// Settings of the selection policy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Least probability with which every compatible combination is served
    /// (capped at 1/n for n combinations), so that none is starved.
    pub exploration_floor: f64,
    /// Monte Carlo rounds per estimate.
    pub rounds: u32,
    /// The prior every combination starts from, as pseudo-counts: a new
    /// combination is believed to click about `prior_clicks /
    /// prior_impressions` (1 %), as firmly as that many impressions would
    /// say. A uniform prior (1 of 2) would make every untried combination
    /// look like a 50 % CTR and starve proven ones.
    pub prior_clicks: f64,
    /// The same for conversions: 0.1 of `prior_impressions` (0.1 %), as
    /// conversions are rarer than clicks.
    pub prior_conversions: f64,
    /// See `prior_clicks`.
    pub prior_impressions: f64,
    /// Seed of the estimates (and, in tests, of the bid path's draws);
    /// `None` seeds from the clock.
    pub seed: Option<u64>,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            exploration_floor: 0.01,
            rounds: 2000,
            prior_clicks: 1.0,
            prior_conversions: 0.1,
            prior_impressions: 100.0,
            seed: None,
        }
    }
}

impl Policy {
    /// The prior's successes for `objective`.
    pub fn prior_successes(&self, objective: Objective) -> f64 {
        match objective {
            Objective::Clicks => self.prior_clicks,
            Objective::Conversions => self.prior_conversions,
        }
    }
}

/// For each subset of combinations (indices into `counts`), the
/// probability that Thompson sampling for `objective` serves each of its
/// members, floored. Subsets share draws, so a combination's posterior is
/// sampled once per round whatever the number of formats and languages it
/// appears in.
pub fn probabilities(
    counts: &[Counts],
    subsets: &[Vec<u32>],
    policy: &Policy,
    objective: Objective,
) -> Vec<Vec<f64>> {
    let evidence = |c: &Counts| (c.impressions, c.successes(objective));
    let uniform = counts
        .windows(2)
        .all(|w| evidence(&w[0]) == evidence(&w[1]));
    let mut wins: Vec<Vec<u32>> = subsets.iter().map(|s| vec![0; s.len()]).collect();
    if !uniform && policy.rounds > 0 {
        let seed = policy.seed.unwrap_or_else(rand::random);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let dists: Vec<Option<Beta<f64>>> = counts
            .iter()
            .map(|c| {
                let (a, b) = c.posterior_with(
                    objective,
                    policy.prior_successes(objective),
                    policy.prior_impressions,
                );
                Beta::new(a, b).ok()
            })
            .collect();
        let mut theta = vec![0.0f64; counts.len()];
        for _ in 0..policy.rounds {
            for (t, d) in theta.iter_mut().zip(&dists) {
                *t = d.as_ref().map_or(0.0, |d| d.sample(&mut rng));
            }
            for (s, w) in subsets.iter().zip(&mut wins) {
                let best = s
                    .iter()
                    .enumerate()
                    .max_by(|a, b| theta[*a.1 as usize].total_cmp(&theta[*b.1 as usize]))
                    .map(|(i, _)| i);
                if let Some(i) = best {
                    w[i] += 1;
                }
            }
        }
    }
    wins.iter()
        .map(|w| {
            let n = w.len();
            let total: u32 = w.iter().sum();
            let raw: Vec<f64> = if total == 0 {
                vec![1.0 / n as f64; n]
            } else {
                w.iter().map(|&x| f64::from(x) / f64::from(total)).collect()
            };
            floored(&raw, policy.exploration_floor)
        })
        .collect()
}

/// `p` with every entry at least `floor` (capped at 1/n), still summing to 1.
pub fn floored(p: &[f64], floor: f64) -> Vec<f64> {
    let n = p.len() as f64;
    let f = floor.clamp(0.0, 1.0 / n.max(1.0));
    p.iter().map(|&x| f + (1.0 - n * f) * x).collect()
}

/// A distribution over a group's combinations, ready for the bid path:
/// cumulative thresholds on `u32`, so a pick is one binary search.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Choice {
    /// `upper[i]` is the exclusive upper bound of combination i's share of
    /// the `u32` range (the last is 2^32).
    upper: Box<[u64]>,
}

/// Parts per million, the unit propensities are logged in.
pub const PPM: u32 = 1_000_000;

impl Choice {
    /// The distribution `p` (non-negative, summing to about 1).
    pub fn new(p: &[f64]) -> Choice {
        let total: f64 = p.iter().sum();
        let mut acc = 0.0;
        let mut upper: Vec<u64> = p
            .iter()
            .map(|&x| {
                acc += x / total;
                (acc * 4_294_967_296.0).round() as u64
            })
            .collect();
        if let Some(last) = upper.last_mut() {
            *last = 1 << 32;
        }
        Choice {
            upper: upper.into(),
        }
    }

    /// Combinations it chooses among.
    pub fn len(&self) -> usize {
        self.upper.len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.upper.is_empty()
    }

    fn lower(&self, i: usize) -> u64 {
        if i == 0 { 0 } else { self.upper[i - 1] }
    }

    /// Probability of `i`, in [`PPM`].
    pub fn ppm(&self, i: usize) -> u32 {
        (((self.upper[i] - self.lower(i)) * u64::from(PPM)) >> 32) as u32
    }

    /// Draws with the uniform number `u`; `allow` vetoes combinations this
    /// request cannot take (one an exchange rejected, a native ad whose
    /// texts are too long). A vetoed draw passes to the next allowed
    /// combination, so the probability returned (in [`PPM`]) is exactly
    /// that of serving the one returned: its own share plus that of the
    /// vetoed ones just before it. `None` when every one is vetoed.
    pub fn pick(&self, u: u32, mut allow: impl FnMut(usize) -> bool) -> Option<(usize, u32)> {
        let n = self.upper.len();
        if n == 0 {
            return None;
        }
        let u = u64::from(u);
        let drawn = self.upper.partition_point(|&up| up <= u).min(n - 1);
        let chosen = (0..n).map(|k| (drawn + k) % n).find(|&i| allow(i))?;
        let mut share = u64::from(self.ppm(chosen));
        let mut i = chosen;
        loop {
            i = (i + n - 1) % n;
            if allow(i) {
                break;
            }
            share += u64::from(self.ppm(i));
        }
        Some((chosen, share.min(u64::from(PPM)) as u32))
    }
}

/// The central `level` (e.g. 0.95) credible interval of the CTR posterior.
pub fn ctr_interval(c: Counts, level: f64) -> (f64, f64) {
    rate_interval(c, Objective::Clicks, level)
}

/// The central `level` credible interval of the posterior of `objective`'s
/// rate per impression, under a uniform prior (reports).
pub fn rate_interval(c: Counts, objective: Objective, level: f64) -> (f64, f64) {
    let (a, b) = c.posterior_with(objective, 1.0, 2.0);
    let tail = (1.0 - level) / 2.0;
    (beta_quantile(a, b, tail), beta_quantile(a, b, 1.0 - tail))
}

/// A rate as reports show it: a point estimate and the central credible
/// interval around it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateEstimate {
    /// The posterior median: inside the interval by construction, unlike
    /// the observed ratio (1 click in 1 impression is a rate of 1, above
    /// any central interval of its posterior).
    pub rate: f64,
    /// Lower end of the interval.
    pub low: f64,
    /// Upper end of the interval.
    pub high: f64,
}

/// The posterior median of `objective`'s rate per impression and its
/// central `level` credible interval, under the uniform prior of
/// [`rate_interval`] (reports).
pub fn rate_estimate(c: Counts, objective: Objective, level: f64) -> RateEstimate {
    let (a, b) = c.posterior_with(objective, 1.0, 2.0);
    let tail = (1.0 - level) / 2.0;
    RateEstimate {
        rate: beta_quantile(a, b, 0.5),
        low: beta_quantile(a, b, tail),
        high: beta_quantile(a, b, 1.0 - tail),
    }
}

/// The `q` quantile of Beta(a, b), by bisection on its CDF.
fn beta_quantile(a: f64, b: f64, q: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if beta_cdf(a, b, mid) < q {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

/// The regularized incomplete beta function I_x(a, b) (continued
/// fraction, as in Numerical Recipes §6.4).
fn beta_cdf(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_cf(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_cf(b, a, 1.0 - x) / b
    }
}

fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..300 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-12 {
            break;
        }
    }
    h
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// A small, fast generator for the bid path's draws (xorshift64*): one per
/// worker thread, seeded from [`Policy::seed`] or the clock.
#[derive(Debug, Clone)]
pub struct Draws(u64);

impl Draws {
    /// A generator from `seed` (0 is replaced: xorshift needs a set bit).
    pub fn new(seed: u64) -> Draws {
        Draws(seed.max(1))
    }

    /// The next uniform `u32`.
    pub fn next_u32(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }
}

/// A seed for a thread's [`Draws`] when none is configured.
pub fn random_seed() -> u64 {
    rand::thread_rng().r#gen()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeded(rounds: u32) -> Policy {
        Policy {
            exploration_floor: 0.0,
            rounds,
            seed: Some(7),
            ..Policy::default()
        }
    }

    #[test]
    fn without_data_every_combination_is_equally_likely() {
        let p = probabilities(
            &[Counts::default(); 4],
            &[vec![0, 1, 2, 3]],
            &seeded(100),
            Objective::Clicks,
        );
        assert_eq!(p, vec![vec![0.25; 4]]);
    }

    #[test]
    fn the_clearly_better_combination_gets_most_traffic() {
        let counts = [
            Counts {
                impressions: 10_000,
                clicks: 100,
                ..Counts::default()
            },
            Counts {
                impressions: 10_000,
                clicks: 300,
                ..Counts::default()
            },
            // Untried: the prior alone, about 1 %.
            Counts::default(),
        ];
        let p = probabilities(
            &counts,
            &[vec![0, 1, 2], vec![0, 2]],
            &seeded(4000),
            Objective::Clicks,
        );
        assert!(p[0][1] > 0.95, "{p:?}");
        assert!(
            p[0][2] > 0.0 && p[0][2] < 0.05,
            "uncertain one still explored: {p:?}"
        );
        assert!(p[1][0] > 0.5, "within the subset without the best: {p:?}");
    }

    #[test]
    fn a_conversion_objective_serves_what_sells_not_what_is_clicked() {
        // 0 is clicked three times as often; 1 converts three times as often.
        let counts = [
            Counts {
                impressions: 50_000,
                clicks: 1_500,
                conversions: 20,
            },
            Counts {
                impressions: 50_000,
                clicks: 500,
                conversions: 60,
            },
        ];
        let by = |objective| probabilities(&counts, &[vec![0, 1]], &seeded(4000), objective);
        assert!(
            by(Objective::Clicks)[0][0] > 0.95,
            "{:?}",
            by(Objective::Clicks)
        );
        assert!(
            by(Objective::Conversions)[0][1] > 0.95,
            "{:?}",
            by(Objective::Conversions)
        );
    }

    #[test]
    fn equal_evidence_for_the_objective_is_served_evenly() {
        // Clicks differ, conversions do not: for conversions, a tie.
        let counts = [
            Counts {
                impressions: 1_000,
                clicks: 10,
                conversions: 1,
            },
            Counts {
                impressions: 1_000,
                clicks: 90,
                conversions: 1,
            },
        ];
        let p = probabilities(
            &counts,
            &[vec![0, 1]],
            &seeded(4000),
            Objective::Conversions,
        );
        assert_eq!(p, vec![vec![0.5, 0.5]]);
    }

    #[test]
    fn the_floor_keeps_every_combination_alive() {
        let p = floored(&[1.0, 0.0, 0.0, 0.0], 0.05);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(p[1], 0.05);
        assert_eq!(floored(&[1.0, 0.0], 0.9), vec![0.5, 0.5], "capped at 1/n");
    }

    #[test]
    fn picks_follow_the_distribution_and_report_its_probability() {
        let choice = Choice::new(&[0.5, 0.25, 0.25]);
        assert_eq!(choice.pick(0, |_| true), Some((0, 500_000)));
        assert_eq!(choice.pick(u32::MAX / 2 + 1, |_| true), Some((1, 250_000)));
        assert_eq!(choice.pick(u32::MAX, |_| true), Some((2, 250_000)));
        let mut draws = Draws::new(1);
        let mut seen = [0u32; 3];
        for _ in 0..100_000 {
            seen[choice.pick(draws.next_u32(), |_| true).unwrap().0] += 1;
        }
        assert!((49_000..51_000).contains(&seen[0]), "{seen:?}");
    }

    #[test]
    fn a_vetoed_draw_passes_on_with_its_probability() {
        let choice = Choice::new(&[0.5, 0.25, 0.25]);
        // 1 vetoed: draws of 1 go to 2, whose probability becomes 0.5,
        // whichever of the two was drawn.
        assert_eq!(
            choice.pick(u32::MAX / 2 + 1, |i| i != 1),
            Some((2, 500_000))
        );
        assert_eq!(choice.pick(u32::MAX, |i| i != 1), Some((2, 500_000)));
        assert_eq!(choice.pick(0, |i| i != 1), Some((0, 500_000)));
        // Only 0 allowed: everything lands there, with certainty.
        assert_eq!(choice.pick(u32::MAX, |i| i == 0), Some((0, PPM)));
        assert_eq!(choice.pick(5, |_| false), None);
    }

    #[test]
    fn credible_intervals_contain_the_rate_and_narrow_with_data() {
        let (lo, hi) = ctr_interval(
            Counts {
                impressions: 1000,
                clicks: 20,
                ..Counts::default()
            },
            0.95,
        );
        assert!(lo < 0.02 && 0.02 < hi, "{lo} {hi}");
        assert!(
            (lo - 0.0130).abs() < 0.001 && (hi - 0.0306).abs() < 0.001,
            "{lo} {hi}"
        );
        let (lo2, hi2) = ctr_interval(Counts::default(), 0.95);
        assert!((lo2 - 0.025).abs() < 1e-6 && (hi2 - 0.975).abs() < 1e-6);
    }

    #[test]
    fn the_estimate_lies_inside_its_interval_even_for_one_click_in_one_impression() {
        let one = Counts {
            impressions: 1,
            clicks: 1,
            conversions: 1,
        };
        let none = Counts::default();
        let rare = Counts {
            impressions: 1_000_000_000,
            clicks: 1,
            conversions: 0,
        };
        let half = Counts {
            impressions: 1_000_000,
            clicks: 500_000,
            conversions: 1_000_000,
        };
        for c in [one, none, rare, half] {
            for objective in [Objective::Clicks, Objective::Conversions] {
                let e = rate_estimate(c, objective, 0.95);
                assert!(
                    e.low <= e.rate && e.rate <= e.high,
                    "{c:?} {objective:?} {e:?}"
                );
            }
        }
        // Beta(2, 1): median 1/sqrt(2), interval (sqrt(0.025), sqrt(0.975)).
        let e = rate_estimate(one, Objective::Clicks, 0.95);
        assert!((e.rate - 0.5f64.sqrt()).abs() < 1e-9, "{e:?}");
        assert!((e.low - 0.025f64.sqrt()).abs() < 1e-9, "{e:?}");
        assert!((e.high - 0.975f64.sqrt()).abs() < 1e-9, "{e:?}");
    }
}

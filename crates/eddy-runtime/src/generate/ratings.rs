//! `ratings`: a planted low-rank rating stream,
//! `{"event_id":"e…","user":"u…","item":"i…","rating":r,"ts":"…"}`, with
//!
//! ```text
//! rating = MEAN + b_u + b_i + ⟨p_u, q_i⟩ + ε
//! ```
//!
//! `b_u, b_i ~ N(0, BIAS_SD²)`, every coordinate of `p_u, q_i ∈ ℝ^RANK` `~ N(0, FACTOR_SD²)`,
//! `ε ~ N(0, NOISE_SD²)`; `keys` users and [`ITEMS`] items, both skewed towards low numbers
//! (a few heavy users and popular items: the number is `⌊u² · count⌋` for a uniform `u`).
//! At `drift_at` tastes change: every user's factors `p_u` are drawn anew (biases and items
//! stay), so what a model learned about who likes what is stale while the averages hold.
//!
//! [`RatingsModel::draw`] makes the planted parameters from the seed, in a documented order
//! (then the events continue the same generator), so that a test can compare what is
//! written with the model that wrote it.

use std::io::{self, Write};

use eddy_core::rng::Rng;

use super::GenConfig;

/// The global mean rating.
pub const MEAN: f64 = 3.5;
/// Standard deviation of the user and item biases.
pub const BIAS_SD: f64 = 0.5;
/// Latent factors per user and item.
pub const RANK: usize = 4;
/// Standard deviation of each latent coordinate (so `⟨p_u, q_i⟩` has sd `RANK^½ · 0.25 = 0.5`).
pub const FACTOR_SD: f64 = 0.5;
/// Standard deviation of the noise of each rating.
pub const NOISE_SD: f64 = 0.3;
/// Number of items.
pub const ITEMS: u64 = 500;

/// The planted parameters of a ratings stream.
#[derive(Debug, Clone, PartialEq)]
pub struct RatingsModel {
    pub user_bias: Vec<f64>,
    pub item_bias: Vec<f64>,
    /// `RANK` per user, before the drift, then after it.
    pub user_factors: Vec<f64>,
    pub user_factors_after: Vec<f64>,
    /// `RANK` per item.
    pub item_factors: Vec<f64>,
}

impl RatingsModel {
    /// Draws, from `rng`: the user biases, the item biases, the users' factors (user by
    /// user), the items' factors, the users' factors after the drift.
    pub fn draw(rng: &mut Rng, users: u64, items: u64) -> Self {
        let mut normal = |n: u64, sd: f64| (0..n).map(|_| sd * rng.normal()).collect::<Vec<_>>();
        let user_bias = normal(users, BIAS_SD);
        let item_bias = normal(items, BIAS_SD);
        let user_factors = normal(users * RANK as u64, FACTOR_SD);
        let item_factors = normal(items * RANK as u64, FACTOR_SD);
        let user_factors_after = normal(users * RANK as u64, FACTOR_SD);
        RatingsModel {
            user_bias,
            item_bias,
            user_factors,
            user_factors_after,
            item_factors,
        }
    }

    /// The model of `cfg`'s stream (the first draws of its generator).
    pub fn of(cfg: &GenConfig) -> Self {
        Self::draw(&mut Rng::new(cfg.seed), cfg.keys.max(1), ITEMS)
    }

    /// The expected rating of `item` by `user`, before or after the drift.
    pub fn expected(&self, user: usize, item: usize, drifted: bool) -> f64 {
        let p = if drifted {
            &self.user_factors_after
        } else {
            &self.user_factors
        };
        let p = &p[user * RANK..(user + 1) * RANK];
        let q = &self.item_factors[item * RANK..(item + 1) * RANK];
        let dot: f64 = p.iter().zip(q).map(|(a, b)| a * b).sum();
        MEAN + self.user_bias[user] + self.item_bias[item] + dot
    }
}

/// A number in `[0, count)` skewed towards 0.
fn skewed(rng: &mut Rng, count: u64) -> u64 {
    let r = rng.next_f64();
    ((r * r * count as f64) as u64).min(count - 1)
}

/// Writes `cfg.events` ratings to `out`.
pub(super) fn generate(cfg: &GenConfig, out: &mut dyn Write) -> io::Result<()> {
    let users = cfg.keys.max(1);
    let mut rng = Rng::new(cfg.seed);
    let model = RatingsModel::draw(&mut rng, users, ITEMS);
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut ts_text = String::new();
    let mut ib = itoa::Buffer::new();
    let mut true_ts = cfg.start_ms + cfg.disorder_ms;
    for i in 0..cfg.events {
        let user = skewed(&mut rng, users);
        let item = skewed(&mut rng, ITEMS);
        let drifted = cfg.drift_at.is_some_and(|d| i >= d);
        let rating =
            model.expected(user as usize, item as usize, drifted) + NOISE_SD * rng.normal();
        let ts = super::printed_ts(cfg, &mut rng, true_ts);
        buf.extend_from_slice(b"{\"event_id\":\"");
        super::event_id(i + 1, &mut buf);
        buf.extend_from_slice(b"\",\"user\":\"u");
        super::padded(ib.format(user), 6, &mut buf);
        buf.extend_from_slice(b"\",\"item\":\"i");
        super::padded(ib.format(item), 6, &mut buf);
        // Four decimals: rounding adds at most 5e-5, nothing next to the noise.
        write!(buf, "\",\"rating\":{rating:.4},\"ts\":\"")?;
        ts_text.clear();
        eddy_core::time::format_rfc3339(ts, &mut ts_text);
        buf.extend_from_slice(ts_text.as_bytes());
        buf.extend_from_slice(b"\"}\n");
        if buf.len() >= 1 << 20 {
            out.write_all(&buf)?;
            buf.clear();
        }
        let gap = -cfg.mean_gap_ms * (1.0 - rng.next_f64()).ln();
        true_ts += gap.round().max(0.0) as i64;
    }
    out.write_all(&buf)?;
    out.flush()
}

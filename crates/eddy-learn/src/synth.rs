//! Seeded synthetic streams with known concepts and concept drift: SEA, rotating hyperplane,
//! STAGGER, and [`Switch`] to change concept at a given index.
//!
//! Each generator is an infinite iterator of `(features, label)` with labels `0.0`/`1.0`.
//! The definitions and parameter names follow River's `datasets.synth` classes; the random
//! numbers come from eddy's [`Rng`] (xoshiro256++), so the values differ from River's (Python's
//! Mersenne Twister) while the distributions and concepts are the same. Same seed, same stream.

use eddy_core::rng::Rng;

use crate::error::LearnError;

/// One example: dense features and a 0/1 label.
pub type Example = (Vec<f64>, f64);

/// A synthetic stream: an infinite iterator of examples with a fixed number of features.
pub trait Synth: Iterator<Item = Example> {
    fn n_features(&self) -> usize;
    /// Column names for files (`x0`, `x1`, ... unless the generator names them).
    fn feature_names(&self) -> Vec<String> {
        (0..self.n_features()).map(|i| format!("x{i}")).collect()
    }
}

/// SEA concepts (Street & Kim, 2001), as River's `datasets.synth.SEA`: three features uniform
/// in `[0, 10)`, only the first two relevant; the label is 1 when `x0 + x1 > θ` with
/// `θ = 8, 9, 7, 9.5` for `variant` 0–3 (River's encoding; the SEA paper calls the `<= θ`
/// side class 1). With probability `noise` the label is flipped.
#[derive(Debug, Clone)]
pub struct Sea {
    threshold: f64,
    noise: f64,
    rng: Rng,
}

impl Sea {
    pub fn new(variant: u8, noise: f64, seed: u64) -> Result<Self, LearnError> {
        let threshold = match variant {
            0 => 8.0,
            1 => 9.0,
            2 => 7.0,
            3 => 9.5,
            _ => {
                return Err(LearnError::Param {
                    name: "variant".into(),
                    msg: format!("{variant}; expected 0, 1, 2 or 3"),
                })
            }
        };
        check_prob("noise", noise)?;
        Ok(Sea {
            threshold,
            noise,
            rng: Rng::new(seed),
        })
    }

    pub fn threshold(&self) -> f64 {
        self.threshold
    }
}

fn check_prob(name: &str, p: f64) -> Result<(), LearnError> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(LearnError::Param {
            name: name.into(),
            msg: format!("{p} must be in [0, 1]"),
        })
    }
}

impl Iterator for Sea {
    type Item = Example;
    fn next(&mut self) -> Option<Example> {
        let x: Vec<f64> = (0..3).map(|_| self.rng.next_f64() * 10.0).collect();
        let mut y = x[0] + x[1] > self.threshold;
        if self.noise > 0.0 && self.rng.next_f64() < self.noise {
            y = !y;
        }
        Some((x, y as u8 as f64))
    }
}

impl Synth for Sea {
    fn n_features(&self) -> usize {
        3
    }
}

/// Rotating hyperplane (Hulten et al., 2001), as River's `datasets.synth.Hyperplane`: features
/// uniform in `[0, 1)`, weights drawn uniform in `[0, 1)`; the label is 1 when
/// `Σ w_i x_i >= ½ Σ w_i`, flipped when `0.01 + u <= noise_percentage`. After each example the
/// first `n_drift_features` weights move by `mag_change` in their direction, and each direction
/// reverses when `0.01 + u <= sigma` (River's parameters and defaults: `n_features` 10,
/// `n_drift_features` 2, `mag_change` 0, `noise_percentage` 0.05, `sigma` 0.1).
#[derive(Debug, Clone)]
pub struct Hyperplane {
    n_drift_features: usize,
    mag_change: f64,
    noise_percentage: f64,
    sigma: f64,
    weights: Vec<f64>,
    direction: Vec<f64>,
    rng: Rng,
}

impl Hyperplane {
    pub fn new(
        n_features: usize,
        n_drift_features: usize,
        mag_change: f64,
        noise_percentage: f64,
        sigma: f64,
        seed: u64,
    ) -> Result<Self, LearnError> {
        if n_features < 2 || n_drift_features > n_features {
            return Err(LearnError::Param {
                name: "n_drift_features".into(),
                msg: format!("need n_features >= 2 and n_drift_features <= n_features (got {n_features}, {n_drift_features})"),
            });
        }
        check_prob("noise_percentage", noise_percentage)?;
        check_prob("sigma", sigma)?;
        check_prob("mag_change", mag_change)?;
        let mut rng = Rng::new(seed);
        let weights = (0..n_features).map(|_| rng.next_f64()).collect();
        Ok(Hyperplane {
            n_drift_features,
            mag_change,
            noise_percentage,
            sigma,
            weights,
            direction: vec![1.0; n_drift_features],
            rng,
        })
    }

    /// Current weights of the concept.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }
}

impl Default for Hyperplane {
    fn default() -> Self {
        Hyperplane::new(10, 2, 0.0, 0.05, 0.1, 42).expect("valid defaults")
    }
}

impl Iterator for Hyperplane {
    type Item = Example;
    fn next(&mut self) -> Option<Example> {
        let x: Vec<f64> = (0..self.weights.len())
            .map(|_| self.rng.next_f64())
            .collect();
        let total: f64 = self.weights.iter().sum();
        let dot: f64 = self.weights.iter().zip(&x).map(|(w, v)| w * v).sum();
        let mut y = (dot >= 0.5 * total) as u8 as f64;
        if 0.01 + self.rng.next_f64() <= self.noise_percentage {
            y = 1.0 - y;
        }
        if self.mag_change > 0.0 {
            for i in 0..self.n_drift_features {
                self.weights[i] += self.direction[i] * self.mag_change;
                if 0.01 + self.rng.next_f64() <= self.sigma {
                    self.direction[i] = -self.direction[i];
                }
            }
        }
        Some((x, y))
    }
}

impl Synth for Hyperplane {
    fn n_features(&self) -> usize {
        self.weights.len()
    }
}

/// STAGGER concepts (Schlimmer & Granger, 1986), as River's `datasets.synth.STAGGER`: three
/// categorical features coded `0, 1, 2` — size (small, medium, large), color (red, green,
/// blue), shape (circle, square, triangle) — and `classification_function`:
/// 0: `size == small && color == red`; 1: `color == green || shape == circle`;
/// 2: `size == medium || size == large`. With `balance_classes`, labels alternate 0/1 (by
/// redrawing), as in River.
#[derive(Debug, Clone)]
pub struct Stagger {
    function: u8,
    balance_classes: bool,
    next_zero: bool,
    rng: Rng,
}

impl Stagger {
    pub fn new(
        classification_function: u8,
        balance_classes: bool,
        seed: u64,
    ) -> Result<Self, LearnError> {
        if classification_function > 2 {
            return Err(LearnError::Param {
                name: "classification_function".into(),
                msg: format!("{classification_function}; expected 0, 1 or 2"),
            });
        }
        Ok(Stagger {
            function: classification_function,
            balance_classes,
            next_zero: false,
            rng: Rng::new(seed),
        })
    }

    /// The concept: label of `(size, color, shape)` under `function`.
    pub fn concept(function: u8, size: u8, color: u8, shape: u8) -> bool {
        match function {
            0 => size == 0 && color == 0,
            1 => color == 1 || shape == 0,
            _ => size == 1 || size == 2,
        }
    }
}

impl Iterator for Stagger {
    type Item = Example;
    fn next(&mut self) -> Option<Example> {
        loop {
            let (s, c, h) = (
                self.rng.below(3) as u8,
                self.rng.below(3) as u8,
                self.rng.below(3) as u8,
            );
            let y = Stagger::concept(self.function, s, c, h);
            if self.balance_classes {
                if y == self.next_zero {
                    continue;
                }
                self.next_zero = !self.next_zero;
            }
            return Some((vec![s as f64, c as f64, h as f64], y as u8 as f64));
        }
    }
}

impl Synth for Stagger {
    fn n_features(&self) -> usize {
        3
    }
    fn feature_names(&self) -> Vec<String> {
        vec!["size".into(), "color".into(), "shape".into()]
    }
}

/// A stream whose concept switches from `before` to `after` around `position`. With
/// `width == 0` the switch is abrupt (examples `0..position` from `before`, the rest from
/// `after`); otherwise example `t` comes from `after` with probability
/// `1 / (1 + exp(-4 (t - position) / width))`, as River's `ConceptDriftStream`.
/// Both streams advance only when drawn from.
#[derive(Debug, Clone)]
pub struct Switch<A, B> {
    before: A,
    after: B,
    position: u64,
    width: u64,
    t: u64,
    rng: Rng,
}

impl<A: Synth, B: Synth> Switch<A, B> {
    pub fn new(before: A, after: B, position: u64, width: u64, seed: u64) -> Self {
        Switch {
            before,
            after,
            position,
            width,
            t: 0,
            rng: Rng::new(seed),
        }
    }
}

/// An abrupt switch from `before` to `after` at index `position`.
pub fn switch_at<A: Synth, B: Synth>(before: A, after: B, position: u64) -> Switch<A, B> {
    Switch::new(before, after, position, 0, 0)
}

impl<A: Synth, B: Synth> Iterator for Switch<A, B> {
    type Item = Example;
    fn next(&mut self) -> Option<Example> {
        let t = self.t;
        self.t += 1;
        let use_after = if self.width == 0 {
            t >= self.position
        } else {
            let z = -4.0 * (t as f64 - self.position as f64) / self.width as f64;
            self.rng.next_f64() < 1.0 / (1.0 + z.exp())
        };
        if use_after {
            self.after.next()
        } else {
            self.before.next()
        }
    }
}

impl<A: Synth, B: Synth> Synth for Switch<A, B> {
    fn n_features(&self) -> usize {
        self.before.n_features()
    }
    fn feature_names(&self) -> Vec<String> {
        self.before.feature_names()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let a: Vec<Example> = Sea::new(1, 0.1, 7).unwrap().take(50).collect();
        let b: Vec<Example> = Sea::new(1, 0.1, 7).unwrap().take(50).collect();
        let c: Vec<Example> = Sea::new(1, 0.1, 8).unwrap().take(50).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let h = |s| {
            Hyperplane::new(5, 2, 0.01, 0.05, 0.1, s)
                .unwrap()
                .take(50)
                .collect::<Vec<_>>()
        };
        assert_eq!(h(3), h(3));
        assert_ne!(h(3), h(4));
        let st = |s| {
            Stagger::new(1, true, s)
                .unwrap()
                .take(50)
                .collect::<Vec<_>>()
        };
        assert_eq!(st(3), st(3));
        assert_ne!(st(3), st(4));
    }

    #[test]
    fn sea_label_is_the_threshold_rule() {
        for (variant, theta) in [(0, 8.0), (1, 9.0), (2, 7.0), (3, 9.5)] {
            let mut pos = 0;
            for (x, y) in Sea::new(variant, 0.0, 1).unwrap().take(2000) {
                assert_eq!(x.len(), 3);
                assert!(x.iter().all(|v| (0.0..10.0).contains(v)));
                // Label 0 exactly when x0 + x1 <= θ.
                assert_eq!(y == 0.0, x[0] + x[1] <= theta);
                pos += y as usize;
            }
            // P(x0 + x1 > θ) for θ <= 10 is 1 - θ² / 200 (triangle under the line).
            let want = 1.0 - theta * theta / 200.0;
            assert!(
                (pos as f64 / 2000.0 - want).abs() < 0.04,
                "variant {variant}"
            );
        }
        // Noise flips about that share of labels.
        let flipped = Sea::new(0, 0.2, 2)
            .unwrap()
            .take(5000)
            .filter(|(x, y)| (*y == 1.0) != (x[0] + x[1] > 8.0))
            .count();
        assert!((flipped as f64 / 5000.0 - 0.2).abs() < 0.02, "{flipped}");
        assert!(Sea::new(4, 0.0, 1).is_err());
    }

    #[test]
    fn stagger_concepts_hold() {
        for f in 0..3u8 {
            for (x, y) in Stagger::new(f, false, 5).unwrap().take(500) {
                let (s, c, h) = (x[0] as u8, x[1] as u8, x[2] as u8);
                let want = match f {
                    0 => s == 0 && c == 0,
                    1 => c == 1 || h == 0,
                    _ => s != 0,
                };
                assert_eq!(y == 1.0, want, "function {f}: {x:?}");
            }
        }
        // Balanced: labels alternate 1, 0, 1, 0, ... even for the rare concept 0.
        let ys: Vec<f64> = Stagger::new(0, true, 5)
            .unwrap()
            .take(20)
            .map(|e| e.1)
            .collect();
        assert!(
            ys.iter()
                .enumerate()
                .all(|(i, &y)| y == ((i + 1) % 2) as f64),
            "{ys:?}"
        );
    }

    #[test]
    fn hyperplane_is_balanced_and_rotates() {
        let mut h = Hyperplane::new(10, 2, 0.001, 0.0, 0.1, 9).unwrap();
        let w0 = h.weights().to_vec();
        let pos: f64 = h.by_ref().take(4000).map(|e| e.1).sum();
        assert!((pos / 4000.0 - 0.5).abs() < 0.05, "{pos}");
        let w1 = h.weights();
        assert_ne!(w0[..2], w1[..2], "drift features move");
        assert_eq!(w0[2..], w1[2..], "the others stay");
        // Without noise, the label is the hyperplane rule.
        let mut h = Hyperplane::new(4, 0, 0.0, 0.0, 0.1, 1).unwrap();
        let w = h.weights().to_vec();
        for (x, y) in h.by_ref().take(200) {
            let dot: f64 = w.iter().zip(&x).map(|(a, b)| a * b).sum();
            assert_eq!(y == 1.0, dot >= 0.5 * w.iter().sum::<f64>());
        }
    }

    #[test]
    fn switch_changes_concept_at_the_index() {
        let s = switch_at(
            Stagger::new(0, false, 1).unwrap(),
            Stagger::new(2, false, 2).unwrap(),
            100,
        );
        for (t, (x, y)) in s.take(300).enumerate() {
            let f = if t < 100 { 0 } else { 2 };
            assert_eq!(
                y == 1.0,
                Stagger::concept(f, x[0] as u8, x[1] as u8, x[2] as u8),
                "{t}"
            );
        }
        // Gradual: mostly `before` well before the position, mostly `after` well after.
        let s = Switch::new(
            Sea::new(0, 0.0, 1).unwrap(),
            Sea::new(3, 0.0, 2).unwrap(),
            500,
            100,
            3,
        );
        let xs: Vec<Example> = s.take(1000).collect();
        let odd = |r: std::ops::Range<usize>, th: f64| {
            xs[r]
                .iter()
                .filter(|(x, y)| (*y == 1.0) != (x[0] + x[1] > th))
                .count()
        };
        assert_eq!(odd(0..300, 8.0), 0);
        assert_eq!(odd(700..1000, 9.5), 0);
    }
}

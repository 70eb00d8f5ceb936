//! Concept-drift detectors behind [`Detector`], and [`build`] to make one by name.
//!
//! | name           | River class                  | input                     | warns |
//! |----------------|------------------------------|---------------------------|-------|
//! | `adwin`        | `drift.ADWIN`                | any real value            | no    |
//! | `page_hinkley` | `drift.PageHinkley`          | any real value            | no    |
//! | `ddm`          | `drift.binary.DDM`           | 0/1 (1 = mistake)         | yes   |
//! | `eddm`         | `drift.binary.EDDM`          | 0/1 (1 = mistake)         | yes   |
//! | `kswin`        | `drift.KSWIN`                | any real value            | no    |
//!
//! Every detector resets itself after reporting [`DriftState::Drift`] and serialises with serde
//! (see [`AnyDetector`] and [`crate::snapshot`]).

mod adwin;
mod ddm;
mod eddm;
mod kswin;
mod page_hinkley;
mod py_random;

pub use adwin::Adwin;
pub use ddm::Ddm;
pub use eddm::Eddm;
pub use kswin::{ks_2samp, Kswin};
pub use page_hinkley::{PageHinkley, PhMode};
pub use py_random::PyRandom;

use serde::{Deserialize, Serialize};

use crate::error::LearnError;
use crate::param::{ParamReader, Params};
use crate::snapshot;
use crate::traits::{Detector, DriftState};

/// Detector names accepted by [`build`].
pub const NAMES: &[&str] = &["adwin", "page_hinkley", "ddm", "eddm", "kswin"];

/// Any detector, for building by name and snapshotting (`{"kind": "...", ...}` in JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AnyDetector {
    Adwin(Adwin),
    PageHinkley(PageHinkley),
    Ddm(Ddm),
    Eddm(Eddm),
    Kswin(Kswin),
}

impl Detector for AnyDetector {
    #[inline]
    fn update(&mut self, value: f64) -> DriftState {
        match self {
            AnyDetector::Adwin(d) => d.update(value),
            AnyDetector::PageHinkley(d) => d.update(value),
            AnyDetector::Ddm(d) => d.update(value),
            AnyDetector::Eddm(d) => d.update(value),
            AnyDetector::Kswin(d) => d.update(value),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            AnyDetector::Adwin(d) => d.name(),
            AnyDetector::PageHinkley(d) => d.name(),
            AnyDetector::Ddm(d) => d.name(),
            AnyDetector::Eddm(d) => d.name(),
            AnyDetector::Kswin(d) => d.name(),
        }
    }
}

impl AnyDetector {
    /// Whether the detector expects 0/1 mistakes (DDM, EDDM) rather than any real value.
    pub fn is_binary(&self) -> bool {
        matches!(self, AnyDetector::Ddm(_) | AnyDetector::Eddm(_))
    }

    /// A versioned snapshot (kind `detector`); restores to a detector giving the same outputs.
    pub fn to_snapshot_string(&self) -> Result<String, LearnError> {
        snapshot::to_string(SNAPSHOT_KIND, self)
    }

    pub fn from_snapshot_str(text: &str) -> Result<Self, LearnError> {
        snapshot::from_str(text, Some(SNAPSHOT_KIND)).map(|(_, d)| d)
    }

    pub fn save(&self, path: &std::path::Path) -> Result<(), LearnError> {
        snapshot::save(path, SNAPSHOT_KIND, self)
    }

    pub fn load(path: &std::path::Path) -> Result<Self, LearnError> {
        snapshot::load(path, Some(SNAPSHOT_KIND)).map(|(_, d)| d)
    }
}

/// Snapshot kind of a detector file.
pub const SNAPSHOT_KIND: &str = "detector";

/// Builds a detector by name (`adwin`, `page_hinkley` (alias `ph`), `ddm`, `eddm`, `kswin`)
/// with River's parameter names; absent parameters take River's defaults, unknown ones are
/// errors listing the accepted ones.
pub fn build(name: &str, params: &Params) -> Result<AnyDetector, LearnError> {
    let p = ParamReader::new(params);
    let det = match name {
        "adwin" => AnyDetector::Adwin(Adwin::new(
            p.float("delta", 0.002, |v| v > 0.0 && v < 1.0, "in (0, 1)")?,
            p.get("clock", 32)?,
            p.get("max_buckets", 5)?,
            p.get("min_window_length", 5)?,
            p.get("grace_period", 10)?,
        )?),
        "page_hinkley" | "ph" => {
            let mode = match p.get::<String>("mode", "both".into())?.as_str() {
                "up" => PhMode::Up,
                "down" => PhMode::Down,
                "both" => PhMode::Both,
                other => {
                    return Err(LearnError::Param {
                        name: "mode".into(),
                        msg: format!("`{other}`; expected up, down or both"),
                    })
                }
            };
            AnyDetector::PageHinkley(PageHinkley::new(
                p.get("min_instances", 30)?,
                p.float("delta", 0.005, |_| true, "finite")?,
                p.float("threshold", 50.0, |v| v > 0.0, "> 0")?,
                p.float("alpha", 1.0 - 0.0001, |v| v > 0.0 && v <= 1.0, "in (0, 1]")?,
                mode,
            )?)
        }
        "ddm" => AnyDetector::Ddm(Ddm::new(
            p.get("warm_start", 30)?,
            p.float("warning_threshold", 2.0, |v| v > 0.0, "> 0")?,
            p.float("drift_threshold", 3.0, |v| v > 0.0, "> 0")?,
        )?),
        "eddm" => AnyDetector::Eddm(Eddm::new(
            p.get("warm_start", 30)?,
            p.float("alpha", 0.95, |v| v > 0.0 && v <= 1.0, "in (0, 1]")?,
            p.float("beta", 0.9, |v| v > 0.0 && v <= 1.0, "in (0, 1]")?,
        )?),
        "kswin" => AnyDetector::Kswin(Kswin::new(
            p.float("alpha", 0.005, |v| (0.0..=1.0).contains(&v), "in [0, 1]")?,
            p.get("window_size", 100)?,
            p.get("stat_size", 30)?,
            p.get("seed", 42)?,
        )?),
        other => {
            return Err(LearnError::Unknown {
                what: "drift detector",
                name: other.to_string(),
                expected: NAMES.join(", "),
            })
        }
    };
    p.finish(name)?;
    Ok(det)
}

#[cfg(test)]
mod tests;

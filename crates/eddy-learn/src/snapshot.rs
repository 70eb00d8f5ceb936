//! Versioned snapshot files: a JSON envelope `{"format", "version", "kind", "state"}`.
//!
//! JSON keeps snapshots inspectable; `serde_json`'s `float_roundtrip` feature makes every
//! `f64` restore bit for bit. State must not hold NaN or infinities (JSON cannot carry them):
//! types that may hold them serialise those fields as `Option<f64>` or strings.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::LearnError;

/// The format marker in every snapshot file.
pub const FORMAT: &str = "eddy-snapshot";
/// Bumped when a state layout changes incompatibly; older versions are refused by name.
pub const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    format: String,
    version: u32,
    kind: String,
    state: T,
}

/// [`LearnError::Diverged`] naming the first infinity or NaN in `state` (its path inside
/// the state): such a state has diverged, and its snapshot could not be loaded.
pub fn check_finite<T: Serialize>(state: &T) -> Result<(), LearnError> {
    match crate::snapshot_check::first_non_finite(state) {
        Ok(None) => Ok(()),
        Ok(Some((at, value))) => Err(LearnError::Diverged { at, value }),
        Err(msg) => Err(LearnError::Snapshot {
            path: "<memory>".into(),
            msg,
        }),
    }
}

/// Serialises `state` under `kind` (e.g. `"logistic_regression"`) to a JSON string;
/// a diverged state (see [`check_finite`]) is refused.
pub fn to_string<T: Serialize>(kind: &str, state: &T) -> Result<String, LearnError> {
    check_finite(state)?;
    let env = Envelope {
        format: FORMAT.to_string(),
        version: VERSION,
        kind: kind.to_string(),
        state,
    };
    serde_json::to_string(&env).map_err(|e| LearnError::Snapshot {
        path: "<memory>".into(),
        msg: e.to_string(),
    })
}

/// Parses a snapshot string, checking format, version and (if given) kind.
pub fn from_str<T: DeserializeOwned>(
    text: &str,
    expect_kind: Option<&str>,
) -> Result<(String, T), LearnError> {
    let err = |msg: String| LearnError::Snapshot {
        path: "<memory>".into(),
        msg,
    };
    let env: Envelope<serde_json::Value> =
        serde_json::from_str(text).map_err(|e| err(e.to_string()))?;
    if env.format != FORMAT {
        return Err(err(format!(
            "not an eddy snapshot (format `{}`)",
            env.format
        )));
    }
    if env.version != VERSION {
        return Err(err(format!(
            "snapshot version {} is not supported (this eddy reads {VERSION})",
            env.version
        )));
    }
    if let Some(k) = expect_kind {
        if env.kind != k {
            return Err(err(format!(
                "snapshot holds a `{}`, expected a `{k}`",
                env.kind
            )));
        }
    }
    let state = serde_json::from_value(env.state)
        .map_err(|e| err(format!("bad `{}` state: {e}", env.kind)))?;
    Ok((env.kind, state))
}

/// Writes a snapshot file atomically (temporary file, then rename); a diverged state is
/// refused before anything is written, so an existing file stays as it was.
pub fn save<T: Serialize>(path: &std::path::Path, kind: &str, state: &T) -> Result<(), LearnError> {
    let text = to_string(kind, state)?;
    let tmp = path.with_extension("tmp");
    let io = |source| LearnError::Io {
        path: path.display().to_string(),
        source,
    };
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Reads a snapshot file; returns its kind and state.
pub fn load<T: DeserializeOwned>(
    path: &std::path::Path,
    expect_kind: Option<&str>,
) -> Result<(String, T), LearnError> {
    let text = std::fs::read_to_string(path).map_err(|source| LearnError::Io {
        path: path.display().to_string(),
        source,
    })?;
    from_str(&text, expect_kind).map_err(|e| match e {
        LearnError::Snapshot { msg, .. } => LearnError::Snapshot {
            path: path.display().to_string(),
            msg,
        },
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_bit_exact_and_checks_kind() {
        let v: Vec<f64> = vec![0.1, 1.0 / 3.0, -2.5e-300, 1.7976931348623157e308, 5e-324];
        let s = to_string("weights", &v).unwrap();
        let (kind, back): (String, Vec<f64>) = from_str(&s, Some("weights")).unwrap();
        assert_eq!(kind, "weights");
        for (a, b) in v.iter().zip(&back) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
        assert!(from_str::<Vec<f64>>(&s, Some("other")).is_err());
        let bad = s.replace("\"version\":1", "\"version\":99");
        let e = from_str::<Vec<f64>>(&bad, None).unwrap_err().to_string();
        assert!(e.contains("version 99"), "{e}");
    }
}

//! Snapshots of the online model: `model-v000007.json` files (eddy-learn snapshots, which
//! `[learn] init`, a baseline and the embedded `[model]` all load) in a directory, with
//! increasing versions.
//!
//! A version names a model lineage: snapshot `v` is the model at the moment version `v`
//! began, and every prediction carries the version of the newest snapshot of the model that
//! made it. A snapshot (every `every` labelled examples and/or `interval` of event time, and
//! at the end of the input when examples were labelled since the last), a retrain's swap
//! and a reset each start a new version. A fresh model is version 1 (no file);
//! a run that resumes from `model-vN.json` continues as version `N`. Files are written whole
//! (to a temporary name, then renamed), and never over an existing one.

use std::path::{Path, PathBuf};

use super::online::OnlineArm;
use crate::error::RuntimeError;
use crate::spec::SnapshotSpec;

pub struct Snapshots {
    dir: PathBuf,
    every: Option<u64>,
    interval: Option<i64>,
    /// Labelled examples and event time at the last snapshot.
    last_n: u64,
    last_ts: Option<i64>,
    pub written: u64,
}

/// The file of version `v` in `dir`.
pub fn file(dir: &Path, v: u64) -> PathBuf {
    dir.join(format!("model-v{v:06}.json"))
}

/// The newest snapshot in `dir`: its version and path (`None`: none, or no directory).
pub fn latest(dir: &Path) -> Option<(u64, PathBuf)> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .filter_map(|e| {
            let name = e.ok()?.file_name();
            let v = name
                .to_str()?
                .strip_prefix("model-v")?
                .strip_suffix(".json")?
                .parse::<u64>()
                .ok()?;
            Some((v, file(dir, v)))
        })
        .max_by_key(|(v, _)| *v)
}

impl Snapshots {
    /// Checks that the directory can be written (made if absent), before any event is read.
    pub fn open(spec: &SnapshotSpec) -> Result<Snapshots, String> {
        std::fs::create_dir_all(&spec.dir)
            .map_err(|e| format!("cannot create `{}`: {e}", spec.dir.display()))?;
        let probe = spec.dir.join(format!(".eddy-probe-{}", std::process::id()));
        std::fs::write(&probe, b"")
            .and_then(|_| std::fs::remove_file(&probe))
            .map_err(|e| format!("cannot write in `{}`: {e}", spec.dir.display()))?;
        Ok(Snapshots {
            dir: spec.dir.clone(),
            every: spec.every,
            interval: spec.interval,
            last_n: 0,
            last_ts: None,
            written: 0,
        })
    }

    /// Whether a snapshot is due after `n` labelled examples at event time `ts`.
    pub fn due(&mut self, n: u64, ts: i64) -> bool {
        let since = *self.last_ts.get_or_insert(ts);
        self.every.is_some_and(|e| n >= self.last_n + e)
            || self.interval.is_some_and(|i| ts.saturating_sub(since) >= i)
    }

    /// Whether examples were labelled since the last snapshot (`n`: labelled so far).
    pub fn behind(&self, n: u64) -> bool {
        n > self.last_n
    }

    /// Writes the arm's model as version `v`.
    pub fn write(&mut self, arm: &OnlineArm, v: u64, n: u64, ts: i64) -> Result<(), RuntimeError> {
        self.last_n = n;
        self.last_ts = Some(ts);
        let path = file(&self.dir, v);
        if path.exists() {
            return Err(RuntimeError::Learn(format!(
                "snapshot `{}` exists already; it is never overwritten",
                path.display()
            )));
        }
        let text = arm
            .snapshot_string()
            .map_err(|e| RuntimeError::Learn(format!("snapshot version {v}: {e}")))?;
        let tmp = self.dir.join(format!(".model-v{v:06}.json.tmp"));
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|source| RuntimeError::Io {
                context: format!("writing snapshot `{}`", path.display()),
                source,
            })?;
        self.written += 1;
        Ok(())
    }
}

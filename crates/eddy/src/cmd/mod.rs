//! One module per subcommand; each exposes `XxxArgs` (clap) and `run(args)`.

pub mod bench;
pub mod drift;
#[cfg(feature = "http")]
pub mod features_http;
#[cfg(not(feature = "http"))]
pub mod http_off;
#[cfg(not(feature = "http"))]
pub use http_off as features_http;
#[cfg(not(feature = "http"))]
pub use http_off as metrics_http;
pub mod generate;
pub mod learn;
#[cfg(feature = "http")]
pub mod metrics_http;
#[cfg(feature = "kafka")]
pub mod produce;
pub mod report;
pub mod run;
#[cfg(feature = "kafka")]
pub mod score_worker;
#[cfg(feature = "http")]
pub mod serve;
pub mod validate;

/// The example pipeline, embedded so that `eddy run` and `eddy bench` need no files.
pub const FRAUD_SPEC: &str = include_str!("../../../../examples/fraud.toml");

/// The example fraud model (examples/models), embedded for the same reason.
const FRAUD_MODEL: &str = include_str!("../../../../examples/models/fraud_lr.json");
const FRAUD_MODEL_FEATURES: &str =
    include_str!("../../../../examples/models/fraud_lr.features.json");

/// Writes the example fraud model into `dir` and returns the embedded `[model]` that scores
/// the example pipeline's rows with it.
pub fn fraud_model(dir: &std::path::Path) -> anyhow::Result<eddy_runtime::spec::ModelSpec> {
    use anyhow::Context;
    let path = dir.join("fraud_lr.json");
    std::fs::write(&path, FRAUD_MODEL).with_context(|| format!("writing {}", path.display()))?;
    let features = dir.join("fraud_lr.features.json");
    std::fs::write(&features, FRAUD_MODEL_FEATURES)
        .with_context(|| format!("writing {}", features.display()))?;
    Ok(eddy_runtime::spec::ModelSpec {
        pattern: eddy_runtime::spec::Pattern::Embedded,
        name: "fraud_lr".into(),
        inputs: Some(vec!["events_5m".into(), "login_rate_1m".into()]),
        source: eddy_runtime::spec::ModelSource::File(path),
        deadline: None,
        field: "prediction".into(),
    })
}

/// A temporary directory, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(what: &str) -> anyhow::Result<TempDir> {
        use anyhow::Context;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let p = std::env::temp_dir().join(format!("eddy-{what}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Formats an integer with thousands separators (`1234567` → `1,234,567`).
pub fn thousands(n: u64) -> String {
    let digits = n.to_string().into_bytes();
    let mut groups: Vec<&[u8]> = digits.rchunks(3).collect();
    groups.reverse();
    let parts: Vec<String> = groups
        .iter()
        .map(|g| String::from_utf8_lossy(g).into_owned())
        .collect();
    parts.join(",")
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1_000), "1,000");
        assert_eq!(super::thousands(1_234_567), "1,234,567");
    }
}

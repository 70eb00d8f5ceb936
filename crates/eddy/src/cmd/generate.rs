//! `eddy generate fraud|clicks`: deterministic synthetic streams as JSON Lines.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use eddy_runtime::generate::{generate, GenConfig, Scenario};

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Which stream: `fraud` (sessions, logins, purchases, fraud bursts) or `clicks` (ads).
    pub scenario: Scenario,
    /// Number of events.
    #[arg(long, default_value_t = 100_000)]
    pub events: u64,
    /// PRNG seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of distinct users (keys).
    #[arg(long, default_value_t = 1_000)]
    pub keys: u64,
    /// Bounded disorder: each timestamp is printed up to this many ms early.
    #[arg(long, default_value_t = 0)]
    pub disorder_ms: i64,
    /// Fraction of events printed far behind (10–20 minutes early), beyond the lateness bound.
    #[arg(long, default_value_t = 0.0)]
    pub late_fraction: f64,
    /// Event index at which the pattern drifts (fraud: the fraud pattern; clicks: the CTRs).
    #[arg(long)]
    pub drift_at: Option<u64>,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

impl GenerateArgs {
    pub fn config(&self) -> anyhow::Result<GenConfig> {
        if self.keys == 0 {
            bail!("--keys must be at least 1");
        }
        if self.disorder_ms < 0 {
            bail!("--disorder-ms must be >= 0");
        }
        if !(0.0..=1.0).contains(&self.late_fraction) {
            bail!("--late-fraction must be between 0 and 1");
        }
        let mut c = GenConfig::new(self.scenario, self.events, self.seed);
        c.keys = self.keys;
        c.disorder_ms = self.disorder_ms;
        c.late_fraction = self.late_fraction;
        c.drift_at = self.drift_at;
        Ok(c)
    }
}

pub fn run(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.config()?;
    match &args.output {
        Some(path) => {
            let f = File::create(path)
                .with_context(|| format!("cannot create `{}`", path.display()))?;
            let mut w = BufWriter::with_capacity(1 << 20, f);
            generate(&cfg, &mut w)
                .and_then(|_| w.flush())
                .with_context(|| format!("cannot write `{}`", path.display()))?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut w = BufWriter::with_capacity(1 << 20, stdout.lock());
            match generate(&cfg, &mut w).and_then(|_| w.flush()) {
                Ok(()) => {}
                // `eddy generate ... | head` is fine.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                Err(e) => return Err(e).context("cannot write to stdout"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

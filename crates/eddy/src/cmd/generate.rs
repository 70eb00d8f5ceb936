//! `eddy generate fraud|clicks|ratings`: deterministic synthetic streams as JSON Lines,
//! with the outcomes of `fraud` and `clicks` in a delayed label stream of their own if asked.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use eddy_runtime::generate::{generate, generate_with_labels, GenConfig, Scenario};

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Which stream: `fraud` (sessions, logins, purchases, fraud bursts), `clicks` (ads) or
    /// `ratings` (users rating items, from a planted low-rank model).
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
    /// Event index at which the pattern drifts (fraud: the fraud pattern; clicks: the CTRs;
    /// ratings: the users' tastes).
    #[arg(long)]
    pub drift_at: Option<u64>,
    /// Write the outcomes (fraud, clicks) to this file as a label stream, delayed, and leave
    /// the `label` field out of the events.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Mean delay of a label after its event (lognormal), e.g. `30s`, `5m`.
    #[arg(long, value_name = "DUR")]
    pub label_delay: Option<String>,
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
        if let Some(d) = &self.label_delay {
            if self.labels.is_none() {
                bail!("--label-delay needs --labels PATH");
            }
            let ms = eddy_core::time::parse_duration(d)
                .with_context(|| format!("--label-delay `{d}`"))?;
            if ms <= 0 {
                bail!("--label-delay must be longer than 0");
            }
            c.label_delay_ms = ms as f64;
        }
        if let Some(labels) = &self.labels {
            if self.scenario == Scenario::Ratings {
                bail!("--labels is for fraud and clicks: a rating is the event's own outcome");
            }
            if labels.as_os_str() == "-" {
                bail!("--labels needs a file path (the events may go to stdout)");
            }
            if let Some(out) = &self.output {
                if same_file(out, labels) {
                    bail!(
                        "--labels `{}` is the events' --output: give the labels a file of their own",
                        labels.display()
                    );
                }
            }
        }
        Ok(c)
    }
}

/// Whether two paths name one file (as given, or once resolved when both exist).
fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
}

fn create(path: &Path) -> anyhow::Result<BufWriter<File>> {
    let f = File::create(path).with_context(|| format!("cannot create `{}`", path.display()))?;
    Ok(BufWriter::with_capacity(1 << 20, f))
}

pub fn run(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.config()?;
    let mut labels = match &args.labels {
        Some(path) => Some((create(path)?, path)),
        None => None,
    };
    // The events, then the labels (whose write errors name the label file).
    let mut write = |events: &mut dyn Write| -> std::io::Result<()> {
        match &mut labels {
            None => generate(&cfg, events),
            Some((l, _)) => generate_with_labels(&cfg, events, l).and_then(|_| l.flush()),
        }
    };
    match &args.output {
        Some(path) => {
            let mut w = create(path)?;
            write(&mut w)
                .and_then(|_| w.flush())
                .with_context(|| match &args.labels {
                    Some(l) => format!("cannot write `{}` and `{}`", path.display(), l.display()),
                    None => format!("cannot write `{}`", path.display()),
                })?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut w = BufWriter::with_capacity(1 << 20, stdout.lock());
            match write(&mut w).and_then(|_| w.flush()) {
                Ok(()) => {}
                // `eddy generate ... | head` is fine.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                Err(e) => return Err(e).context("cannot write to stdout"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! `eddy drift`: run a drift detector over numbers read from stdin, one per line.

use std::io::{BufRead, Write};

use anyhow::{Context, Result};
use eddy_learn::drift;
use eddy_learn::{Detector, DriftState};

use super::learn::{is_broken_pipe, parse_params};

/// Bad-line messages shown before going quiet (the total is still reported).
const MAX_MESSAGES: u64 = 10;

#[derive(clap::Args, Debug)]
#[command(after_help = "Detectors (River's names, parameters and defaults):\n  \
    adwin         delta=0.002 clock=32 max_buckets=5 min_window_length=5 grace_period=10\n  \
    page_hinkley  min_instances=30 delta=0.005 threshold=50 alpha=0.9999 mode=both|up|down\n  \
    ddm           warm_start=30 warning_threshold=2 drift_threshold=3   (input: 1 = error, 0 = hit)\n  \
    eddm          warm_start=30 alpha=0.95 beta=0.9                     (input: 1 = error, 0 = hit)\n  \
    kswin         alpha=0.005 window_size=100 stat_size=30 seed=42\n\n\
    Prints the 0-based line index of each drift, one per line (`warning <i>` lines with --warnings).")]
pub struct DriftArgs {
    /// Detector name: adwin, page_hinkley, ddm, eddm, kswin.
    #[arg(long)]
    pub detector: String,
    /// Detector parameter `key=value` (repeatable), e.g. `--param delta=0.01`.
    #[arg(long = "param", short = 'p', value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Also print `warning <i>` for lines where the detector warns (DDM, EDDM).
    #[arg(long)]
    pub warnings: bool,
}

pub fn run(args: DriftArgs) -> Result<()> {
    let params = parse_params(&args.params)?;
    let mut det = drift::build(&args.detector, &params)
        .with_context(|| format!("cannot build detector `{}`", args.detector))?;
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    // Bytes, not a `String`: a line that is not UTF-8 is a bad line to skip, not the end.
    let mut line = Vec::new();
    let (mut index, mut bad, mut drifts) = (0u64, 0u64, 0u64);
    loop {
        line.clear();
        let read = input
            .read_until(b'\n', &mut line)
            .context("reading stdin")?;
        if read == 0 {
            break;
        }
        let value = match std::str::from_utf8(&line) {
            Err(_) => Err("is not UTF-8".to_string()),
            Ok(text) => {
                let text = text.trim();
                match text.parse::<f64>() {
                    Ok(v) if v.is_finite() => Ok(v),
                    Ok(_) => Err(format!("`{text}` is not finite")),
                    Err(_) if text.is_empty() => Err("`` is empty".to_string()),
                    Err(_) => Err(format!("`{text}` is not a number")),
                }
            }
        };
        match value {
            Ok(v) => {
                let written = match det.update(v) {
                    DriftState::Drift => {
                        drifts += 1;
                        writeln!(out, "{index}")
                    }
                    DriftState::Warning if args.warnings => writeln!(out, "warning {index}"),
                    _ => Ok(()),
                };
                if let Err(e) = written {
                    if is_broken_pipe(&e) {
                        return Ok(());
                    }
                    return Err(e).context("writing stdout");
                }
            }
            Err(why) => {
                bad += 1;
                if bad <= MAX_MESSAGES {
                    eprintln!(
                        "eddy drift: line {} (index {index}): {why}; skipped",
                        index + 1
                    );
                    if bad == MAX_MESSAGES {
                        eprintln!("eddy drift: further bad lines are counted but not shown");
                    }
                }
            }
        }
        index += 1;
    }
    if let Err(e) = out.flush() {
        if !is_broken_pipe(&e) {
            return Err(e).context("writing stdout");
        }
    }
    if bad > 0 {
        eprintln!("eddy drift: {bad} bad line(s) skipped of {index}; {drifts} drift(s)");
    }
    Ok(())
}

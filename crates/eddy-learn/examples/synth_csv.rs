//! Writes a synthetic stream as CSV (header row, label column `y`) to stdout.
//!
//! `cargo run --release -p eddy-learn --example synth_csv -- GENERATOR ROWS [SEED] [DRIFT_AT]`
//! with GENERATOR `sea`, `hyperplane` or `stagger`. With DRIFT_AT, the concept switches there
//! (SEA variant 0 → 3, STAGGER function 0 → 2, hyperplane: a second, independent plane).

use std::io::{BufWriter, Write};

use eddy_learn::synth::{switch_at, Hyperplane, Sea, Stagger, Synth};

fn write(stream: impl Synth, rows: usize) -> std::io::Result<()> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    writeln!(out, "{},y", stream.feature_names().join(","))?;
    let mut line = String::new();
    for (x, y) in stream.take(rows) {
        line.clear();
        for v in &x {
            line.push_str(&format!("{v:.6},"));
        }
        line.push_str(if y == 1.0 { "1" } else { "0" });
        writeln!(out, "{line}")?;
    }
    out.flush()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: synth_csv sea|hyperplane|stagger ROWS [SEED] [DRIFT_AT]";
    let gen = args.first().ok_or(usage)?.as_str();
    let rows: usize = args.get(1).ok_or(usage)?.parse()?;
    let seed: u64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(42);
    let at: u64 = args
        .get(3)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(u64::MAX);
    match gen {
        "sea" => write(
            switch_at(Sea::new(0, 0.05, seed)?, Sea::new(3, 0.05, seed + 1)?, at),
            rows,
        )?,
        "hyperplane" => write(
            switch_at(
                Hyperplane::new(10, 2, 0.0, 0.05, 0.1, seed)?,
                Hyperplane::new(10, 2, 0.0, 0.05, 0.1, seed + 1)?,
                at,
            ),
            rows,
        )?,
        "stagger" => write(
            switch_at(
                Stagger::new(0, true, seed)?,
                Stagger::new(2, true, seed + 1)?,
                at,
            ),
            rows,
        )?,
        _ => return Err(usage.into()),
    }
    Ok(())
}

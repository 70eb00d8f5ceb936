//! The `eddy` command-line interface: a thin dispatcher; each subcommand lives in `cmd/`.

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// eddy: a streaming machine-learning engine. Features over event-time windows from event
/// streams, and online models that learn from outcomes as they arrive.
#[derive(Debug, Parser)]
#[command(name = "eddy", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a pipeline spec (with no SPEC: the built-in fraud example over generated data).
    Run(cmd::run::RunArgs),
    /// Check a pipeline spec and report every error.
    Validate(cmd::validate::ValidateArgs),
    /// Write a deterministic synthetic event stream (JSON Lines).
    Generate(cmd::generate::GenerateArgs),
    /// Measure end-to-end throughput of the example pipeline.
    Bench(cmd::bench::BenchArgs),
    /// Evaluate an online model prequentially over a CSV or JSONL file.
    Learn(Box<cmd::learn::LearnArgs>),
    /// Run a drift detector over numbers read from stdin, one per line.
    Drift(cmd::drift::DriftArgs),
    /// Serve models over the Open Inference Protocol (KServe V2 REST).
    #[cfg(feature = "http")]
    Serve(cmd::serve::ServeArgs),
}

fn main() -> ExitCode {
    // before any thread starts: may re-execute this program (see the module's docs)
    eddy_runtime::huge_pages::reexec_with_huge_pages();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => cmd::run::run(a),
        Command::Validate(a) => cmd::validate::run(a),
        Command::Generate(a) => cmd::generate::run(a),
        Command::Bench(a) => cmd::bench::run(a),
        Command::Learn(a) => cmd::learn::run(*a).map(|()| ExitCode::SUCCESS),
        Command::Drift(a) => cmd::drift::run(a).map(|()| ExitCode::SUCCESS),
        #[cfg(feature = "http")]
        Command::Serve(a) => cmd::serve::run(a).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

//! The `eddy` command-line interface.
//!
//! This branch registers only `learn` and `drift`; the full command set is assembled on the
//! `cli` branch, where each command lives in its own `cmd/*.rs` module.

mod cmd;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "eddy",
    version,
    about = "eddy: a streaming machine-learning engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate an online model prequentially over a CSV or JSONL file.
    Learn(cmd::learn::LearnArgs),
    /// Run a drift detector over numbers read from stdin, one per line.
    Drift(cmd::drift::DriftArgs),
    /// Serve models over the Open Inference Protocol (KServe V2 REST).
    Serve(cmd::serve::ServeArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Learn(args) => cmd::learn::run(args),
        Command::Drift(args) => cmd::drift::run(args),
        Command::Serve(args) => cmd::serve::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("eddy: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

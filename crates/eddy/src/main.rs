//! The `eddy` command-line interface: a thin dispatcher; each subcommand lives in `cmd/`.

mod cmd;
mod report;

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
    /// Make a learning log (`output.learning`) into a self-contained HTML report.
    Report(cmd::report::ReportArgs),
    /// Serve models over the Open Inference Protocol (KServe V2 REST).
    #[cfg(feature = "http")]
    Serve(cmd::serve::ServeArgs),
    /// Load lines into a Kafka topic, one message per line.
    #[cfg(feature = "kafka")]
    Produce(cmd::produce::ProduceArgs),
    /// Answer a pipeline's scoring requests from a Kafka topic with a model (`pattern = "topics"`).
    #[cfg(feature = "kafka")]
    ScoreWorker(Box<cmd::score_worker::ScoreWorkerArgs>),
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
        Command::Report(a) => cmd::report::run(a).map(|()| ExitCode::SUCCESS),
        #[cfg(feature = "http")]
        Command::Serve(a) => cmd::serve::run(a).map(|()| ExitCode::SUCCESS),
        #[cfg(feature = "kafka")]
        Command::Produce(a) => cmd::produce::run(a),
        #[cfg(feature = "kafka")]
        Command::ScoreWorker(a) => {
            cmd::run::stop_on_signals().and_then(|signal| cmd::score_worker::run(*a, signal))
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", message(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, `: `-separated as anyhow's `{:#}` writes them, but without a
/// cause the message before it already ends with: the library errors (eddy-runtime's,
/// eddy-infer's and eddy-learn's I/O errors) write their OS error into their own message
/// and also return it as their source, which `{:#}` printed twice.
fn message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.is_empty() {
            if out.ends_with(&text) {
                continue;
            }
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::message;

    /// An error that writes its source into its message, as the library I/O errors do.
    #[derive(Debug)]
    struct Open(std::io::Error);

    impl std::fmt::Display for Open {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "cannot open `x`: {}", self.0)
        }
    }

    impl std::error::Error for Open {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn each_cause_is_written_once() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let e = anyhow::Error::new(Open(io())).context("running");
        assert_eq!(message(&e), "running: cannot open `x`: gone");
        // A cause the message does not already hold is still written.
        let e = anyhow::Error::new(io()).context("reading `y`");
        assert_eq!(message(&e), "reading `y`: gone");
        assert_eq!(message(&anyhow::anyhow!("alone")), "alone");
    }
}

//! `eddy validate SPEC`: exit 0 with a short OK, or 1 with every error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use eddy_runtime::{Pipeline, PipelineSpec};

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The pipeline spec (TOML).
    pub spec: PathBuf,
}

pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    // The engine's own checks run too (Pipeline::new builds the feature engine).
    let checked = PipelineSpec::from_file(&args.spec)
        .map_err(|e| e.to_string())
        .and_then(|spec| {
            Pipeline::new(spec.clone())
                .map(|p| {
                    for w in p.warnings() {
                        eprintln!("eddy: warning: {w}");
                    }
                    spec
                })
                .map_err(|e| e.to_string())
        });
    match checked {
        Ok(spec) => {
            let windows: Vec<String> = spec.features.iter().map(|f| f.name.clone()).collect();
            println!(
                "OK: {} is valid ({} feature{}: {})",
                args.spec.display(),
                windows.len(),
                if windows.len() == 1 { "" } else { "s" },
                windows.join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            eprintln!("{}: {errors}", args.spec.display());
            Ok(ExitCode::FAILURE)
        }
    }
}

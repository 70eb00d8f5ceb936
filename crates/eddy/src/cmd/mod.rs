//! One module per subcommand: each exposes `#[derive(clap::Args)] struct ...Args` and `run`.

pub mod drift;
pub mod learn;
pub mod serve;

//! One module per subcommand; each exposes `XxxArgs` (clap) and `run(args) -> Result<ExitCode>`.

pub mod bench;
pub mod generate;
pub mod run;
pub mod validate;

/// The example pipeline, embedded so that `eddy run` and `eddy bench` need no files.
pub const FRAUD_SPEC: &str = include_str!("../../../../examples/fraud.toml");

/// Formats an integer with thousands separators (`1234567` → `1,234,567`).
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

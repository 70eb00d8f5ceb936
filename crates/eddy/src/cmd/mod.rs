//! One module per subcommand; each exposes `XxxArgs` (clap) and `run(args)`.

pub mod bench;
pub mod drift;
pub mod generate;
pub mod learn;
pub mod run;
pub mod serve;
pub mod validate;

/// The example pipeline, embedded so that `eddy run` and `eddy bench` need no files.
pub const FRAUD_SPEC: &str = include_str!("../../../../examples/fraud.toml");

/// Formats an integer with thousands separators (`1234567` → `1,234,567`).
pub fn thousands(n: u64) -> String {
    let digits = n.to_string().into_bytes();
    let mut groups: Vec<&[u8]> = digits.rchunks(3).collect();
    groups.reverse();
    let parts: Vec<String> = groups
        .iter()
        .map(|g| String::from_utf8_lossy(g).into_owned())
        .collect();
    parts.join(",")
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1_000), "1,000");
        assert_eq!(super::thousands(1_234_567), "1,234,567");
    }
}

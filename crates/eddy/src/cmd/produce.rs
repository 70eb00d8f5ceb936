//! `eddy produce`: loads lines into a Kafka topic, one message per line, keyed by a JSON
//! member: how a topic gets its events (`eddy generate fraud | eddy produce ...`). It writes
//! through the same sink as a pipeline's Kafka outputs, so it shares their guarantees: an
//! idempotent producer, and an error (never a silent loss) when a delivery fails.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use eddy_runtime::connector::kafka::KafkaSink;
use eddy_runtime::connector::RowShape;

#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// The brokers to start from (`host:port[,host:port]`).
    #[arg(long)]
    brokers: String,
    /// The topic to write to (it must exist).
    #[arg(long)]
    topic: String,
    /// The JSON member whose value keys each message (none: no key).
    #[arg(long)]
    key: Option<String>,
    /// The JSON member whose value goes in the `eddy.event_id` header.
    #[arg(long)]
    event_id: Option<String>,
    /// The lines to load (`-`: stdin).
    #[arg(long, default_value = "-")]
    input: PathBuf,
}

pub fn run(a: ProduceArgs) -> Result<ExitCode> {
    let cfg = KafkaSink::config(
        &a.brokers,
        &a.topic,
        Some(a.key.clone().unwrap_or_default()),
    );
    let mut sink = cfg
        .open_for(&RowShape {
            key: a.key.clone(),
            event_id: a.event_id.clone(),
        })
        .with_context(|| format!("opening topic {}", a.topic))?;
    let mut input: Box<dyn Read> = if a.input.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(
            std::fs::File::open(&a.input)
                .with_context(|| format!("opening {}", a.input.display()))?,
        )
    };
    let mut buf = vec![0u8; 1 << 20];
    let mut filled = 0;
    let mut lines = 0u64;
    loop {
        let n = input
            .read(&mut buf[filled..])
            .with_context(|| format!("reading {}", a.input.display()))?;
        filled += n;
        // whole lines only: the rest waits for the next read (or is the last line)
        let cut = if n == 0 {
            filled
        } else {
            match memchr::memrchr(b'\n', &buf[..filled]) {
                Some(i) => i + 1,
                None if filled == buf.len() => {
                    buf.resize(buf.len() * 2, 0);
                    continue;
                }
                None => continue,
            }
        };
        lines += memchr::memchr_iter(b'\n', &buf[..cut]).count() as u64;
        sink.write(&buf[..cut])
            .with_context(|| format!("writing to topic {}", a.topic))?;
        buf.copy_within(cut..filled, 0);
        filled -= cut;
        if n == 0 {
            break;
        }
    }
    sink.sync()
        .with_context(|| format!("waiting for topic {} to acknowledge", a.topic))?;
    eprintln!("produced {lines} lines to {}", a.topic);
    Ok(ExitCode::SUCCESS)
}

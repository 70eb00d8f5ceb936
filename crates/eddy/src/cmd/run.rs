//! `eddy run [SPEC]`: runs a pipeline; with no SPEC, the embedded fraud example over freshly
//! generated data, printing a sample of each output and the summary.

use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use clap::Args;
use eddy_runtime::connector;
use eddy_runtime::connector::StreamSource;
use eddy_runtime::generate::{generate_to_vec, GenConfig, Scenario};
use eddy_runtime::metrics::Metrics;
use eddy_runtime::outputs::{OutputKind, Outputs};
use eddy_runtime::spec::Pattern;
use eddy_runtime::{Pipeline, PipelineSpec, RunHooks, Summary};
use indicatif::{ProgressBar, ProgressStyle};

use super::{features_http, fraud_model, thousands, TempDir, FRAUD_SPEC};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The pipeline spec (TOML). Without it, runs the built-in fraud example
    /// (examples/fraud.toml) over generated data.
    pub spec: Option<PathBuf>,
    /// Read events from this file instead of the spec's `source.path` (`-` for stdin).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Write per-event rows here instead of the spec's `output.events` (`-` for stdout).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Leave the spec's `[learn]` out: compute (and score nothing with) the features only, e.g.
    /// over last month's events, to train a baseline with `eddy learn`.
    #[arg(long)]
    pub no_learn: bool,
    /// Built-in example only: how many events to generate.
    #[arg(long, default_value_t = 200_000)]
    pub events: u64,
    /// Built-in example only: how many rows of each output to print.
    #[arg(long, default_value_t = 5)]
    pub sample: usize,
    /// Do not print the summary.
    #[arg(long, short)]
    pub quiet: bool,
    /// Serve the online store over HTTP while the run goes on: `GET /features/{key}` gives
    /// the key's latest features (port 0: any free port; the address is printed on stderr).
    #[arg(long, value_name = "ADDR")]
    pub serve_features: Option<SocketAddr>,
    /// Serve the run's live metrics in the Prometheus text format at `GET /metrics` (port 0:
    /// any free port; the address is printed on stderr).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// With --serve-features: once the input is all read, keep serving the features it left
    /// until interrupted (to load a file and then query it).
    #[arg(long, requires = "serve_features")]
    pub hold: bool,
}

/// Ctrl-C and SIGTERM end the run as if its input ended there ([`eddy_runtime::shutdown`]): the
/// records read so far are processed, every output is flushed with whole rows, the summary is
/// printed. A second signal exits at once. Returns where the first signal's number will be.
pub(crate) fn stop_on_signals() -> anyhow::Result<Arc<AtomicUsize>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let seen = Arc::new(AtomicUsize::new(0));
    for sig in [SIGINT, SIGTERM] {
        // Handlers run in the order they were registered: the first signal finds the flag
        // unset and sets it; a second finds it set and exits with the conventional status.
        signal_hook::flag::register_conditional_shutdown(
            sig,
            128 + sig,
            eddy_runtime::shutdown::flag(),
        )
        .context("handling signals")?;
        signal_hook::flag::register_usize(sig, seen.clone(), sig as usize)
            .context("handling signals")?;
        signal_hook::flag::register(sig, eddy_runtime::shutdown::flag())
            .context("handling signals")?;
    }
    Ok(seen)
}

/// The exit status after a run: `128 + signal` when a signal ended it early.
fn exit_code(signal: &AtomicUsize) -> ExitCode {
    match signal.load(Ordering::Relaxed) {
        0 => ExitCode::SUCCESS,
        sig => {
            eprintln!("eddy: stopped by signal {sig}: the input ended where it was");
            ExitCode::from((128 + sig).min(255) as u8)
        }
    }
}

fn clock_ms(start: Instant) -> impl FnMut() -> i64 {
    move || start.elapsed().as_millis() as i64
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    match args.spec.clone() {
        // the built-in example reads a generated file and ends within a second or two
        None if args.serve_features.is_some() => Err(anyhow!(
            "--serve-features needs a SPEC (e.g. `eddy run examples/fraud.toml --input - \
             --serve-features 127.0.0.1:8081`)"
        )),
        None if args.metrics.is_some() => Err(anyhow!(
            "--metrics needs a SPEC (e.g. `eddy run examples/fraud.toml --input - \
             --metrics 127.0.0.1:9100`)"
        )),
        None => run_embedded(args),
        Some(path) => run_spec(path, args),
    }
}

fn run_spec(path: PathBuf, args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut spec =
        PipelineSpec::from_file(&path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    if let Some(input) = &args.input {
        spec.source.connector = connector::input(input);
    }
    if let Some(output) = &args.output {
        spec.output.events = Some(connector::output(output));
    }
    if args.no_learn {
        spec.learn = None;
        spec.output.learning = None;
    }
    spec.check_paths()
        .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let input_len = spec
        .source
        .connector
        .path()
        .and_then(|p| std::fs::metadata(p).ok())
        // a device or a FIFO has no length to show progress against (and is not "empty")
        .filter(|m| m.is_file())
        .map(|m| m.len());
    let mut pipeline = Pipeline::new(spec)?;
    for w in pipeline.warnings() {
        eprintln!("eddy: warning: {w}");
    }
    // bound before any output file is created: a taken port changes nothing on disk
    let serving = match args.serve_features {
        Some(addr) => {
            let (reader, lookups) = eddy_runtime::lookup::channel();
            let server = features_http::spawn(addr, reader)
                .with_context(|| format!("cannot serve features on {addr}"))?;
            eprintln!(
                "eddy: serving features at http://{}/features/{{key}}",
                server.addr
            );
            Some((lookups, server))
        }
        None => None,
    };
    let mut source = pipeline.open_source()?;
    let signal = stop_on_signals()?;
    let metrics = Metrics::new(source.partitions());
    let _metrics_server = match args.metrics {
        Some(addr) => {
            let server = super::metrics_http::spawn(addr, metrics.clone())
                .with_context(|| format!("cannot serve metrics on {addr}"))?;
            eprintln!("eddy: serving metrics at http://{}/metrics", server.addr);
            Some(server)
        }
        None => None,
    };
    let mut outputs = Outputs::open_for(pipeline.spec())?;
    if pipeline.spec().source.connector.kind() == "stdin" && std::io::stdin().is_terminal() {
        eprintln!("eddy: reading events from stdin (end with Ctrl-D)");
    }
    if input_len == Some(0) {
        eprintln!("eddy: warning: input `{}` is empty", source.name());
    }

    let bar = match input_len {
        Some(len) if len > 0 && std::io::stderr().is_terminal() && !args.quiet => {
            let bar = ProgressBar::new(len);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
                )
                .expect("static template"),
            );
            Some(bar)
        }
        _ => None,
    };
    let start = Instant::now();
    let mut clock = clock_ms(start);
    let mut on_progress = |bytes: u64| {
        if let Some(b) = &bar {
            b.set_position(bytes);
        }
    };
    let summary = pipeline
        .run(
            source.as_mut(),
            &mut outputs,
            RunHooks {
                clock: &mut clock,
                progress: Some(&mut on_progress),
                lookups: serving.as_ref().map(|(lookups, _)| lookups),
                metrics: Some(metrics),
            },
        )
        .with_context(|| format!("running {}", path.display()))?;
    let elapsed = start.elapsed();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if !args.quiet {
        print_summary(&summary, elapsed, pipeline.spec());
        if let Some(l) = pipeline.learning() {
            print_learning(l);
        }
    }
    if let (true, Some((lookups, server))) = (args.hold, &serving) {
        drop(outputs); // every output is flushed and closed before the wait
        eprintln!(
            "eddy: input done; still serving features at http://{}/features/{{key}} (Ctrl-C to stop)",
            server.addr
        );
        pipeline.serve_lookups(lookups);
    }
    Ok(exit_code(&signal))
}

/// Prints the run summary to stderr.
pub fn print_summary(s: &Summary, elapsed: Duration, spec: &PipelineSpec) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let rate = s.events_read as f64 / secs;
    let not_written = |written: bool, n: u64, key: &str| -> String {
        if n > 0 && !written {
            format!(" (not written: no output.{key})")
        } else {
            String::new()
        }
    };
    let o = &spec.output;
    let released = if s.keys_released > 0 {
        format!(" held, {} freed when idle", thousands(s.keys_released))
    } else {
        String::new()
    };
    eprintln!(
        "eddy: {} events read in {:.3} s ({} events/s), {} keys{released}",
        thousands(s.events_read),
        secs,
        thousands(rate as u64),
        thousands(s.keys)
    );
    eprintln!(
        "  emitted:        {} per-event rows{}",
        thousands(s.emitted),
        not_written(o.events.is_some(), s.emitted, "events")
    );
    eprintln!(
        "  window rows:    {} ({} late updates){}",
        thousands(s.window_rows),
        thousands(s.window_updates),
        not_written(o.windows.is_some(), s.window_rows, "windows")
    );
    eprintln!(
        "  late:           {} to the late output, {} late-updated, {} late-discarded{}",
        thousands(s.late),
        thousands(s.late_updated),
        thousands(s.late_discarded),
        not_written(o.late.is_some(), s.late + s.late_discarded, "late")
    );
    eprintln!(
        "  dead-lettered:  {}{}",
        thousands(s.dead_lettered),
        not_written(o.dead_letter.is_some(), s.dead_lettered, "dead_letter")
    );
    eprintln!(
        "  state:          {} bytes for {} keys at end of input",
        thousands(s.state_bytes),
        thousands(s.keys)
    );
    if let Some(m) = &spec.model {
        let reasons: Vec<String> = [
            ("null feature", s.unscored_null_feature),
            ("model error", s.unscored_model_error),
            ("missed deadline", s.unscored_deadline),
            ("server error", s.unscored_server),
            ("shed", s.unscored_shed),
        ]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(why, n)| format!("{} {why}", thousands(*n)))
        .collect();
        let fallback = if m.pattern == Pattern::External {
            format!(", {} fallback", thousands(s.fallback))
        } else {
            String::new()
        };
        eprintln!(
            "  model {} ({}): {} scored, {} unscored{}{fallback}",
            m.name,
            m.pattern.as_str(),
            thousands(s.scored),
            thousands(s.unscored),
            if reasons.is_empty() {
                String::new()
            } else {
                format!(" ({})", reasons.join(", "))
            },
        );
        if let Some(c) = &s.remote {
            eprintln!("  model server:   {c}");
        }
        if s.late_scores > 0 {
            eprintln!(
                "  late scores:    {} (arrived after their event left; dropped)",
                thousands(s.late_scores)
            );
        }
        if s.duplicate_scores + s.unknown_scores > 0 {
            eprintln!(
                "  scores ignored: {} duplicate, {} unknown (a second answer for a row; an answer for no row of this run)",
                thousands(s.duplicate_scores),
                thousands(s.unknown_scores)
            );
        }
    }
    if s.blank_lines > 0 {
        eprintln!("  blank lines skipped: {}", thousands(s.blank_lines));
    }
}

/// Prints what the `[learn]` loop did: the model, each arm's metrics with their 95%
/// intervals, the difference the promotion rule watches, the label join and drifts.
pub fn print_learning(l: &eddy_runtime::learn::Learning) {
    use eddy_runtime::learn::prediction::Arm;
    let c = l.counts();
    let unscored = if c.unscored > 0 {
        format!(", {} unscored (a null input)", thousands(c.unscored))
    } else {
        String::new()
    };
    eprintln!(
        "  learning:       {} v{}: {} scored, {} labelled and learned{unscored}",
        l.model_name(),
        l.version(),
        thousands(c.scored),
        thousands(c.learned)
    );
    let est = l.estimates();
    for arm in [Arm::Online, Arm::Baseline] {
        let parts: Vec<String> = est
            .iter()
            .filter(|(a, _, _)| *a == arm)
            .map(|(_, name, e)| match (e.lo, e.hi) {
                (Some(lo), Some(hi)) => format!("{name} {:.4} [{lo:.4}, {hi:.4}]", e.value),
                _ => format!("{name} {:.4}", e.value),
            })
            .collect();
        if !parts.is_empty() {
            eprintln!(
                "    {:<13} {}",
                format!("{}:", arm.as_str()),
                parts.join("  ")
            );
        }
    }
    if let Some((metric, d)) = l.difference() {
        let ci = match (d.lo, d.hi) {
            (Some(lo), Some(hi)) => format!(" [{lo:+.4}, {hi:+.4}]"),
            _ => String::new(),
        };
        eprintln!(
            "    difference:   {metric}, online better by {:+.4}{ci}; serving {} ({} promotions, {} rollbacks)",
            d.value,
            l.serving().as_str(),
            c.promotions,
            c.rollbacks
        );
    }
    if let Some(j) = l.join_counts() {
        eprintln!(
            "    labels:       {} waited, {} labelled, {} expired ({} defaulted), {} pending; {} duplicate, {} late, {} unknown, {} not labels",
            thousands(j.waiting),
            thousands(j.labelled),
            thousands(j.expired),
            thousands(c.defaulted),
            thousands(l.pending() as u64),
            thousands(j.duplicate),
            thousands(j.late),
            thousands(j.unknown),
            thousands(c.bad_label_records)
        );
        let (peak, bytes) = l.peak_pending();
        if peak > 0 {
            eprintln!(
                "    waiting:      at most {} examples at once, in {} bytes ({} per example)",
                thousands(peak as u64),
                thousands(bytes as u64),
                thousands((bytes / peak) as u64)
            );
        }
    }
    if c.no_id > 0 || c.bad_labels > 0 {
        eprintln!(
            "    not learned:  {} without a label, {} without an event id",
            thousands(c.bad_labels),
            thousands(c.no_id)
        );
    }
    if c.drifts > 0 {
        eprintln!(
            "    drift:        {} drifts, {} actions",
            thousands(c.drifts),
            thousands(c.actions)
        );
    }
}

/// A writer that keeps the first `max` lines and counts them all.
#[derive(Clone, Default)]
struct Sample(Rc<RefCell<SampleInner>>);

#[derive(Default)]
struct SampleInner {
    max: usize,
    lines: Vec<String>,
    partial: Vec<u8>,
    count: u64,
}

impl Write for Sample {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut s = self.0.borrow_mut();
        let newlines = memchr_count(buf);
        s.count += newlines as u64;
        if s.lines.len() < s.max {
            s.partial.extend_from_slice(buf);
            while s.lines.len() < s.max {
                let Some(i) = s.partial.iter().position(|&c| c == b'\n') else {
                    break;
                };
                let line = String::from_utf8_lossy(&s.partial[..i]).into_owned();
                s.partial.drain(..=i);
                s.lines.push(line);
            }
            if s.lines.len() >= s.max {
                s.partial = Vec::new();
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn memchr_count(buf: &[u8]) -> usize {
    buf.iter().filter(|&&c| c == b'\n').count()
}

/// What the built-in example adds to examples/fraud.toml: a model that learns from the
/// labels in the events, compared (in shadow) with the example model, trained offline
/// before the drift the generated stream has half-way.
const BUILT_IN_LEARN: &str = r#"
[learn]
model = "logistic_regression"
inputs = ["events_5m", "login_rate_1m", "avg_order_value_1h"]
categories = ["event_type"]
label = "label"
fill_null = 0
log_every = 10000

[learn.params]
scaler = "standard"

[learn.drift]
detector = "adwin"
action = "boost"

[learn.baseline]
path = "BASELINE"
inputs = ["events_5m", "login_rate_1m"]
"#;

fn run_embedded(args: RunArgs) -> anyhow::Result<ExitCode> {
    // Score every row with the example fraud model, as examples/fraud_embedded.toml does —
    // here as the baseline an online model is measured against.
    let model_dir = TempDir::new("run")?;
    let baseline = fraud_model(&model_dir.0)?;
    let baseline_path = baseline
        .path()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let text = format!(
        "{FRAUD_SPEC}\n{}",
        BUILT_IN_LEARN.replace("BASELINE", &baseline_path.replace('\\', "\\\\"))
    );
    let spec = PipelineSpec::parse(&text).map_err(|e| anyhow!("built-in spec: {e}"))?;
    let mut cfg = GenConfig::new(Scenario::Fraud, args.events, 7);
    cfg.disorder_ms = 6_000;
    cfg.late_fraction = 0.001;
    cfg.drift_at = Some(args.events / 2);
    eprintln!(
        "eddy: no spec given; running the built-in example (examples/fraud.toml) over {} generated fraud events (seed 7, {} keys, up to 6 s disorder against a 5 s watermark bound, 0.1% very late, the fraud pattern drifting half-way). A logistic regression learns from each event's label as it goes, in shadow of the example model (examples/models/fraud_lr.json), trained before the drift.",
        thousands(args.events),
        thousands(cfg.keys)
    );
    let data = generate_to_vec(&cfg);
    let mut pipeline = Pipeline::new(spec)?;
    let mut source = StreamSource::new("generated fraud events", &data[..]).filling();
    let events = Sample(Rc::new(RefCell::new(SampleInner {
        max: args.sample,
        ..Default::default()
    })));
    let windows = Sample(Rc::new(RefCell::new(SampleInner {
        max: args.sample,
        ..Default::default()
    })));
    let late = Sample(Rc::new(RefCell::new(SampleInner {
        max: args.sample.min(2),
        ..Default::default()
    })));
    let learning = Sample(Rc::new(RefCell::new(SampleInner {
        max: args.sample.min(2),
        ..Default::default()
    })));
    let mut outputs = Outputs::none();
    outputs.set(OutputKind::Events, "events", Box::new(events.clone()));
    outputs.set(OutputKind::Windows, "windows", Box::new(windows.clone()));
    outputs.set(OutputKind::Late, "late", Box::new(late.clone()));
    outputs.set(OutputKind::Learning, "learning", Box::new(learning.clone()));
    let start = Instant::now();
    let mut clock = clock_ms(start);
    let summary = pipeline.run(&mut source, &mut outputs, RunHooks::with_clock(&mut clock))?;
    let elapsed = start.elapsed();
    let mut out = std::io::stdout().lock();
    for (title, sample) in [
        ("per-event feature vectors", &events),
        ("window rows", &windows),
        ("late events", &late),
        ("learning log", &learning),
    ] {
        let s = sample.0.borrow();
        writeln!(
            out,
            "── {title} (first {} of {}) ──",
            s.lines.len(),
            thousands(s.count)
        )?;
        for l in &s.lines {
            writeln!(out, "{l}")?;
        }
    }
    out.flush()?;
    drop(out);
    if !args.quiet {
        let mut shown = pipeline.spec().clone();
        // Everything went to the samples above; nothing was "not written".
        let stdout = connector::output(std::path::Path::new("-"));
        shown.output.events = Some(stdout.clone());
        shown.output.windows = Some(stdout.clone());
        shown.output.late = Some(stdout.clone());
        shown.output.dead_letter = Some(stdout.clone());
        shown.output.learning = Some(stdout);
        print_summary(&summary, elapsed, &shown);
        if let Some(l) = pipeline.learning() {
            print_learning(l);
        }
        eprintln!("Next: `eddy generate fraud --events 200000 --output fraud.jsonl` and `eddy run examples/fraud.toml`; the learning loop with late labels is examples/fraud_online.toml (see examples/README.md).");
    }
    Ok(ExitCode::SUCCESS)
}

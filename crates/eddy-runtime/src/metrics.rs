//! Live run metrics: one registry per run, exposed in the Prometheus text format (0.0.4)
//! and read by the end-of-run summary.
//!
//! [`Metrics`] is a handle (an `Arc` inside: clone it for each thread and for the HTTP
//! handler). The pipeline's threads update it **once per batch**, never per event: each
//! counter, gauge and histogram bucket is an atomic updated with `Relaxed` ordering, so the
//! update path takes no lock and costs a few uncontended atomic adds per batch. Per-event
//! counts are summed in plain locals while the batch is processed and added at its end;
//! per-row observations (say, a model scoring row by row) go into a [`LocalHistogram`]
//! merged with [`Histogram::merge`] once per batch.
//!
//! Readers ([`Metrics::render`] for a scrape, [`Metrics::snapshot`] for the summary) read
//! each atomic on its own: a reading taken while a batch is being recorded may show some
//! of that batch's counts and not others; every count is exact once the run is over.
//!
//! Why not the `metrics` crate: its recorder is global to the process, while each run
//! needs a registry of its own (two runs in one process, and tests running in parallel in
//! one test binary, must not see each other's counts), and this module's fixed set of
//! metrics needs no dependency beyond `std`.
//!
//! The metrics (the names are part of the interface; see `docs/metrics.md`):
//!
//! | name | type | labels |
//! |---|---|---|
//! | `eddy_records_read_total` | counter | |
//! | `eddy_bytes_read_total` | counter | |
//! | `eddy_blank_lines_total` | counter | |
//! | `eddy_events_accepted_total` | counter | |
//! | `eddy_late_events_total` | counter | `outcome` ([`LateOutcome`]) |
//! | `eddy_dead_letters_total` | counter | `reason` ([`DeadReason`]) |
//! | `eddy_output_rows_total` | counter | `output` ([`OutputKind`]) |
//! | `eddy_window_rows_total` | counter | |
//! | `eddy_window_updates_total` | counter | |
//! | `eddy_scored_total` | counter | |
//! | `eddy_unscored_total` | counter | `reason` ([`UnscoredReason`]) |
//! | `eddy_late_scores_total` | counter | |
//! | `eddy_duplicate_scores_total` | counter | |
//! | `eddy_unknown_scores_total` | counter | |
//! | `eddy_keys_released_total` | counter | |
//! | `eddy_watermark_ms` | gauge | `partition` |
//! | `eddy_watermark_lag_ms` | gauge | `partition` |
//! | `eddy_keys` | gauge | |
//! | `eddy_state_bytes` | gauge | |
//! | `eddy_up` | gauge | |
//! | `eddy_learn_examples_total` | counter | (with `[learn]` only, as all `eddy_learn_*`) |
//! | `eddy_learn_drifts_total` | counter | |
//! | `eddy_learn_promotions_total` | counter | |
//! | `eddy_learn_rollbacks_total` | counter | |
//! | `eddy_learn_pending` | gauge | |
//! | `eddy_learn_model_version` | gauge | |
//! | `eddy_learn_serving_online` | gauge | |
//! | `eddy_batch_seconds` | histogram | |
//! | `eddy_model_seconds` | histogram | |
//!
//! ```
//! use eddy_runtime::metrics::{DeadReason, Metrics};
//!
//! let metrics = Metrics::new(1);
//! // at the end of a batch
//! metrics.records_read().add(1000);
//! metrics.dead_letters(DeadReason::Malformed).add(2);
//! metrics.set_watermark(0, 1_700_000_000_000, 1_700_000_000_250);
//! metrics.batch_seconds().observe(0.0004);
//!
//! let mut text = String::new();
//! metrics.render(&mut text);
//! assert!(text.contains("eddy_records_read_total 1000\n"));
//! assert!(text.contains("eddy_watermark_lag_ms{partition=\"0\"} 250\n"));
//! assert_eq!(metrics.snapshot().dead_letters_total(), 2);
//! ```

use std::fmt::{self, Write as _};
use std::sync::atomic::AtomicI64;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

/// `eddy_dead_letters_total{reason=…}`: why a record could not be decoded.
pub use crate::error::DeadReason;
/// `eddy_output_rows_total{output=…}`: the run's outputs.
pub use crate::spec::OutputKind;

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n` (once per batch: sum per-event counts in a local first).
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// A value that goes up and down (all of this registry's plain gauges are non-negative).
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    /// Sets the value.
    #[inline]
    pub fn set(&self, v: u64) {
        self.0.store(v, Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// The histograms' bucket upper bounds (inclusive), in nanoseconds: 10 µs to 10 s in
/// 1-2.5-5 steps; a last bucket (`le="+Inf"`) takes everything above.
pub const BUCKET_BOUNDS_NANOS: [u64; 19] = [
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// Number of buckets, `+Inf` included.
const BUCKETS: usize = BUCKET_BOUNDS_NANOS.len() + 1;

/// Seconds → whole nanoseconds (rounded; negative and NaN → 0, huge → `u64::MAX`).
fn secs_to_nanos(secs: f64) -> u64 {
    if secs > 0.0 {
        // `as` saturates
        (secs * 1e9).round() as u64
    } else {
        0
    }
}

fn duration_to_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The bucket of an observation: the first whose bound is at least `nanos`.
fn bucket_of(nanos: u64) -> usize {
    BUCKET_BOUNDS_NANOS.partition_point(|&b| b < nanos)
}

/// A distribution of durations over the fixed buckets [`BUCKET_BOUNDS_NANOS`]. Durations
/// are kept in whole nanoseconds (the sum too, so it is exact).
#[derive(Debug)]
pub struct Histogram {
    /// Per-bucket (not cumulative) counts; the count is their sum.
    buckets: [AtomicU64; BUCKETS],
    sum_nanos: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    /// Records one observation of `secs` seconds.
    #[inline]
    pub fn observe(&self, secs: f64) {
        self.observe_nanos(secs_to_nanos(secs));
    }

    /// Records one observation (e.g. an `Instant::elapsed()`).
    #[inline]
    pub fn observe_duration(&self, d: Duration) {
        self.observe_nanos(duration_to_nanos(d));
    }

    fn observe_nanos(&self, nanos: u64) {
        self.buckets[bucket_of(nanos)].fetch_add(1, Relaxed);
        self.sum_nanos.fetch_add(nanos, Relaxed);
    }

    /// Adds the observations gathered in `local` (one atomic add per non-empty bucket) and
    /// empties it.
    pub fn merge(&self, local: &mut LocalHistogram) {
        for (shared, n) in self.buckets.iter().zip(local.buckets.iter_mut()) {
            if *n != 0 {
                shared.fetch_add(*n, Relaxed);
                *n = 0;
            }
        }
        if local.sum_nanos != 0 {
            self.sum_nanos.fetch_add(local.sum_nanos, Relaxed);
            local.sum_nanos = 0;
        }
    }

    /// The counts so far.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = [0; BUCKETS];
        let mut acc = 0u64;
        for (c, b) in cumulative.iter_mut().zip(&self.buckets) {
            acc = acc.wrapping_add(b.load(Relaxed));
            *c = acc;
        }
        HistogramSnapshot {
            cumulative,
            sum_nanos: self.sum_nanos.load(Relaxed),
        }
    }
}

/// A thread's own histogram, with no atomics: observe per row, then
/// [`Histogram::merge`] it once per batch.
#[derive(Debug, Clone, Default)]
pub struct LocalHistogram {
    buckets: [u64; BUCKETS],
    sum_nanos: u64,
}

impl LocalHistogram {
    /// Records one observation of `secs` seconds.
    #[inline]
    pub fn observe(&mut self, secs: f64) {
        self.observe_nanos(secs_to_nanos(secs));
    }

    /// Records one observation.
    #[inline]
    pub fn observe_duration(&mut self, d: Duration) {
        self.observe_nanos(duration_to_nanos(d));
    }

    fn observe_nanos(&mut self, nanos: u64) {
        self.buckets[bucket_of(nanos)] += 1;
        self.sum_nanos = self.sum_nanos.wrapping_add(nanos);
    }
}

/// A histogram's counts at one time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// Cumulative counts: `cumulative[i]` observations were at most
    /// `BUCKET_BOUNDS_NANOS[i]`; the last entry (`+Inf`) is the count.
    pub cumulative: [u64; BUCKETS],
    /// Sum of the observations, in nanoseconds.
    pub sum_nanos: u64,
}

impl HistogramSnapshot {
    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.cumulative[BUCKETS - 1]
    }

    /// Sum of the observations, in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_nanos as f64 / 1e9
    }

    /// Mean observation in seconds (`None` with no observation).
    pub fn mean_seconds(&self) -> Option<f64> {
        let n = self.count();
        (n != 0).then(|| self.sum_seconds() / n as f64)
    }
}

/// Declares a label's fixed set of values.
macro_rules! label_values {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in the order they are rendered.
            pub const ALL: [$name; [$($name::$variant),+].len()] = [$($name::$variant),+];

            /// The label value.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }
    };
}

label_values! {
    /// `eddy_late_events_total{outcome=…}`: what became of an event behind the watermark.
    LateOutcome {
        /// Behind all its windows (`ts + allowed_lateness <= watermark`): late output.
        Late => "late",
        /// Within allowed lateness, ignored (policy `discard`).
        Discarded => "discarded",
        /// Within allowed lateness, applied (policy `update`).
        Updated => "updated",
    }
}

label_values! {
    /// `eddy_unscored_total{reason=…}`: why a per-event row was not scored.
    UnscoredReason {
        /// An input feature was null.
        NullFeature => "null_feature",
        /// The model failed on the row.
        ModelError => "model_error",
        /// Side output: the score missed the deadline.
        Deadline => "deadline",
        /// The model server failed on the row.
        Server => "server",
        /// Side output: not sent, the client already held its capacity of pending rows.
        Shed => "shed",
        /// External pattern: the row was given the fallback score.
        Fallback => "fallback",
    }
}

/// One source partition's watermark and its lag (`i64::MIN`: not set).
#[derive(Debug)]
struct Watermark {
    ms: AtomicI64,
    lag_ms: AtomicI64,
}

#[derive(Debug)]
struct Inner {
    records_read: Counter,
    bytes_read: Counter,
    blank_lines: Counter,
    events_accepted: Counter,
    late_events: [Counter; LateOutcome::ALL.len()],
    dead_letters: [Counter; DeadReason::ALL.len()],
    output_rows: [Counter; OutputKind::ALL.len()],
    window_rows: Counter,
    window_updates: Counter,
    scored: Counter,
    unscored: [Counter; UnscoredReason::ALL.len()],
    late_scores: Counter,
    duplicate_scores: Counter,
    unknown_scores: Counter,
    keys_released: Counter,
    watermarks: Box<[Watermark]>,
    keys: Gauge,
    state_bytes: Gauge,
    up: Gauge,
    learn: Learn<Counter, Gauge>,
    batch_seconds: Histogram,
    model_seconds: Histogram,
}

/// The `eddy_learn_*` metrics of a `[learn]` run (`on`: the run learns; otherwise they are
/// not rendered).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Learn<C, G> {
    pub on: G,
    pub examples: C,
    pub drifts: C,
    pub promotions: C,
    pub rollbacks: C,
    pub pending: G,
    pub model_version: G,
    pub serving_online: G,
}

/// A run's metrics registry; clones share it.
#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Metrics {
    /// A registry with every count at zero, `eddy_up` at 1, and `partitions` source
    /// partitions whose watermarks are not set yet.
    pub fn new(partitions: usize) -> Metrics {
        let inner = Inner {
            records_read: Counter::default(),
            bytes_read: Counter::default(),
            blank_lines: Counter::default(),
            events_accepted: Counter::default(),
            late_events: Default::default(),
            dead_letters: Default::default(),
            output_rows: Default::default(),
            window_rows: Counter::default(),
            window_updates: Counter::default(),
            scored: Counter::default(),
            unscored: Default::default(),
            late_scores: Counter::default(),
            duplicate_scores: Counter::default(),
            unknown_scores: Counter::default(),
            keys_released: Counter::default(),
            learn: Learn::default(),
            watermarks: (0..partitions)
                .map(|_| Watermark {
                    ms: AtomicI64::new(i64::MIN),
                    lag_ms: AtomicI64::new(i64::MIN),
                })
                .collect(),
            keys: Gauge::default(),
            state_bytes: Gauge::default(),
            up: Gauge(AtomicU64::new(1)),
            batch_seconds: Histogram::default(),
            model_seconds: Histogram::default(),
        };
        Metrics {
            inner: Arc::new(inner),
        }
    }

    /// The number of source partitions given to [`Metrics::new`].
    pub fn partitions(&self) -> usize {
        self.inner.watermarks.len()
    }

    /// `eddy_records_read_total`: records read from the source, blank lines excluded.
    pub fn records_read(&self) -> &Counter {
        &self.inner.records_read
    }

    /// `eddy_bytes_read_total`: bytes of input read.
    pub fn bytes_read(&self) -> &Counter {
        &self.inner.bytes_read
    }

    /// `eddy_blank_lines_total`: blank lines skipped.
    pub fn blank_lines(&self) -> &Counter {
        &self.inner.blank_lines
    }

    /// `eddy_events_accepted_total`: events applied on time.
    pub fn events_accepted(&self) -> &Counter {
        &self.inner.events_accepted
    }

    /// `eddy_late_events_total{outcome}`.
    pub fn late_events(&self, outcome: LateOutcome) -> &Counter {
        &self.inner.late_events[outcome as usize]
    }

    /// `eddy_dead_letters_total{reason}`.
    pub fn dead_letters(&self, reason: DeadReason) -> &Counter {
        &self.inner.dead_letters[reason as usize]
    }

    /// `eddy_output_rows_total{output}`: rows handed to the output's sink.
    pub fn output_rows(&self, output: OutputKind) -> &Counter {
        &self.inner.output_rows[output as usize]
    }

    /// `eddy_window_rows_total`: window rows produced, updates included.
    pub fn window_rows(&self) -> &Counter {
        &self.inner.window_rows
    }

    /// `eddy_window_updates_total`: window rows that are late re-firings.
    pub fn window_updates(&self) -> &Counter {
        &self.inner.window_updates
    }

    /// `eddy_scored_total`: per-event rows scored.
    pub fn scored(&self) -> &Counter {
        &self.inner.scored
    }

    /// `eddy_unscored_total{reason}`.
    pub fn unscored(&self, reason: UnscoredReason) -> &Counter {
        &self.inner.unscored[reason as usize]
    }

    /// `eddy_late_scores_total`: scores that came back after their row had left.
    pub fn late_scores(&self) -> &Counter {
        &self.inner.late_scores
    }
    /// `eddy_duplicate_scores_total`: topics, second (or later) scores for a row (ignored).
    pub fn duplicate_scores(&self) -> &Counter {
        &self.inner.duplicate_scores
    }
    /// `eddy_unknown_scores_total`: topics, scores for rows this run never sent (ignored).
    pub fn unknown_scores(&self) -> &Counter {
        &self.inner.unknown_scores
    }

    /// `eddy_keys_released_total`: keys whose state was freed when they went idle (every
    /// window closed and dropped, and the key ttl passed).
    pub fn keys_released(&self) -> &Counter {
        &self.inner.keys_released
    }

    /// `eddy_keys`: keys holding state (seen, and not released since).
    pub fn keys(&self) -> &Gauge {
        &self.inner.keys
    }

    /// `eddy_state_bytes`: approximate bytes of feature state.
    pub fn state_bytes(&self) -> &Gauge {
        &self.inner.state_bytes
    }

    /// The `eddy_learn_*` metrics (the learn stage sets `on`).
    pub fn learn(&self) -> &Learn<Counter, Gauge> {
        &self.inner.learn
    }

    /// `eddy_up`: 1 from [`Metrics::new`]; set it to 0 when the run ends.
    pub fn up(&self) -> &Gauge {
        &self.inner.up
    }

    /// `eddy_batch_seconds`: time a batch spends in the engine stage.
    pub fn batch_seconds(&self) -> &Histogram {
        &self.inner.batch_seconds
    }

    /// `eddy_model_seconds`: model latency per scoring call.
    pub fn model_seconds(&self) -> &Histogram {
        &self.inner.model_seconds
    }

    /// Sets `eddy_watermark_ms{partition}` to `watermark_ms` and
    /// `eddy_watermark_lag_ms{partition}` to `now_ms - watermark_ms` (`now_ms`: the run's
    /// processing-time clock, epoch ms). A watermark of `i64::MIN` (none yet) unsets both;
    /// a partition out of range is ignored.
    pub fn set_watermark(&self, partition: usize, watermark_ms: i64, now_ms: i64) {
        let Some(w) = self.inner.watermarks.get(partition) else {
            return;
        };
        let lag = if watermark_ms == i64::MIN {
            i64::MIN
        } else {
            // never i64::MIN: that would read as "not set"
            now_ms.saturating_sub(watermark_ms).max(i64::MIN + 1)
        };
        w.ms.store(watermark_ms, Relaxed);
        w.lag_ms.store(lag, Relaxed);
    }

    /// Every metric's current value, as plain numbers.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let i = &*self.inner;
        let read = |cs: &[Counter]| -> Vec<u64> { cs.iter().map(Counter::get).collect() };
        let set = |v: i64| (v != i64::MIN).then_some(v);
        MetricsSnapshot {
            records_read: i.records_read.get(),
            bytes_read: i.bytes_read.get(),
            blank_lines: i.blank_lines.get(),
            events_accepted: i.events_accepted.get(),
            late_events: read(&i.late_events),
            dead_letters: read(&i.dead_letters),
            output_rows: read(&i.output_rows),
            window_rows: i.window_rows.get(),
            window_updates: i.window_updates.get(),
            scored: i.scored.get(),
            unscored: read(&i.unscored),
            late_scores: i.late_scores.get(),
            duplicate_scores: i.duplicate_scores.get(),
            unknown_scores: i.unknown_scores.get(),
            keys_released: i.keys_released.get(),
            watermarks_ms: i
                .watermarks
                .iter()
                .map(|w| set(w.ms.load(Relaxed)))
                .collect(),
            watermark_lags_ms: i
                .watermarks
                .iter()
                .map(|w| set(w.lag_ms.load(Relaxed)))
                .collect(),
            keys: i.keys.get(),
            state_bytes: i.state_bytes.get(),
            up: i.up.get(),
            learn: Learn {
                on: i.learn.on.get(),
                examples: i.learn.examples.get(),
                drifts: i.learn.drifts.get(),
                promotions: i.learn.promotions.get(),
                rollbacks: i.learn.rollbacks.get(),
                pending: i.learn.pending.get(),
                model_version: i.learn.model_version.get(),
                serving_online: i.learn.serving_online.get(),
            },
            batch_seconds: i.batch_seconds.snapshot(),
            model_seconds: i.model_seconds.snapshot(),
        }
    }

    /// Appends every metric to `out` in the Prometheus text exposition format 0.0.4
    /// (served with [`CONTENT_TYPE`]).
    pub fn render(&self, out: &mut String) {
        // writing into a String cannot fail
        let _ = self.snapshot().write_text(out);
    }
}

/// Every metric's value at one time (from [`Metrics::snapshot`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSnapshot {
    pub records_read: u64,
    pub bytes_read: u64,
    pub blank_lines: u64,
    pub events_accepted: u64,
    late_events: Vec<u64>,
    dead_letters: Vec<u64>,
    output_rows: Vec<u64>,
    pub window_rows: u64,
    pub window_updates: u64,
    pub scored: u64,
    unscored: Vec<u64>,
    pub late_scores: u64,
    pub duplicate_scores: u64,
    pub unknown_scores: u64,
    pub keys_released: u64,
    /// Per partition: the watermark (epoch ms), `None` while there is none.
    pub watermarks_ms: Vec<Option<i64>>,
    /// Per partition: processing time minus the watermark as of its last update.
    pub watermark_lags_ms: Vec<Option<i64>>,
    pub keys: u64,
    pub state_bytes: u64,
    pub up: u64,
    pub learn: Learn<u64, u64>,
    pub batch_seconds: HistogramSnapshot,
    pub model_seconds: HistogramSnapshot,
}

impl MetricsSnapshot {
    /// Events behind the watermark with this outcome.
    pub fn late_events(&self, outcome: LateOutcome) -> u64 {
        self.late_events[outcome as usize]
    }

    /// Dead letters for this reason.
    pub fn dead_letters(&self, reason: DeadReason) -> u64 {
        self.dead_letters[reason as usize]
    }

    /// Dead letters, all reasons.
    pub fn dead_letters_total(&self) -> u64 {
        self.dead_letters.iter().sum()
    }

    /// Rows handed to this output's sink.
    pub fn output_rows(&self, output: OutputKind) -> u64 {
        self.output_rows[output as usize]
    }

    /// Rows not scored for this reason.
    pub fn unscored(&self, reason: UnscoredReason) -> u64 {
        self.unscored[reason as usize]
    }

    /// Rows not scored, all reasons.
    pub fn unscored_total(&self) -> u64 {
        self.unscored.iter().sum()
    }

    /// The exposition text (see [`Metrics::render`]).
    fn write_text(&self, out: &mut String) -> fmt::Result {
        let counter = |out: &mut String, name: &str, help: &str, v: u64| -> fmt::Result {
            header(out, name, "counter", help)?;
            sample(out, name, &[], v)
        };
        fn family<L: Copy>(
            out: &mut String,
            name: &str,
            help: &str,
            label: &str,
            all: &[L],
            text: fn(L) -> &'static str,
            values: &[u64],
        ) -> fmt::Result {
            header(out, name, "counter", help)?;
            for (&l, &v) in all.iter().zip(values) {
                sample(out, name, &[(label, text(l))], v)?;
            }
            Ok(())
        }

        counter(
            out,
            "eddy_records_read_total",
            "Records read from the source, blank lines excluded.",
            self.records_read,
        )?;
        counter(
            out,
            "eddy_bytes_read_total",
            "Bytes of input read.",
            self.bytes_read,
        )?;
        counter(
            out,
            "eddy_blank_lines_total",
            "Blank input lines skipped.",
            self.blank_lines,
        )?;
        counter(
            out,
            "eddy_events_accepted_total",
            "Events applied on time (one per-event row each).",
            self.events_accepted,
        )?;
        family(
            out,
            "eddy_late_events_total",
            "Events behind the watermark, by outcome: late (behind all their windows, \
             to the late output), discarded (within allowed lateness, ignored), \
             updated (within allowed lateness, applied).",
            "outcome",
            &LateOutcome::ALL,
            LateOutcome::as_str,
            &self.late_events,
        )?;
        family(
            out,
            "eddy_dead_letters_total",
            "Records that could not be decoded (dead-letter output), by reason.",
            "reason",
            &DeadReason::ALL,
            DeadReason::as_str,
            &self.dead_letters,
        )?;
        family(
            out,
            "eddy_output_rows_total",
            "Rows handed to each output's sink.",
            "output",
            &OutputKind::ALL,
            OutputKind::as_str,
            &self.output_rows,
        )?;
        counter(
            out,
            "eddy_window_rows_total",
            "Window rows produced, updates included.",
            self.window_rows,
        )?;
        counter(
            out,
            "eddy_window_updates_total",
            "Window rows that are late re-firings (update = true).",
            self.window_updates,
        )?;
        counter(
            out,
            "eddy_scored_total",
            "Per-event rows scored by the model.",
            self.scored,
        )?;
        family(
            out,
            "eddy_unscored_total",
            "Per-event rows not scored, by reason.",
            "reason",
            &UnscoredReason::ALL,
            UnscoredReason::as_str,
            &self.unscored,
        )?;
        counter(
            out,
            "eddy_late_scores_total",
            "Scores that came back after their row had left (dropped).",
            self.late_scores,
        )?;
        counter(
            out,
            "eddy_duplicate_scores_total",
            "Topics: second or later scores for a row (ignored).",
            self.duplicate_scores,
        )?;
        counter(
            out,
            "eddy_unknown_scores_total",
            "Topics: scores for rows this run never sent (ignored).",
            self.unknown_scores,
        )?;
        counter(
            out,
            "eddy_keys_released_total",
            "Keys whose state was freed when they went idle.",
            self.keys_released,
        )?;

        let name = "eddy_watermark_ms";
        header(
            out,
            name,
            "gauge",
            "Event-time watermark of each source partition (epoch ms); \
             absent until the partition has one.",
        )?;
        for (p, wm) in self.watermarks_ms.iter().enumerate() {
            if let Some(wm) = wm {
                sample(out, name, &[("partition", &p.to_string())], wm)?;
            }
        }
        let name = "eddy_watermark_lag_ms";
        header(
            out,
            name,
            "gauge",
            "Processing time minus the partition's watermark (ms), as of its last update; \
             absent until the partition has a watermark.",
        )?;
        for (p, lag) in self.watermark_lags_ms.iter().enumerate() {
            if let Some(lag) = lag {
                sample(out, name, &[("partition", &p.to_string())], lag)?;
            }
        }
        for (name, help, v) in [
            (
                "eddy_keys",
                "Keys holding state (seen, and not released since).",
                self.keys,
            ),
            (
                "eddy_state_bytes",
                "Approximate bytes of feature state.",
                self.state_bytes,
            ),
            (
                "eddy_up",
                "1 while the run is going on, 0 once it has ended.",
                self.up,
            ),
        ] {
            header(out, name, "gauge", help)?;
            sample(out, name, &[], v)?;
        }
        if self.learn.on != 0 {
            let l = &self.learn;
            for (name, kind, help, v) in [
                ("eddy_learn_examples_total", "counter", "Labelled examples the online model learned.", l.examples),
                ("eddy_learn_drifts_total", "counter", "Drifts the detector found in the online model's errors.", l.drifts),
                ("eddy_learn_promotions_total", "counter", "Times the online model was promoted over the baseline.", l.promotions),
                ("eddy_learn_rollbacks_total", "counter", "Times a promotion was rolled back.", l.rollbacks),
                ("eddy_learn_pending", "gauge", "Scored examples waiting for their label.", l.pending),
                ("eddy_learn_model_version", "gauge", "The online model's version.", l.model_version),
                ("eddy_learn_serving_online", "gauge", "1 while the online model's predictions are served, 0 while the baseline's are.", l.serving_online),
            ] {
                header(out, name, kind, help)?;
                sample(out, name, &[], v)?;
            }
        }

        histogram(
            out,
            "eddy_batch_seconds",
            "Time a batch spends in the engine stage, in seconds.",
            &self.batch_seconds,
        )?;
        histogram(
            out,
            "eddy_model_seconds",
            "Model latency per scoring call, in seconds.",
            &self.model_seconds,
        )
    }
}

/// `# HELP` and `# TYPE` lines.
fn header(out: &mut String, name: &str, kind: &str, help: &str) -> fmt::Result {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    writeln!(out, "\n# TYPE {name} {kind}")
}

/// One sample line: `name{label="value",…} value`.
fn sample(
    out: &mut String,
    name: &str,
    labels: &[(&str, &str)],
    value: impl fmt::Display,
) -> fmt::Result {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(label);
            out.push_str("=\"");
            escape_label_value(out, v);
            out.push('"');
        }
        out.push('}');
    }
    writeln!(out, " {value}")
}

/// A label value as the text format wants it: `\`, `"` and line feeds escaped.
fn escape_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Whole nanoseconds as exact decimal seconds (`1500000` → `0.0015`, `10^10` → `10`).
struct Seconds(u64);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, frac) = (self.0 / 1_000_000_000, self.0 % 1_000_000_000);
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{frac:09}");
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

fn histogram(out: &mut String, name: &str, help: &str, h: &HistogramSnapshot) -> fmt::Result {
    header(out, name, "histogram", help)?;
    let bucket = format!("{name}_bucket");
    for (bound, &n) in BUCKET_BOUNDS_NANOS.iter().zip(&h.cumulative) {
        let le = Seconds(*bound).to_string();
        sample(out, &bucket, &[("le", &le)], n)?;
    }
    sample(out, &bucket, &[("le", "+Inf")], h.count())?;
    sample(out, &format!("{name}_sum"), &[], Seconds(h.sum_nanos))?;
    sample(out, &format!("{name}_count"), &[], h.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_across_threads() {
        let m = Metrics::new(4);
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for i in 0..1000u64 {
                        m.records_read().add(3);
                        m.bytes_read().add(t + i);
                        m.dead_letters(DeadReason::ALL[(i % 7) as usize]).inc();
                        m.output_rows(OutputKind::Events).add(2);
                        m.batch_seconds().observe(0.001);
                        let mut local = LocalHistogram::default();
                        local.observe(0.5);
                        local.observe_duration(Duration::from_micros(20));
                        m.model_seconds().merge(&mut local);
                        m.model_seconds().merge(&mut local); // emptied: adds nothing
                    }
                    m.set_watermark(t as usize % 4, 1_000 + t as i64, 5_000);
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let s = m.snapshot();
        assert_eq!(s.records_read, 8 * 1000 * 3);
        // sum over t of (1000 t + 0 + 1 + … + 999)
        assert_eq!(
            s.bytes_read,
            1000 * (0..8).sum::<u64>() + 8 * 999 * 1000 / 2
        );
        assert_eq!(s.dead_letters_total(), 8000);
        // i % 7 == 0 for 143 of 0..1000
        assert_eq!(s.dead_letters(DeadReason::Malformed), 8 * 143);
        assert_eq!(s.dead_letters(DeadReason::Other), 8 * 142);
        assert_eq!(s.output_rows(OutputKind::Events), 16_000);
        assert_eq!(s.output_rows(OutputKind::Windows), 0);
        assert_eq!(s.batch_seconds.count(), 8000);
        assert_eq!(s.batch_seconds.sum_nanos, 8000 * 1_000_000);
        assert_eq!(s.model_seconds.count(), 16_000);
        assert_eq!(s.model_seconds.sum_nanos, 8000 * (500_000_000 + 20_000));
        assert_eq!(s.watermarks_ms.len(), 4);
        assert!(s.watermarks_ms.iter().all(Option::is_some));
        assert!(s.watermark_lags_ms.iter().all(Option::is_some));
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::default();
        h.observe(0.0); // le 0.00001
        h.observe(-1.0); // clamped to 0: le 0.00001
        h.observe(f64::NAN); // 0: le 0.00001
        h.observe(1e-5); // bounds are inclusive: le 0.00001
        h.observe(1.1e-5); // le 0.000025
        h.observe_duration(Duration::from_millis(1)); // le 0.001
        h.observe(0.003); // le 0.005
        h.observe(0.003); // le 0.005
        h.observe(10.0); // le 10
        h.observe(11.0); // +Inf
        let s = h.snapshot();
        //   bucket:  1e-5 2.5e-5 5e-5 1e-4 2.5e-4 5e-4 1e-3 2.5e-3 5e-3 1e-2 … 5  10  +Inf
        let expected = [4, 5, 5, 5, 5, 5, 6, 6, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 9, 10];
        assert_eq!(s.cumulative, expected);
        assert_eq!(s.count(), 10);
        assert_eq!(
            s.sum_nanos,
            10_000 + 11_000 + 1_000_000 + 2 * 3_000_000 + 10_000_000_000 + 11_000_000_000
        );
        assert_eq!(Seconds(s.sum_nanos).to_string(), "21.007021");
        assert_eq!(s.mean_seconds(), Some(21.007021 / 10.0));
        assert_eq!(Histogram::default().snapshot().mean_seconds(), None);

        // the same observations through a local histogram
        let mut local = LocalHistogram::default();
        for secs in [
            0.0,
            -1.0,
            f64::NAN,
            1e-5,
            1.1e-5,
            0.001,
            0.003,
            0.003,
            10.0,
            11.0,
        ] {
            local.observe(secs);
        }
        let merged = Histogram::default();
        merged.merge(&mut local);
        assert_eq!(merged.snapshot(), s);
        assert_eq!(local.buckets, [0; BUCKETS]);
        assert_eq!(local.sum_nanos, 0);
    }

    #[test]
    fn bucket_bounds_render_as_decimal_seconds() {
        let le: Vec<String> = BUCKET_BOUNDS_NANOS
            .iter()
            .map(|&n| Seconds(n).to_string())
            .collect();
        assert_eq!(
            le,
            [
                "0.00001", "0.000025", "0.00005", "0.0001", "0.00025", "0.0005", "0.001", "0.0025",
                "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10"
            ]
        );
        assert_eq!(Seconds(0).to_string(), "0");
        assert_eq!(Seconds(1).to_string(), "0.000000001");
        assert_eq!(Seconds(12_300_000_000).to_string(), "12.3");
        assert_eq!(secs_to_nanos(f64::INFINITY), u64::MAX);
    }

    #[test]
    fn watermark_and_lag() {
        let m = Metrics::new(2);
        assert_eq!(m.partitions(), 2);
        assert_eq!(m.snapshot().watermarks_ms, [None, None]);
        m.set_watermark(1, 9_000, 10_000);
        m.set_watermark(0, 12_000, 10_000); // ahead of processing time: negative lag
        m.set_watermark(5, 1, 2); // out of range: ignored
        let s = m.snapshot();
        assert_eq!(s.watermarks_ms, [Some(12_000), Some(9_000)]);
        assert_eq!(s.watermark_lags_ms, [Some(-2_000), Some(1_000)]);
        m.set_watermark(1, i64::MIN, 10_000); // back to none
        m.set_watermark(0, i64::MAX, i64::MIN); // lag saturates, stays "set"
        let s = m.snapshot();
        assert_eq!(s.watermarks_ms, [Some(i64::MAX), None]);
        assert_eq!(s.watermark_lags_ms, [Some(i64::MIN + 1), None]);
    }

    #[test]
    fn escapes_label_values() {
        let mut out = String::new();
        sample(&mut out, "m", &[("a", "x\\y\"z\nw"), ("b", "ok")], 1).expect("write");
        assert_eq!(out, "m{a=\"x\\\\y\\\"z\\nw\",b=\"ok\"} 1\n");
        let mut out = String::new();
        header(&mut out, "m", "counter", "a \\ b\nc \"d\"").expect("write");
        assert_eq!(out, "# HELP m a \\\\ b\\nc \"d\"\n# TYPE m counter\n");
    }

    #[test]
    fn label_values() {
        let dead: Vec<_> = DeadReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            dead,
            [
                "malformed",
                "missing_field",
                "bad_field",
                "bad_timestamp",
                "bad_key",
                "too_large",
                "other"
            ]
        );
        for (i, r) in DeadReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
        for (i, r) in UnscoredReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
        for (i, r) in OutputKind::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
        for (i, r) in LateOutcome::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
    }

    #[test]
    fn render_matches_the_text_format() {
        let m = Metrics::new(3);
        m.records_read().add(1000);
        m.bytes_read().add(64_000);
        m.blank_lines().add(2);
        m.events_accepted().add(990);
        m.late_events(LateOutcome::Late).add(4);
        m.late_events(LateOutcome::Updated).add(1);
        m.dead_letters(DeadReason::Malformed).add(3);
        m.dead_letters(DeadReason::BadTimestamp).add(2);
        m.output_rows(OutputKind::Events).add(991);
        m.output_rows(OutputKind::Windows).add(40);
        m.output_rows(OutputKind::Late).add(4);
        m.output_rows(OutputKind::DeadLetter).add(5);
        m.window_rows().add(40);
        m.window_updates().add(1);
        m.scored().add(980);
        m.unscored(UnscoredReason::NullFeature).add(11);
        m.late_scores().add(0);
        m.keys_released().add(3);
        m.set_watermark(0, 1_700_000_000_000, 1_700_000_000_250);
        m.set_watermark(2, 1_699_999_999_000, 1_700_000_000_250);
        m.keys().set(77);
        m.state_bytes().set(12_345);
        m.batch_seconds().observe(0.0004);
        m.batch_seconds().observe(0.0004);
        m.batch_seconds().observe(0.02);
        m.model_seconds().observe(3e-6);
        let mut text = String::new();
        m.render(&mut text);

        let expected = r#"# HELP eddy_records_read_total Records read from the source, blank lines excluded.
# TYPE eddy_records_read_total counter
eddy_records_read_total 1000
# HELP eddy_bytes_read_total Bytes of input read.
# TYPE eddy_bytes_read_total counter
eddy_bytes_read_total 64000
# HELP eddy_blank_lines_total Blank input lines skipped.
# TYPE eddy_blank_lines_total counter
eddy_blank_lines_total 2
# HELP eddy_events_accepted_total Events applied on time (one per-event row each).
# TYPE eddy_events_accepted_total counter
eddy_events_accepted_total 990
# HELP eddy_late_events_total Events behind the watermark, by outcome: late (behind all their windows, to the late output), discarded (within allowed lateness, ignored), updated (within allowed lateness, applied).
# TYPE eddy_late_events_total counter
eddy_late_events_total{outcome="late"} 4
eddy_late_events_total{outcome="discarded"} 0
eddy_late_events_total{outcome="updated"} 1
# HELP eddy_dead_letters_total Records that could not be decoded (dead-letter output), by reason.
# TYPE eddy_dead_letters_total counter
eddy_dead_letters_total{reason="malformed"} 3
eddy_dead_letters_total{reason="missing_field"} 0
eddy_dead_letters_total{reason="bad_field"} 0
eddy_dead_letters_total{reason="bad_timestamp"} 2
eddy_dead_letters_total{reason="bad_key"} 0
eddy_dead_letters_total{reason="too_large"} 0
eddy_dead_letters_total{reason="other"} 0
# HELP eddy_output_rows_total Rows handed to each output's sink.
# TYPE eddy_output_rows_total counter
eddy_output_rows_total{output="events"} 991
eddy_output_rows_total{output="windows"} 40
eddy_output_rows_total{output="late"} 4
eddy_output_rows_total{output="dead_letter"} 5
eddy_output_rows_total{output="learning"} 0
# HELP eddy_window_rows_total Window rows produced, updates included.
# TYPE eddy_window_rows_total counter
eddy_window_rows_total 40
# HELP eddy_window_updates_total Window rows that are late re-firings (update = true).
# TYPE eddy_window_updates_total counter
eddy_window_updates_total 1
# HELP eddy_scored_total Per-event rows scored by the model.
# TYPE eddy_scored_total counter
eddy_scored_total 980
# HELP eddy_unscored_total Per-event rows not scored, by reason.
# TYPE eddy_unscored_total counter
eddy_unscored_total{reason="null_feature"} 11
eddy_unscored_total{reason="model_error"} 0
eddy_unscored_total{reason="deadline"} 0
eddy_unscored_total{reason="server"} 0
eddy_unscored_total{reason="shed"} 0
eddy_unscored_total{reason="fallback"} 0
# HELP eddy_late_scores_total Scores that came back after their row had left (dropped).
# TYPE eddy_late_scores_total counter
eddy_late_scores_total 0
# HELP eddy_duplicate_scores_total Topics: second or later scores for a row (ignored).
# TYPE eddy_duplicate_scores_total counter
eddy_duplicate_scores_total 0
# HELP eddy_unknown_scores_total Topics: scores for rows this run never sent (ignored).
# TYPE eddy_unknown_scores_total counter
eddy_unknown_scores_total 0
# HELP eddy_keys_released_total Keys whose state was freed when they went idle.
# TYPE eddy_keys_released_total counter
eddy_keys_released_total 3
# HELP eddy_watermark_ms Event-time watermark of each source partition (epoch ms); absent until the partition has one.
# TYPE eddy_watermark_ms gauge
eddy_watermark_ms{partition="0"} 1700000000000
eddy_watermark_ms{partition="2"} 1699999999000
# HELP eddy_watermark_lag_ms Processing time minus the partition's watermark (ms), as of its last update; absent until the partition has a watermark.
# TYPE eddy_watermark_lag_ms gauge
eddy_watermark_lag_ms{partition="0"} 250
eddy_watermark_lag_ms{partition="2"} 1250
# HELP eddy_keys Keys holding state (seen, and not released since).
# TYPE eddy_keys gauge
eddy_keys 77
# HELP eddy_state_bytes Approximate bytes of feature state.
# TYPE eddy_state_bytes gauge
eddy_state_bytes 12345
# HELP eddy_up 1 while the run is going on, 0 once it has ended.
# TYPE eddy_up gauge
eddy_up 1
# HELP eddy_batch_seconds Time a batch spends in the engine stage, in seconds.
# TYPE eddy_batch_seconds histogram
eddy_batch_seconds_bucket{le="0.00001"} 0
eddy_batch_seconds_bucket{le="0.000025"} 0
eddy_batch_seconds_bucket{le="0.00005"} 0
eddy_batch_seconds_bucket{le="0.0001"} 0
eddy_batch_seconds_bucket{le="0.00025"} 0
eddy_batch_seconds_bucket{le="0.0005"} 2
eddy_batch_seconds_bucket{le="0.001"} 2
eddy_batch_seconds_bucket{le="0.0025"} 2
eddy_batch_seconds_bucket{le="0.005"} 2
eddy_batch_seconds_bucket{le="0.01"} 2
eddy_batch_seconds_bucket{le="0.025"} 3
eddy_batch_seconds_bucket{le="0.05"} 3
eddy_batch_seconds_bucket{le="0.1"} 3
eddy_batch_seconds_bucket{le="0.25"} 3
eddy_batch_seconds_bucket{le="0.5"} 3
eddy_batch_seconds_bucket{le="1"} 3
eddy_batch_seconds_bucket{le="2.5"} 3
eddy_batch_seconds_bucket{le="5"} 3
eddy_batch_seconds_bucket{le="10"} 3
eddy_batch_seconds_bucket{le="+Inf"} 3
eddy_batch_seconds_sum 0.0208
eddy_batch_seconds_count 3
# HELP eddy_model_seconds Model latency per scoring call, in seconds.
# TYPE eddy_model_seconds histogram
eddy_model_seconds_bucket{le="0.00001"} 1
eddy_model_seconds_bucket{le="0.000025"} 1
eddy_model_seconds_bucket{le="0.00005"} 1
eddy_model_seconds_bucket{le="0.0001"} 1
eddy_model_seconds_bucket{le="0.00025"} 1
eddy_model_seconds_bucket{le="0.0005"} 1
eddy_model_seconds_bucket{le="0.001"} 1
eddy_model_seconds_bucket{le="0.0025"} 1
eddy_model_seconds_bucket{le="0.005"} 1
eddy_model_seconds_bucket{le="0.01"} 1
eddy_model_seconds_bucket{le="0.025"} 1
eddy_model_seconds_bucket{le="0.05"} 1
eddy_model_seconds_bucket{le="0.1"} 1
eddy_model_seconds_bucket{le="0.25"} 1
eddy_model_seconds_bucket{le="0.5"} 1
eddy_model_seconds_bucket{le="1"} 1
eddy_model_seconds_bucket{le="2.5"} 1
eddy_model_seconds_bucket{le="5"} 1
eddy_model_seconds_bucket{le="10"} 1
eddy_model_seconds_bucket{le="+Inf"} 1
eddy_model_seconds_sum 0.000003
eddy_model_seconds_count 1
"#;
        assert_eq!(text, expected);

        m.up().set(0);
        let s = m.snapshot();
        assert_eq!(s.up, 0);
        assert_eq!(s.late_events(LateOutcome::Late), 4);
        assert_eq!(s.unscored_total(), 11);
        assert_eq!(s.unscored(UnscoredReason::NullFeature), 11);
        assert_eq!(s.dead_letters_total(), 5);
    }
}

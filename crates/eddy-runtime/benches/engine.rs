//! Feature engine throughput on the example spec (`examples/fraud.toml`, read by this bench:
//! its five features, allowed lateness and watermark bound) over 100k keys, in memory.
//!
//! The spec's features: count over a 5-minute window sliding by 1 minute; mean of
//! purchases' `amount` over 1 hour sliding by 5 minutes; last 10 `page` values in a session
//! (gap 30 minutes); logins per minute (tumbling 1 minute); recency of the last purchase
//! (global window, fired every hour of event time, kept). `EDDY_BENCH_SPEC=PATH` measures
//! another spec's features instead (its `[source.fields]` must declare `event_type`,
//! `amount` and `page` as this generator makes them).
//!
//! Events are generated before timing: keys uniform over 100k, event time advancing 1 ms
//! per event with up to 200 ms of disorder (the watermark, the spec's bound behind the
//! latest event, is advanced every 256 events), 20% logins, 10% purchases. Each measured run
//! processes 2M events on an engine warmed over at least 65 minutes of event time (longer
//! than the longest window, so every key's state is at its steady size), including all
//! window-close rows.
//! Run: `cargo bench -p eddy-runtime --bench engine`. Before the criterion run one pass is
//! timed by hand and printed with wall and CPU-time throughput, state bytes per key and
//! window rows per event. Knobs: `EDDY_BENCH_KEYS` (default 100000), `EDDY_BENCH_STEP_US`
//! (event-time step per event, default 1000), `EDDY_BENCH_QUICK=1` (only that pass),
//! `EDDY_BENCH_EVENTS` (events per pass, default 2M), `EDDY_BENCH_WARM_MS` (least event time
//! of the warm-up, default 65 minutes; `0` warms up with as many events as a pass, quicker
//! under valgrind but short of the steady state), `EDDY_BENCH_ONLY` (comma-separated indexes
//! of the features to keep, from `0`: the cost of each alone), `EDDY_BENCH_T0_MS` (event
//! time of the first event, default 2025-11-24 in epoch milliseconds), `EDDY_BENCH_STORE=1`
//! (keep the online store, as `eddy run --serve-features` does; by default it is not kept,
//! as in a run without that flag).
//!
//! Like `eddy`, the bench re-executes itself to run on transparent huge pages where the
//! kernel gives them on request (`eddy_runtime::huge_pages`); `EDDY_HUGE_PAGES=0`
//! measures without, and is needed under callgrind (the re-executed program would run
//! outside valgrind): `EDDY_HUGE_PAGES=0 EDDY_BENCH_QUICK=1 EDDY_BENCH_EVENTS=300000
//! valgrind --tool=callgrind --toggle-collect='*timed_pass*' target/release/deps/engine-*
//! --bench`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, BatchSize, Criterion, Throughput};
use eddy_core::engine::FeatureEngine;
use eddy_core::rng::Rng;
use eddy_core::row::FeatureRow;
use eddy_core::{Event, FieldId, Interner, KeyId, Schema, Value};
use eddy_runtime::{huge_pages, PipelineSpec};

/// Knob `name` of the environment, or `default` when unset or unreadable.
fn knob<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}
/// Event time the warm-up covers at least: the longest window (1 hour) and a margin.
const WARM_MS: i64 = 65 * 60_000;
/// Event time of the first event: an epoch-millisecond date, as real streams have (window
/// arithmetic then divides 64-bit numbers, as it would in production).
const T0_MS: i64 = 1_763_942_400_000;

/// The example spec, or `EDDY_BENCH_SPEC`'s.
fn spec() -> PipelineSpec {
    let text = match std::env::var("EDDY_BENCH_SPEC") {
        Ok(path) => std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")),
        Err(_) => include_str!("../../../examples/fraud.toml").to_owned(),
    };
    PipelineSpec::parse(&text).unwrap_or_else(|e| panic!("bench spec: {e}"))
}

/// The generated fields, in the schema's order (fields it declares but this generator does
/// not make stay `Null`).
struct Fields {
    len: usize,
    event_type: FieldId,
    amount: FieldId,
    page: FieldId,
}

impl Fields {
    fn of(schema: &Schema) -> Fields {
        let id = |name: &str| {
            schema
                .field_id(name)
                .unwrap_or_else(|| panic!("the bench spec declares no field `{name}`"))
        };
        Fields {
            len: schema.len(),
            event_type: id("event_type"),
            amount: id("amount"),
            page: id("page"),
        }
    }
}

fn generate(
    n: usize,
    t0: i64,
    step_us: i64,
    fields: &Fields,
    rng: &mut Rng,
    it: &mut Interner,
) -> Vec<Event> {
    let kinds = [it.intern("view"), it.intern("login"), it.intern("purchase")];
    let pages: Vec<_> = (0..20).map(|i| it.intern(&format!("/page/{i}"))).collect();
    let nkeys = u64::from(knob::<u32>("EDDY_BENCH_KEYS", 100_000));
    (0..n)
        .map(|i| {
            let r = rng.next_f64();
            let kind = if r < 0.7 {
                kinds[0]
            } else if r < 0.9 {
                kinds[1]
            } else {
                kinds[2]
            };
            let key = KeyId(rng.below(nkeys) as u32);
            let ts = t0 + (i as i64 * step_us) / 1000 - rng.below(200) as i64;
            let mut values = vec![Value::Null; fields.len];
            values[fields.event_type] = Value::Str(kind);
            values[fields.amount] = Value::Float((rng.normal() * 0.8 + 3.0).exp());
            values[fields.page] = Value::Str(pages[rng.below(20) as usize]);
            Event {
                key,
                ts,
                fields: values,
            }
        })
        .collect()
}

fn run(eng: &mut FeatureEngine, events: &[Event], ooo: i64) -> usize {
    let mut row = FeatureRow::default();
    let mut closed = Vec::new();
    let mut max_ts = i64::MIN;
    let mut rows = 0;
    for (i, ev) in events.iter().enumerate() {
        eng.prefetch_upcoming(&events[i + 1..]);
        black_box(eng.process(ev, &mut row, &mut closed));
        max_ts = max_ts.max(ev.ts);
        if i % 256 == 255 {
            eng.advance_watermark(max_ts - ooo - 1, &mut closed);
            rows += closed.len();
            closed.clear();
        }
    }
    rows + closed.len()
}

/// The hand-timed pass, separate so that callgrind can count only it:
/// `valgrind --tool=callgrind --toggle-collect='*timed_pass*' ...`. (`run` is kept out of
/// it: if the two were the same code, the compiler could merge them, and the warm-up would
/// be counted too.)
#[inline(never)]
fn timed_pass(eng: &mut FeatureEngine, events: &[Event], ooo: i64) -> usize {
    black_box(run_not_inlined(eng, black_box(events), ooo)) + black_box(0)
}

#[inline(never)]
fn run_not_inlined(eng: &mut FeatureEngine, events: &[Event], ooo: i64) -> usize {
    run(eng, events, ooo)
}

/// CPU time of this thread in ns (Linux `schedstat`), to see past a busy shared machine.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn bench(c: &mut Criterion) {
    let spec = spec();
    let fields = Fields::of(&spec.schema);
    let mut it = spec.interner;
    let mut feats = spec.features;
    let ooo = spec.watermark.max_out_of_orderness;
    if let Ok(only) = std::env::var("EDDY_BENCH_ONLY") {
        let keep: Vec<usize> = only
            .split(',')
            .filter_map(|x| x.trim().parse().ok())
            .collect();
        let mut i = 0;
        feats.retain(|_| {
            i += 1;
            keep.contains(&(i - 1))
        });
    }
    let mut rng = Rng::new(7);
    let step_us: i64 = knob("EDDY_BENCH_STEP_US", 1000);
    let n_events: usize = knob("EDDY_BENCH_EVENTS", 2_000_000);
    // The warm-up covers more event time than the longest window (1 hour), so the timed pass
    // sees the steady state: every window's contents are at their full size.
    let warm_ms: i64 = knob("EDDY_BENCH_WARM_MS", WARM_MS);
    let n_warm = n_events.max((warm_ms * 1000 / step_us.max(1)) as usize);
    let t0: i64 = knob("EDDY_BENCH_T0_MS", T0_MS);
    let warm = generate(n_warm, t0, step_us, &fields, &mut rng, &mut it);
    let timed = generate(
        n_events,
        t0 + n_warm as i64 * step_us / 1000,
        step_us,
        &fields,
        &mut rng,
        &mut it,
    );
    let cfg = spec.engine;
    let store = std::env::var_os("EDDY_BENCH_STORE").is_some();
    let setup = || {
        let mut eng = FeatureEngine::new(feats.clone(), cfg).unwrap();
        if store {
            eng.keep_online_store();
        }
        run(&mut eng, &warm, ooo);
        eng
    };

    // one pass timed by hand, to report throughput, state size and output volume
    let mut eng = setup();
    let t = std::time::Instant::now();
    let cpu0 = thread_cpu_ns();
    let rows = timed_pass(&mut eng, &timed, ooo);
    let secs = t.elapsed().as_secs_f64();
    let cpu = (thread_cpu_ns() - cpu0) as f64 / 1e9;
    eprintln!(
        "engine: {:.0} events/s wall, {:.0} events per CPU-second (single pass), {} keys, {} bytes of state per key, {:.2} window rows per event, online store {}, huge pages {}",
        n_events as f64 / secs,
        n_events as f64 / cpu,
        eng.num_keys(),
        eng.state_bytes() / eng.num_keys().max(1),
        rows as f64 / n_events as f64,
        if store { "kept" } else { "not kept" },
        if huge_pages::in_effect() {
            format!("asked for ({})", huge_pages::TUNABLE)
        } else {
            "not asked for".into()
        }
    );
    drop(eng);
    if std::env::var_os("EDDY_BENCH_QUICK").is_some() {
        return;
    }

    let mut g = c.benchmark_group("engine");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(n_events as u64));
    g.bench_function("example_spec_100k_keys", |b| {
        b.iter_batched(
            setup,
            |mut eng| {
                run(&mut eng, &timed, ooo);
                eng
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    huge_pages::reexec_with_huge_pages();
    benches();
    Criterion::default().configure_from_args().final_summary();
}

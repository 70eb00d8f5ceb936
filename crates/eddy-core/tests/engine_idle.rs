//! Idle keys: a key whose windows have all closed and been dropped is released, its state
//! freed and its id handed to another key, and none of that shows in any output.
//!
//! Each stream is run twice: once releasing keys as a runtime does (ids of released keys
//! reused, as the decoder hands them out again), and once with a key ttl longer than the
//! stream, so that no key is ever released and ids are never reused. Every per-event row and
//! every window row (named by the key's string) must be the same.

use std::collections::HashMap;

use eddy_core::agg::{AggKind, FeatureValue};
use eddy_core::engine::{EngineConfig, FeatureEngine, LatePolicy, Outcome, WindowRow};
use eddy_core::feature::FeatureSpec;
use eddy_core::row::FeatureRow;
use eddy_core::watermark::{WatermarkConfig, WatermarkTracker};
use eddy_core::window::{Trigger, WindowSpec, MAX_WINDOW_MS};
use eddy_core::{Event, KeyId, Value};
use proptest::prelude::*;

/// Key strings to ids, as the runtime's decoder: released ids are handed out again.
#[derive(Default)]
struct Keys {
    ids: HashMap<u32, u32>,
    names: Vec<Option<u32>>,
    free: Vec<u32>,
    reuse: bool,
}

impl Keys {
    fn id(&mut self, name: u32) -> KeyId {
        if let Some(&id) = self.ids.get(&name) {
            return KeyId(id);
        }
        let id = match self.free.pop() {
            Some(id) if self.reuse => id,
            _ => {
                self.names.push(None);
                (self.names.len() - 1) as u32
            }
        };
        self.names[id as usize] = Some(name);
        self.ids.insert(name, id);
        KeyId(id)
    }

    fn name(&self, k: KeyId) -> u32 {
        self.names[k.0 as usize].expect("a row of a key that is held")
    }

    fn release(&mut self, k: KeyId) {
        if let Some(name) = self.names[k.0 as usize].take() {
            self.ids.remove(&name);
            self.free.push(k.0);
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Ev {
    key: u32,
    ts: i64,
    x: i64,
}

/// Keys in waves: each event's key is near a base that moves on, now and then an old key
/// comes back, and time sometimes jumps far enough for keys to go idle.
fn stream(n: usize) -> impl Strategy<Value = Vec<Ev>> {
    prop::collection::vec(
        (
            0u32..6,
            prop::bool::weighted(0.08),
            0u32..1000,
            -15i64..=12,
            prop::bool::weighted(0.05),
            0i64..5,
        ),
        1..n,
    )
    .prop_map(|raw| {
        let (mut max, mut base) = (1_000i64, 0u32);
        raw.into_iter()
            .enumerate()
            .map(|(i, (near, old, back, delta, jump, x))| {
                if i % 25 == 24 {
                    base += 6;
                }
                let key = if old && base > 0 {
                    back % base
                } else {
                    base + near
                };
                let ts = (max + delta + if jump { 150 } else { 0 }).max(0);
                max = max.max(ts);
                Ev { key, ts, x }
            })
            .collect()
    })
}

fn features(size: i64, slide: i64, gap: i64, ttl: i64) -> Vec<FeatureSpec> {
    let f = |name: &str, agg: AggKind, field: Option<usize>, window| FeatureSpec {
        name: name.into(),
        agg,
        field,
        window,
        filter: None,
    };
    let sliding = WindowSpec::Sliding {
        size,
        slide,
        offset: 0,
    };
    let tumbling = WindowSpec::Tumbling { size, offset: 0 };
    let session = WindowSpec::Session { gap };
    let global = |trigger| WindowSpec::Global {
        trigger,
        purge: false,
        ttl: Some(ttl),
    };
    vec![
        f("count_sl", AggKind::Count, None, sliding),
        f("mean_sl", AggKind::Mean, Some(0), sliding),
        f("sum_sl", AggKind::Sum, Some(0), sliding),
        f("last_sl", AggKind::LastN { n: 3 }, Some(0), sliding),
        f("count_tu", AggKind::Count, None, tumbling),
        f("mean_tu", AggKind::Mean, Some(0), tumbling),
        f(
            "distinct_tu",
            AggKind::DistinctCount { exact_limit: 2 },
            Some(0),
            tumbling,
        ),
        f("count_se", AggKind::Count, None, session),
        f("last_se", AggKind::LastN { n: 2 }, Some(0), session),
        f("sum_gl", AggKind::Sum, Some(0), global(Trigger::EveryEvent)),
        f(
            "rec_gl",
            AggKind::Recency,
            None,
            global(Trigger::EventTime(ttl / 2)),
        ),
    ]
}

/// What a run gave: each event's outcome and row, and the window rows (by key name, in
/// each watermark step's order made canonical), and how many keys it released.
type Run = (
    Vec<(Outcome, Vec<FeatureValue>)>,
    Vec<(u32, u16, i64, i64, String, bool)>,
    u64,
    usize,
);

fn run(
    events: &[Ev],
    feats: Vec<FeatureSpec>,
    cfg: EngineConfig,
    disorder: i64,
    reuse: bool,
) -> Run {
    let mut eng = FeatureEngine::new(feats, cfg).expect("valid features");
    let mut keys = Keys {
        reuse,
        ..Keys::default()
    };
    let mut wm = WatermarkTracker::new(
        WatermarkConfig {
            max_out_of_orderness: disorder,
            idle_timeout: None,
        },
        1,
    );
    let (mut row, mut closed) = (FeatureRow::default(), Vec::<WindowRow>::new());
    let (mut per_event, mut windows, mut released) = (Vec::new(), Vec::new(), Vec::new());
    let mut most_keys = 0;
    let mut drain = |closed: &mut Vec<WindowRow>, keys: &Keys| {
        let mut step: Vec<_> = (closed.drain(..))
            .map(|r| {
                (
                    keys.name(r.key),
                    r.feature,
                    r.start,
                    r.end,
                    format!("{:?}", r.value),
                    r.update,
                )
            })
            .collect();
        step.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
        windows.extend(step);
    };
    for e in events {
        let ev = Event {
            key: keys.id(e.key),
            ts: e.ts,
            fields: vec![Value::Int(e.x)],
        };
        let out = eng.process(&ev, &mut row, &mut closed);
        let values = if matches!(out, Outcome::Accepted | Outcome::LateUpdated) {
            row.values()
        } else {
            Vec::new()
        };
        per_event.push((out, values));
        let w = wm.observe(0, e.ts, 0);
        eng.advance_watermark(w, &mut closed);
        // rows name their key before its id can go to another
        drain(&mut closed, &keys);
        eng.take_released(&mut released);
        for k in released.drain(..) {
            keys.release(k);
        }
        most_keys = most_keys.max(eng.num_keys());
    }
    eng.finish(&mut closed);
    drain(&mut closed, &keys);
    (per_event, windows, eng.keys_released(), most_keys)
}

/// Many streams and settings; across them, keys must really have been released (a run that
/// released nothing would prove nothing).
#[test]
fn releasing_idle_keys_changes_no_output() {
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    use std::sync::atomic::{AtomicU64, Ordering};
    let released_total = AtomicU64::new(0);
    let cases_releasing = AtomicU64::new(0);
    let settings = (
        0i64..20,
        5i64..40,
        1i64..=3,
        3i64..30,
        0i64..25,
        20i64..80,
        any::<bool>(),
    );
    let mut runner = TestRunner::new(Config {
        cases: 64,
        ..Config::default()
    });
    let result = runner.run(
        &(stream(400), settings),
        |(events, (disorder, size, slide_frac, gap, lateness, ttl, discard))| {
            let slide = (size / slide_frac).max(1);
            let cfg = |key_ttl| EngineConfig {
                allowed_lateness: lateness,
                late_policy: if discard {
                    LatePolicy::Discard
                } else {
                    LatePolicy::Update
                },
                key_ttl,
            };
            let feats = || features(size, slide, gap, ttl);
            let (ev_a, win_a, released, most_a) = run(&events, feats(), cfg(0), disorder, true);
            let (ev_b, win_b, none, most_b) =
                run(&events, feats(), cfg(MAX_WINDOW_MS), disorder, false);
            let fail = |m: String| Err(TestCaseError::fail(m));
            if none != 0 {
                return fail(format!("{none} keys released with the long key ttl"));
            }
            for (i, (a, b)) in ev_a.iter().zip(&ev_b).enumerate() {
                if a != b {
                    return fail(format!("event {i} {:?}: {a:?} != {b:?}", events[i]));
                }
            }
            if win_a != win_b {
                let at = win_a.iter().zip(&win_b).position(|(a, b)| a != b);
                return fail(format!(
                    "window rows differ from row {at:?}: {} vs {} rows",
                    win_a.len(),
                    win_b.len()
                ));
            }
            if most_a > most_b {
                return fail(format!("held {most_a} keys at once, more than {most_b}"));
            }
            released_total.fetch_add(released, Ordering::Relaxed);
            cases_releasing.fetch_add(u64::from(released > 0), Ordering::Relaxed);
            Ok(())
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    // most streams outlast their keys' windows
    assert!(
        cases_releasing.load(Ordering::Relaxed) >= 32,
        "{cases_releasing:?} of 64 cases released keys"
    );
    assert!(released_total.load(Ordering::Relaxed) > 500);
}

/// Twelve phases of new keys, each 10 minutes of event time, over sliding, tumbling and
/// session features and a global window with a ttl: once the first phases' keys have gone
/// idle, the state and the keys held stop growing; without the ttl, the global window keeps
/// every key (by design) and the state grows with the keys ever seen.
#[test]
fn state_is_flat_across_phases_of_new_keys() {
    const MIN: i64 = 60_000;
    const PHASE_KEYS: u32 = 2_000;
    let feats = |ttl: Option<i64>| {
        let f = |name: &str, agg: AggKind, window| FeatureSpec {
            name: name.into(),
            agg,
            field: Some(0),
            window,
            filter: None,
        };
        vec![
            f(
                "n5m",
                AggKind::Count,
                WindowSpec::Sliding {
                    size: 5 * MIN,
                    slide: MIN,
                    offset: 0,
                },
            ),
            f(
                "mean1h",
                AggKind::Mean,
                WindowSpec::Sliding {
                    size: 10 * MIN,
                    slide: 2 * MIN,
                    offset: 0,
                },
            ),
            f(
                "last",
                AggKind::LastN { n: 10 },
                WindowSpec::Session { gap: 3 * MIN },
            ),
            f(
                "per_min",
                AggKind::Sum,
                WindowSpec::Tumbling {
                    size: MIN,
                    offset: 0,
                },
            ),
            f(
                "total",
                AggKind::Sum,
                WindowSpec::Global {
                    trigger: Trigger::EveryEvent,
                    purge: false,
                    ttl,
                },
            ),
        ]
    };
    let phases = |ttl| {
        let cfg = EngineConfig {
            allowed_lateness: 10_000,
            late_policy: LatePolicy::Update,
            key_ttl: 0,
        };
        let mut eng = FeatureEngine::new(feats(ttl), cfg).expect("valid features");
        let mut keys = Keys {
            reuse: true,
            ..Keys::default()
        };
        let (mut row, mut closed, mut released) = (FeatureRow::default(), Vec::new(), Vec::new());
        let mut after = Vec::new();
        for phase in 0..12u32 {
            // each key of the phase: 8 events over the phase's 10 minutes
            for i in 0..8 * PHASE_KEYS {
                let name = phase * PHASE_KEYS + i % PHASE_KEYS;
                let ts = phase as i64 * 10 * MIN + (i as i64 * 10 * MIN) / (8 * PHASE_KEYS) as i64;
                let ev = Event {
                    key: keys.id(name),
                    ts,
                    fields: vec![Value::Int(i as i64 % 7)],
                };
                eng.process(&ev, &mut row, &mut closed);
                eng.advance_watermark(ts - 5_000, &mut closed);
                closed.clear();
                eng.take_released(&mut released);
                for k in released.drain(..) {
                    keys.release(k);
                }
            }
            after.push((eng.state_bytes(), eng.num_keys()));
        }
        after
    };
    let with_ttl = phases(Some(15 * MIN));
    let (peak_bytes, peak_keys) = (
        with_ttl.iter().map(|a| a.0).max().unwrap_or(0),
        with_ttl.iter().map(|a| a.1).max().unwrap_or(0),
    );
    // a phase's keys stay until their windows and the ttl are behind the watermark: at most
    // three phases' worth are ever held
    assert!(peak_keys <= 3 * PHASE_KEYS as usize, "{with_ttl:?}");
    let (last_bytes, last_keys) = with_ttl[11];
    assert!(last_keys <= 2 * PHASE_KEYS as usize, "{with_ttl:?}");
    // flat: the last phases hold no more than the third did (the state of the first
    // phases' keys was freed and their ids reused)
    let third = with_ttl[2].0;
    for (p, &(bytes, _)) in with_ttl.iter().enumerate().skip(3) {
        assert!(
            bytes <= third + third / 10,
            "phase {p}: {bytes} bytes > {third} after phase 3: {with_ttl:?}"
        );
    }
    assert!(last_bytes <= peak_bytes);
    // the global window without a ttl keeps every key: the state grows with the phases
    let no_ttl = phases(None);
    assert_eq!(no_ttl[11].1, 12 * PHASE_KEYS as usize);
    assert!(no_ttl[11].0 > 3 * no_ttl[2].0, "{no_ttl:?}");
}

/// The end of the input in pieces: each piece about the budget, and all of them together the
/// rows one finish gives (the same rows, in firing-time order per key and feature).
#[test]
fn the_end_of_the_input_fires_in_pieces() {
    let feats = || {
        let f = |name: &str, agg: AggKind, window| FeatureSpec {
            name: name.into(),
            agg,
            field: Some(0),
            window,
            filter: None,
        };
        vec![
            f(
                "c",
                AggKind::Count,
                WindowSpec::Sliding {
                    size: 1_000,
                    slide: 1,
                    offset: 0,
                },
            ),
            f(
                "s",
                AggKind::Sum,
                WindowSpec::Sliding {
                    size: 500,
                    slide: 7,
                    offset: 0,
                },
            ),
            f(
                "l",
                AggKind::LastN { n: 2 },
                WindowSpec::Session { gap: 300 },
            ),
            f(
                "t",
                AggKind::Mean,
                WindowSpec::Tumbling {
                    size: 50,
                    offset: 0,
                },
            ),
        ]
    };
    let cfg = EngineConfig {
        allowed_lateness: 20,
        late_policy: LatePolicy::Update,
        key_ttl: 0,
    };
    let run = |budget: Option<usize>| {
        let mut eng = FeatureEngine::new(feats(), cfg).expect("valid features");
        let (mut row, mut closed) = (FeatureRow::default(), Vec::new());
        for i in 0..400i64 {
            let ev = Event {
                key: KeyId((i % 13) as u32),
                ts: 1_000 + i * 3,
                fields: vec![Value::Int(i % 5)],
            };
            eng.process(&ev, &mut row, &mut closed);
        }
        let mut pieces = Vec::new();
        match budget {
            None => {
                eng.finish(&mut closed);
                pieces.push(closed);
            }
            Some(b) => loop {
                let mut piece = Vec::new();
                let done = eng.finish_some(&mut piece, b);
                pieces.push(piece);
                if done {
                    break;
                }
            },
        }
        pieces
    };
    let whole = run(None).concat();
    let pieces = run(Some(1_000));
    assert!(pieces.len() > 20, "{} pieces", pieces.len());
    // a piece stops at the first firing time that reaches the budget: one time's rows more
    assert!(
        pieces.iter().all(|p| p.len() < 1_000 + 13 * 4 * 1_000),
        "{:?}",
        pieces.iter().map(Vec::len).collect::<Vec<_>>()
    );
    let per_key_feature = |rows: &[WindowRow]| {
        let mut m: std::collections::BTreeMap<(u32, u16), Vec<String>> = Default::default();
        for r in rows {
            m.entry((r.key.0, r.feature))
                .or_default()
                .push(format!("{} {} {:?} {}", r.start, r.end, r.value, r.update));
        }
        m
    };
    assert_eq!(per_key_feature(&pieces.concat()), per_key_feature(&whole));
    assert!(whole.len() > 20_000, "{} rows", whole.len());
}

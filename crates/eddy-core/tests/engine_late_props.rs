//! Late events against an independent brute force. The streams fall behind the watermark:
//! some events within the allowed lateness, some beyond it, under both late policies, for
//! tumbling, sliding and session windows at once. Every outcome, every per-event value and
//! every window row (its value and `update` flag, in firing order per key and feature) is
//! compared with a model that applies the rules of `docs/semantics.md` by scanning the
//! events it kept. The run also counts the late paths it reached and fails if the streams
//! drawn never reach one of them (so it cannot pass by never producing a late event).

use std::cell::RefCell;
use std::collections::BTreeMap;

use eddy_core::agg::{AggKind, FeatureValue, RateUnit};
use eddy_core::engine::{EngineConfig, FeatureEngine, LatePolicy, Outcome, WindowRow};
use eddy_core::feature::FeatureSpec;
use eddy_core::filter::Filter;
use eddy_core::row::FeatureRow;
use eddy_core::watermark::{WatermarkConfig, WatermarkTracker};
use eddy_core::window::WindowSpec;
use eddy_core::{Event, FieldType, Interner, KeyId, Schema, Value};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

#[derive(Debug, Clone, Copy)]
struct Ev {
    key: u32,
    ts: i64,
    amount: Option<f64>,
    is_a: bool,
    page: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Tumbling,
    Sliding,
    Session,
}

/// The aggregations checked, as the model computes them.
#[derive(Debug, Clone, Copy)]
enum Agg {
    Count,
    Sum,
    Mean,
    Max,
    Distinct,
    Recency,
    Last3,
    Rate,
}

/// The features: per window kind, ones the engine keeps in a pane ring (count, mean) and
/// ones it keeps per key, filtered (`event_type == 'a'`) or not.
const FEATS: [(Kind, Agg, bool); 16] = [
    (Kind::Tumbling, Agg::Count, false),
    (Kind::Tumbling, Agg::Mean, true),
    (Kind::Tumbling, Agg::Sum, false),
    (Kind::Tumbling, Agg::Recency, true),
    (Kind::Tumbling, Agg::Last3, false),
    (Kind::Sliding, Agg::Count, false),
    (Kind::Sliding, Agg::Mean, true),
    (Kind::Sliding, Agg::Max, false),
    (Kind::Sliding, Agg::Distinct, false),
    (Kind::Sliding, Agg::Recency, true),
    (Kind::Sliding, Agg::Last3, true),
    (Kind::Session, Agg::Count, false),
    (Kind::Session, Agg::Sum, true),
    (Kind::Session, Agg::Last3, false),
    (Kind::Session, Agg::Recency, true),
    (Kind::Session, Agg::Rate, false),
];

#[derive(Debug, Clone, Copy)]
struct Params {
    disorder: i64,
    lateness: i64,
    discard: bool,
    /// Keys are released as early as their windows allow (0) or a while later: releasing
    /// a key changes no output.
    key_ttl: i64,
    tumbling: (i64, i64),
    /// size, slide, offset
    sliding: (i64, i64, i64),
    gap: i64,
}

impl Params {
    /// `(size, slide, offset)` of an aligned kind.
    fn geometry(&self, kind: Kind) -> (i64, i64, i64) {
        match kind {
            Kind::Tumbling => (self.tumbling.0, self.tumbling.0, self.tumbling.1),
            _ => self.sliding,
        }
    }

    fn window(&self, kind: Kind) -> WindowSpec {
        match kind {
            Kind::Tumbling => WindowSpec::Tumbling {
                size: self.tumbling.0,
                offset: self.tumbling.1,
            },
            Kind::Sliding => WindowSpec::Sliding {
                size: self.sliding.0,
                slide: self.sliding.1,
                offset: self.sliding.2,
            },
            Kind::Session => WindowSpec::Session { gap: self.gap },
        }
    }
}

fn params() -> impl Strategy<Value = Params> {
    (
        (
            0i64..20,
            prop_oneof![Just(0i64), 1i64..40],
            any::<bool>(),
            prop_oneof![Just(0i64), 1i64..100],
        ),
        (1i64..40, -3i64..=3),
        (1i64..50, 1i64..=4, any::<bool>(), -3i64..=3),
        1i64..30,
    )
        .prop_map(
            |(
                (disorder, lateness, discard, key_ttl),
                (tsize, toff),
                (size, frac, odd, soff),
                gap,
            )| {
                let slide = ((size / frac) + i64::from(odd && size / frac < size)).max(1);
                Params {
                    disorder,
                    lateness,
                    discard,
                    key_ttl,
                    tumbling: (tsize, toff * tsize / 4),
                    sliding: (size, slide, soff * slide / 4),
                    gap,
                }
            },
        )
}

/// Events up to `behind` ms behind the latest so far: with `behind` beyond the
/// out-of-orderness, some fall behind the watermark, within the lateness or beyond it.
fn stream(behind: i64) -> impl Strategy<Value = Vec<Ev>> {
    prop::collection::vec(
        (
            0..3u32,
            -behind..=15i64,
            prop::option::weighted(0.9, -50i32..50),
            any::<bool>(),
            0..6i64,
        ),
        1..140,
    )
    .prop_map(|raw| {
        let mut max = 1_000i64;
        raw.into_iter()
            .map(|(key, delta, amount, is_a, page)| {
                let ts = (max + delta).max(0);
                max = max.max(ts);
                Ev {
                    key,
                    ts,
                    amount: amount.map(f64::from),
                    is_a,
                    page,
                }
            })
            .collect()
    })
}

fn case() -> impl Strategy<Value = (Params, Vec<Ev>)> {
    (params(), 0i64..60).prop_flat_map(|(p, extra)| (Just(p), stream(p.disorder + extra)))
}

/// The value of `agg` over `evs` (the window's events that pass the filter, by time, ties in
/// arrival order), as of `as_of`, for a window `len` ms long.
fn reference(agg: Agg, evs: &[&Ev], as_of: i64, len: i64) -> FeatureValue {
    let vals: Vec<f64> = evs.iter().filter_map(|e| e.amount).collect();
    match agg {
        Agg::Count => FeatureValue::Int(evs.len() as i64),
        Agg::Sum => FeatureValue::Num(vals.iter().sum()),
        Agg::Mean if vals.is_empty() => FeatureValue::Null,
        Agg::Mean => FeatureValue::Num(vals.iter().sum::<f64>() / vals.len() as f64),
        Agg::Max => vals
            .iter()
            .copied()
            .reduce(f64::max)
            .map_or(FeatureValue::Null, FeatureValue::Num),
        Agg::Distinct => {
            let pages: std::collections::BTreeSet<i64> = evs.iter().map(|e| e.page).collect();
            FeatureValue::Int(pages.len() as i64)
        }
        Agg::Recency => evs
            .iter()
            .filter(|e| e.ts <= as_of)
            .map(|e| e.ts)
            .max()
            .map_or(FeatureValue::Null, |t| FeatureValue::Int(as_of - t)),
        Agg::Last3 => {
            let last = evs.iter().rev().take(3).rev();
            FeatureValue::Seq(last.map(|e| Value::Int(e.page)).collect())
        }
        Agg::Rate => FeatureValue::Num(evs.len() as f64 * 60_000.0 / len as f64),
    }
}

/// A row as compared: window start and end, value, update.
type Row = (i64, i64, FeatureValue, bool);

#[derive(Debug)]
struct Session {
    start: i64,
    end: i64,
    /// Indices into the applied events.
    events: Vec<usize>,
    emitted: bool,
    pending: bool,
}

/// The late paths a run reached (summed over all cases).
#[derive(Debug, Default)]
struct Reached {
    late: u64,
    late_updated: u64,
    late_discarded: u64,
    /// Update rows per kind (tumbling, sliding, session).
    updates: [u64; 3],
    /// Windows whose first row came from a late event (it created them behind the
    /// watermark), per aligned kind.
    created_late: [u64; 2],
    /// Late events that joined two sessions into one.
    bridged: u64,
}

/// The brute force: the events it applied and the windows' firing state, nothing else.
struct Model {
    p: Params,
    wm: i64,
    max_ts: i64,
    applied: Vec<Ev>,
    /// Aligned windows that exist (an applied event of the key is in them): fired yet?
    aligned: BTreeMap<(Kind, u32, i64), bool>,
    sessions: BTreeMap<u32, Vec<Session>>,
    rows: BTreeMap<(u32, usize), Vec<Row>>,
}

impl Model {
    fn new(p: Params) -> Self {
        Model {
            p,
            wm: i64::MIN,
            max_ts: i64::MIN,
            applied: Vec::new(),
            aligned: BTreeMap::new(),
            sessions: BTreeMap::new(),
            rows: BTreeMap::new(),
        }
    }

    /// The starts of the aligned windows of `kind` holding `ts`, ascending.
    fn starts(&self, kind: Kind, ts: i64) -> Vec<i64> {
        let (size, slide, offset) = self.p.geometry(kind);
        let mut s = ts - (ts - offset).rem_euclid(slide);
        let mut out = Vec::new();
        while s + size > ts {
            out.push(s);
            s -= slide;
        }
        out.reverse();
        out
    }

    /// The applied events of `key` that pass feature `f`'s filter and `keep`, by time (ties in
    /// arrival order).
    fn matching(&self, key: u32, f: usize, keep: impl Fn(usize, &Ev) -> bool) -> Vec<&Ev> {
        let mut evs: Vec<&Ev> = (self.applied.iter().enumerate())
            .filter(|(i, e)| e.key == key && (!FEATS[f].2 || e.is_a) && keep(*i, e))
            .map(|(_, e)| e)
            .collect();
        evs.sort_by_key(|e| e.ts); // stable
        evs
    }

    fn emit_aligned(&mut self, kind: Kind, key: u32, start: i64, update: bool) {
        let size = self.p.geometry(kind).0;
        let end = start + size;
        for (f, &(k, agg, _)) in FEATS.iter().enumerate() {
            if k == kind {
                let evs = self.matching(key, f, |_, e| e.ts >= start && e.ts < end);
                let v = reference(agg, &evs, end, size);
                self.rows
                    .entry((key, f))
                    .or_default()
                    .push((start, end, v, update));
            }
        }
    }

    fn emit_session(&mut self, key: u32, at: usize) {
        let s = &self.sessions[&key][at];
        let (start, end, update) = (s.start, s.end, s.emitted);
        let members = s.events.clone();
        for (f, &(k, agg, _)) in FEATS.iter().enumerate() {
            if k == Kind::Session {
                let evs = self.matching(key, f, |i, _| members.contains(&i));
                let v = reference(agg, &evs, end, end - start);
                self.rows
                    .entry((key, f))
                    .or_default()
                    .push((start, end, v, update));
            }
        }
        if let Some(s) = self.sessions.get_mut(&key).and_then(|v| v.get_mut(at)) {
            s.emitted = true;
            s.pending = false;
        }
    }

    /// One event: what the engine must say about it and, when applied, its per-event values.
    fn event(&mut self, e: &Ev, reached: &mut Reached) -> (Outcome, Option<Vec<FeatureValue>>) {
        let (wm, lat) = (self.wm, self.p.lateness);
        let outcome = if i128::from(e.ts) + i128::from(lat) <= i128::from(wm) {
            reached.late += 1;
            Outcome::Late
        } else if e.ts <= wm && self.p.discard {
            reached.late_discarded += 1;
            Outcome::LateDiscarded
        } else if e.ts <= wm {
            reached.late_updated += 1;
            Outcome::LateUpdated
        } else {
            Outcome::Accepted
        };
        let mut values = None;
        if matches!(outcome, Outcome::Accepted | Outcome::LateUpdated) {
            let me = self.applied.len();
            self.applied.push(*e);
            // aligned windows: created by any event of the key; one already due fires now
            for kind in [Kind::Tumbling, Kind::Sliding] {
                let size = self.p.geometry(kind).0;
                for start in self.starts(kind, e.ts) {
                    let fired = self.aligned.entry((kind, e.key, start)).or_insert(false);
                    if start + size - 1 <= wm {
                        let update = *fired;
                        *fired = true;
                        if update {
                            reached.updates[kind as usize] += 1;
                        } else {
                            reached.created_late[kind as usize] += 1;
                        }
                        self.emit_aligned(kind, e.key, start, update);
                    }
                }
            }
            // sessions: [ts, ts + gap) joins every live session it overlaps or touches
            let gap = self.p.gap;
            let list = self.sessions.entry(e.key).or_default();
            let (joined, mut rest): (Vec<Session>, Vec<Session>) = std::mem::take(list)
                .into_iter()
                .partition(|s| s.start <= e.ts + gap && s.end >= e.ts);
            if joined.len() > 1 && outcome == Outcome::LateUpdated {
                reached.bridged += 1;
            }
            let mut s = Session {
                start: e.ts,
                end: e.ts + gap,
                events: vec![me],
                emitted: false,
                pending: true,
            };
            for j in joined {
                s.start = s.start.min(j.start);
                s.end = s.end.max(j.end);
                s.events.extend(j.events);
                s.emitted |= j.emitted;
            }
            let (start, end) = (s.start, s.end);
            let members = s.events.clone();
            rest.push(s);
            rest.sort_by_key(|s| s.start);
            let at = rest.iter().position(|s| s.start == start).unwrap_or(0);
            *list = rest;
            if end - 1 <= wm {
                if self.sessions[&e.key][at].emitted {
                    reached.updates[Kind::Session as usize] += 1;
                }
                self.emit_session(e.key, at);
            }
            // the per-event values, the event included
            let vals = FEATS
                .iter()
                .enumerate()
                .map(|(f, &(kind, agg, _))| match kind {
                    Kind::Tumbling => {
                        let (size, _, _) = self.p.geometry(kind);
                        let start = self.starts(kind, e.ts)[0];
                        let evs =
                            self.matching(e.key, f, |_, x| x.ts >= start && x.ts < start + size);
                        reference(agg, &evs, e.ts, size)
                    }
                    Kind::Sliding => {
                        let size = self.p.sliding.0;
                        let evs =
                            self.matching(e.key, f, |_, x| x.ts > e.ts - size && x.ts <= e.ts);
                        reference(agg, &evs, e.ts, size)
                    }
                    Kind::Session => {
                        let evs = self.matching(e.key, f, |i, _| members.contains(&i));
                        reference(agg, &evs, e.ts, end - start)
                    }
                });
            values = Some(vals.collect());
        }
        self.max_ts = self.max_ts.max(e.ts);
        let next = self.max_ts - self.p.disorder - 1;
        if next > self.wm {
            self.advance(next, reached);
        }
        (outcome, values)
    }

    /// The watermark moves to `wm`: every window that exists and is due fires (a session
    /// again if it changed since it fired), then sessions past the lateness are dropped.
    fn advance(&mut self, wm: i64, reached: &mut Reached) {
        self.wm = wm;
        let due: Vec<(Kind, u32, i64)> = (self.aligned.iter())
            .filter(|&(&(kind, _, start), &fired)| {
                !fired && (start + self.p.geometry(kind).0 - 1) <= wm
            })
            .map(|(k, _)| *k)
            .collect();
        for (kind, key, start) in due {
            self.aligned.insert((kind, key, start), true);
            self.emit_aligned(kind, key, start, false);
        }
        let keys: Vec<u32> = self.sessions.keys().copied().collect();
        for key in keys {
            for at in 0..self.sessions[&key].len() {
                let s = &self.sessions[&key][at];
                if s.pending && s.end - 1 <= wm {
                    if s.emitted {
                        reached.updates[Kind::Session as usize] += 1;
                    }
                    self.emit_session(key, at);
                }
            }
            let lat = self.p.lateness;
            if let Some(list) = self.sessions.get_mut(&key) {
                list.retain(|s| (s.end - 1).saturating_add(lat) > wm);
            }
        }
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * (1.0 + a.abs().max(b.abs()))
}

fn same_value(a: &FeatureValue, b: &FeatureValue) -> bool {
    match (a, b) {
        (FeatureValue::Num(x), FeatureValue::Num(y)) => close(*x, *y),
        _ => a == b,
    }
}

fn same_rows(a: &[Row], b: &[Row]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x.0, x.1, x.3) == (y.0, y.1, y.3) && same_value(&x.2, &y.2))
}

fn collect(rows: &mut Vec<WindowRow>, into: &mut BTreeMap<(u32, usize), Vec<Row>>) {
    for r in rows.drain(..) {
        (into.entry((r.key.0, usize::from(r.feature))).or_default())
            .push((r.start, r.end, r.value, r.update));
    }
}

fn check(p: Params, events: &[Ev], reached: &mut Reached) -> Result<(), TestCaseError> {
    let mut schema = Schema::new();
    schema.add("amount", FieldType::Float);
    schema.add("event_type", FieldType::String);
    schema.add("page", FieldType::Int);
    let mut it = Interner::new();
    let fa = Filter::parse("event_type == 'a'", &schema, &mut it).unwrap();
    let feats = FEATS
        .iter()
        .enumerate()
        .map(|(i, &(kind, agg, filtered))| {
            let (agg, field) = match agg {
                Agg::Count => (AggKind::Count, None),
                Agg::Sum => (AggKind::Sum, Some(0)),
                Agg::Mean => (AggKind::Mean, Some(0)),
                Agg::Max => (AggKind::Max, Some(0)),
                Agg::Distinct => (AggKind::DistinctCount { exact_limit: 10 }, Some(2)),
                Agg::Recency => (AggKind::Recency, None),
                Agg::Last3 => (AggKind::LastN { n: 3 }, Some(2)),
                Agg::Rate => (
                    AggKind::Rate {
                        unit: RateUnit::Minute,
                    },
                    None,
                ),
            };
            FeatureSpec {
                name: format!("f{i}"),
                agg,
                field,
                window: p.window(kind),
                filter: filtered.then(|| fa.clone()),
            }
        })
        .collect();
    let config = EngineConfig {
        allowed_lateness: p.lateness,
        late_policy: if p.discard {
            LatePolicy::Discard
        } else {
            LatePolicy::Update
        },
        key_ttl: p.key_ttl,
    };
    let mut eng = FeatureEngine::new(feats, config).unwrap();
    let mut tracker = WatermarkTracker::new(
        WatermarkConfig {
            max_out_of_orderness: p.disorder,
            idle_timeout: None,
        },
        1,
    );
    let mut model = Model::new(p);
    let mut got: BTreeMap<(u32, usize), Vec<Row>> = BTreeMap::new();
    let (mut row, mut closed) = (FeatureRow::default(), Vec::new());
    for (n, e) in events.iter().enumerate() {
        let ev = Event {
            key: KeyId(e.key),
            ts: e.ts,
            fields: vec![
                e.amount.map_or(Value::Null, Value::Float),
                Value::Str(it.intern(if e.is_a { "a" } else { "b" })),
                Value::Int(e.page),
            ],
        };
        let outcome = eng.process(&ev, &mut row, &mut closed);
        let (want, values) = model.event(e, reached);
        prop_assert_eq!(outcome, want, "event {} {:?}", n, e);
        if let Some(values) = values {
            for (f, v) in values.iter().enumerate() {
                prop_assert!(
                    same_value(&row.value(f), v),
                    "event {} {:?}, feature {} {:?}: got {:?}, want {:?}",
                    n,
                    e,
                    f,
                    FEATS[f],
                    row.value(f),
                    v
                );
            }
        }
        let wm = tracker.observe(0, e.ts, 0);
        prop_assert_eq!(wm, model.wm, "the watermark after event {}", n);
        eng.advance_watermark(wm, &mut closed);
        collect(&mut closed, &mut got);
    }
    eng.finish(&mut closed);
    collect(&mut closed, &mut got);
    model.advance(i64::MAX, reached);
    let keys: std::collections::BTreeSet<&(u32, usize)> =
        got.keys().chain(model.rows.keys()).collect();
    for k in keys {
        let (g, w) = (got.get(k), model.rows.get(k));
        let (g, w) = (
            g.map_or(&[][..], Vec::as_slice),
            w.map_or(&[][..], Vec::as_slice),
        );
        prop_assert!(
            same_rows(g, w),
            "key {} feature {} {:?}:\n got  {:?}\n want {:?}",
            k.0,
            k.1,
            FEATS[k.1],
            g,
            w
        );
    }
    Ok(())
}

#[test]
fn late_events_follow_the_lateness_rules() {
    let mut runner = TestRunner::new(Config {
        cases: 256,
        source_file: Some(file!()),
        ..Config::default()
    });
    let reached = RefCell::new(Reached::default());
    let result = runner.run(&case(), |(p, events)| {
        check(p, &events, &mut reached.borrow_mut())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // the streams drawn reach every late path (a generator that never falls behind the
    // watermark would pass the comparisons above without testing lateness)
    let r = reached.into_inner();
    assert!(
        r.late > 0 && r.late_updated > 0 && r.late_discarded > 0,
        "{r:?}"
    );
    assert!(r.updates.iter().all(|&n| n > 0), "{r:?}");
    assert!(r.created_late.iter().all(|&n| n > 0), "{r:?}");
    assert!(r.bridged > 0, "{r:?}");
}

//! Property tests: the engine against an independent brute force, reordering invariance,
//! and exactly-once counting. Streams that fall behind the watermark (late events, late
//! updates, both late policies) are checked row by row in `engine_late_props.rs`.

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

fn schema() -> Schema {
    let mut s = Schema::new();
    s.add("amount", FieldType::Float); // 0
    s.add("event_type", FieldType::String); // 1
    s.add("page", FieldType::Int); // 2
    s
}

#[derive(Debug, Clone, Copy)]
struct Ev {
    key: u32,
    ts: i64,
    amount: Option<f64>,
    is_a: bool,
    page: i64,
}

fn to_event(e: &Ev, it: &mut Interner) -> Event {
    Event {
        key: KeyId(e.key),
        ts: e.ts,
        fields: vec![
            e.amount.map_or(Value::Null, Value::Float),
            Value::Str(it.intern(if e.is_a { "a" } else { "b" })),
            Value::Int(e.page),
        ],
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

/// Events whose timestamps never fall more than `disorder` behind the maximum so far.
fn disordered(n: usize, keys: u32, disorder: i64) -> impl Strategy<Value = Vec<Ev>> {
    prop::collection::vec(
        (
            0..keys,
            -disorder..=20i64,
            prop::option::weighted(0.9, -50i32..50),
            any::<bool>(),
            0..6i64,
        ),
        1..n,
    )
    .prop_map(move |raw| {
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    /// Per-event sliding values equal a brute-force scan of the events seen so far with
    /// ts in (t - size, t], under random disorder within the bound.
    #[test]
    fn per_event_sliding_equals_brute_force(
        (disorder, events) in (0i64..30).prop_flat_map(|d| (Just(d), disordered(160, 3, d))),
        size in 1i64..60,
        slide_frac in 1i64..=4,
        lateness in 0i64..20,
        filtered in any::<bool>(),
    ) {
        let slide = (size / slide_frac).max(1);
        let schema = schema();
        let mut it = Interner::new();
        let filter = filtered.then(|| Filter::parse("event_type == 'a'", &schema, &mut it).unwrap());
        let window = WindowSpec::Sliding { size, slide, offset: 0 };
        let kinds = [
            AggKind::Count, AggKind::Sum, AggKind::Mean, AggKind::Min, AggKind::Max, AggKind::Variance,
            AggKind::DistinctCount { exact_limit: 2 }, AggKind::LastN { n: 3 }, AggKind::Recency,
            AggKind::Rate { unit: RateUnit::Minute },
        ];
        let feats: Vec<FeatureSpec> = kinds.iter().enumerate().map(|(i, k)| FeatureSpec {
            name: format!("f{i}"),
            agg: *k,
            field: match k {
                AggKind::DistinctCount { .. } | AggKind::LastN { .. } => Some(2),
                k if k.needs_field() => Some(0),
                _ => None,
            },
            window,
            filter: filter.clone(),
        }).collect();
        let mut eng = FeatureEngine::new(feats, EngineConfig { allowed_lateness: lateness, late_policy: LatePolicy::Update , key_ttl: 0}).unwrap();
        let mut wm = WatermarkTracker::new(WatermarkConfig { max_out_of_orderness: disorder, idle_timeout: None }, 1);
        let (mut row, mut closed) = (FeatureRow::default(), Vec::new());
        let mut seen: Vec<Ev> = Vec::new();
        for e in &events {
            let out = eng.process(&to_event(e, &mut it), &mut row, &mut closed);
            prop_assert_eq!(out, Outcome::Accepted);
            seen.push(*e);
            // brute force
            let inwin: Vec<&Ev> = seen.iter().filter(|x| x.key == e.key && x.ts > e.ts - size && x.ts <= e.ts && (!filtered || x.is_a)).collect();
            let vals: Vec<f64> = inwin.iter().filter_map(|x| x.amount).collect();
            let n = vals.len() as f64;
            let sum: f64 = vals.iter().sum();
            let mean = sum / n;
            let var = vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
            let opt = |c: bool, v: f64| if c { FeatureValue::Num(v) } else { FeatureValue::Null };
            // pages (never null) in event-time order, ties in arrival order
            let mut by_ts: Vec<&&Ev> = inwin.iter().collect();
            by_ts.sort_by_key(|x| x.ts);
            let pages: std::collections::BTreeSet<i64> = inwin.iter().map(|x| x.page).collect();
            let last3: Vec<Value> = by_ts.iter().rev().take(3).rev().map(|x| Value::Int(x.page)).collect();
            let recency = by_ts.last().map_or(FeatureValue::Null, |x| FeatureValue::Int(e.ts - x.ts));
            let want = [
                FeatureValue::Int(inwin.len() as i64),
                FeatureValue::Num(sum),
                opt(!vals.is_empty(), mean),
                opt(!vals.is_empty(), vals.iter().cloned().fold(f64::INFINITY, f64::min)),
                opt(!vals.is_empty(), vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max)),
                opt(vals.len() > 1, var),
                FeatureValue::Int(pages.len() as i64),
                FeatureValue::Seq(last3),
                recency,
                FeatureValue::Num(inwin.len() as f64 * 60_000.0 / size as f64),
            ];
            for (i, w) in want.iter().enumerate() {
                prop_assert!(same_value(&row.value(i), w), "event {:?}: feature {:?} got {:?} want {:?}", e, kinds[i], row.value(i), w);
            }
            let w = wm.observe(0, e.ts, 0);
            eng.advance_watermark(w, &mut closed);
        }
    }

    /// Per-event session values (count, rate, last 3 pages) equal a brute force over the
    /// key's events so far: sessions are the runs of events, sorted by time, in which each
    /// starts at most `gap` after the latest before it (touching sessions merge); the
    /// event's session runs from its first event to its latest plus `gap`. Lateness is wide
    /// enough that no session is dropped, so late bridging events merge sessions.
    #[test]
    fn per_event_session_values_equal_brute_force(
        (disorder, events) in (0i64..40).prop_flat_map(|d| (Just(d), disordered(160, 3, d))),
        gap in 1i64..30,
        filtered in any::<bool>(),
    ) {
        let schema = schema();
        let mut it = Interner::new();
        let filter = filtered.then(|| Filter::parse("event_type == 'a'", &schema, &mut it).unwrap());
        let window = WindowSpec::Session { gap };
        let f = |name: &str, agg: AggKind, field: Option<usize>| FeatureSpec { name: name.into(), agg, field, window, filter: filter.clone() };
        let feats = vec![
            f("c", AggKind::Count, None),
            f("r", AggKind::Rate { unit: RateUnit::Minute }, None),
            f("l", AggKind::LastN { n: 3 }, Some(2)),
        ];
        let mut eng = FeatureEngine::new(feats, EngineConfig { allowed_lateness: 1_000_000, late_policy: LatePolicy::Update , key_ttl: 0}).unwrap();
        let mut wm = WatermarkTracker::new(WatermarkConfig { max_out_of_orderness: disorder, idle_timeout: None }, 1);
        let (mut row, mut closed) = (FeatureRow::default(), Vec::new());
        let mut seen: Vec<Ev> = Vec::new();
        for e in &events {
            let out = eng.process(&to_event(e, &mut it), &mut row, &mut closed);
            prop_assert!(matches!(out, Outcome::Accepted | Outcome::LateUpdated), "{:?}", out);
            seen.push(*e);
            // brute force: the key's events by time (stable: ties in arrival order), cut
            // into sessions, then the one holding this event's time
            let mut mine: Vec<&Ev> = seen.iter().filter(|x| x.key == e.key).collect();
            mine.sort_by_key(|x| x.ts);
            let mut session: Vec<&Ev> = Vec::new();
            let mut found = Vec::new();
            for x in mine {
                if session.last().is_some_and(|l| x.ts > l.ts + gap) {
                    if session.iter().any(|y| y.ts == e.ts) {
                        found = session.clone();
                    }
                    session.clear();
                }
                session.push(x);
            }
            if session.iter().any(|y| y.ts == e.ts) {
                found = session;
            }
            let (first, last) = (found[0].ts, found[found.len() - 1].ts);
            let matched: Vec<&&Ev> = found.iter().filter(|x| !filtered || x.is_a).collect();
            let last3: Vec<Value> = matched.iter().rev().take(3).rev().map(|x| Value::Int(x.page)).collect();
            let want = [
                FeatureValue::Int(matched.len() as i64),
                FeatureValue::Num(matched.len() as f64 * 60_000.0 / (last + gap - first) as f64),
                FeatureValue::Seq(last3),
            ];
            for (i, w) in want.iter().enumerate() {
                prop_assert!(same_value(&row.value(i), w), "event {:?}: feature {} got {:?} want {:?}", e, i, row.value(i), w);
            }
            let w = wm.observe(0, e.ts, 0);
            eng.advance_watermark(w, &mut closed);
        }
    }

    /// Sliding window-close rows equal a brute-force enumeration: one row (not an update) for
    /// every aligned window `[s, s + size)` holding at least one event of the key (the
    /// filter only selects what is aggregated), with the matching events' count, sum, mean
    /// and recency; for slides that divide the size and slides that do not, with offsets.
    #[test]
    fn sliding_window_rows_equal_brute_force(
        (disorder, events) in (0i64..30).prop_flat_map(|d| (Just(d), disordered(120, 3, d))),
        size in 1i64..50,
        slide_frac in 1i64..=4,
        odd_slide in any::<bool>(),
        offset_frac in -3i64..=3,
        lateness in 0i64..20,
    ) {
        let slide = ((size / slide_frac) + i64::from(odd_slide && size / slide_frac < size)).max(1);
        let offset = offset_frac * slide / 4;
        let schema = schema();
        let mut it = Interner::new();
        let fa = Filter::parse("event_type == 'a'", &schema, &mut it).unwrap();
        let window = WindowSpec::Sliding { size, slide, offset };
        let f = |name: &str, agg: AggKind, field: Option<usize>, filter: Option<Filter>| FeatureSpec { name: name.into(), agg, field, window, filter };
        let feats = vec![
            f("c", AggKind::Count, None, None),
            f("cf", AggKind::Count, None, Some(fa.clone())),
            f("m", AggKind::Mean, Some(0), Some(fa.clone())),
            f("s", AggKind::Sum, Some(0), None),
            f("r", AggKind::Recency, None, Some(fa)),
        ];
        let mut eng = FeatureEngine::new(feats, EngineConfig { allowed_lateness: lateness, late_policy: LatePolicy::Update , key_ttl: 0}).unwrap();
        let mut wm = WatermarkTracker::new(WatermarkConfig { max_out_of_orderness: disorder, idle_timeout: None }, 1);
        let (mut row, mut closed) = (FeatureRow::default(), Vec::new());
        for e in &events {
            let out = eng.process(&to_event(e, &mut it), &mut row, &mut closed);
            prop_assert_eq!(out, Outcome::Accepted);
            let w = wm.observe(0, e.ts, 0);
            eng.advance_watermark(w, &mut closed);
        }
        eng.finish(&mut closed);
        // brute force: windows per key, from every event's aligned windows
        let mut want: BTreeMap<(u32, usize, i64), FeatureValue> = BTreeMap::new();
        for key in 0..3u32 {
            let evs: Vec<&Ev> = events.iter().filter(|e| e.key == key).collect();
            let mut starts = std::collections::BTreeSet::new();
            for e in &evs {
                // every s = offset + k * slide with s <= ts < s + size
                let last = e.ts - (e.ts - offset).rem_euclid(slide);
                let mut s0 = last;
                while s0 + size > e.ts {
                    starts.insert(s0);
                    s0 -= slide;
                }
            }
            for &s0 in &starts {
                let end = s0 + size;
                let inw: Vec<&&Ev> = evs.iter().filter(|e| e.ts >= s0 && e.ts < end).collect();
                let fa: Vec<&&&Ev> = inw.iter().filter(|e| e.is_a).collect();
                let vals: Vec<f64> = fa.iter().filter_map(|e| e.amount).collect();
                let all_vals: Vec<f64> = inw.iter().filter_map(|e| e.amount).collect();
                want.insert((key, 0, s0), FeatureValue::Int(inw.len() as i64));
                want.insert((key, 1, s0), FeatureValue::Int(fa.len() as i64));
                want.insert((key, 2, s0), if vals.is_empty() { FeatureValue::Null } else { FeatureValue::Num(vals.iter().sum::<f64>() / vals.len() as f64) });
                want.insert((key, 3, s0), FeatureValue::Num(all_vals.iter().sum()));
                want.insert((key, 4, s0), match fa.iter().map(|e| e.ts).max() { Some(t) => FeatureValue::Int(end - t), None => FeatureValue::Null });
            }
        }
        prop_assert_eq!(closed.len(), want.len(), "rows {:?}", closed);
        for r in &closed {
            prop_assert!(!r.update, "{:?}", r);
            prop_assert_eq!(r.end - r.start, size);
            let w = want.get(&(r.key.0, usize::from(r.feature), r.start));
            prop_assert!(w.is_some_and(|w| same_value(&r.value, w)), "row {:?} want {:?}", r, w);
        }
    }

    /// Reordering the input within the out-of-orderness bound leaves the window-close rows
    /// unchanged (compared as sorted sets).
    ///
    /// Note the slack of one millisecond: the shuffle moves events by at most `disorder`
    /// while the watermark allows `disorder + 1`. With exactly `disorder`, an event at a
    /// session's `end` (which *touches* it) can legally arrive after the session fired, and
    /// then opens a new session instead of extending it — Flink behaves the same way.
    /// Tumbling and sliding windows need no slack; they are also checked with it.
    #[test]
    fn reordering_within_bound_leaves_window_rows_unchanged(
        base in prop::collection::vec((0u32..3, 1i64..15, -50i32..50, any::<bool>(), 0..6i64, 0u32..1000), 1..150),
        disorder in 0i64..25,
        lateness in 0i64..10,
        size in 2i64..40,
        slide_frac in 1i64..=3,
        offset_frac in -3i64..=3,
        gap in 1i64..20,
    ) {
        let slide = (size / slide_frac).max(1);
        let offset = offset_frac * size / 4;
        let mut ts = 0;
        let events: Vec<(Ev, i64)> = base.iter().map(|&(key, d, a, is_a, page, jit)| {
            ts += d;
            (Ev { key, ts, amount: Some(f64::from(a)), is_a, page }, i64::from(jit) % (disorder + 1))
        }).collect();
        let mut shuffled = events.clone();
        shuffled.sort_by_key(|(e, j)| (e.ts + j, e.ts));
        let run = |stream: &[(Ev, i64)], slack: i64| -> Vec<WindowRow> {
            let schema = schema();
            let mut it = Interner::new();
            let fa = Filter::parse("event_type == 'a'", &schema, &mut it).unwrap();
            let f = |name: &str, agg: AggKind, field: Option<usize>, window: WindowSpec, filter: Option<Filter>| FeatureSpec { name: name.into(), agg, field, window, filter };
            let feats = vec![
                f("tc", AggKind::Count, None, WindowSpec::Tumbling { size, offset }, None),
                f("ts", AggKind::Sum, Some(0), WindowSpec::Tumbling { size, offset }, Some(fa.clone())),
                f("sm", AggKind::Mean, Some(0), WindowSpec::Sliding { size, slide, offset: 0 }, None),
                f("sx", AggKind::Max, Some(0), WindowSpec::Sliding { size, slide, offset: 0 }, Some(fa.clone())),
                f("sd", AggKind::DistinctCount { exact_limit: 3 }, Some(2), WindowSpec::Sliding { size, slide, offset: 0 }, None),
                f("sc", AggKind::Count, None, WindowSpec::Session { gap }, None),
                f("sl", AggKind::LastN { n: 3 }, Some(2), WindowSpec::Session { gap }, None),
                f("tr", AggKind::Recency, None, WindowSpec::Tumbling { size, offset }, Some(fa)),
            ];
            let mut eng = FeatureEngine::new(feats, EngineConfig { allowed_lateness: lateness, late_policy: LatePolicy::Update , key_ttl: 0}).unwrap();
            let mut wm = WatermarkTracker::new(WatermarkConfig { max_out_of_orderness: disorder + slack, idle_timeout: None }, 1);
            let (mut row, mut closed) = (FeatureRow::default(), Vec::new());
            for (e, _) in stream {
                let out = eng.process(&to_event(e, &mut it), &mut row, &mut closed);
                assert_eq!(out, Outcome::Accepted);
                let w = wm.observe(0, e.ts, 0);
                eng.advance_watermark(w, &mut closed);
            }
            eng.finish(&mut closed);
            closed.sort_by_key(|a| (a.key, a.feature, a.start, a.end, a.update));
            closed
        };
        for slack in [1, 0] {
            let (a, b) = (run(&events, slack), run(&shuffled, slack));
            // slack 0: only the tumbling and sliding features are order-independent
            let keep = |r: &&WindowRow| slack == 1 || r.feature < 5 || r.feature == 7;
            let a: Vec<&WindowRow> = a.iter().filter(keep).collect();
            let b: Vec<&WindowRow> = b.iter().filter(keep).collect();
            prop_assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(b.iter()) {
                prop_assert!(
                    (x.key, x.feature, x.start, x.end, x.update) == (y.key, y.feature, y.start, y.end, y.update)
                        && same_value(&x.value, &y.value),
                    "{:?} != {:?}", x, y
                );
            }
        }
    }

    /// Every accepted event is counted exactly once in each tumbling feature (and in exactly
    /// size/slide sliding windows), with events beyond the bound, late updates and drops.
    #[test]
    fn accepted_events_counted_exactly_once(
        (disorder, events) in (0i64..20).prop_flat_map(|d| (Just(d), disordered(200, 4, d + 40))),
        lateness in 0i64..30,
        size in 1i64..50,
        offset_frac in -3i64..=3,
        slide_div in 1i64..=4,
    ) {
        let offset = offset_frac * size / 4;
        let slide = size;
        let sl_size = size * slide_div;
        let feats = vec![
            FeatureSpec { name: "a".into(), agg: AggKind::Count, field: None, window: WindowSpec::Tumbling { size, offset }, filter: None },
            FeatureSpec { name: "b".into(), agg: AggKind::Count, field: None, window: WindowSpec::Tumbling { size: size * 3 + 1, offset: 0 }, filter: None },
            FeatureSpec { name: "c".into(), agg: AggKind::Count, field: None, window: WindowSpec::Sliding { size: sl_size, slide, offset: 0 }, filter: None },
        ];
        let mut eng = FeatureEngine::new(feats, EngineConfig { allowed_lateness: lateness, late_policy: LatePolicy::Update , key_ttl: 0}).unwrap();
        let mut wm = WatermarkTracker::new(WatermarkConfig { max_out_of_orderness: disorder, idle_timeout: None }, 1);
        let mut it = Interner::new();
        let (mut row, mut closed) = (FeatureRow::default(), Vec::new());
        let mut accepted = 0i64;
        let mut late = 0i64;
        for e in &events {
            match eng.process(&to_event(e, &mut it), &mut row, &mut closed) {
                Outcome::Accepted | Outcome::LateUpdated => accepted += 1,
                Outcome::Late => late += 1,
                Outcome::LateDiscarded => prop_assert!(false, "policy is update"),
            }
            let w = wm.observe(0, e.ts, 0);
            eng.advance_watermark(w, &mut closed);
        }
        eng.finish(&mut closed);
        // the last row of each window is its final count
        let mut last: BTreeMap<(u32, usize, i64), i64> = BTreeMap::new();
        for r in &closed {
            let FeatureValue::Int(c) = r.value else { panic!("count is an int") };
            last.insert((r.key.0, usize::from(r.feature), r.start), c);
        }
        for f in 0..3 {
            let total: i64 = last.iter().filter(|(k, _)| k.1 == f).map(|(_, c)| c).sum();
            let want = if f == 2 { accepted * slide_div } else { accepted };
            prop_assert_eq!(total, want, "feature {} ({} accepted, {} late)", f, accepted, late);
        }
    }
}

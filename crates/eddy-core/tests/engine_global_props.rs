//! Property test: global windows with every-event and every-N triggers (per-event values and
//! fired rows, with and without purge, with disorder and late events) against a brute force
//! that keeps every matching timestamp.

use eddy_core::agg::{AggKind, FeatureValue};
use eddy_core::engine::{EngineConfig, FeatureEngine, LatePolicy, Outcome, WindowRow};
use eddy_core::feature::FeatureSpec;
use eddy_core::filter::Filter;
use eddy_core::row::FeatureRow;
use eddy_core::window::{Trigger, WindowSpec};
use eddy_core::{Event, FieldType, Interner, KeyId, Schema, Value};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    #[test]
    fn global_every_event_and_count_equal_brute_force(
        raw in prop::collection::vec((0u32..3, -40i64..=20, 0u8..3), 1..150),
        every in 0u64..4,
        purge in any::<bool>(),
        lateness in 0i64..30,
        lag in 0i64..25,
    ) {
        let mut schema = Schema::new();
        schema.add("event_type", FieldType::String);
        let mut it = Interner::new();
        let trigger = if every == 0 { Trigger::EveryEvent } else { Trigger::Count(every) };
        let window = WindowSpec::Global {
            trigger,
            purge,
            ttl: None,
        };
        let fa = Filter::parse("event_type == 'a'", &schema, &mut it).unwrap();
        let fnb = Filter::parse("event_type != 'b'", &schema, &mut it).unwrap();
        let feat = |name: &str, agg: AggKind, filter: Option<Filter>| FeatureSpec {
            name: name.into(), agg, field: None, window, filter,
        };
        // (filter as a test on the event type code: 0 = "a", 1 = "b", 2 = no field)
        type Test = fn(u8) -> bool;
        let specs: Vec<(FeatureSpec, bool, Test)> = vec![
            (feat("ra", AggKind::Recency, Some(fa.clone())), true, |c| c == 0),
            (feat("rnb", AggKind::Recency, Some(fnb)), true, |c| c != 1),
            (feat("r", AggKind::Recency, None), true, |_| true),
            (feat("ca", AggKind::Count, Some(fa)), false, |c| c == 0),
        ];
        let nf = specs.len();
        let mut eng = FeatureEngine::new(
            specs.iter().map(|s| s.0.clone()).collect(),
            EngineConfig { allowed_lateness: lateness, late_policy: LatePolicy::Update , key_ttl: 0},
        ).unwrap();
        // brute force per (key, feature): matching timestamps since the last purge, events
        // since the last firing
        let mut matches = vec![Vec::<i64>::new(); 3 * nf];
        let mut since = vec![0u64; 3 * nf];
        let (mut row, mut closed) = (FeatureRow::default(), Vec::new());
        let (mut max_ts, mut wm) = (1_000i64, i64::MIN);
        for (key, delta, code) in raw {
            let ts = (max_ts + delta).max(0);
            max_ts = max_ts.max(ts);
            let mut fields = Vec::new();
            if code < 2 {
                fields.push(Value::Str(it.intern(if code == 0 { "a" } else { "b" })));
            }
            let ev = Event { key: KeyId(key), ts, fields };
            let out = eng.process(&ev, &mut row, &mut closed);
            if ts.saturating_add(lateness) <= wm {
                prop_assert_eq!(out, Outcome::Late);
                prop_assert!(closed.is_empty());
            } else {
                let want_out = if ts <= wm { Outcome::LateUpdated } else { Outcome::Accepted };
                prop_assert_eq!(out, want_out);
                let mut want_rows = Vec::new();
                for (f, (_, recency, test)) in specs.iter().enumerate() {
                    let s = key as usize * nf + f;
                    if test(code) {
                        matches[s].push(ts);
                    }
                    since[s] += 1;
                    let want = if *recency {
                        matches[s].iter().filter(|&&m| m <= ts).max()
                            .map_or(FeatureValue::Null, |&m| FeatureValue::Int(ts - m))
                    } else {
                        FeatureValue::Int(matches[s].len() as i64)
                    };
                    prop_assert_eq!(&row.value(f), &want, "feature {} at {}", f, ts);
                    if every == 0 || since[s] >= every {
                        want_rows.push(WindowRow {
                            key: KeyId(key), feature: f as u16, start: i64::MIN, end: i64::MAX,
                            value: want, update: false,
                        });
                        since[s] = 0;
                        if purge {
                            matches[s].clear();
                        }
                    }
                }
                prop_assert_eq!(&closed, &want_rows);
            }
            closed.clear();
            let next = max_ts - lag;
            if next > wm {
                wm = next;
                eng.advance_watermark(wm, &mut closed);
                prop_assert!(closed.is_empty());
            }
        }
        eng.finish(&mut closed);
        prop_assert!(closed.is_empty(), "every-event and every-N windows do not fire at the end");
    }
}

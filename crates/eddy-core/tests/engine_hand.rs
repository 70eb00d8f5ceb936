//! Window kinds and aggregations against hand-computed expectations.

use eddy_core::agg::{AggKind, FeatureValue, RateUnit};
use eddy_core::engine::{EngineConfig, FeatureEngine, LatePolicy, Outcome, WindowRow};
use eddy_core::feature::FeatureSpec;
use eddy_core::filter::Filter;
use eddy_core::row::FeatureRow;
use eddy_core::watermark::{WatermarkConfig, WatermarkTracker};
use eddy_core::window::{Trigger, WindowSpec};
use eddy_core::{Event, FieldType, Interner, KeyId, Schema, Value};

const AMOUNT: usize = 0;
#[allow(dead_code)]
const ETYPE: usize = 1;
const PAGE: usize = 2;

struct H {
    schema: Schema,
    it: Interner,
    eng: FeatureEngine,
    /// The engine keeps the online store (checked against each applied event's row).
    store: bool,
    frow: FeatureRow,
    /// The last event's values.
    row: Vec<FeatureValue>,
    closed: Vec<WindowRow>,
}

fn schema() -> Schema {
    let mut s = Schema::new();
    s.add("amount", FieldType::Float);
    s.add("event_type", FieldType::String);
    s.add("page", FieldType::String);
    s
}

fn feat(name: &str, agg: AggKind, field: Option<usize>, window: WindowSpec) -> FeatureSpec {
    FeatureSpec {
        name: name.into(),
        agg,
        field,
        window,
        filter: None,
    }
}

fn tumbling(size: i64, offset: i64) -> WindowSpec {
    WindowSpec::Tumbling { size, offset }
}

fn sliding(size: i64, slide: i64) -> WindowSpec {
    WindowSpec::Sliding {
        size,
        slide,
        offset: 0,
    }
}

impl H {
    fn new(features: Vec<FeatureSpec>, lateness: i64, policy: LatePolicy) -> H {
        H::with(features, lateness, policy, |_, _, _| {})
    }

    /// The same harness with an engine that does not keep the online store (call it before
    /// any event).
    fn without_store(mut self) -> H {
        let features = self.eng.features().to_vec();
        self.eng = FeatureEngine::new(features, self.eng.config()).unwrap();
        self.store = false;
        self
    }

    fn with(
        mut features: Vec<FeatureSpec>,
        lateness: i64,
        policy: LatePolicy,
        filters: impl Fn(&mut FeatureSpec, &Schema, &mut Interner),
    ) -> H {
        let schema = schema();
        let mut it = Interner::new();
        for f in &mut features {
            filters(f, &schema, &mut it);
        }
        let mut eng = FeatureEngine::new(
            features,
            EngineConfig {
                allowed_lateness: lateness,
                late_policy: policy,
                key_ttl: 0,
            },
        )
        .unwrap();
        eng.keep_online_store();
        H {
            schema,
            it,
            eng,
            store: true,
            frow: FeatureRow::default(),
            row: Vec::new(),
            closed: Vec::new(),
        }
    }

    fn ev(&mut self, key: u32, ts: i64, amount: Option<f64>, etype: &str, page: &str) -> Outcome {
        let e = Event {
            key: KeyId(key),
            ts,
            fields: vec![
                amount.map_or(Value::Null, Value::Float),
                Value::Str(self.it.intern(etype)),
                Value::Str(self.it.intern(page)),
            ],
        };
        let out = self.eng.process(&e, &mut self.frow, &mut self.closed);
        self.row = self.frow.values();
        if self.store && matches!(out, Outcome::Accepted | Outcome::LateUpdated) {
            // the online store holds the key's latest per-event row (compared as text: a
            // NaN value equals itself there)
            let stored = format!("{:?}", self.eng.latest(KeyId(key)));
            assert_eq!(stored, format!("{:?}", Some(&self.row)));
        }
        out
    }

    /// Plain event with an amount; returns the per-event row.
    fn at(&mut self, ts: i64, amount: f64) -> Vec<FeatureValue> {
        let o = self.ev(0, ts, Some(amount), "x", "p");
        assert!(
            matches!(o, Outcome::Accepted | Outcome::LateUpdated),
            "{o:?}"
        );
        self.row.clone()
    }

    fn wm(&mut self, wm: i64) -> Vec<WindowRow> {
        self.eng.advance_watermark(wm, &mut self.closed);
        std::mem::take(&mut self.closed)
    }

    fn finish(&mut self) -> Vec<WindowRow> {
        self.eng.finish(&mut self.closed);
        std::mem::take(&mut self.closed)
    }
}

fn int(i: i64) -> FeatureValue {
    FeatureValue::Int(i)
}
fn num(x: f64) -> FeatureValue {
    FeatureValue::Num(x)
}

/// (feature, start, end, value, update) of rows, in order.
fn rows(r: &[WindowRow]) -> Vec<(usize, i64, i64, FeatureValue, bool)> {
    r.iter()
        .map(|w| {
            (
                usize::from(w.feature),
                w.start,
                w.end,
                w.value.clone(),
                w.update,
            )
        })
        .collect()
}

fn approx(v: &FeatureValue, want: f64) {
    match v {
        FeatureValue::Num(x) => assert!((x - want).abs() < 1e-9, "{x} != {want}"),
        other => panic!("expected {want}, got {other:?}"),
    }
}

#[test]
fn tumbling_count_event_exactly_at_window_end() {
    let mut h = H::new(
        vec![feat("c", AggKind::Count, None, tumbling(10, 0))],
        0,
        LatePolicy::Update,
    );
    assert_eq!(h.at(0, 1.0), vec![int(1)]);
    assert_eq!(h.at(5, 1.0), vec![int(2)]);
    assert_eq!(h.at(9, 1.0), vec![int(3)]);
    // 10 is the end of [0, 10): it opens [10, 20)
    assert_eq!(h.at(10, 1.0), vec![int(1)]);
    assert!(h.wm(8).is_empty());
    // fires when the watermark reaches end - 1 = 9
    assert_eq!(rows(&h.wm(9)), vec![(0, 0, 10, int(3), false)]);
    assert!(h.wm(18).is_empty());
    assert_eq!(rows(&h.wm(19)), vec![(0, 10, 20, int(1), false)]);
    assert!(h.finish().is_empty());
}

#[test]
fn tumbling_negative_and_positive_offsets() {
    let mut h = H::new(
        vec![
            feat("neg", AggKind::Count, None, tumbling(10, -3)),
            feat("pos", AggKind::Count, None, tumbling(10, 3)),
        ],
        0,
        LatePolicy::Update,
    );
    // offset -3: windows [-3, 7), [7, 17); offset +3: windows [3, 13)
    h.at(6, 1.0);
    h.at(7, 1.0);
    assert_eq!(h.row, vec![int(1), int(2)]);
    assert_eq!(rows(&h.wm(6)), vec![(0, -3, 7, int(1), false)]);
    let mut r = rows(&h.finish());
    r.sort_by_key(|x| (x.0, x.1));
    assert_eq!(
        r,
        vec![(0, 7, 17, int(1), false), (1, 3, 13, int(2), false)]
    );
}

#[test]
fn sliding_count_per_event_and_window_close() {
    let mut h = H::new(
        vec![feat("c", AggKind::Count, None, sliding(10, 5))],
        0,
        LatePolicy::Update,
    );
    // per event: events with ts in (t - 10, t]
    let want = [(0, 1), (3, 2), (9, 3), (10, 3), (13, 3), (19, 3), (20, 3)];
    for (t, c) in want {
        assert_eq!(h.at(t, 1.0), vec![int(c)], "t = {t}");
    }
    let mut r = rows(&h.finish());
    r.sort_by_key(|x| x.1);
    assert_eq!(
        r,
        vec![
            (0, -5, 5, int(2), false),
            (0, 0, 10, int(3), false),
            (0, 5, 15, int(3), false),
            (0, 10, 20, int(3), false),
            (0, 15, 25, int(2), false),
            (0, 20, 30, int(1), false),
        ]
    );
}

#[test]
fn sliding_windows_fire_in_order_as_watermark_advances() {
    let mut h = H::new(
        vec![feat("s", AggKind::Sum, Some(AMOUNT), sliding(10, 5))],
        0,
        LatePolicy::Update,
    );
    h.at(1, 1.0);
    h.at(6, 2.0);
    h.at(12, 4.0);
    assert_eq!(rows(&h.wm(4)), vec![(0, -5, 5, num(1.0), false)]);
    assert_eq!(rows(&h.wm(9)), vec![(0, 0, 10, num(3.0), false)]);
    assert_eq!(
        rows(&h.wm(100)),
        vec![(0, 5, 15, num(6.0), false), (0, 10, 20, num(4.0), false)]
    );
}

#[test]
fn sliding_numeric_aggregations_with_out_of_order_event() {
    let aggs = [
        AggKind::Mean,
        AggKind::Min,
        AggKind::Max,
        AggKind::Variance,
        AggKind::Stddev,
        AggKind::Sum,
    ];
    let feats = aggs
        .iter()
        .enumerate()
        .map(|(i, a)| feat(&format!("f{i}"), *a, Some(AMOUNT), sliding(10, 10)))
        .collect();
    let mut h = H::new(feats, 0, LatePolicy::Update);
    let check = |r: &[FeatureValue], mean: f64, min: f64, max: f64, var: Option<f64>, sum: f64| {
        approx(&r[0], mean);
        approx(&r[1], min);
        approx(&r[2], max);
        match var {
            Some(v) => {
                approx(&r[3], v);
                approx(&r[4], v.sqrt());
            }
            None => {
                assert_eq!(r[3], FeatureValue::Null);
                assert_eq!(r[4], FeatureValue::Null);
            }
        }
        approx(&r[5], sum);
    };
    // t=5: {1}
    check(&h.at(5, 1.0), 1.0, 1.0, 1.0, None, 1.0);
    // t=12: (2,12] = {1, 3}: mean 2, var 2
    check(&h.at(12, 3.0), 2.0, 1.0, 3.0, Some(2.0), 4.0);
    // out of order t=8: (-2, 8] = {1 @5, 10 @8}; 3 @12 is after 8: mean 5.5, var 40.5
    check(&h.at(8, 10.0), 5.5, 1.0, 10.0, Some(40.5), 11.0);
    // t=14: (4,14] = {1, 10, 3, 2}: mean 4, var ((9+36+1+4)/3) = 50/3
    check(&h.at(14, 2.0), 4.0, 1.0, 10.0, Some(50.0 / 3.0), 16.0);
    // t=16: (6,16] = {10, 3, 2, 4}: the 1 @5 leaves; mean 4.75
    let r = h.at(16, 4.0);
    let var = [10.0f64, 3.0, 2.0, 4.0]
        .iter()
        .map(|x| (x - 4.75) * (x - 4.75))
        .sum::<f64>()
        / 3.0;
    check(&r, 4.75, 2.0, 10.0, Some(var), 19.0);
    // t=30: (20,30] = {7}: the old ones left
    check(&h.at(30, 7.0), 7.0, 7.0, 7.0, None, 7.0);
}

#[test]
fn session_windows_touch_and_merge() {
    let mut h = H::new(
        vec![
            feat("c", AggKind::Count, None, WindowSpec::Session { gap: 10 }),
            feat(
                "r",
                AggKind::Rate {
                    unit: RateUnit::Second,
                },
                None,
                WindowSpec::Session { gap: 10 },
            ),
        ],
        0,
        LatePolicy::Update,
    );
    assert_eq!(h.at(0, 1.0)[0], int(1)); // [0, 10)
    assert_eq!(h.at(5, 1.0)[0], int(2)); // [0, 15)
    assert_eq!(h.at(25, 1.0)[0], int(1)); // [25, 35): 25 - 15 = gap, no touch
                                          // 15 opens [15, 25) which touches [0, 15) at 15 and [25, 35) at 25: all merge
    let r = h.at(15, 1.0);
    assert_eq!(r[0], int(4));
    // rate: 4 events over the 35 ms session, per second
    approx(&r[1], 4.0 * 1000.0 / 35.0);
    let mut out = rows(&h.finish());
    out.sort_by_key(|x| x.0);
    assert_eq!(out[0], (0, 0, 35, int(4), false));
    assert_eq!(out.len(), 2);
}

#[test]
fn sessions_that_do_not_touch_stay_apart() {
    let mut h = H::new(
        vec![feat(
            "c",
            AggKind::Count,
            None,
            WindowSpec::Session { gap: 10 },
        )],
        0,
        LatePolicy::Update,
    );
    h.at(0, 1.0); // [0, 10)
    h.at(11, 1.0); // [11, 21): 11 > 10, apart
    assert_eq!(rows(&h.wm(9)), vec![(0, 0, 10, int(1), false)]);
    assert_eq!(rows(&h.finish()), vec![(0, 11, 21, int(1), false)]);
}

#[test]
fn late_event_bridges_two_fired_sessions() {
    let mut h = H::new(
        vec![feat(
            "c",
            AggKind::Count,
            None,
            WindowSpec::Session { gap: 10 },
        )],
        100,
        LatePolicy::Update,
    );
    h.at(0, 1.0); // [0, 10)
    h.at(20, 1.0); // [20, 30)
    assert_eq!(
        rows(&h.wm(29)),
        vec![(0, 0, 10, int(1), false), (0, 20, 30, int(1), false)]
    );
    // late (10 <= 29) but within lateness: [10, 20) touches both → [0, 30), fired at once
    assert_eq!(h.ev(0, 10, Some(1.0), "x", "p"), Outcome::LateUpdated);
    assert_eq!(h.row, vec![int(3)]);
    assert_eq!(
        rows(&std::mem::take(&mut h.closed)),
        vec![(0, 0, 30, int(3), true)]
    );
    // state dropped at end - 1 + lateness = 129
    assert!(h.wm(129).is_empty());
    assert_eq!(h.ev(0, 29, Some(1.0), "x", "p"), Outcome::Late);
    assert!(h.finish().is_empty());
}

#[test]
fn session_extended_after_firing_refires_as_update() {
    let mut h = H::new(
        vec![feat(
            "c",
            AggKind::Count,
            None,
            WindowSpec::Session { gap: 10 },
        )],
        50,
        LatePolicy::Update,
    );
    h.at(0, 1.0);
    assert_eq!(rows(&h.wm(9)), vec![(0, 0, 10, int(1), false)]);
    // 10 > watermark: on time, but it touches the fired session [0, 10) still in lateness
    assert_eq!(h.ev(0, 10, Some(1.0), "x", "p"), Outcome::Accepted);
    assert_eq!(h.row, vec![int(2)]);
    assert_eq!(rows(&h.wm(19)), vec![(0, 0, 20, int(2), true)]);
}

#[test]
fn event_exactly_at_lateness_bound_is_late() {
    let f = || vec![feat("c", AggKind::Count, None, tumbling(10, 0))];
    let mut h = H::new(f(), 5, LatePolicy::Update);
    h.at(12, 1.0);
    assert_eq!(rows(&h.wm(20)), vec![(0, 10, 20, int(1), false)]);
    // 15 + 5 == 20: late, changes nothing
    assert_eq!(h.ev(0, 15, Some(1.0), "x", "p"), Outcome::Late);
    assert!(h.closed.is_empty());
    // 16 + 5 > 20: within lateness, updates [10, 20) and re-fires it
    assert_eq!(h.ev(0, 16, Some(1.0), "x", "p"), Outcome::LateUpdated);
    assert_eq!(h.row, vec![int(2)]);
    assert_eq!(
        rows(&std::mem::take(&mut h.closed)),
        vec![(0, 10, 20, int(2), true)]
    );
    // a late event into a window that never fired: first firing, not an update
    assert_eq!(h.ev(0, 20, Some(1.0), "x", "p"), Outcome::LateUpdated);
    assert!(h.closed.is_empty(), "window [20, 30) is not due yet");
    // dropped at 19 + 5 = 24
    assert!(h.wm(24).is_empty());
    assert_eq!(h.ev(0, 19, Some(1.0), "x", "p"), Outcome::Late);
    assert_eq!(rows(&h.finish()), vec![(0, 20, 30, int(1), false)]);

    // discard policy: counted and ignored
    let mut h = H::new(f(), 5, LatePolicy::Discard);
    h.at(12, 1.0);
    h.wm(20);
    assert_eq!(h.ev(0, 16, Some(1.0), "x", "p"), Outcome::LateDiscarded);
    assert!(h.closed.is_empty());
    assert_eq!(h.eng.latest(KeyId(0)).unwrap(), [int(1)]);
    assert!(h.finish().is_empty());
}

#[test]
fn late_event_updates_fired_sliding_windows() {
    let mut h = H::new(
        vec![feat("c", AggKind::Count, None, sliding(10, 5))],
        20,
        LatePolicy::Update,
    );
    h.at(7, 1.0); // windows [0,10), [5,15)
    let r = rows(&h.wm(14));
    assert_eq!(
        r,
        vec![(0, 0, 10, int(1), false), (0, 5, 15, int(1), false)]
    );
    // late 8: per-event (−2, 8] = {7, 8}; windows [0,10) and [5,15) fire again as updates
    assert_eq!(h.ev(0, 8, None, "x", "p"), Outcome::LateUpdated);
    assert_eq!(h.row, vec![int(2)]);
    assert_eq!(
        rows(&std::mem::take(&mut h.closed)),
        vec![(0, 0, 10, int(2), true), (0, 5, 15, int(2), true)]
    );
    // late 12: [5,15) is an update (had 7, 8), [10,20) is not due yet
    assert_eq!(h.ev(0, 12, None, "x", "p"), Outcome::LateUpdated);
    assert_eq!(
        rows(&std::mem::take(&mut h.closed)),
        vec![(0, 5, 15, int(3), true)]
    );
    assert_eq!(rows(&h.finish()), vec![(0, 10, 20, int(1), false)]);
}

#[test]
fn idle_source_does_not_hold_windows_back() {
    let mut h = H::new(
        vec![feat("c", AggKind::Count, None, tumbling(1000, 0))],
        0,
        LatePolicy::Update,
    );
    let mut wm = WatermarkTracker::new(
        WatermarkConfig {
            max_out_of_orderness: 100,
            idle_timeout: Some(5_000),
        },
        2,
    );
    // only partition 0 produces events
    for (i, ts) in [100, 500, 1200, 2500].into_iter().enumerate() {
        h.at(ts, 1.0);
        let w = wm.observe(0, ts, i as i64 * 1000);
        assert_eq!(w, i64::MIN, "partition 1 still holds the watermark back");
        assert!(h.wm(w).is_empty());
    }
    // processing time passes: partition 1 (silent since 0) is idle after 5000 ms
    let w = wm.on_processing_time(5_001);
    assert_eq!(w, 2_500 - 100 - 1);
    assert_eq!(
        rows(&h.wm(w)),
        vec![(0, 0, 1000, int(2), false), (0, 1000, 2000, int(1), false)]
    );
}

#[test]
fn global_windows_every_event_recency_with_filter() {
    let mut h = H::with(
        vec![feat(
            "since_purchase",
            AggKind::Recency,
            None,
            WindowSpec::Global {
                trigger: Trigger::EveryEvent,
                purge: false,
                ttl: None,
            },
        )],
        0,
        LatePolicy::Update,
        |f, s, it| f.filter = Some(Filter::parse("event_type == 'purchase'", s, it).unwrap()),
    );
    let mut per_event = Vec::new();
    for (t, et) in [
        (0, "login"),
        (10, "purchase"),
        (25, "login"),
        (40, "purchase"),
        (41, "view"),
    ] {
        h.ev(0, t, None, et, "p");
        per_event.push(h.row[0].clone());
    }
    let nul = FeatureValue::Null;
    assert_eq!(
        per_event,
        vec![nul.clone(), int(0), int(15), int(0), int(1)]
    );
    let r = rows(&std::mem::take(&mut h.closed));
    assert_eq!(r.len(), 5);
    assert!(r.iter().all(|x| x.1 == i64::MIN && x.2 == i64::MAX && !x.4));
    assert_eq!(r.iter().map(|x| x.3.clone()).collect::<Vec<_>>(), per_event);
    assert!(
        h.finish().is_empty(),
        "every-event triggers do not fire at the end"
    );
    let _ = &h.schema;
}

#[test]
fn global_windows_count_trigger_purge_and_event_time_trigger() {
    let g = |trigger, purge| WindowSpec::Global {
        trigger,
        purge,
        ttl: None,
    };
    let mut h = H::new(
        vec![
            feat("c2", AggKind::Count, None, g(Trigger::Count(2), true)),
            feat(
                "keep",
                AggKind::Sum,
                Some(AMOUNT),
                g(Trigger::EventTime(100), false),
            ),
            feat(
                "purge",
                AggKind::Sum,
                Some(AMOUNT),
                g(Trigger::EventTime(100), true),
            ),
        ],
        0,
        LatePolicy::Update,
    );
    let mut counts = Vec::new();
    let mut fired = Vec::new();
    for (t, a) in [(10, 1.0), (50, 2.0)] {
        counts.push(h.at(t, a)[0].clone());
        fired.extend(rows(&std::mem::take(&mut h.closed)));
    }
    assert_eq!(fired, vec![(0, i64::MIN, i64::MAX, int(2), false)]);
    // boundary 100 fires at watermark 99
    assert!(h.wm(98).is_empty());
    assert_eq!(
        rows(&h.wm(99)),
        vec![
            (1, i64::MIN, i64::MAX, num(3.0), false),
            (2, i64::MIN, i64::MAX, num(3.0), false)
        ]
    );
    counts.push(h.at(120, 4.0)[0].clone());
    assert!(h.closed.is_empty());
    counts.push(h.at(130, 8.0)[0].clone());
    assert_eq!(counts, vec![int(1), int(2), int(1), int(2)]);
    assert_eq!(
        rows(&std::mem::take(&mut h.closed)),
        vec![(0, i64::MIN, i64::MAX, int(2), false)]
    );
    // per-event value of the event-time features: keep = 15, purge = 12
    assert_eq!(h.row[1], num(15.0));
    assert_eq!(h.row[2], num(12.0));
    let mut r = rows(&h.finish());
    r.sort_by_key(|x| x.0);
    assert_eq!(
        r,
        vec![
            (1, i64::MIN, i64::MAX, num(15.0), false),
            (2, i64::MIN, i64::MAX, num(12.0), false)
        ]
    );
}

#[test]
fn last_n_pages_in_session_distinct_and_rate() {
    let mut h = H::with(
        vec![
            feat(
                "pages",
                AggKind::LastN { n: 3 },
                Some(PAGE),
                WindowSpec::Session { gap: 100 },
            ),
            feat(
                "distinct_pages",
                AggKind::DistinctCount { exact_limit: 10 },
                Some(PAGE),
                tumbling(1000, 0),
            ),
            feat(
                "logins_per_min",
                AggKind::Rate {
                    unit: RateUnit::Minute,
                },
                None,
                tumbling(60_000, 0),
            ),
            feat(
                "logins_per_s",
                AggKind::Rate {
                    unit: RateUnit::Second,
                },
                None,
                sliding(60_000, 60_000),
            ),
        ],
        0,
        LatePolicy::Update,
        |f, s, it| {
            if f.name.starts_with("logins") {
                f.filter = Some(Filter::parse("event_type == \"login\"", s, it).unwrap());
            }
        },
    );
    let evs = [
        (0, "login", "a"),
        (10, "view", "b"),
        (20, "login", "a"),
        (30, "login", "c"),
        (40, "view", "d"),
    ];
    let mut seqs = Vec::new();
    for (t, et, page) in evs {
        h.ev(0, t, None, et, page);
        seqs.push(h.row.clone());
    }
    let s = |v: &[&str], h: &mut H| {
        FeatureValue::Seq(v.iter().map(|p| Value::Str(h.it.intern(p))).collect())
    };
    assert_eq!(seqs[0][0], s(&["a"], &mut h));
    assert_eq!(seqs[3][0], s(&["b", "a", "c"], &mut h));
    assert_eq!(seqs[4][0], s(&["a", "c", "d"], &mut h));
    assert_eq!(
        seqs.iter().map(|r| r[1].clone()).collect::<Vec<_>>(),
        vec![int(1), int(2), int(2), int(3), int(4)]
    );
    // logins so far in the 1-minute window, per minute: 1, 1, 2, 3, 3
    let per_min: Vec<_> = seqs.iter().map(|r| r[2].clone()).collect();
    assert_eq!(
        per_min,
        vec![num(1.0), num(1.0), num(2.0), num(3.0), num(3.0)]
    );
    approx(&seqs[4][3], 3.0 / 60.0);
    let mut r = rows(&h.finish());
    r.sort_by_key(|x| x.0);
    assert_eq!(r[0], (0, 0, 140, s(&["a", "c", "d"], &mut h), false));
    assert_eq!(r[1], (1, 0, 1000, int(4), false));
    assert_eq!(r[2], (2, 0, 60_000, num(3.0), false));
    assert_eq!(r[3].1, 0);
    approx(&r[3].3, 0.05);
}

#[test]
fn recency_over_sliding_window() {
    let mut h = H::with(
        vec![feat("rec", AggKind::Recency, None, sliding(10, 5))],
        0,
        LatePolicy::Update,
        |f, s, it| f.filter = Some(Filter::parse("event_type == 'purchase'", s, it).unwrap()),
    );
    h.ev(0, 0, None, "purchase", "p");
    assert_eq!(h.row, vec![int(0)]);
    h.ev(0, 5, None, "view", "p");
    assert_eq!(h.row, vec![int(5)]);
    h.ev(0, 9, None, "view", "p");
    assert_eq!(h.row, vec![int(9)]);
    // (0, 10] no longer holds the purchase at 0
    h.ev(0, 10, None, "view", "p");
    assert_eq!(h.row, vec![FeatureValue::Null]);
    // window close: end minus last purchase; [-5, 5) → 5, [0, 10) → 10, [5, 15) → none
    let mut r = rows(&h.finish());
    r.sort_by_key(|x| x.1);
    assert_eq!(r[0], (0, -5, 5, int(5), false));
    assert_eq!(r[1], (0, 0, 10, int(10), false));
    assert_eq!(r[2], (0, 5, 15, FeatureValue::Null, false));
}

/// The online store is kept only when asked for; without it the per-event rows and the
/// window rows are the same, and the state is one store row per key smaller.
#[test]
fn online_store_is_kept_only_when_asked_for() {
    let features = || vec![feat("c", AggKind::Count, None, tumbling(10, 0))];
    let mut with = H::new(features(), 0, LatePolicy::Update);
    let mut without = H::new(features(), 0, LatePolicy::Update).without_store();
    for h in [&mut with, &mut without] {
        for (key, ts) in [(0, 1), (1, 2), (0, 3)] {
            assert_eq!(h.ev(key, ts, Some(1.0), "x", "p"), Outcome::Accepted);
        }
    }
    assert_eq!(with.row, [int(2)]);
    assert_eq!(without.row, [int(2)]);
    assert_eq!(with.eng.latest(KeyId(1)), Some(vec![int(1)]));
    assert_eq!(without.eng.latest(KeyId(1)), None);
    assert!(without.eng.state_bytes() < with.eng.state_bytes());
    assert_eq!(rows(&with.finish()), rows(&without.finish()));
}

#[test]
fn filtered_window_without_matches_still_fires_and_keys_are_separate() {
    let mut h = H::with(
        vec![feat("m", AggKind::Mean, Some(AMOUNT), tumbling(10, 0))],
        0,
        LatePolicy::Update,
        |f, s, it| f.filter = Some(Filter::parse("amount > 5", s, it).unwrap()),
    );
    h.ev(0, 1, Some(1.0), "x", "p");
    assert_eq!(h.row, vec![FeatureValue::Null]);
    h.ev(1, 2, Some(7.0), "x", "p");
    h.ev(1, 3, Some(9.0), "x", "p");
    h.ev(1, 4, None, "x", "p"); // null amount: skipped by mean
    assert_eq!(h.row, vec![num(8.0)]);
    assert_eq!(h.eng.num_keys(), 2);
    assert_eq!(h.eng.latest(KeyId(0)).unwrap(), [FeatureValue::Null]);
    assert_eq!(h.eng.latest(KeyId(1)).unwrap(), [num(8.0)]);
    assert!(h.eng.latest(KeyId(7)).is_none());
    assert!(h.eng.state_bytes() > 0);
    let mut r: Vec<_> = h.finish().into_iter().map(|w| (w.key, w.value)).collect();
    r.sort_by_key(|x| x.0);
    assert_eq!(
        r,
        vec![(KeyId(0), FeatureValue::Null), (KeyId(1), num(8.0))]
    );
}

#[test]
fn invalid_features_are_refused() {
    let cfg = EngineConfig {
        allowed_lateness: 0,
        late_policy: LatePolicy::Update,
        key_ttl: 0,
    };
    let g = WindowSpec::Global {
        trigger: Trigger::EveryEvent,
        purge: false,
        ttl: None,
    };
    let bad = [
        vec![
            feat("a", AggKind::Count, None, tumbling(10, 0)),
            feat("a", AggKind::Count, None, tumbling(10, 0)),
        ],
        vec![feat(
            "r",
            AggKind::Rate {
                unit: RateUnit::Second,
            },
            None,
            g,
        )],
        vec![feat("l", AggKind::LastN { n: 0 }, Some(PAGE), g)],
        vec![feat("s", AggKind::Sum, None, g)],
        vec![feat("t", AggKind::Count, None, tumbling(0, 0))],
        vec![feat("", AggKind::Count, None, g)],
    ];
    for b in bad {
        assert!(FeatureEngine::new(b.clone(), cfg).is_err(), "{b:?}");
    }
    let e = FeatureEngine::new(vec![feat("t", AggKind::Count, None, sliding(5, 10))], cfg)
        .err()
        .unwrap();
    assert!(
        e.to_string().contains("feature `t`") && e.to_string().contains("slide"),
        "{e}"
    );
    let neg = EngineConfig {
        allowed_lateness: -1,
        late_policy: LatePolicy::Update,
        key_ttl: 0,
    };
    assert!(FeatureEngine::new(vec![], neg).is_err());
}

#[test]
fn extreme_inputs_do_not_panic() {
    let feats = vec![
        feat("a", AggKind::Count, None, tumbling(10, 3)),
        feat("b", AggKind::Max, Some(AMOUNT), sliding(10, 3)),
        feat("c", AggKind::Recency, None, WindowSpec::Session { gap: 7 }),
        feat(
            "d",
            AggKind::Mean,
            Some(AMOUNT),
            WindowSpec::Global {
                trigger: Trigger::EventTime(5),
                purge: true,
                ttl: None,
            },
        ),
    ];
    let mut h = H::new(feats, 3, LatePolicy::Update);
    for ts in [i64::MIN, i64::MAX, 0, -5, i64::MAX - 1, 17] {
        h.ev(0, ts, Some(f64::NAN), "x", "p");
        h.ev(1, ts, Some(f64::INFINITY), "x", "p");
    }
    h.wm(i64::MIN + 1);
    h.wm(0);
    h.ev(0, 1, Some(2.0), "x", "p");
    h.finish();
    assert_eq!(h.ev(0, 5, Some(1.0), "x", "p"), Outcome::Late);
}

/// (key, feature, start, end, value) of rows, sorted by feature, start and key: the order of
/// one watermark advance's rows across keys is not specified.
fn by_feature_start_key(r: &[WindowRow]) -> Vec<(u32, usize, i64, i64, FeatureValue)> {
    let mut v: Vec<_> = r
        .iter()
        .map(|w| {
            (
                w.key.0,
                usize::from(w.feature),
                w.start,
                w.end,
                w.value.clone(),
            )
        })
        .collect();
    v.sort_by_key(|w| (w.1, w.2, w.0));
    v
}

/// Tumbling and sliding counts keep every key's panes in one ring per feature: panes far
/// ahead of the ring (an event an hour ahead), an event far behind before any watermark,
/// keys across several 64-key words, and the end of input all give the hand-computed rows.
#[test]
fn panes_far_ahead_and_behind_the_ring_fire_like_the_others() {
    let mut h = H::new(
        vec![
            feat("t", AggKind::Count, None, tumbling(10, 0)),
            feat("s", AggKind::Count, None, sliding(20, 10)),
        ],
        0,
        LatePolicy::Update,
    );
    // key 0 at 100, then an hour ahead, then far behind (no watermark yet: accepted)
    for (key, ts) in [
        (0, 100),
        (0, 3_600_000),
        (0, 5),
        (130, 101),
        (130, 3_600_001),
    ] {
        assert_eq!(h.ev(key, ts, Some(1.0), "x", "p"), Outcome::Accepted);
    }
    assert_eq!(h.row, vec![int(1), int(1)], "key 130 at 3,600,001");
    let got = by_feature_start_key(&h.wm(1_000));
    let want = vec![
        (0, 0, 0, 10, int(1)),
        (0, 0, 100, 110, int(1)),
        (130, 0, 100, 110, int(1)),
        (0, 1, -10, 10, int(1)),
        (0, 1, 0, 20, int(1)),
        (0, 1, 90, 110, int(1)),
        (130, 1, 90, 110, int(1)),
        (0, 1, 100, 120, int(1)),
        (130, 1, 100, 120, int(1)),
    ];
    assert_eq!(got, want);
    // an event between the watermark and the hour-ahead panes joins them
    assert_eq!(h.ev(0, 3_600_005, None, "x", "p"), Outcome::Accepted);
    assert_eq!(h.row, vec![int(2), int(2)]);
    let got = by_feature_start_key(&h.finish());
    let want = vec![
        (0, 0, 3_600_000, 3_600_010, int(2)),
        (130, 0, 3_600_000, 3_600_010, int(1)),
        (0, 1, 3_599_990, 3_600_010, int(2)),
        (130, 1, 3_599_990, 3_600_010, int(1)),
        (0, 1, 3_600_000, 3_600_020, int(2)),
        (130, 1, 3_600_000, 3_600_020, int(1)),
    ];
    assert_eq!(got, want);
}

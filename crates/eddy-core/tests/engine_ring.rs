//! Window rows of ring features with many keys (dense and sparse bitset words) against
//! brute force.

use eddy_core::agg::{AggKind, FeatureValue};
use eddy_core::engine::{EngineConfig, FeatureEngine, LatePolicy, WindowRow};
use eddy_core::feature::FeatureSpec;
use eddy_core::row::FeatureRow;
use eddy_core::window::WindowSpec;
use eddy_core::{Event, FieldType, KeyId, Schema, Value};

fn feat(name: &str, agg: AggKind, field: Option<usize>) -> FeatureSpec {
    FeatureSpec {
        name: name.into(),
        agg,
        field,
        window: WindowSpec::Sliding {
            size: 20,
            slide: 10,
            offset: 0,
        },
        filter: None,
    }
}

#[test]
fn many_keys_fire_like_brute_force_in_key_order() {
    let mut schema = Schema::new();
    schema.add("amount", FieldType::Float);
    let mut eng = FeatureEngine::new(
        vec![
            feat("c", AggKind::Count, None),
            feat("m", AggKind::Mean, Some(0)),
        ],
        EngineConfig {
            allowed_lateness: 0,
            late_policy: LatePolicy::Update,
            key_ttl: 0,
        },
    )
    .unwrap();
    // keys 0..64: all (a dense word); 64..128: five (a sparse one); every 7th after
    let keys: Vec<u32> = (0..64)
        .chain([64, 70, 90, 100, 127])
        .chain((128..300).step_by(7))
        .collect();
    let mut evs: Vec<(u32, i64, f64)> = Vec::new();
    for t in 0..40i64 {
        for &k in &keys {
            if (u64::from(k) * 31 + t as u64 * 17) % 5 < 2 {
                evs.push((k, t, f64::from(k) * 0.5 + t as f64 * 0.25));
            }
        }
    }
    let (mut row, mut closed) = (FeatureRow::default(), Vec::new());
    for &(k, ts, x) in &evs {
        let e = Event {
            key: KeyId(k),
            ts,
            fields: vec![Value::Float(x)],
        };
        eng.process(&e, &mut row, &mut closed);
    }
    eng.finish(&mut closed);
    let mut want: Vec<(usize, i64, u32, f64)> = Vec::new();
    for end in [10i64, 20, 30, 40, 50] {
        for f in 0..2 {
            for &k in &keys {
                let xs: Vec<f64> = evs
                    .iter()
                    .filter(|e| e.0 == k && e.1 >= end - 20 && e.1 < end)
                    .map(|e| e.2)
                    .collect();
                if !xs.is_empty() {
                    let v = if f == 0 {
                        xs.len() as f64
                    } else {
                        xs.iter().sum::<f64>() / xs.len() as f64
                    };
                    want.push((f, end, k, v));
                }
            }
        }
    }
    // rows of one feature's window come out together, in key order
    let got: Vec<(usize, i64, u32, f64)> = closed
        .iter()
        .map(|r: &WindowRow| {
            assert_eq!(r.end - r.start, 20);
            assert!(!r.update);
            let v = match r.value {
                FeatureValue::Int(i) => i as f64,
                FeatureValue::Num(x) => x,
                ref other => panic!("{other:?}"),
            };
            (usize::from(r.feature), r.end, r.key.0, v)
        })
        .collect();
    let mut sorted = got.clone();
    sorted.sort_by_key(|g| (g.1, g.0, g.2));
    assert_eq!(got.len(), want.len());
    for (g, w) in sorted.iter().zip(&want) {
        assert_eq!((g.0, g.1, g.2), (w.0, w.1, w.2));
        assert!((g.3 - w.3).abs() <= 1e-9 * (1.0 + w.3.abs()), "{g:?} {w:?}");
    }
    for pair in got.windows(2) {
        if (pair[0].0, pair[0].1) == (pair[1].0, pair[1].1) {
            assert!(pair[0].2 < pair[1].2, "{pair:?}");
        }
    }
}

//! Every detector against River 0.26.1 on many streams: `scripts/make_drift_fixtures.py` ran
//! River over Gaussian streams (mean shifts, a variance change, no drift) and Bernoulli error
//! streams (rate changes, no drift) drawn from eddy's generator, and recorded where River's
//! detectors fired (`fixtures/drift_detections.json`). eddy must fire at exactly the same
//! indices, warnings included.

use eddy_core::rng::Rng;
use eddy_learn::drift::build;
use eddy_learn::param::Params;
use eddy_learn::{Detector, DriftState};
use serde_json::Value;

/// Rebuilds a stream as the script drew it (see its `gauss` and `bernoulli`).
fn stream(kind: &str, segments: &[Value], seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    for seg in segments {
        let n = seg[0].as_u64().unwrap();
        for _ in 0..n {
            let v = match kind {
                "gauss" => {
                    let (mean, sd) = (seg[1].as_f64().unwrap(), seg[2].as_f64().unwrap());
                    ((mean + sd * rng.normal()) * 1024.0 + 0.5).floor() / 1024.0
                }
                "bernoulli" => f64::from(u8::from(rng.chance(seg[1].as_f64().unwrap()))),
                other => panic!("unknown stream kind {other}"),
            };
            out.push(v);
        }
    }
    out
}

/// Consecutive indices as `[first, last]` runs, as the script stores warnings.
fn runs_of(indices: &[usize]) -> Vec<[usize; 2]> {
    let mut out: Vec<[usize; 2]> = Vec::new();
    for &i in indices {
        match out.last_mut() {
            Some(last) if last[1] + 1 == i => last[1] = i,
            _ => out.push([i, i]),
        }
    }
    out
}

fn indices(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_u64().unwrap() as usize)
        .collect()
}

#[test]
fn detections_match_river_on_every_stream() {
    let text = include_str!("../../../fixtures/drift_detections.json");
    let doc: Value = serde_json::from_str(text).unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in doc["cases"].as_array().unwrap() {
        let kind = case["kind"].as_str().unwrap();
        let seed = case["seed"].as_u64().unwrap();
        let xs = stream(kind, case["segments"].as_array().unwrap(), seed);
        let label = format!("{} seed {seed}", case["stream"].as_str().unwrap());
        // The exact sum proves the stream is the one River saw.
        assert_eq!(
            xs.iter().sum::<f64>(),
            case["sum"].as_f64().unwrap(),
            "{label}"
        );
        for run in case["runs"].as_array().unwrap() {
            let name = run["detector"].as_str().unwrap();
            let params: Params = run["params"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            let mut det = build(name, &params).unwrap();
            let (mut drifts, mut warnings) = (Vec::new(), Vec::new());
            for (i, &x) in xs.iter().enumerate() {
                match det.update(x) {
                    DriftState::Drift => drifts.push(i),
                    DriftState::Warning => warnings.push(i),
                    DriftState::Stable => {}
                }
            }
            let want = indices(&run["drifts"]);
            if drifts != want {
                failures.push(format!(
                    "{label}: {name} {params:?}: drifts {drifts:?}, River {want:?}"
                ));
            }
            if let Some(w) = run.get("warnings") {
                let want: Vec<[usize; 2]> = w
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        [
                            p[0].as_u64().unwrap() as usize,
                            p[1].as_u64().unwrap() as usize,
                        ]
                    })
                    .collect();
                let got = runs_of(&warnings);
                if got != want {
                    failures.push(format!(
                        "{label}: {name} {params:?}: warnings {got:?}, River {want:?}"
                    ));
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 300, "only {checked} runs in the fixture");
    assert!(
        failures.is_empty(),
        "{} of {checked} runs differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

//! External calls to `eddy serve` on loopback with batching: scored events per second through
//! the client against the in-process server, and the per-event added latency (submit to
//! emission: batching wait, HTTP round trip, scoring, ordering).
//!
//! `cargo bench -p eddy-oip --bench remote` (env: `EVENTS`, default 200000; `FEATURES`, 8).

use std::sync::Arc;
use std::time::{Duration, Instant};

use eddy_infer::{load_model_with, LoadOptions};
use eddy_learn::linear::LogisticRegression;
use eddy_learn::registry::{build, Params};
use eddy_oip::remote::{EmitMode, Emitted, RemoteConfig, RemoteScorer};
use eddy_oip::server::{self, ModelSet, ServerConfig};
use eddy_testutil::Tmp;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run tiny then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = if quick { 2000 } else { env("EVENTS", 200_000) } as u64;
    let f = env("FEATURES", 8);

    let mut m = build("logistic_regression", &Params::new()).unwrap();
    let lr = m.downcast_mut::<LogisticRegression>().expect("logistic");
    lr.glm.weights = (0..f).map(|j| (j as f64 - 3.5) / 4.0).collect();
    lr.glm.intercept = 0.1;
    let dir = Tmp::new("remote");
    let path = dir.join("bench.json");
    m.save(&path).unwrap();
    let model = load_model_with(&path, "bench", &LoadOptions::default()).unwrap();
    let mut set = ModelSet::new();
    set.insert(Arc::from(model)).unwrap();
    let srv = server::spawn(
        set,
        "127.0.0.1:0".parse().unwrap(),
        &ServerConfig::default(),
        1,
    )
    .unwrap();

    let rate = env("RATE", 50_000) as f64;
    println!("events={n} features={f} server_threads=1 client_threads=1");
    // Saturated (as fast as the client takes them), then paced at RATE events/s, where the
    // latency is the added latency of a pipeline that is not queueing behind the service.
    for (batch, mode, paced) in [
        (64, EmitMode::Ordered, false),
        (256, EmitMode::Ordered, false),
        (256, EmitMode::Unordered, false),
        (64, EmitMode::Ordered, true),
        (256, EmitMode::Ordered, true),
    ] {
        let mut cfg = RemoteConfig::new(srv.url(), "bench");
        cfg.max_batch = batch;
        cfg.max_wait = Duration::from_millis(1);
        cfg.max_in_flight = 4;
        cfg.capacity = batch * 16;
        cfg.mode = mode;
        let mut s = RemoteScorer::new(cfg).unwrap();
        let mut out = Vec::with_capacity(n as usize + 64);
        let mut x = vec![0.0; f];
        let t = Instant::now();
        for i in 0..n {
            for (j, v) in x.iter_mut().enumerate() {
                *v = ((i as usize * 31 + j * 7) % 97) as f64 / 10.0;
            }
            if paced {
                let due = t + Duration::from_secs_f64(i as f64 / rate);
                let now = Instant::now();
                if now < due {
                    s.poll(&mut out);
                    std::thread::sleep(due - now);
                }
            }
            s.submit(i, &x, &mut out);
            if i % 10_000 == 9_999 {
                s.submit_watermark(i as i64, &mut out);
            }
        }
        s.drain(&mut out);
        let secs = t.elapsed().as_secs_f64();
        let mut lat: Vec<Duration> = out
            .iter()
            .filter_map(|e| match e {
                Emitted::Event(ev) => Some(ev.latency),
                _ => None,
            })
            .collect();
        lat.sort();
        let q = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
        let c = s.counters();
        assert_eq!(c.scored, n, "{c}");
        println!(
            "batch={batch:<4} mode={mode:<9?} {:<14} {:>9.0} events/s  latency p50={:>8.2?} p99={:>8.2?} max={:>8.2?}  requests={} fallback={}",
            if paced {
                format!("paced@{rate}/s")
            } else {
                "saturated".to_string()
            },
            n as f64 / secs,
            q(0.50),
            q(0.99),
            lat[lat.len() - 1],
            c.requests,
            c.fallback_total()
        );
    }
}

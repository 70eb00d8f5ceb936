//! The external-service client against real HTTP servers on 127.0.0.1: the real `eddy serve`
//! for the happy path and a crash, and a small fault-injecting OIP server for faults a real
//! server cannot be made to produce on demand.

mod common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use common::{logistic, start};
use eddy_core::rng::Rng;
use eddy_infer::{Batch, Scores};
use eddy_oip::remote::{
    BreakerView, EmitMode, Emitted, FallbackReason, Outcome, RemoteConfig, RemoteScorer,
    ScoredEvent,
};

// ------------------------------------------------------------------ the fault server

const OK: u8 = 0;
/// Answers only after [`SLOW_MS`]: far beyond any attempt's timeout in these tests.
const SLOW: u8 = 1;
const HTTP500: u8 = 2;
const MALFORMED: u8 = 3;
const WRONG_COUNT: u8 = 4;

const SLOW_MS: u64 = 60_000;

struct Fault {
    mode: AtomicU8,
    /// Random delay per request, up to this many milliseconds (OK mode).
    jitter_ms: u64,
    rng: Mutex<Rng>,
    hits: AtomicU64,
}

/// Scores each row as `2 * first feature` (so results can be checked), or misbehaves.
async fn fault_infer(State(f): State<Arc<Fault>>, body: Bytes) -> Response {
    f.hits.fetch_add(1, Ordering::Relaxed);
    let mode = f.mode.load(Ordering::Relaxed);
    let req: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let input = &req["inputs"][0];
    let n = input["shape"][0].as_u64().unwrap() as usize;
    let w = input["shape"][1].as_u64().unwrap() as usize;
    let data: Vec<f64> = serde_json::from_value(input["data"].clone()).unwrap();
    let scores: Vec<f64> = (0..n).map(|i| 2.0 * data[i * w]).collect();
    let reply = |scores: &[f64]| {
        serde_json::json!({"model_name": "m", "outputs": [
            {"name": "score", "datatype": "FP64", "shape": [scores.len()], "data": scores}
        ]})
        .to_string()
    };
    match mode {
        SLOW => {
            tokio::time::sleep(Duration::from_millis(SLOW_MS)).await;
            reply(&scores).into_response()
        }
        HTTP500 => (StatusCode::INTERNAL_SERVER_ERROR, "{\"error\":\"boom\"}").into_response(),
        MALFORMED => (StatusCode::OK, "{\"outputs\": [{\"name\": \"sco").into_response(),
        WRONG_COUNT => reply(&scores[..n.saturating_sub(1)]).into_response(),
        _ => {
            if f.jitter_ms > 0 {
                let d = f.rng.lock().unwrap().below(f.jitter_ms + 1);
                tokio::time::sleep(Duration::from_millis(d)).await;
            }
            reply(&scores).into_response()
        }
    }
}

struct FaultServer {
    addr: SocketAddr,
    state: Arc<Fault>,
    rt: Option<tokio::runtime::Runtime>,
}

impl FaultServer {
    fn start(mode: u8, jitter_ms: u64) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let state = Arc::new(Fault {
            mode: AtomicU8::new(mode),
            jitter_ms,
            rng: Mutex::new(Rng::new(7)),
            hits: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/v2/models/{name}/infer", post(fault_infer))
            .with_state(state.clone());
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        rt.spawn(async move { axum::serve(listener, app).await });
        FaultServer {
            addr,
            state,
            rt: Some(rt),
        }
    }
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    fn set(&self, mode: u8) {
        self.state.mode.store(mode, Ordering::Relaxed);
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

// ------------------------------------------------------------------ helpers

/// Settings for the tests: an attempt's timeout is generous (a request to a healthy server
/// on 127.0.0.1 answers well within it even on a loaded machine); tests of timeouts shorten
/// it and use a server that answers much later still ([`SLOW`]).
fn cfg(url: String, model: &str) -> RemoteConfig {
    let mut c = RemoteConfig::new(url, model);
    c.max_batch = 16;
    c.max_wait = Duration::from_millis(1);
    c.timeout = Duration::from_secs(5);
    c.max_retries = 2;
    c.backoff_base = Duration::from_millis(1);
    c.backoff_max = Duration::from_millis(5);
    c.breaker_failures = 0;
    c.fallback_score = -1.0;
    c.capacity = 256;
    c
}

fn features(i: u64) -> [f64; 3] {
    [i as f64, (i % 7) as f64 - 3.0, 0.5]
}

/// Submits `n` events (a watermark after every `wm_every`, if any), drains, and returns what
/// came out; checks that every event came out exactly once and that the counters add up.
fn run(s: &mut RemoteScorer, ids: std::ops::Range<u64>, wm_every: u64) -> Vec<Emitted> {
    let mut out = Vec::new();
    for i in ids.clone() {
        s.submit(i, &features(i), &mut out);
        if wm_every > 0 && (i + 1) % wm_every == 0 {
            s.submit_watermark(i as i64, &mut out);
        }
    }
    assert!(s.drain_for(&mut out, Duration::from_secs(20)), "drain");
    let events: Vec<&ScoredEvent> = out
        .iter()
        .filter_map(|e| match e {
            Emitted::Event(ev) => Some(ev),
            _ => None,
        })
        .collect();
    let seen: HashSet<u64> = events.iter().map(|e| e.id).collect();
    assert_eq!(events.len(), ids.clone().count(), "one output per event");
    assert_eq!(
        seen,
        ids.collect::<HashSet<_>>(),
        "every event exactly once"
    );
    for e in &events {
        match e.outcome {
            Outcome::Scored => assert_eq!(e.score, 2.0 * e.id as f64, "{e:?}"),
            Outcome::Fallback(_) => assert_eq!(e.score, -1.0),
        }
    }
    out
}

fn reasons(out: &[Emitted]) -> Vec<(u64, Outcome)> {
    out.iter()
        .filter_map(|e| match e {
            Emitted::Event(ev) => Some((ev.id, ev.outcome)),
            _ => None,
        })
        .collect()
}

fn count(out: &[Emitted], o: Outcome) -> u64 {
    reasons(out).iter().filter(|(_, x)| *x == o).count() as u64
}

fn check_counters(s: &RemoteScorer, out: &[Emitted]) {
    let c = s.counters();
    assert_eq!(c.submitted, c.emitted(), "{c}");
    assert_eq!(c.scored, count(out, Outcome::Scored), "{c}");
    for r in FallbackReason::ALL {
        assert_eq!(c.fallback(r), count(out, Outcome::Fallback(r)), "{r}: {c}");
    }
    assert_eq!(s.pending(), 0);
}

// ------------------------------------------------------------------ happy path, real server

#[test]
fn scores_through_real_eddy_serve_equal_the_model() {
    let model = logistic("remote_lr");
    let srv = start(vec![model.clone()], 1 << 20);
    let mut c = cfg(srv.url(), "remote_lr");
    c.label_output = Some("label".into());
    let mut s = RemoteScorer::new(c).unwrap();
    let mut out = Vec::new();
    let n = 300u64;
    for i in 0..n {
        s.submit(i, &features(i), &mut out);
    }
    s.drain(&mut out);
    assert_eq!(out.len(), n as usize);
    let mut want = Scores::new();
    for (k, e) in out.iter().enumerate() {
        let Emitted::Event(ev) = e else {
            panic!("no watermarks submitted")
        };
        assert_eq!(ev.id, k as u64, "ordered by default");
        assert_eq!(ev.outcome, Outcome::Scored);
        model
            .score(Batch::row(&features(ev.id)), &mut want)
            .unwrap();
        assert_eq!(ev.score, want.scores[0]);
        assert_eq!(ev.label, Some(want.labels[0]));
    }
    let c = s.counters();
    assert_eq!((c.scored, c.fallback_total(), c.retries), (n, 0, 0), "{c}");
    assert!(c.batches >= n / 16 && c.batches <= n, "{c}");
}

// ------------------------------------------------------------------ faults

#[test]
fn server_down_at_start_falls_back_with_connect() {
    // A port that was just free: nothing listens there.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut s = RemoteScorer::new(cfg(format!("http://{addr}"), "m")).unwrap();
    let out = run(&mut s, 0..100, 0);
    assert_eq!(count(&out, Outcome::Fallback(FallbackReason::Connect)), 100);
    check_counters(&s, &out);
    let c = s.counters();
    assert_eq!(c.retries, c.batches * 2, "each batch retried twice: {c}");
    assert_eq!(c.requests, c.batches * 3, "{c}");
}

#[test]
fn server_dying_mid_run() {
    let srv = start(vec![logistic("dying")], 1 << 20);
    let mut c = cfg(srv.url(), "dying");
    c.breaker_failures = 3;
    c.breaker_cooldown = Duration::from_secs(60);
    let mut s = RemoteScorer::new(c).unwrap();
    let mut out = Vec::new();
    for i in 0..200 {
        s.submit(i, &features(i), &mut out);
    }
    s.drain(&mut out);
    let scored_before = s.counters().scored;
    assert_eq!(scored_before, 200);
    srv.kill();
    for i in 200..400 {
        s.submit(i, &features(i), &mut out);
    }
    assert!(s.drain_for(&mut out, Duration::from_secs(20)));
    let ids: Vec<u64> = reasons(&out).iter().map(|r| r.0).collect();
    assert_eq!(ids, (0..400).collect::<Vec<_>>(), "ordered, exactly once");
    check_counters(&s, &out);
    let c = s.counters();
    assert_eq!(c.scored, 200, "{c}");
    assert_eq!(c.fallback_total(), 200, "{c}");
    assert!(c.fallback(FallbackReason::Connect) > 0, "{c}");
    assert!(c.fallback(FallbackReason::CircuitOpen) > 0, "{c}");
    assert_eq!(c.breaker_opened, 1, "{c}");
    assert_eq!(s.breaker(), BreakerView::Open);
}

#[test]
fn slow_responses_time_out() {
    let f = FaultServer::start(SLOW, 0);
    let mut c = cfg(f.url(), "m");
    c.timeout = Duration::from_millis(500);
    c.max_retries = 1;
    c.max_batch = 50;
    c.max_in_flight = 4;
    let mut s = RemoteScorer::new(c).unwrap();
    let t = std::time::Instant::now();
    let out = run(&mut s, 0..100, 0);
    assert_eq!(count(&out, Outcome::Fallback(FallbackReason::Timeout)), 100);
    check_counters(&s, &out);
    let c = s.counters();
    assert_eq!(c.retries, c.batches, "{c}");
    // Two attempts of 0.5 s each, not the server's minute.
    let waited = t.elapsed();
    assert!(waited < Duration::from_millis(SLOW_MS / 2), "{waited:?}");
    for e in &out {
        if let Emitted::Event(ev) = e {
            assert_eq!(ev.attempts, 2);
        }
    }
}

#[test]
fn http_500_malformed_and_wrong_outputs_fall_back() {
    for (mode, reason, retried) in [
        (HTTP500, FallbackReason::Http5xx, true),
        (MALFORMED, FallbackReason::Malformed, false),
        (WRONG_COUNT, FallbackReason::WrongOutputs, false),
    ] {
        let f = FaultServer::start(mode, 0);
        let mut s = RemoteScorer::new(cfg(f.url(), "m")).unwrap();
        let out = run(&mut s, 0..64, 0);
        assert_eq!(count(&out, Outcome::Fallback(reason)), 64, "{reason}");
        check_counters(&s, &out);
        let c = s.counters();
        let want_retries = if retried { c.batches * 2 } else { 0 };
        assert_eq!(c.retries, want_retries, "{reason}: {c}");
        assert_eq!(
            f.state.hits.load(Ordering::Relaxed),
            c.requests,
            "{reason}: {c}"
        );
    }
}

#[test]
fn faults_mixed_mid_run_every_event_once() {
    let f = FaultServer::start(OK, 0);
    let mut c = cfg(f.url(), "m");
    c.mode = EmitMode::Unordered;
    // Still seconds (the OK phases must score); the SLOW phase waits out 3 attempts of 2 s.
    c.timeout = Duration::from_secs(2);
    let mut s = RemoteScorer::new(c).unwrap();
    let mut out = Vec::new();
    let mut id = 0u64;
    for mode in [OK, HTTP500, OK, MALFORMED, WRONG_COUNT, OK, SLOW, OK] {
        f.set(mode);
        for _ in 0..40 {
            s.submit(id, &features(id), &mut out);
            id += 1;
        }
        // A non-finite feature never reaches the server.
        s.submit(id, &[f64::NAN, 1.0, 2.0], &mut out);
        id += 1;
        s.drain(&mut out);
    }
    check_counters(&s, &out);
    let c = s.counters();
    assert_eq!(c.submitted, id);
    assert_eq!(c.scored, 160, "{c}");
    for r in [
        FallbackReason::Http5xx,
        FallbackReason::Malformed,
        FallbackReason::WrongOutputs,
        FallbackReason::Timeout,
    ] {
        assert_eq!(c.fallback(r), 40, "{r}: {c}");
    }
    assert_eq!(c.fallback(FallbackReason::InvalidInput), 8, "{c}");
}

/// A scorer that sends one event per request, one request at a time, without retries, whose
/// breaker opens after 3 failures for `cooldown`.
fn breaker_scorer(url: String, cooldown: Duration) -> RemoteScorer {
    let mut c = cfg(url, "m");
    c.breaker_failures = 3;
    c.breaker_cooldown = cooldown;
    c.max_retries = 0;
    c.max_batch = 1;
    c.max_in_flight = 1;
    RemoteScorer::new(c).unwrap()
}

#[test]
fn circuit_breaker_opens_and_sheds_while_open() {
    let f = FaultServer::start(HTTP500, 0);
    // A cooldown no run of this test outlasts: the breaker stays open to the end.
    let mut s = breaker_scorer(f.url(), Duration::from_secs(600));
    let mut out = Vec::new();
    for i in 0..10 {
        s.submit(i, &features(i), &mut out);
        s.drain(&mut out);
        let want = if i < 2 {
            BreakerView::Closed
        } else {
            BreakerView::Open
        };
        assert_eq!(s.breaker(), want, "after event {i}");
    }
    let c = s.counters();
    assert_eq!(c.fallback(FallbackReason::Http5xx), 3, "{c}");
    assert_eq!(c.fallback(FallbackReason::CircuitOpen), 7, "{c}");
    assert_eq!(c.breaker_opened, 1, "{c}");
    assert_eq!(f.state.hits.load(Ordering::Relaxed), 3);
    let ids: Vec<(u64, Outcome)> = reasons(&out);
    assert!(ids[..3]
        .iter()
        .all(|r| r.1 == Outcome::Fallback(FallbackReason::Http5xx)));
    assert!(ids[3..]
        .iter()
        .all(|r| r.1 == Outcome::Fallback(FallbackReason::CircuitOpen)));
    check_counters(&s, &out);
}

#[test]
fn circuit_breaker_probes_after_the_cooldown_and_recovers() {
    let f = FaultServer::start(HTTP500, 0);
    let cooldown = Duration::from_millis(100);
    // Every wait below outlasts the cooldown, whatever the scheduling: what follows each
    // sleep is a probe. (That the breaker sheds within the cooldown: the test above.)
    let past_cooldown = || std::thread::sleep(cooldown * 3);
    let mut s = breaker_scorer(f.url(), cooldown);
    let mut out = Vec::new();
    for i in 0..3 {
        s.submit(i, &features(i), &mut out);
        s.drain(&mut out);
    }
    assert_eq!(s.breaker(), BreakerView::Open);
    assert_eq!(s.counters().breaker_opened, 1);
    // The half-open probe fails: open again.
    past_cooldown();
    s.submit(3, &features(3), &mut out);
    s.drain(&mut out);
    assert_eq!(s.breaker(), BreakerView::Open);
    assert_eq!(s.counters().breaker_opened, 2);
    assert_eq!(
        f.state.hits.load(Ordering::Relaxed),
        4,
        "the probe went out"
    );
    assert_eq!(
        reasons(&out).last().unwrap().1,
        Outcome::Fallback(FallbackReason::Http5xx)
    );
    // The server heals; after the cool-down the probe succeeds and the breaker closes.
    f.set(OK);
    past_cooldown();
    let rest = run(&mut s, 4..40, 0);
    assert_eq!(count(&rest, Outcome::Scored), 36);
    assert_eq!(s.breaker(), BreakerView::Closed);
    assert_eq!(s.counters().breaker_opened, 2);
    assert_eq!(f.state.hits.load(Ordering::Relaxed), 4 + 36);
}

// ------------------------------------------------------------------ emission modes

#[test]
fn ordered_mode_keeps_order_under_random_delays() {
    let f = FaultServer::start(OK, 15);
    let mut c = cfg(f.url(), "m");
    c.max_batch = 4;
    c.max_in_flight = 8;
    let mut s = RemoteScorer::new(c).unwrap();
    let out = run(&mut s, 0..300, 25);
    let mut next_id = 0u64;
    let mut wms = 0;
    for e in &out {
        match e {
            Emitted::Event(ev) => {
                assert_eq!(ev.id, next_id);
                assert_eq!(ev.outcome, Outcome::Scored);
                next_id += 1;
            }
            Emitted::Watermark(w) => {
                assert_eq!(*w, next_id as i64 - 1, "watermark right after its events");
                wms += 1;
            }
        }
    }
    assert_eq!(wms, 12);
    check_counters(&s, &out);
}

#[test]
fn unordered_mode_never_crosses_a_watermark() {
    let f = FaultServer::start(OK, 15);
    let mut c = cfg(f.url(), "m");
    c.mode = EmitMode::Unordered;
    c.max_batch = 4;
    c.max_in_flight = 8;
    let mut s = RemoteScorer::new(c).unwrap();
    let every = 40u64;
    let out = run(&mut s, 0..400, every);
    let mut wms_seen = 0u64;
    let mut reordered = false;
    let mut last = None;
    for e in &out {
        match e {
            Emitted::Event(ev) => {
                // Event i was submitted after i / every watermarks, before the next one.
                assert_eq!(
                    ev.id / every,
                    wms_seen,
                    "event {} crossed a watermark",
                    ev.id
                );
                if last.is_some_and(|l| l > ev.id) {
                    reordered = true;
                }
                last = Some(ev.id);
            }
            Emitted::Watermark(w) => {
                assert_eq!(*w as u64, (wms_seen + 1) * every - 1);
                wms_seen += 1;
            }
        }
    }
    assert_eq!(wms_seen, 10);
    assert!(reordered, "random delays should reorder within a group");
    check_counters(&s, &out);
}

#[test]
fn capacity_bounds_pending_events() {
    let f = FaultServer::start(OK, 2);
    let mut c = cfg(f.url(), "m");
    c.capacity = 10;
    c.max_batch = 4;
    let mut s = RemoteScorer::new(c).unwrap();
    let mut out = Vec::new();
    for i in 0..100 {
        s.submit(i, &features(i), &mut out);
        assert!(s.pending() <= 10);
    }
    s.drain(&mut out);
    assert_eq!(out.len(), 100);
    check_counters(&s, &out);
}

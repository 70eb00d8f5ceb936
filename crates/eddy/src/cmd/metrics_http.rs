//! `eddy run --metrics ADDR`: the run's live metrics over HTTP, for Prometheus to scrape.
//!
//! `GET /metrics` answers `200` with every metric of the run's
//! [`Metrics`] in the Prometheus text format 0.0.4
//! (content type `text/plain; version=0.0.4; charset=utf-8`); any other path is `404`.
//! A scrape reads the registry's atomics and never waits for the pipeline's threads.
//! The metrics are listed in `docs/metrics.md`.

use std::io;
use std::net::SocketAddr;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use eddy_runtime::metrics::{self, Metrics};

/// The server: stops (and frees its port) when dropped.
pub struct Server {
    /// The address listened on (the port chosen when asked for port 0).
    pub addr: SocketAddr,
    _rt: tokio::runtime::Runtime,
}

/// Binds `addr` (port 0: any free port) and serves `GET /metrics` from `metrics` on a
/// thread of its own; returns once the socket is listening, so a taken port is an error
/// (naming the address) before the run reads anything.
pub fn spawn(addr: SocketAddr, metrics: Metrics) -> io::Result<Server> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("eddy-metrics")
        .enable_io()
        .build()?;
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(addr))
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state(metrics);
    rt.spawn(async move { axum::serve(listener, app).await });
    Ok(Server { addr, _rt: rt })
}

async fn scrape(State(metrics): State<Metrics>) -> impl IntoResponse {
    let mut body = String::with_capacity(8 * 1024);
    metrics.render(&mut body);
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], body)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    use eddy_runtime::metrics::{DeadReason, LateOutcome, Metrics, OutputKind as Output};

    /// One HTTP/1.1 request; returns the status code, the headers (names lower-cased)
    /// and the body.
    fn request(
        addr: std::net::SocketAddr,
        method: &str,
        path: &str,
    ) -> (u16, Vec<(String, String)>, String) {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut raw = String::new();
        s.read_to_string(&mut raw).expect("read");
        let (head, body) = raw.split_once("\r\n\r\n").expect("end of headers");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().expect("status line");
        let mut parts = status_line.split(' ');
        assert_eq!(parts.next(), Some("HTTP/1.1"));
        let status = parts.next().expect("status").parse().expect("status code");
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (k, v) = l.split_once(':').expect("header");
                (k.trim().to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        if let Some((_, n)) = headers.iter().find(|(k, _)| k == "content-length") {
            assert_eq!(n.parse::<usize>().expect("length"), body.len());
        }
        (status, headers, body.to_string())
    }

    /// Samples of an exposition: `name{labels}` → value.
    fn samples(text: &str) -> HashMap<String, f64> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (series, value) = l.rsplit_once(' ').expect("sample line");
                (series.to_string(), value.parse().expect("value"))
            })
            .collect()
    }

    #[test]
    fn serves_the_metrics_over_http() {
        let m = Metrics::new(2);
        m.records_read().add(1234);
        m.bytes_read().add(98_765);
        m.late_events(LateOutcome::Discarded).add(7);
        m.dead_letters(DeadReason::MissingField).add(3);
        m.output_rows(Output::Windows).add(42);
        m.set_watermark(1, 5_000, 5_600);
        m.keys().set(99);
        m.batch_seconds().observe(0.003);
        m.batch_seconds().observe(0.2);

        let server = super::spawn("127.0.0.1:0".parse().expect("addr"), m.clone()).expect("spawn");
        assert_ne!(server.addr.port(), 0);

        let (status, headers, body) = request(server.addr, "GET", "/metrics");
        assert_eq!(status, 200);
        let content_type = headers
            .iter()
            .find(|(k, _)| k == "content-type")
            .map(|(_, v)| v.as_str());
        assert_eq!(
            content_type,
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        let s = samples(&body);
        let get = |k: &str| s.get(k).copied().unwrap_or_else(|| panic!("no sample {k}"));
        assert_eq!(get("eddy_records_read_total"), 1234.0);
        assert_eq!(get("eddy_bytes_read_total"), 98_765.0);
        assert_eq!(get(r#"eddy_late_events_total{outcome="discarded"}"#), 7.0);
        assert_eq!(get(r#"eddy_late_events_total{outcome="late"}"#), 0.0);
        assert_eq!(
            get(r#"eddy_dead_letters_total{reason="missing_field"}"#),
            3.0
        );
        assert_eq!(get(r#"eddy_output_rows_total{output="windows"}"#), 42.0);
        assert_eq!(get(r#"eddy_watermark_ms{partition="1"}"#), 5_000.0);
        assert_eq!(get(r#"eddy_watermark_lag_ms{partition="1"}"#), 600.0);
        assert!(!s.contains_key(r#"eddy_watermark_ms{partition="0"}"#));
        assert_eq!(get("eddy_keys"), 99.0);
        assert_eq!(get("eddy_up"), 1.0);
        assert_eq!(get(r#"eddy_batch_seconds_bucket{le="0.0025"}"#), 0.0);
        assert_eq!(get(r#"eddy_batch_seconds_bucket{le="0.005"}"#), 1.0);
        assert_eq!(get(r#"eddy_batch_seconds_bucket{le="0.25"}"#), 2.0);
        assert_eq!(get(r#"eddy_batch_seconds_bucket{le="+Inf"}"#), 2.0);
        assert_eq!(get("eddy_batch_seconds_count"), 2.0);
        assert_eq!(get("eddy_batch_seconds_sum"), 0.203);
        assert_eq!(get("eddy_model_seconds_count"), 0.0);

        // a scrape sees the counts as they are now
        m.records_read().add(1);
        m.up().set(0);
        let (_, _, body) = request(server.addr, "GET", "/metrics");
        let s = samples(&body);
        assert_eq!(s.get("eddy_records_read_total"), Some(&1235.0));
        assert_eq!(s.get("eddy_up"), Some(&0.0));

        let (status, _, _) = request(server.addr, "GET", "/");
        assert_eq!(status, 404);
        let (status, _, _) = request(server.addr, "GET", "/metrics/x");
        assert_eq!(status, 404);

        // dropped: the port is closed
        let addr = server.addr;
        drop(server);
        assert!(TcpStream::connect(addr).is_err());
    }

    #[test]
    fn a_taken_port_is_an_error_naming_the_address() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = taken.local_addr().expect("addr");
        let err = match super::spawn(addr, Metrics::new(1)) {
            Ok(_) => panic!("bound {addr} twice"),
            Err(e) => e,
        };
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
        let msg = err.to_string();
        assert!(msg.contains(&addr.to_string()), "{msg}");
    }
}

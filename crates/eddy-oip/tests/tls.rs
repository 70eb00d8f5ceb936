//! The client over TLS and with credentials, against an HTTPS server on 127.0.0.1 whose
//! certificate is made in the test: scores through a trusted CA file, and the failures a
//! user meets (a certificate that does not verify, a missing or wrong token) as a typed
//! refusal or counted fallbacks with their reason. The token never shows in any message.

use std::time::Duration;

use eddy_oip::remote::{
    ClientError, Emitted, EnvHeader, FallbackReason, MetadataError, Outcome, RemoteConfig,
    RemoteScorer, ScoredEvent,
};
use eddy_testutil::tls::{TestCa, TlsOptions, TlsServer};
use eddy_testutil::Tmp;

const SECRET: &str = "s3cret-token-value";

fn cfg(url: String) -> RemoteConfig {
    let mut c = RemoteConfig::new(url, "m");
    c.max_batch = 4;
    c.max_wait = Duration::from_millis(1);
    c.timeout = Duration::from_secs(10);
    c.max_retries = 1;
    c.backoff_base = Duration::from_millis(1);
    c.breaker_failures = 0;
    c
}

/// Scores rows `[i, 1]` for `i` in `0..n`; returns the events in order.
fn score(s: &mut RemoteScorer, n: usize) -> Vec<ScoredEvent> {
    let mut out = Vec::new();
    for i in 0..n {
        s.submit(i as u64, &[i as f64, 1.0], &mut out);
    }
    assert!(s.drain_for(&mut out, Duration::from_secs(60)), "drained");
    out.into_iter()
        .filter_map(|e| match e {
            Emitted::Event(e) => Some(e),
            Emitted::Watermark(_) => None,
        })
        .collect()
}

/// Sets `var` to the secret for this test only (each test uses its own variable).
fn token_env(var: &str) -> EnvHeader {
    std::env::set_var(var, SECRET);
    EnvHeader::bearer(var)
}

#[test]
fn https_with_a_ca_file_and_a_bearer_token_scores() {
    let dir = Tmp::new("tls-ok");
    let ca = TestCa::new();
    let srv = TlsServer::start(TlsOptions {
        ca: &ca,
        expired: false,
        token: Some(SECRET.into()),
    });
    let ca_file = dir.join("ca.pem");
    ca.write_pem(&ca_file);
    let mut c = cfg(srv.url());
    c.ca_file = Some(ca_file);
    c.headers = vec![token_env("EDDY_TLS_TEST_TOKEN_OK")];
    let mut s = RemoteScorer::new(c).unwrap();
    let md = s.fetch_metadata().unwrap();
    assert_eq!(
        (md.name.as_str(), md.versions.as_slice()),
        ("m", &["1".to_string()][..])
    );
    let events = score(&mut s, 10);
    assert_eq!(events.len(), 10);
    for (i, e) in events.iter().enumerate() {
        assert_eq!((e.id, e.outcome), (i as u64, Outcome::Scored));
        assert_eq!(e.score, 2.0 * i as f64, "twice the first feature");
    }
    // Nothing the scorer shows holds the token.
    assert!(!format!("{s:?} {:?} {}", s.config(), s.counters()).contains(SECRET));
}

#[test]
fn a_certificate_that_does_not_verify_falls_back_as_tls() {
    let dir = Tmp::new("tls-bad");
    let ca = TestCa::new();
    let other = TestCa::new();
    let other_file = dir.join("other.pem");
    other.write_pem(&other_file);
    let ca_file = dir.join("ca.pem");
    ca.write_pem(&ca_file);
    let signed_by_ca = TlsServer::start(TlsOptions {
        ca: &ca,
        expired: false,
        token: None,
    });
    let expired = TlsServer::start(TlsOptions {
        ca: &ca,
        expired: true,
        token: None,
    });
    // Signed by a CA the client does not trust (the system's roots; another CA file), or
    // expired: no request gets through, the metadata says why, the rows fall back as `tls`.
    for (srv, ca_file) in [
        (&signed_by_ca, None),
        (&signed_by_ca, Some(other_file.clone())),
        (&expired, Some(ca_file.clone())),
    ] {
        let mut c = cfg(srv.url());
        c.ca_file = ca_file.clone();
        let mut s = match RemoteScorer::new(c) {
            Ok(s) => s,
            // A machine without system root certificates refuses at once; fine too.
            Err(ClientError::Tls(_)) if ca_file.is_none() => continue,
            Err(e) => panic!("{e}"),
        };
        match s.fetch_metadata() {
            Err(MetadataError::Tls(msg)) => {
                assert!(msg.contains("certificate"), "{ca_file:?}: {msg}")
            }
            other => panic!("{ca_file:?}: {other:?}"),
        }
        let events = score(&mut s, 6);
        assert_eq!(events.len(), 6);
        assert!(events
            .iter()
            .all(|e| e.outcome == Outcome::Fallback(FallbackReason::Tls) && e.score == 0.0));
        let counters = s.counters();
        assert_eq!(counters.fallback(FallbackReason::Tls), 6);
        assert_eq!(counters.retries, 0, "a certificate does not get better");
    }
    assert_eq!(
        signed_by_ca.hits.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert_eq!(expired.hits.load(std::sync::atomic::Ordering::Relaxed), 0);
}

#[test]
fn a_missing_or_wrong_token_is_refused_or_falls_back_and_never_shown() {
    let dir = Tmp::new("tls-token");
    let ca = TestCa::new();
    let srv = TlsServer::start(TlsOptions {
        ca: &ca,
        expired: false,
        token: Some("the-right-one".into()),
    });
    let ca_file = dir.join("ca.pem");
    ca.write_pem(&ca_file);
    let base = {
        let mut c = cfg(srv.url());
        c.ca_file = Some(ca_file);
        c
    };
    // The variable is not set: the scorer does not start, and says which variable.
    let mut c = base.clone();
    c.headers = vec![EnvHeader::bearer("EDDY_TLS_TEST_TOKEN_UNSET")];
    match RemoteScorer::new(c) {
        Err(e @ ClientError::MissingEnv { .. }) => {
            assert!(e.to_string().contains("EDDY_TLS_TEST_TOKEN_UNSET"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    // A value that cannot be a header: refused without showing it.
    std::env::set_var("EDDY_TLS_TEST_TOKEN_BAD", format!("{SECRET}\n"));
    let mut c = base.clone();
    c.headers = vec![EnvHeader::bearer("EDDY_TLS_TEST_TOKEN_BAD")];
    match RemoteScorer::new(c) {
        Err(e @ ClientError::BadHeader { .. }) => {
            let text = format!("{e} {e:?}");
            assert!(
                text.contains("EDDY_TLS_TEST_TOKEN_BAD") && !text.contains(SECRET),
                "{text}"
            )
        }
        other => panic!("{other:?}"),
    }
    // No token, and a wrong (say, expired) one: 401, rows fall back as `unauthorized`.
    for headers in [vec![], vec![token_env("EDDY_TLS_TEST_TOKEN_WRONG")]] {
        let mut c = base.clone();
        c.headers = headers;
        let mut s = RemoteScorer::new(c).unwrap();
        match s.fetch_metadata() {
            Err(MetadataError::Status { status: 401, .. }) => {}
            other => panic!("{other:?}"),
        }
        let events = score(&mut s, 5);
        assert!(events
            .iter()
            .all(|e| e.outcome == Outcome::Fallback(FallbackReason::Unauthorized)));
        let counters = s.counters();
        assert_eq!(counters.fallback(FallbackReason::Unauthorized), 5);
        assert_eq!(counters.retries, 0, "a refused credential is not retried");
        assert!(!format!("{s:?} {counters}").contains(SECRET));
    }
}

#[test]
fn tls_settings_that_cannot_work_are_refused() {
    let dir = Tmp::new("tls-settings");
    let mut c = cfg("http://127.0.0.1:1".into());
    c.ca_file = Some(dir.join("ca.pem"));
    assert!(matches!(
        RemoteScorer::new(c),
        Err(ClientError::CaWithoutTls { .. })
    ));
    let mut c = cfg("https://127.0.0.1:1".into());
    c.ca_file = Some(dir.join("absent.pem"));
    assert!(matches!(
        RemoteScorer::new(c),
        Err(ClientError::CaFile { .. })
    ));
    std::fs::write(dir.join("empty.pem"), "not a certificate\n").unwrap();
    let mut c = cfg("https://127.0.0.1:1".into());
    c.ca_file = Some(dir.join("empty.pem"));
    assert!(matches!(
        RemoteScorer::new(c),
        Err(ClientError::CaFile { .. })
    ));
    let c = cfg("ftp://127.0.0.1:1".into());
    assert!(matches!(
        RemoteScorer::new(c),
        Err(ClientError::NotHttp { .. })
    ));
}

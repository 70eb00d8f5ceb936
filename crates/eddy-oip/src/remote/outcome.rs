//! What comes out of the scorer: each event's outcome (scored, or the fallback and why) and
//! the watermarks between them.

use std::fmt;
use std::time::Duration;

/// Why an event got the fallback score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FallbackReason {
    /// Every attempt timed out.
    Timeout,
    /// The server answered 5xx.
    Http5xx,
    /// The server answered another non-2xx status (the request was refused).
    Http4xx,
    /// The response body was not a valid OIP response (a `NaN` or `null` score included:
    /// neither is a JSON number).
    Malformed,
    /// The response lacked the score output, or its shape did not fit the batch (the wrong
    /// number of rows, several values per row and no score column, a column out of range).
    WrongOutputs,
    /// No connection, or it broke.
    Connect,
    /// The circuit breaker was open.
    CircuitOpen,
    /// The features held a non-finite value (never sent).
    InvalidInput,
    /// The server answered 401 or 403: a missing, wrong or expired credential.
    Unauthorized,
    /// The TLS handshake failed: most often, the server's certificate did not verify.
    Tls,
}

impl FallbackReason {
    /// How many reasons there are.
    pub const COUNT: usize = 10;
    pub const ALL: [FallbackReason; Self::COUNT] = [
        FallbackReason::Timeout,
        FallbackReason::Http5xx,
        FallbackReason::Http4xx,
        FallbackReason::Malformed,
        FallbackReason::WrongOutputs,
        FallbackReason::Connect,
        FallbackReason::CircuitOpen,
        FallbackReason::InvalidInput,
        FallbackReason::Unauthorized,
        FallbackReason::Tls,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            FallbackReason::Timeout => "timeout",
            FallbackReason::Http5xx => "http_5xx",
            FallbackReason::Http4xx => "http_4xx",
            FallbackReason::Malformed => "malformed",
            FallbackReason::WrongOutputs => "wrong_outputs",
            FallbackReason::Connect => "connect",
            FallbackReason::CircuitOpen => "circuit_open",
            FallbackReason::InvalidInput => "invalid_input",
            FallbackReason::Unauthorized => "unauthorized",
            FallbackReason::Tls => "tls",
        }
    }
    /// The position in [`Counters::fallback`](super::Counters::fallback).
    pub(super) fn index(self) -> usize {
        self as usize
    }
    /// Whether another attempt might succeed.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            FallbackReason::Timeout | FallbackReason::Http5xx | FallbackReason::Connect
        )
    }
}

impl fmt::Display for FallbackReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Scored by the server, or the fallback and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Scored,
    Fallback(FallbackReason),
}

/// One event out of the scorer.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredEvent {
    /// The id given to [`RemoteScorer::submit`](super::RemoteScorer::submit).
    pub id: u64,
    pub score: f64,
    pub label: Option<i64>,
    pub outcome: Outcome,
    /// From `submit` to emission (batching, the call, retries and ordering waits).
    pub latency: Duration,
    /// HTTP attempts made for the event's batch (0 when none was made).
    pub attempts: u32,
}

/// What [`RemoteScorer::poll`](super::RemoteScorer::poll) and friends emit.
#[derive(Debug, Clone, PartialEq)]
pub enum Emitted {
    Event(ScoredEvent),
    Watermark(i64),
}

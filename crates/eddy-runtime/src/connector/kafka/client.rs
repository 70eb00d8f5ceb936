//! What eddy's Kafka clients share (the source, the sink, and any other part of eddy that
//! talks to Kafka): the client settings eddy gives librdkafka, and a
//! librdkafka error in eddy's words.

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;

use crate::error::RuntimeError;

/// Settings common to eddy's consumers and producers: the brokers, a client id, and librdkafka
/// logging kept off stderr (eddy reports what matters itself).
pub(crate) fn config(brokers: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("client.id", "eddy")
        .set("log_level", "3")
        // a broker restarted: reconnect quickly, not after librdkafka's default back-off
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "1000");
    c
}

/// A failed Kafka call, naming what eddy was doing.
pub(crate) fn error(what: impl Into<String>, e: KafkaError) -> RuntimeError {
    RuntimeError::Kafka {
        what: what.into(),
        msg: e.to_string(),
    }
}

//! The floor for a Kafka-to-Kafka pipeline: a plain rdkafka loop that reads every message of a
//! topic (from its start to the end offsets it had at start) and produces each one, unchanged
//! and with its key, to another topic, doing no work; it prints messages/s. The same client
//! settings as eddy's source and sink (idempotent producer), so that `scripts/bench_kafka.sh`
//! compares eddy with what the client library alone costs.
//!
//! `cargo run --release -p eddy-runtime --example kafka_passthrough -- BROKERS FROM TO`

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, brokers, from, to] = &args[..] else {
        return Err("usage: kafka_passthrough BROKERS FROM TO".into());
    };
    let start = Instant::now();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "kafka-passthrough")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100")
        .create()?;
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "100000")
        .create()?;
    let timeout = Duration::from_secs(30);
    let meta = consumer.fetch_metadata(Some(from), timeout)?;
    let parts: Vec<i32> = meta
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut tpl = TopicPartitionList::new();
    let mut left = 0i64;
    for &p in &parts {
        let (low, high) = consumer.fetch_watermarks(from, p, timeout)?;
        left += high - low;
        tpl.add_partition_offset(from, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let total = left;
    while left > 0 {
        let Some(m) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = m?;
        let mut r = BaseRecord::<[u8], [u8]>::to(to).payload(m.payload().unwrap_or(&[]));
        if let Some(k) = m.key() {
            r = r.key(k);
        }
        loop {
            match producer.send(r) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    r = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
        left -= 1;
    }
    producer.flush(Duration::from_secs(120))?;
    let s = start.elapsed().as_secs_f64();
    println!(
        "{total} messages in {s:.3} s: {:.0} messages/s",
        total as f64 / s
    );
    Ok(())
}

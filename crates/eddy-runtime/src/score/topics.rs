//! The topics pattern (async enrichment): each per-event row's scoring request is produced to
//! `request_topic`, keyed by its entity key; `eddy score-worker`s answer on `response_topic`;
//! each score rejoins its row in a `Join` (`join.rs`) within `deadline`, in input order or (unordered)
//! as scores come, never across a watermark. A row whose score does not come in time leaves
//! with `"prediction": null, "scored": false, "unscored": "deadline"`.
//!
//! Requests and responses are the JSON of [`crate::score::topic_wire`]. A request's id is the run's
//! id and the row's number in the run, so the input's own event ids (which may repeat or be
//! missing) play no part, and answers meant for another run are told apart (unknown).
//!
//! The responses are read from every partition of the response topic, from the end offsets
//! it had when the run started (assigned, not subscribed: no group rebalance to wait for, and
//! no answer produced before the first fetch is missed). Nothing is committed: a new run has
//! new ids, so old answers are of no use to it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use eddy_core::feature::FeatureSpec;
use eddy_core::row::FeatureRow;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::join::{Join, Score, Unscored};
use super::topic_wire::{RequestWriter, Response, RowId};
use super::{gather, resolve_inputs, spec_err, Deferred, Deliver, PredictionWriter, StageCounts};
use crate::error::SpecErrors;
use crate::spec::{ModelSource, ModelSpec, OutputFormat, TopicsConfig};

/// How long the start-up checks wait for the brokers.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Collects the rows whose request the producer gave up on (delivery failed after its
/// retries): they leave unscored (`server`) at once rather than at their deadline.
#[derive(Default)]
struct Deliveries {
    failed: Mutex<Vec<u64>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    /// The row's join number.
    type DeliveryOpaque = usize;

    fn delivery(&self, r: &DeliveryResult<'_>, seq: usize) {
        if r.is_err() {
            (self.failed.lock().unwrap_or_else(|e| e.into_inner())).push(seq as u64);
        }
    }
}

/// The topics pattern's producer, consumer and join; see the module docs.
pub struct TopicsStage {
    cfg: TopicsConfig,
    producer: BaseProducer<Deliveries>,
    consumer: BaseConsumer,
    run: u64,
    cols: Vec<usize>,
    feats: Vec<f64>,
    /// Whether `feats` holds every input of the last loaded row.
    loaded: bool,
    key: String,
    ts: i64,
    writer: RequestWriter,
    payload: Vec<u8>,
    join: Join,
    failed: Vec<u64>,
}

impl std::fmt::Debug for TopicsStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicsStage")
            .field("brokers", &self.cfg.brokers)
            .field("request_topic", &self.cfg.request_topic)
            .field("response_topic", &self.cfg.response_topic)
            .finish()
    }
}

/// A run id: new each run (the clock and the process id, mixed).
fn run_id() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut z = nanos ^ (u64::from(std::process::id()) << 32);
    // splitmix64's finalizer
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn kafka_err(path: &str, what: &str, e: KafkaError) -> SpecErrors {
    spec_err(path, format!("{what}: {e}"))
}

impl TopicsStage {
    /// Connects to the brokers, checks that both topics exist, and starts reading the
    /// response topic at its end. Refused (before any event is read) when the brokers do not
    /// answer or a topic is missing.
    pub fn new(
        spec: &ModelSpec,
        features: &[FeatureSpec],
        format: OutputFormat,
    ) -> Result<(TopicsStage, Vec<String>), SpecErrors> {
        let ModelSource::Topics(cfg) = &spec.source else {
            return Err(spec_err(
                "model.pattern",
                "the topics pattern needs `brokers`, `request_topic` and `response_topic`",
            ));
        };
        let inputs = spec
            .inputs
            .as_ref()
            .ok_or_else(|| spec_err("model.inputs", "missing; list the model's features"))?;
        let (cols, _) = resolve_inputs(inputs, true, features)?;
        let run = run_id();
        let client = |c: &mut ClientConfig| {
            for (k, v) in &cfg.client {
                c.set(k, v);
            }
        };
        let mut pc = ClientConfig::new();
        pc.set("bootstrap.servers", &cfg.brokers)
            .set("linger.ms", "1");
        client(&mut pc);
        let producer: BaseProducer<Deliveries> = pc
            .create_with_context(Deliveries::default())
            .map_err(|e| kafka_err("model.brokers", "cannot make a Kafka producer", e))?;
        let group =
            (cfg.response_group.clone()).unwrap_or_else(|| format!("eddy-scores-{run:016x}"));
        let mut cc = ClientConfig::new();
        cc.set("bootstrap.servers", &cfg.brokers)
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .set("fetch.wait.max.ms", "10");
        client(&mut cc);
        let consumer: BaseConsumer = cc
            .create()
            .map_err(|e| kafka_err("model.brokers", "cannot make a Kafka consumer", e))?;
        let parts = |topic: &str, key: &str| -> Result<Vec<i32>, SpecErrors> {
            let md = consumer
                .fetch_metadata(Some(topic), START_TIMEOUT)
                .map_err(|e| {
                    kafka_err(
                        "model.brokers",
                        &format!("the brokers at {} did not answer", cfg.brokers),
                        e,
                    )
                })?;
            let t = md.topics().iter().find(|t| t.name() == topic);
            match t {
                Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
                    Ok(t.partitions().iter().map(|p| p.id()).collect())
                }
                _ => Err(spec_err(
                    key,
                    format!(
                        "topic `{topic}` does not exist at {}; create it first (eddy creates no topic, and brokers such as tansu make none on first use)",
                        cfg.brokers
                    ),
                )),
            }
        };
        parts(&cfg.request_topic, "model.request_topic")?;
        let mut tpl = TopicPartitionList::new();
        for p in parts(&cfg.response_topic, "model.response_topic")? {
            let (_, high) = consumer
                .fetch_watermarks(&cfg.response_topic, p, START_TIMEOUT)
                .map_err(|e| {
                    kafka_err(
                        "model.response_topic",
                        &format!("cannot read the end offset of {}/{p}", cfg.response_topic),
                        e,
                    )
                })?;
            tpl.add_partition_offset(&cfg.response_topic, p, Offset::Offset(high))
                .map_err(|e| kafka_err("model.response_topic", "cannot assign", e))?;
        }
        consumer
            .assign(&tpl)
            .map_err(|e| kafka_err("model.response_topic", "cannot assign", e))?;
        let pred = PredictionWriter::new(format, &spec.field, &spec.name, "");
        let deadline = spec.deadline.unwrap_or(Duration::from_secs(1));
        let unordered = cfg.order == eddy_oip::remote::EmitMode::Unordered;
        Ok((
            TopicsStage {
                cfg: cfg.clone(),
                producer,
                consumer,
                run,
                feats: Vec::with_capacity(cols.len()),
                loaded: false,
                writer: RequestWriter::new(inputs),
                cols,
                key: String::new(),
                ts: 0,
                payload: Vec::new(),
                join: Join::new(deadline, unordered, true, pred),
                failed: Vec::new(),
            },
            Vec::new(),
        ))
    }

    /// Applies the answers and delivery failures that are in, then releases the rows that
    /// may leave. `wait`: how long to wait for the first answer.
    fn pump(&mut self, wait: Duration, deliver: &mut Deliver<'_>) {
        self.producer.poll(Duration::ZERO);
        {
            let ctx = self.producer.context();
            let mut failed = ctx.failed.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::swap(&mut *failed, &mut self.failed);
        }
        for seq in self.failed.drain(..) {
            self.join.complete(seq, Err(Unscored::Server), deliver);
        }
        let mut timeout = wait;
        while let Some(m) = self.consumer.poll(timeout) {
            timeout = Duration::ZERO;
            // A broker error: librdkafka reconnects and retries by itself.
            let Ok(m) = m else { continue };
            let Some(resp) = m.payload().and_then(|p| Response::parse(p).ok()) else {
                self.join.unknown();
                continue;
            };
            let Some(id) = RowId::parse(&resp.id).filter(|id| id.run == self.run) else {
                self.join.unknown();
                continue;
            };
            let r = match (resp.score, &resp.error) {
                (Some(score), None) if score.is_finite() => Ok(Score {
                    score,
                    label: resp.label,
                    latency: self
                        .join
                        .sent_at(id.n)
                        .map_or(Duration::ZERO, |t| t.elapsed()),
                    origin: match (&resp.model, &resp.version) {
                        (Some(m), v) => self.join.origin(m, v.as_deref().unwrap_or("")),
                        (None, _) => 0,
                    },
                }),
                _ => Err(Unscored::Server),
            };
            self.join.complete(id.n, r, deliver);
        }
        self.join.release(Instant::now(), deliver);
    }

    /// How long to wait for answers before the front row's deadline (at most 10 ms).
    fn wait_limit(&self) -> Duration {
        let due = self.join.next_due().map_or(Duration::from_millis(10), |d| {
            d.saturating_duration_since(Instant::now())
        });
        due.clamp(Duration::from_micros(100), Duration::from_millis(10))
    }
}

impl Deferred for TopicsStage {
    fn counts(&self) -> &StageCounts {
        self.join.counts()
    }

    fn pending(&self) -> usize {
        self.join.len()
    }

    fn watermark(&mut self, wm: i64, _deliver: &mut Deliver<'_>) {
        self.join.watermark(wm);
    }

    fn load(&mut self, row: &FeatureRow, key: &str, ts: i64) {
        self.loaded = gather(row, &self.cols, &mut self.feats);
        self.key.clear();
        self.key.push_str(key);
        self.ts = ts;
    }

    fn send(&mut self, id: u64, deliver: &mut Deliver<'_>) {
        if !self.loaded {
            self.join.push(
                id,
                Instant::now(),
                Some(Err(Unscored::NullFeature)),
                deliver,
            );
            self.pump(Duration::ZERO, deliver);
            return;
        }
        // Back-pressure: a full join holds the pipeline up until its front leaves (at the
        // latest at its deadline).
        while self.join.len() >= self.cfg.capacity {
            let wait = self.wait_limit();
            self.pump(wait, deliver);
        }
        let seq = self.join.push(id, Instant::now(), None, deliver);
        let n = RowId {
            run: self.run,
            n: seq,
        };
        self.writer
            .write(&mut self.payload, n, &self.key, self.ts, &self.feats);
        let mut record = BaseRecord::with_opaque_to(&self.cfg.request_topic, seq as usize)
            .key(self.key.as_bytes())
            .payload(&self.payload[..]);
        loop {
            match self.producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    // librdkafka's queue is full: serve deliveries, then try again.
                    self.producer.poll(Duration::from_millis(1));
                    record = back;
                }
                Err(_) => {
                    self.join.complete(seq, Err(Unscored::Server), deliver);
                    break;
                }
            }
        }
        self.pump(Duration::ZERO, deliver);
    }

    fn poll(&mut self, deliver: &mut Deliver<'_>) {
        self.pump(Duration::ZERO, deliver);
    }

    fn finish(&mut self, deliver: &mut Deliver<'_>) {
        // The requests still queued go out now, not after linger.
        let _ = self.producer.flush(Duration::ZERO);
        while !self.join.is_empty() {
            let wait = self.wait_limit();
            self.pump(wait, deliver);
        }
    }
}

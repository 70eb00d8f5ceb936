//! `eddy score-worker`: the other side of the topics pattern. Consumes scoring requests in a
//! consumer group, scores them in batches with an embedded model (ONNX or an eddy snapshot,
//! as the embedded pattern loads them), and produces one response per request.
//!
//! At least once: a batch's request offsets are committed only after every one of its
//! responses is acknowledged by the broker. A worker that dies loses nothing: its partitions
//! go to the group's other workers, which answer its uncommitted requests again; the
//! pipeline ignores (and counts) the second answer to a row.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use eddy_infer::{load_model, Batch, DataType, FeatureSpec, Model, Scores};
use eddy_runtime::score::topic_wire::{RequestReader, ResponseWriter};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::thousands;

#[derive(clap::Args, Debug)]
#[command(after_help = "Requests and responses are one JSON object per message \
    (docs/serving.md#topics). Stops cleanly on Ctrl-C or SIGTERM: the batch in hand is \
    answered and committed first.")]
pub struct ScoreWorkerArgs {
    /// Kafka bootstrap servers, `host:port[,host:port...]`.
    #[arg(long)]
    pub brokers: String,
    /// The topic the pipeline sends its scoring requests to.
    #[arg(long)]
    pub request_topic: String,
    /// The topic to answer on.
    #[arg(long)]
    pub response_topic: String,
    /// The model: an ONNX file (`.onnx`) or an eddy snapshot (`.json`).
    #[arg(long)]
    pub model: PathBuf,
    /// The model's name in each response [default: the file stem].
    #[arg(long)]
    pub name: Option<String>,
    /// The version in each response [default: the model's own].
    #[arg(long = "model-version")]
    pub model_version: Option<String>,
    /// The request features the model takes, in its order (comma-separated) [default: the
    /// model's declared feature names].
    #[arg(long, value_delimiter = ',')]
    pub inputs: Option<Vec<String>>,
    /// The consumer group the workers share.
    #[arg(long, default_value = "eddy-score-workers")]
    pub group: String,
    /// Most requests scored in one model call.
    #[arg(long, default_value_t = 256)]
    pub max_batch: usize,
    /// How long a batch waits for more requests after its first, such as `5ms`.
    #[arg(long, default_value = "5ms", value_parser = duration)]
    pub max_wait: Duration,
    /// How long the group waits for a silent worker before giving its partitions to the
    /// others (Kafka's `session.timeout.ms`).
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub session_timeout: Duration,
}

fn duration(s: &str) -> Result<Duration> {
    let ms = eddy_core::time::parse_duration(s)?;
    if ms < 0 {
        bail!("a duration cannot be negative");
    }
    Ok(Duration::from_millis(ms.unsigned_abs()))
}

/// Says on stderr which partitions the group gave this worker, as it changes.
struct Group;

impl ClientContext for Group {}

impl ConsumerContext for Group {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, r: &Rebalance<'_>) {
        match r {
            Rebalance::Assign(tpl) => {
                let parts: Vec<String> = (tpl.elements().iter())
                    .map(|e| format!("{}/{}", e.topic(), e.partition()))
                    .collect();
                eprintln!("score-worker: assigned [{}]", parts.join(", "));
            }
            Rebalance::Revoke(_) => eprintln!("score-worker: partitions revoked"),
            Rebalance::Error(e) => eprintln!("score-worker: rebalance error: {e}"),
        }
    }
}

/// Counts the responses the broker acknowledged or refused.
#[derive(Default)]
struct Acks {
    delivered: AtomicUsize,
    failed: AtomicUsize,
}

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        match r {
            Ok(_) => self.delivered.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// What the worker did, for its closing line.
#[derive(Default)]
struct Tally {
    answered: u64,
    errors: u64,
    unreadable: u64,
    batches: u64,
}

/// The model and its input order.
struct Scoring {
    model: Box<dyn Model>,
    reader: RequestReader,
    writer: ResponseWriter,
}

fn load(args: &ScoreWorkerArgs) -> Result<Scoring> {
    let name = match &args.name {
        Some(n) => n.clone(),
        None => stem(&args.model)?,
    };
    let model = load_model(&args.model, &name)
        .with_context(|| format!("loading the model {}", args.model.display()))?;
    let meta = model.metadata();
    let inputs: Vec<String> = match &args.inputs {
        Some(i) => i.clone(),
        None if meta.features.is_empty() => bail!(
            "model {} declares no feature names; list the request features it takes, in order, with --inputs",
            args.model.display()
        ),
        None => meta.features.iter().map(|f| f.name.clone()).collect(),
    };
    let supplied: Vec<FeatureSpec> = (inputs.iter())
        .map(|n| FeatureSpec::new(n.clone(), DataType::Fp64))
        .collect();
    let mapping = model
        .check_inputs(&supplied)
        .with_context(|| format!("--inputs {}", inputs.join(",")))?;
    // The reader fills each row in the model's column order.
    let ordered: Vec<String> = mapping.order.iter().map(|&i| inputs[i].clone()).collect();
    let version = (args.model_version.clone()).unwrap_or_else(|| meta.version.clone());
    Ok(Scoring {
        writer: ResponseWriter::new(&name, &version),
        reader: RequestReader::new(ordered),
        model,
    })
}

fn stem(path: &Path) -> Result<String> {
    path.file_stem()
        .and_then(|s| s.to_str())
        .map(str::to_string)
        .with_context(|| format!("cannot name a model after {}", path.display()))
}

pub fn run(args: ScoreWorkerArgs, signal: Arc<AtomicUsize>) -> Result<ExitCode> {
    if args.max_batch == 0 {
        bail!("--max-batch must be at least 1");
    }
    let scoring = load(&args)?;
    let consumer: BaseConsumer<Group> = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("group.id", &args.group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "10")
        .set(
            "session.timeout.ms",
            args.session_timeout.as_millis().to_string(),
        )
        .set(
            "heartbeat.interval.ms",
            (args.session_timeout.as_millis() / 4).max(100).to_string(),
        )
        .create_with_context(Group)
        .context("creating the request consumer")?;
    let producer: BaseProducer<Acks> = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("linger.ms", "1")
        .create_with_context(Acks::default())
        .context("creating the response producer")?;
    for topic in [&args.request_topic, &args.response_topic] {
        let md = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .with_context(|| format!("the brokers at {} did not answer", args.brokers))?;
        let ok = (md.topics().iter()).any(|t| {
            t.name() == topic.as_str() && t.error().is_none() && !t.partitions().is_empty()
        });
        if !ok {
            bail!(
                "topic `{topic}` does not exist at {}; create it first (brokers such as tansu make none on first use)",
                args.brokers
            );
        }
    }
    consumer
        .subscribe(&[&args.request_topic])
        .with_context(|| format!("subscribing to {}", args.request_topic))?;
    eprintln!(
        "score-worker: model {} answering {} on {} in group {}",
        args.model.display(),
        args.request_topic,
        args.response_topic,
        args.group
    );
    let mut w = Worker {
        args: &args,
        scoring,
        consumer,
        producer,
        matrix: Vec::new(),
        reqs: Vec::new(),
        text: Vec::new(),
        offsets: Vec::new(),
        scores: Scores::new(),
        out: Vec::new(),
        tally: Tally::default(),
    };
    let result = w.serve();
    let t = &w.tally;
    eprintln!(
        "score-worker: answered {} requests in {} batches ({} answered with an error, {} unreadable)",
        thousands(t.answered),
        thousands(t.batches),
        thousands(t.errors),
        thousands(t.unreadable)
    );
    result?;
    Ok(match signal.load(Ordering::Relaxed) {
        0 => ExitCode::SUCCESS,
        sig => ExitCode::from((128 + sig).min(255) as u8),
    })
}

/// A request of the batch: where its id and key are in the batch's text, and how many of
/// the model's features it lacks; `id: None` when it could not be read.
struct Req {
    id: Option<Range<usize>>,
    key: Option<Range<usize>>,
    missing: usize,
}

struct Worker<'a> {
    args: &'a ScoreWorkerArgs,
    scoring: Scoring,
    consumer: BaseConsumer<Group>,
    producer: BaseProducer<Acks>,
    /// The batch: its rows (model order), its requests, and their ids and keys.
    matrix: Vec<f64>,
    reqs: Vec<Req>,
    text: Vec<u8>,
    /// The offset after each partition's last request in the batch.
    offsets: Vec<(i32, i64)>,
    scores: Scores,
    out: Vec<u8>,
    tally: Tally,
}

impl Worker<'_> {
    /// Batches until a stop is requested.
    fn serve(&mut self) -> Result<()> {
        while !eddy_runtime::shutdown::requested() {
            self.fill()?;
            if !self.reqs.is_empty() {
                self.answer()?;
            }
        }
        Ok(())
    }

    /// Reads a batch: up to `max_batch` requests, for at most `max_wait` after the first.
    fn fill(&mut self) -> Result<()> {
        self.matrix.clear();
        self.reqs.clear();
        self.text.clear();
        self.offsets.clear();
        let width = self.scoring.reader.inputs().len();
        let mut first: Option<Instant> = None;
        while self.reqs.len() < self.args.max_batch {
            let wait = match first {
                None => Duration::from_millis(100),
                Some(t) => match self.args.max_wait.checked_sub(t.elapsed()) {
                    Some(w) => w,
                    None => break,
                },
            };
            let Some(m) = self.consumer.poll(wait) else {
                if first.is_none() && eddy_runtime::shutdown::requested() {
                    break;
                }
                continue;
            };
            let m = match m {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("score-worker: consumer: {e}");
                    continue;
                }
            };
            first.get_or_insert_with(Instant::now);
            match self.offsets.iter_mut().find(|(p, _)| *p == m.partition()) {
                Some(o) => o.1 = m.offset() + 1,
                None => self.offsets.push((m.partition(), m.offset() + 1)),
            }
            let key = m.key().map(|k| {
                let at = self.text.len();
                self.text.extend_from_slice(k);
                at..self.text.len()
            });
            let at = self.matrix.len();
            self.matrix.resize(at + width, f64::NAN);
            let read = (m.payload())
                .ok_or_else(|| "an empty message".to_string())
                .and_then(|p| self.scoring.reader.read(p, &mut self.matrix[at..]));
            match read {
                Ok(r) => {
                    let at = self.text.len();
                    self.text.extend_from_slice(r.id.as_bytes());
                    self.reqs.push(Req {
                        id: Some(at..self.text.len()),
                        key,
                        missing: r.missing,
                    });
                }
                Err(e) => {
                    self.tally.unreadable += 1;
                    eprintln!(
                        "score-worker: {}/{} offset {}: not a scoring request ({e}); skipped",
                        m.topic(),
                        m.partition(),
                        m.offset()
                    );
                    self.reqs.push(Req {
                        id: None,
                        key,
                        missing: 0,
                    });
                }
            }
        }
        Ok(())
    }

    /// Scores the batch, produces its responses, waits for the broker to take them all, then
    /// commits the batch's request offsets.
    fn answer(&mut self) -> Result<()> {
        let width = self.scoring.reader.inputs().len();
        // Rows with a missing feature are answered with an error, not sent to the model.
        let mut rows = Vec::with_capacity(self.reqs.len());
        let mut dense = Vec::with_capacity(self.matrix.len());
        let mut n = 0;
        for (i, r) in self.reqs.iter().enumerate() {
            if r.id.is_some() && r.missing == 0 {
                rows.push(Some(n));
                n += 1;
                dense.extend_from_slice(&self.matrix[i * width..(i + 1) * width]);
            } else {
                rows.push(None);
            }
        }
        let scored = n == 0
            || Batch::new(&dense, n)
                .and_then(|b| self.scoring.model.score(b, &mut self.scores))
                .map_err(|e| eprintln!("score-worker: the model failed on a batch: {e}"))
                .is_ok();
        let acks = self.producer.context();
        let (delivered0, failed0) = (
            acks.delivered.load(Ordering::Relaxed),
            acks.failed.load(Ordering::Relaxed),
        );
        let mut sent = 0;
        for (i, r) in self.reqs.iter().enumerate() {
            let Some(id) = r.id.clone() else { continue };
            // The id was read from a JSON string: it is UTF-8.
            let id = std::str::from_utf8(&self.text[id]).unwrap_or_default();
            let missing = r.missing;
            match rows[i].and_then(|k| self.scores.score(k).filter(|_| scored).map(|s| (k, s))) {
                Some((k, s)) => {
                    self.scoring
                        .writer
                        .scored(&mut self.out, id, s, self.scores.label(k));
                    self.tally.answered += 1;
                }
                None => {
                    let why = if missing > 0 {
                        format!("{missing} of the model's features missing or null")
                    } else {
                        "the model failed".to_string()
                    };
                    self.scoring.writer.failed(&mut self.out, id, &why);
                    self.tally.errors += 1;
                }
            }
            let mut record = BaseRecord::to(&self.args.response_topic).payload(&self.out[..]);
            if let Some(k) = r.key.clone() {
                record = record.key(&self.text[k]);
            }
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        self.producer.poll(Duration::from_millis(5));
                        record = back;
                    }
                    Err((e, _)) => bail!("producing to {}: {e}", self.args.response_topic),
                }
            }
            sent += 1;
        }
        // Every response acknowledged (or refused) before anything is committed.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            self.producer.poll(Duration::from_millis(5));
            let acks = self.producer.context();
            let done = acks.delivered.load(Ordering::Relaxed) - delivered0
                + (acks.failed.load(Ordering::Relaxed) - failed0);
            if done >= sent {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "the broker did not acknowledge {} responses on {} within 120 s; nothing of this batch was committed",
                    sent - done,
                    self.args.response_topic
                );
            }
        }
        let failed = self.producer.context().failed.load(Ordering::Relaxed) - failed0;
        if failed > 0 {
            bail!(
                "{failed} responses could not be delivered to {}; nothing of this batch was committed (another worker, or the next start, answers it)",
                self.args.response_topic
            );
        }
        let mut tpl = TopicPartitionList::new();
        for &(partition, offset) in &self.offsets {
            tpl.add_partition_offset(&self.args.request_topic, partition, Offset::Offset(offset))
                .context("the offsets to commit")?;
        }
        // A partition revoked meanwhile refuses the commit: its new owner answers those
        // requests again (duplicates the pipeline ignores).
        if let Err(e) = self.consumer.commit(&tpl, CommitMode::Sync) {
            eprintln!("score-worker: commit: {e} (those requests will be answered again)");
        }
        self.tally.batches += 1;
        Ok(())
    }
}

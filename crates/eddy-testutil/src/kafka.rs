//! A real Kafka-protocol broker on loopback for tests: tansu 0.6 (a Rust broker), started on a
//! free port with in-memory storage, behind a small TCP proxy of our own, and killed when the
//! [`Broker`] is dropped (also when the test panics).
//!
//! Why the proxy: tansu 0.6 built with `dynostore` keeps its data in memory only, so killing
//! the process would lose every topic and offset. A fault test wants the broker gone and back
//! with its data, as a restarted Kafka broker would be: [`Broker::stop`] drops every client
//! connection and refuses new ones (clients see the broker down), [`Broker::restart`] lets
//! them in again. The broker advertises the proxy's address, so every client goes through it.
//!
//! tansu 0.6's gaps, which the tests are designed around: topics are never created on first
//! use ([`Broker::create_topic`] makes them), transactions are not enforced, the first fetch
//! of a fresh topic can take a few seconds (wait generously, never race it), and a
//! partition's reported end offset is one past the first offset of its last record batch
//! ([`Broker::read_all`] reads to the end-of-partition event instead).
//!
//! The binary is `$EDDY_TANSU`, else `~/.cache/eddy/tansu/bin/tansu` (where `.ci/run`
//! installs it). Without it [`Broker::start`] says so loudly and returns `None` (the test
//! passes as skipped), except under `CI=true`, where it panics.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use crate::Tmp;

/// How long the broker may take to answer at start, and a topic to appear.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The tansu binary, if installed.
pub fn tansu_binary() -> Option<PathBuf> {
    let p = match std::env::var_os("EDDY_TANSU") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cache/eddy/tansu/bin/tansu"),
    };
    p.exists().then_some(p)
}

/// `None` and a loud message when tansu is absent (a panic under `CI=true`).
fn binary_or_skip(test: &str) -> Option<PathBuf> {
    if let Some(p) = tansu_binary() {
        return Some(p);
    }
    let msg = "tansu is not installed (neither $EDDY_TANSU nor ~/.cache/eddy/tansu/bin/tansu): run .ci/run, or `cargo install tansu --version 0.6.0 --locked --no-default-features --features dynostore --root ~/.cache/eddy/tansu`";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    // Straight to stderr, past the test harness's capture, so a skip is seen.
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED kafka test {test}: {msg} ***\n"
    );
    None
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A tansu broker on loopback (see the module doc).
pub struct Broker {
    child: Option<Child>,
    binary: PathBuf,
    /// Where tansu listens; clients never use it (they use the proxy's).
    inner_port: u16,
    proxy: Proxy,
    dir: Tmp,
}

impl Broker {
    /// Starts a broker and waits until it answers a metadata request; `None` when tansu is
    /// not installed (outside CI). `test` names the test in the skip message.
    pub fn start(test: &str) -> Option<Broker> {
        let binary = binary_or_skip(test)?;
        let inner_port = free_port();
        let proxy = Proxy::start(inner_port);
        let mut b = Broker {
            child: None,
            binary,
            inner_port,
            proxy,
            dir: Tmp::new(&format!("tansu-{test}")),
        };
        b.spawn();
        b.wait_ready();
        Some(b)
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.join("tansu.log")).expect("tansu's log file");
        let err = log.try_clone().expect("tansu's log file");
        let child = Command::new(&self.binary)
            .arg("broker")
            .arg("--listener-url")
            .arg(format!("tcp://127.0.0.1:{}", self.inner_port))
            .arg("--advertised-listener-url")
            .arg(format!("tcp://127.0.0.1:{}", self.proxy.port))
            .arg("--storage-engine")
            .arg("memory://tansu/")
            .env_remove("LISTENER_URL")
            .env_remove("ADVERTISED_LISTENER_URL")
            .env_remove("STORAGE_ENGINE")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        self.child = Some(child);
    }

    /// Waits until a metadata request through the proxy is answered.
    fn wait_ready(&mut self) {
        let start = Instant::now();
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!("tansu exited at start ({status}):\n{}", self.log());
                }
            }
            if TcpStream::connect(("127.0.0.1", self.inner_port)).is_ok() {
                let c = self.consumer("eddy-test-ready");
                if c.fetch_metadata(None, Duration::from_secs(5)).is_ok() {
                    return;
                }
            }
            if start.elapsed() > START_TIMEOUT {
                panic!(
                    "tansu did not answer within {START_TIMEOUT:?}:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What tansu printed so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("tansu.log")).unwrap_or_default()
    }

    /// `127.0.0.1:PORT`, for `bootstrap.servers` (the proxy in front of tansu).
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.proxy.port)
    }

    /// Creates `name` with `partitions` partitions (tansu creates no topic on first use) and
    /// waits until its metadata lists them all.
    pub fn create_topic(&self, name: &str, partitions: i32) {
        let out = Command::new(&self.binary)
            .args(["topic", "create", "--broker"])
            .arg(format!("tcp://127.0.0.1:{}", self.inner_port))
            .arg("--partitions")
            .arg(partitions.to_string())
            .arg(name)
            .output()
            .unwrap_or_else(|e| panic!("cannot run tansu topic create: {e}"));
        assert!(
            out.status.success(),
            "tansu topic create {name} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let c = self.consumer("eddy-test-meta");
        let start = Instant::now();
        loop {
            if let Ok(m) = c.fetch_metadata(Some(name), Duration::from_secs(5)) {
                if m.topics()
                    .iter()
                    .any(|t| t.name() == name && t.partitions().len() == partitions as usize)
                {
                    return;
                }
            }
            assert!(
                start.elapsed() < START_TIMEOUT,
                "topic {name} did not appear:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Makes every client see the broker down: live connections are cut and new ones refused
    /// until [`Broker::restart`]. The broker keeps its topics and committed offsets.
    pub fn stop(&self) {
        self.proxy.set_up(false);
    }

    /// Lets clients reach the broker again after [`Broker::stop`].
    pub fn restart(&self) {
        self.proxy.set_up(true);
    }

    /// A consumer of this broker in `group` (no offsets committed by itself).
    pub fn consumer(&self, group: &str) -> BaseConsumer {
        ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()
            .expect("a Kafka consumer")
    }

    /// Produces `messages` to `topic`, in order, and waits until every one is acknowledged.
    pub fn produce(&self, topic: &str, messages: &[Msg<'_>]) {
        let untimed: Vec<(Msg<'_>, Option<i64>)> = messages.iter().map(|m| (*m, None)).collect();
        self.produce_timed(topic, &untimed);
    }

    /// As [`Broker::produce`], each message with its timestamp (epoch ms; `None`: the
    /// producer's clock).
    pub fn produce_timed(&self, topic: &str, messages: &[(Msg<'_>, Option<i64>)]) {
        let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .create()
            .expect("a Kafka producer");
        for &(
            Msg {
                partition,
                key,
                payload,
            },
            timestamp,
        ) in messages
        {
            let mut r = BaseRecord::<[u8], [u8]>::to(topic)
                .partition(partition)
                .payload(payload);
            if let Some(t) = timestamp {
                r = r.timestamp(t);
            }
            if let Some(k) = key {
                r = r.key(k);
            }
            let mut r = r;
            loop {
                match p.send(r) {
                    Ok(()) => break,
                    Err((e, back)) => {
                        assert!(
                            matches!(
                                e.rdkafka_error_code(),
                                Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
                            ),
                            "produce to {topic}: {e}"
                        );
                        r = back;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            }
        }
        p.flush(Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("produce to {topic}: not acknowledged: {e}"));
    }

    /// Every message of `topic` now, partition by partition: each partition is read from its
    /// start until the broker says there is nothing more (its end-of-partition event; not its
    /// reported end offset, which tansu 0.6 gets wrong when the last record batch holds
    /// several records).
    pub fn read_all(&self, topic: &str) -> Vec<Record> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .set("group.id", "eddy-test-reader")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            .create()
            .expect("a Kafka consumer");
        let meta = c
            .fetch_metadata(Some(topic), Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("metadata of {topic}: {e}"));
        let parts: Vec<i32> = meta
            .topics()
            .iter()
            .filter(|t| t.name() == topic)
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        let mut tpl = TopicPartitionList::new();
        for &p in &parts {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .expect("a partition list");
        }
        c.assign(&tpl).expect("assign");
        let mut out: Vec<Record> = Vec::new();
        let mut open: std::collections::BTreeSet<i32> = parts.iter().copied().collect();
        let start = Instant::now();
        while !open.is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "reading {topic}: partitions {open:?} never reached their end"
            );
            match c.poll(Duration::from_millis(500)) {
                Some(Ok(m)) => out.push(Record::of(&m)),
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                    open.remove(&p);
                }
                Some(Err(e)) => panic!("reading {topic}: {e}"),
                None => {}
            }
        }
        out.sort_by_key(|r| (r.partition, r.offset));
        out
    }

    /// The offsets `group` has committed for `topic`'s partitions `0..partitions` (`None`
    /// where nothing is committed).
    pub fn committed(&self, group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
        let c = self.consumer(group);
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(topic, p);
        }
        let got = c
            .committed_offsets(tpl, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("committed offsets of {group}: {e}"));
        (0..partitions)
            .map(|p| match got.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => Some(o),
                _ => None,
            })
            .collect()
    }
}

/// One message to produce.
#[derive(Debug, Clone, Copy)]
pub struct Msg<'a> {
    pub partition: i32,
    pub key: Option<&'a [u8]>,
    pub payload: &'a [u8],
}

/// One message read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    /// `(name, value)` in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Record {
    fn of<M: Message>(m: &M) -> Record {
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|Header { key, value }| (key.to_string(), value.unwrap_or(&[]).to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        Record {
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().unwrap_or(&[]).to_vec(),
            headers,
        }
    }

    /// The value of the header `name`, if any.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// Headers for [`Broker::produce`]-like calls of tests that build their own records.
pub fn headers(pairs: &[(&str, &[u8])]) -> OwnedHeaders {
    pairs.iter().fold(OwnedHeaders::new(), |h, (k, v)| {
        h.insert(Header {
            key: k,
            value: Some(*v),
        })
    })
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A loopback TCP proxy that can cut its clients off and let them back in.
struct Proxy {
    port: u16,
    state: Arc<ProxyState>,
    accept: Option<JoinHandle<()>>,
}

struct ProxyState {
    up: AtomicBool,
    closing: AtomicBool,
    /// Both sides of every live connection, to cut them.
    conns: Mutex<Vec<TcpStream>>,
}

impl Proxy {
    fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("the proxy's port");
        let port = listener.local_addr().expect("the proxy's address").port();
        let state = Arc::new(ProxyState {
            up: AtomicBool::new(true),
            closing: AtomicBool::new(false),
            conns: Mutex::new(Vec::new()),
        });
        let st = state.clone();
        let accept = std::thread::spawn(move || {
            for client in listener.incoming() {
                if st.closing.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                // Down: the connection is closed at once, as if nobody listened.
                if !st.up.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let pairs = (
                    client.try_clone(),
                    server.try_clone(),
                    client.try_clone(),
                    server.try_clone(),
                );
                let (Ok(c2), Ok(s2), Ok(c3), Ok(s3)) = pairs else {
                    continue;
                };
                if let Ok(mut conns) = st.conns.lock() {
                    conns.push(c3);
                    conns.push(s3);
                }
                std::thread::spawn(move || pipe(client, server));
                std::thread::spawn(move || pipe(s2, c2));
            }
        });
        Proxy {
            port,
            state,
            accept: Some(accept),
        }
    }

    fn set_up(&self, up: bool) {
        self.state.up.store(up, Ordering::SeqCst);
        if !up {
            self.cut();
        }
    }

    fn cut(&self) {
        if let Ok(mut conns) = self.state.conns.lock() {
            for c in conns.drain(..) {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }
}

/// Copies `from` to `to` until either closes, then closes both.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.closing.store(true, Ordering::SeqCst);
        self.state.up.store(false, Ordering::SeqCst);
        self.cut();
        // wake the accept loop so that it sees `closing`
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

//! Deterministic synthetic event streams (`fraud`, `clicks`, `ratings`) as JSON Lines.
//!
//! Same config and seed → the same bytes, forever (the PRNG is eddy-core's in-tree
//! xoshiro256++). Events are produced in true-time order; the printed timestamp then gets a
//! bounded disorder (up to `disorder_ms` earlier) and, for a fraction of events, a delay far
//! beyond the lateness bound (`late_ms` to `2 * late_ms` earlier).
//!
//! [`generate_with_labels`] writes the outcomes of `fraud` and `clicks` to a label stream of
//! their own, delayed ([`labels`]); `ratings` is a planted low-rank rating
//! stream ([`ratings`]).

use std::collections::BinaryHeap;
use std::io::{self, Write};

use eddy_core::rng::Rng;
use eddy_core::Timestamp;

pub mod labels;
pub mod ratings;

use labels::LabelStream;
pub use labels::LABEL_DELAY_SIGMA;

/// Which stream to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Sessions of page views, logins and purchases; fraud bursts labelled 1.
    Fraud,
    /// Ad impressions and clicks; impressions labelled 1 when clicked.
    Clicks,
    /// Ratings of items by users from a planted low-rank model ([`ratings`]).
    Ratings,
}

impl std::str::FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fraud" => Ok(Scenario::Fraud),
            "clicks" => Ok(Scenario::Clicks),
            "ratings" => Ok(Scenario::Ratings),
            _ => Err(format!(
                "unknown scenario `{s}`; expected fraud, clicks or ratings"
            )),
        }
    }
}

/// Generator settings.
#[derive(Debug, Clone, PartialEq)]
pub struct GenConfig {
    pub scenario: Scenario,
    pub events: u64,
    pub seed: u64,
    /// Number of distinct users (keys).
    pub keys: u64,
    /// Maximum disorder: each printed timestamp is up to this many ms earlier than true time.
    pub disorder_ms: i64,
    /// Fraction of events printed `late_ms..2*late_ms` earlier (later than the lateness bound).
    pub late_fraction: f64,
    pub late_ms: i64,
    /// Event index at which the pattern changes (fraud: the fraud pattern; clicks: the CTRs).
    pub drift_at: Option<u64>,
    /// True time of the first event (epoch ms).
    pub start_ms: Timestamp,
    /// Mean gap between consecutive events (ms of event time).
    pub mean_gap_ms: f64,
    /// The mean delay of a label (ms of event time) in [`generate_with_labels`]; > 0.
    pub label_delay_ms: f64,
}

impl GenConfig {
    pub fn new(scenario: Scenario, events: u64, seed: u64) -> Self {
        GenConfig {
            scenario,
            events,
            seed,
            keys: 1_000,
            disorder_ms: 0,
            late_fraction: 0.0,
            late_ms: 600_000,
            drift_at: None,
            start_ms: 1_704_067_200_000, // 2024-01-01T00:00:00Z
            mean_gap_ms: 20.0,
            label_delay_ms: 60_000.0,
        }
    }
}

const MERCHANTS: [&str; 12] = [
    "grocer_one",
    "bookshop",
    "coffee_corner",
    "fuel_stop",
    "pharmacy",
    "shoe_store",
    "cinema",
    "bakery",
    "hardware",
    "florist",
    "toy_shop",
    "pet_supplies",
];
const RISKY_MERCHANTS: [&str; 3] = ["electronics_hub", "luxury_watches", "crypto_exchange"];
const GIFT_CARD_MERCHANTS: [&str; 2] = ["giftcards_now", "prepaid_cards"];
const PAGES: [&str; 6] = ["/", "/search", "/cart", "/account", "/deals", "/help"];
const CAMPAIGNS: usize = 20;
const DEVICES: [&str; 3] = ["mobile", "desktop", "tablet"];

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    PageView { product: Option<u32>, page: u8 },
    Login { success: bool },
    AddToCart { product: u32 },
    Purchase { amount: f64, merchant: &'static str },
    Logout,
    Impression { campaign: u32, device: u8 },
    Click { campaign: u32, device: u8 },
}

#[derive(Debug, Clone, PartialEq)]
struct Draft {
    ts: Timestamp,
    seq: u64,
    user: u64,
    kind: Kind,
    label: u8,
}

impl Eq for Draft {}
impl PartialOrd for Draft {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Draft {
    // Min-heap by (ts, seq).
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.ts, o.seq).cmp(&(self.ts, self.seq))
    }
}

/// Writes `cfg.events` JSON lines to `out`, each `fraud` or `clicks` event with its
/// `label`.
pub fn generate(cfg: &GenConfig, out: &mut dyn Write) -> io::Result<()> {
    match cfg.scenario {
        Scenario::Ratings => ratings::generate(cfg, out),
        _ => run(cfg, out, None),
    }
}

/// Writes `cfg.events` `fraud` or `clicks` events to `events`, without their `label`, and
/// their outcomes to `labels` (see [`labels`]): `fraud`, every event's label;
/// `clicks`, one record (label 1) per clicked impression, at the click's time, which is the
/// impression's time plus the delay. `ratings` has no label stream: it writes the events only.
pub fn generate_with_labels(
    cfg: &GenConfig,
    events: &mut dyn Write,
    labels: &mut dyn Write,
) -> io::Result<()> {
    if cfg.scenario == Scenario::Ratings || cfg.label_delay_ms.is_nan() || cfg.label_delay_ms <= 0.0
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a label stream needs fraud or clicks and a mean delay > 0",
        ));
    }
    let stream = LabelStream::new(labels, cfg.seed, cfg.label_delay_ms);
    run(cfg, events, Some(stream))
}

fn run(cfg: &GenConfig, out: &mut dyn Write, labels: Option<LabelStream>) -> io::Result<()> {
    let mut g = Gen {
        cfg: cfg.clone(),
        rng: Rng::new(cfg.seed),
        pending: BinaryHeap::new(),
        seq: 0,
        // Start late enough that the earliest printed time is `start_ms`.
        next_ts: cfg.start_ms + cfg.disorder_ms,
        emitted: 0,
        labels,
    };
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut ts_text = String::new();
    while g.emitted < cfg.events {
        let d = g.next();
        g.write(&d, &mut buf, &mut ts_text);
        g.emitted += 1;
        if let Some(l) = &mut g.labels {
            if cfg.scenario == Scenario::Fraud {
                let t = d.ts + l.delay();
                l.push(t, g.emitted, d.label);
            }
            l.release(d.ts)?;
        }
        if buf.len() >= 1 << 20 {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    out.flush()?;
    match g.labels {
        Some(l) => l.finish(),
        None => Ok(()),
    }
}

/// `e` and the event number, zero-padded to 9 digits.
fn event_id(n: u64, buf: &mut Vec<u8>) {
    buf.push(b'e');
    padded(itoa::Buffer::new().format(n), 9, buf);
}

/// `digits`, zero-padded on the left to `width`.
fn padded(digits: &str, width: usize, buf: &mut Vec<u8>) {
    for _ in digits.len()..width {
        buf.push(b'0');
    }
    buf.extend_from_slice(digits.as_bytes());
}

/// The printed time of an event at true time `ts`: up to `disorder_ms` earlier, and for a
/// `late_fraction` of events `late_ms..2 * late_ms` earlier still.
fn printed_ts(cfg: &GenConfig, rng: &mut Rng, ts: Timestamp) -> Timestamp {
    let mut ts = ts;
    if cfg.disorder_ms > 0 {
        ts -= rng.below(cfg.disorder_ms as u64 + 1) as i64;
    }
    if cfg.late_fraction > 0.0 && rng.chance(cfg.late_fraction) {
        ts -= cfg.late_ms + rng.below(cfg.late_ms.max(1) as u64) as i64;
    }
    ts.max(0)
}

/// Generates into memory.
pub fn generate_to_vec(cfg: &GenConfig) -> Vec<u8> {
    let mut v = Vec::new();
    generate(cfg, &mut v).expect("writing to memory cannot fail");
    v
}

struct Gen<'a> {
    cfg: GenConfig,
    rng: Rng,
    pending: BinaryHeap<Draft>,
    seq: u64,
    next_ts: Timestamp,
    emitted: u64,
    /// With a label stream: the labels are written there, not in the events.
    labels: Option<LabelStream<'a>>,
}

impl Gen<'_> {
    fn drifted(&self) -> bool {
        self.cfg.drift_at.is_some_and(|d| self.emitted >= d)
    }

    fn schedule(&mut self, ts: Timestamp, user: u64, kind: Kind, label: u8) {
        self.seq += 1;
        self.pending.push(Draft {
            ts,
            seq: self.seq,
            user,
            kind,
            label,
        });
    }

    /// A user id skewed toward low ids (a few heavy users, many light ones).
    fn user(&mut self) -> u64 {
        let r = self.rng.next_f64();
        ((r * r) * self.cfg.keys.max(1) as f64) as u64 % self.cfg.keys.max(1)
    }

    fn next(&mut self) -> Draft {
        if let Some(p) = self.pending.peek() {
            if p.ts <= self.next_ts {
                return self.pending.pop().expect("peeked");
            }
        }
        let ts = self.next_ts;
        let gap = -self.cfg.mean_gap_ms * (1.0 - self.rng.next_f64()).ln();
        self.next_ts += gap.round().max(0.0) as i64;
        let user = self.user();
        self.seq += 1;
        let seq = self.seq;
        let (kind, label) = match self.cfg.scenario {
            Scenario::Clicks => self.clicks_event(ts, user),
            _ => self.fraud_event(ts, user),
        };
        Draft {
            ts,
            seq,
            user,
            kind,
            label,
        }
    }

    fn fraud_event(&mut self, ts: Timestamp, user: u64) -> (Kind, u8) {
        // A fraud burst starts for this user with small probability.
        if self.rng.chance(0.004) {
            if !self.drifted() {
                // Pattern A: a run of failed logins, one success, then one large purchase
                // at a risky merchant.
                let attempts = 3 + self.rng.below(6);
                let mut t = ts;
                for _ in 0..attempts {
                    t += 500 + self.rng.below(4_000) as i64;
                    self.schedule(t, user, Kind::Login { success: false }, 1);
                }
                t += 1_000 + self.rng.below(5_000) as i64;
                self.schedule(t, user, Kind::Login { success: true }, 1);
                t += 10_000 + self.rng.below(50_000) as i64;
                let amount = 500.0 + self.rng.next_f64() * 2_500.0;
                let merchant = RISKY_MERCHANTS[self.rng.below(3) as usize];
                self.schedule(t, user, Kind::Purchase { amount, merchant }, 1);
                return (
                    Kind::PageView {
                        product: None,
                        page: 3,
                    },
                    1,
                );
            }
            // Pattern B (after the drift): no logins; a rapid run of small gift-card
            // purchases from a hijacked session.
            let n = 4 + self.rng.below(8);
            let mut t = ts;
            for _ in 0..n {
                t += 2_000 + self.rng.below(20_000) as i64;
                let amount = 5.0 + self.rng.next_f64() * 45.0;
                let merchant = GIFT_CARD_MERCHANTS[self.rng.below(2) as usize];
                self.schedule(t, user, Kind::Purchase { amount, merchant }, 1);
            }
            return (
                Kind::PageView {
                    product: None,
                    page: 2,
                },
                1,
            );
        }
        let r = self.rng.next_f64();
        let kind = if r < 0.68 {
            if self.rng.chance(0.6) {
                Kind::PageView {
                    product: Some(self.rng.below(500) as u32),
                    page: 0,
                }
            } else {
                Kind::PageView {
                    product: None,
                    page: self.rng.below(PAGES.len() as u64) as u8,
                }
            }
        } else if r < 0.78 {
            Kind::Login {
                success: !self.rng.chance(0.05),
            }
        } else if r < 0.88 {
            Kind::AddToCart {
                product: self.rng.below(500) as u32,
            }
        } else if r < 0.97 {
            let amount = (3.4 + 0.8 * self.rng.normal()).exp().min(2_000.0);
            let merchant = MERCHANTS[self.rng.below(MERCHANTS.len() as u64) as usize];
            Kind::Purchase { amount, merchant }
        } else {
            Kind::Logout
        };
        (kind, 0)
    }

    fn clicks_event(&mut self, ts: Timestamp, user: u64) -> (Kind, u8) {
        if self.rng.chance(0.25) {
            let page = self.rng.below(PAGES.len() as u64) as u8;
            let product = self.rng.chance(0.5).then(|| self.rng.below(200) as u32);
            return (Kind::PageView { product, page }, 0);
        }
        let campaign = self.rng.below(CAMPAIGNS as u64) as u32;
        let device = self.rng.below(DEVICES.len() as u64) as u8;
        // Click-through rate by campaign and device; after the drift the good and bad
        // campaigns swap.
        let mut c = campaign as f64 / CAMPAIGNS as f64;
        if self.drifted() {
            c = 1.0 - c;
        }
        let ctr = 0.01 + 0.12 * c * c + if device == 0 { 0.02 } else { 0.0 };
        let clicked = self.rng.chance(ctr);
        if clicked {
            // Drawn with a label stream too, so that the other events stay the same.
            let mut t = ts + 300 + self.rng.below(8_000) as i64;
            if let Some(l) = &mut self.labels {
                // The impression is the next event written.
                t = ts + l.delay();
                l.push(t, self.emitted + 1, 1);
            }
            self.schedule(t, user, Kind::Click { campaign, device }, 1);
        }
        (Kind::Impression { campaign, device }, clicked as u8)
    }

    fn write(&mut self, d: &Draft, buf: &mut Vec<u8>, ts_text: &mut String) {
        let ts = printed_ts(&self.cfg, &mut self.rng, d.ts);
        let mut ib = itoa::Buffer::new();
        buf.extend_from_slice(b"{\"event_id\":\"");
        event_id(self.emitted + 1, buf);
        buf.extend_from_slice(b"\",\"user_id\":\"u");
        padded(ib.format(d.user), 6, buf);
        buf.extend_from_slice(b"\",\"ts\":\"");
        ts_text.clear();
        eddy_core::time::format_rfc3339(ts, ts_text);
        buf.extend_from_slice(ts_text.as_bytes());
        buf.extend_from_slice(b"\",\"event_type\":\"");
        let (etype, page) = match &d.kind {
            Kind::PageView { .. } => ("page_view", None),
            Kind::Login { .. } => ("login", Some("/login")),
            Kind::AddToCart { .. } => ("add_to_cart", None),
            Kind::Purchase { .. } => ("purchase", Some("/checkout")),
            Kind::Logout => ("logout", Some("/logout")),
            Kind::Impression { .. } => ("impression", None),
            Kind::Click { .. } => ("click", None),
        };
        buf.extend_from_slice(etype.as_bytes());
        buf.extend_from_slice(b"\",\"page\":\"");
        match (&d.kind, page) {
            (_, Some(p)) => buf.extend_from_slice(p.as_bytes()),
            (
                Kind::PageView {
                    product: Some(p), ..
                },
                _,
            )
            | (Kind::AddToCart { product: p }, _) => {
                buf.extend_from_slice(b"/product/");
                buf.extend_from_slice(ib.format(*p).as_bytes());
            }
            (Kind::PageView { page, .. }, _) => {
                buf.extend_from_slice(PAGES[*page as usize].as_bytes())
            }
            (Kind::Impression { campaign, .. } | Kind::Click { campaign, .. }, _) => {
                buf.extend_from_slice(b"/ads/");
                buf.extend_from_slice(ib.format(*campaign).as_bytes());
            }
            _ => buf.push(b'/'),
        }
        buf.push(b'"');
        match &d.kind {
            Kind::Purchase { amount, merchant } => {
                buf.extend_from_slice(b",\"amount\":");
                let cents = (amount * 100.0).round() as i64;
                buf.extend_from_slice(ib.format(cents / 100).as_bytes());
                buf.push(b'.');
                let c = cents % 100;
                if c < 10 {
                    buf.push(b'0');
                }
                buf.extend_from_slice(ib.format(c).as_bytes());
                buf.extend_from_slice(b",\"merchant\":\"");
                buf.extend_from_slice(merchant.as_bytes());
                buf.push(b'"');
            }
            Kind::Login { success } => {
                buf.extend_from_slice(if *success {
                    b",\"success\":true"
                } else {
                    b",\"success\":false"
                });
            }
            Kind::Impression { campaign, device } | Kind::Click { campaign, device } => {
                buf.extend_from_slice(b",\"campaign\":\"c");
                buf.extend_from_slice(ib.format(*campaign).as_bytes());
                buf.extend_from_slice(b"\",\"device\":\"");
                buf.extend_from_slice(DEVICES[*device as usize].as_bytes());
                buf.push(b'"');
            }
            _ => {}
        }
        if self.labels.is_none() {
            buf.extend_from_slice(b",\"label\":");
            buf.push(b'0' + d.label);
        }
        buf.extend_from_slice(b"}\n");
    }
}

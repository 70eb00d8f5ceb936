//! Rows waiting for scores that come back on their own (side output, response topics): each
//! row leaves exactly once, with its score when it is in, or unscored once its `deadline` has
//! passed. Rows leave in input order, or (unordered) as their scores come in, but never across
//! a watermark, as in Flink's Async I/O.
//!
//! A score is matched to its row by the row's join number (its place in the run, from 0). A
//! second score for a row is a duplicate; a score for a row that already left unscored is
//! late; a number never handed out is unknown. Each is counted and dropped.

// Each pattern uses a part of it: a build with one of them leaves the other's parts unused.
#![cfg_attr(not(all(feature = "http", feature = "kafka")), allow(dead_code))]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{Deliver, PredictionWriter, StageCounts};

/// Why a row leaves without a score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unscored {
    /// An input feature was null for this event (never sent).
    NullFeature,
    /// The score missed the deadline.
    Deadline,
    /// The server (or score worker) failed on the event, or its request could not be sent.
    Server,
    /// The client already held its capacity of pending events, so this one was not sent.
    Shed,
}

impl Unscored {
    /// The reason as a row and the metrics name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Unscored::NullFeature => "null_feature",
            Unscored::Deadline => "deadline",
            Unscored::Server => "server",
            Unscored::Shed => "shed",
        }
    }
}

/// A score that came back for a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    pub score: f64,
    pub label: Option<i64>,
    /// From sending the row to its score being back.
    pub latency: Duration,
    /// Which model and version scored it: an index from [`Join::origin`] (0: the spec's).
    pub origin: u16,
}

/// What became of a score handed to [`Join::complete`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    Joined,
    Duplicate,
    Late,
    Unknown,
}

struct Waiting {
    /// The caller's id, handed back with the row.
    id: u64,
    due: Instant,
    /// Rows between two watermark advances share a group; unordered rows never leave
    /// before every row of an earlier group.
    group: u64,
    result: Option<Result<Score, Unscored>>,
    emitted: bool,
}

/// Rows of the recent past that left, one bit each (set: it left scored), to tell a
/// duplicate score from a late one. Older rows' scores count as late.
const LEFT_WORDS: usize = 16 * 1024;

/// Most distinct (model, version) pairs written; later ones are written as the last one.
const MAX_ORIGINS: usize = 64;

/// The join: see the module docs.
pub struct Join {
    deadline: Duration,
    unordered: bool,
    /// Whether an unscored row says why (`"unscored": "<reason>"`).
    reasons: bool,
    queue: VecDeque<Waiting>,
    /// Join number of `queue[0]`.
    head: u64,
    group: u64,
    last_wm: i64,
    /// Unordered: the group whose rows already scored were emitted when it reached the front.
    scanned: u64,
    left: VecDeque<u64>,
    /// Join number of bit 0 of `left`.
    left_base: u64,
    /// One writer per (model, version) that scored rows; `[0]` is the spec's.
    writers: Vec<PredictionWriter>,
    origins: Vec<(Box<str>, Box<str>)>,
    buf: Vec<u8>,
    counts: StageCounts,
}

impl Join {
    /// `writer` writes the spec's model and version; `reasons`: unscored rows say why.
    pub fn new(
        deadline: Duration,
        unordered: bool,
        reasons: bool,
        writer: PredictionWriter,
    ) -> Join {
        Join {
            deadline,
            unordered,
            reasons,
            queue: VecDeque::new(),
            head: 0,
            group: 0,
            last_wm: i64::MIN,
            scanned: u64::MAX,
            left: VecDeque::new(),
            left_base: 0,
            writers: vec![writer],
            origins: Vec::new(),
            buf: Vec::new(),
            counts: StageCounts::default(),
        }
    }

    pub fn counts(&self) -> &StageCounts {
        &self.counts
    }

    /// Rows waiting (emitted unordered rows included until the front passes them).
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The join number the next [`push`](Self::push) gets.
    pub fn next_seq(&self) -> u64 {
        self.head + self.queue.len() as u64
    }

    /// When row `seq` was pushed, while it waits.
    pub fn sent_at(&self, seq: u64) -> Option<Instant> {
        let i = seq.checked_sub(self.head)?;
        self.queue.get(i as usize).map(|w| w.due - self.deadline)
    }

    /// When the front row's deadline passes.
    pub fn next_due(&self) -> Option<Instant> {
        self.queue.front().map(|w| w.due)
    }

    /// The origin index of scores from `model` at `version`, adding a writer for a new pair.
    pub fn origin(&mut self, model: &str, version: &str) -> u16 {
        if let Some(i) = (self.origins.iter()).position(|(m, v)| &**m == model && &**v == version) {
            return i as u16 + 1;
        }
        if self.origins.len() >= MAX_ORIGINS {
            return self.origins.len() as u16;
        }
        self.writers
            .push(self.writers[0].with_model(model, version));
        self.origins.push((model.into(), version.into()));
        self.origins.len() as u16
    }

    /// A watermark advance: unordered rows after it never leave before rows before it.
    pub fn watermark(&mut self, wm: i64) {
        if wm > self.last_wm {
            self.last_wm = wm;
            self.group += 1;
        }
    }

    /// Adds a row to wait for its score (`result`: settled already, as a null input is);
    /// returns its join number.
    pub fn push(
        &mut self,
        id: u64,
        now: Instant,
        result: Option<Result<Score, Unscored>>,
        deliver: &mut Deliver<'_>,
    ) -> u64 {
        let seq = self.next_seq();
        self.queue.push_back(Waiting {
            id,
            due: now + self.deadline,
            group: self.group,
            result: None,
            emitted: false,
        });
        if let Some(r) = result {
            self.complete(seq, r, deliver);
        }
        seq
    }

    /// A row's result; an unordered row in the front group leaves at once.
    pub fn complete(
        &mut self,
        seq: u64,
        r: Result<Score, Unscored>,
        deliver: &mut Deliver<'_>,
    ) -> Arrival {
        let arrival = match seq.checked_sub(self.head) {
            None => {
                let scored = (seq.checked_sub(self.left_base)).and_then(|i| {
                    let w = self.left.get((i / 64) as usize)?;
                    Some(w >> (i % 64) & 1 == 1)
                });
                if scored == Some(true) {
                    Arrival::Duplicate
                } else {
                    Arrival::Late
                }
            }
            Some(i) => {
                let front = self.queue.front().map_or(0, |w| w.group);
                match self.queue.get_mut(i as usize) {
                    None => Arrival::Unknown,
                    Some(w) if w.result.is_some() => Arrival::Duplicate,
                    Some(w) => {
                        w.result = Some(r);
                        if self.unordered && w.group == front {
                            w.emitted = true;
                            let id = w.id;
                            self.write(r);
                            deliver(id, &self.buf);
                        }
                        Arrival::Joined
                    }
                }
            }
        };
        match arrival {
            Arrival::Duplicate => self.counts.duplicate_scores += 1,
            Arrival::Late => self.counts.late_scores += 1,
            Arrival::Unknown => self.counts.unknown_scores += 1,
            Arrival::Joined => {}
        }
        arrival
    }

    /// A score for a row this run never sent (another run's, or not eddy's): counted.
    pub fn unknown(&mut self) {
        self.counts.unknown_scores += 1;
    }

    /// Delivers the rows that may leave at `now`: from the front, those with their result
    /// or past their deadline; unordered, also the settled rows of the front's group.
    pub fn release(&mut self, now: Instant, deliver: &mut Deliver<'_>) {
        while let Some(w) = self.queue.front_mut() {
            let r = match w.result {
                Some(r) => r,
                None if now >= w.due => {
                    w.result = Some(Err(Unscored::Deadline));
                    Err(Unscored::Deadline)
                }
                None => break,
            };
            if !w.emitted {
                let id = w.id;
                self.write(r);
                deliver(id, &self.buf);
            }
            self.queue.pop_front();
            self.mark_left(r.is_ok());
            self.head += 1;
        }
        if !self.unordered {
            return;
        }
        let Some(g) = self.queue.front().map(|w| w.group) else {
            return;
        };
        if g == self.scanned {
            return;
        }
        self.scanned = g;
        for i in 0..self.queue.len() {
            let w = &mut self.queue[i];
            if w.group != g {
                break;
            }
            if let (Some(r), false) = (w.result, w.emitted) {
                w.emitted = true;
                let id = w.id;
                self.write(r);
                deliver(id, &self.buf);
            }
        }
    }

    /// Records that the row at `head` left (scored or not).
    fn mark_left(&mut self, scored: bool) {
        let i = self.head - self.left_base;
        let word = (i / 64) as usize;
        if word == self.left.len() {
            if self.left.len() == LEFT_WORDS {
                self.left.pop_front();
                self.left_base += 64;
                return self.mark_left(scored);
            }
            self.left.push_back(0);
        }
        if scored {
            self.left[word] |= 1 << (i % 64);
        }
    }

    /// Writes a leaving row's fragment into `buf`, and counts it.
    fn write(&mut self, r: Result<Score, Unscored>) {
        self.buf.clear();
        match r {
            Ok(s) => {
                self.counts.scored += 1;
                let w = (self.writers.get(s.origin as usize)).unwrap_or(&self.writers[0]);
                w.write(&mut self.buf, s.score, s.label, micros(s.latency), None);
            }
            Err(why) => {
                let c = &mut self.counts;
                match why {
                    Unscored::Deadline => c.unscored_deadline += 1,
                    Unscored::Shed => c.unscored_shed += 1,
                    Unscored::NullFeature => c.unscored_null_feature += 1,
                    Unscored::Server => c.unscored_server += 1,
                }
                let reason = self.reasons.then(|| why.as_str());
                self.writers[0].write_unscored_because(&mut self.buf, reason);
            }
        }
    }
}

pub(crate) fn micros(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::OutputFormat;

    fn score(s: f64) -> Result<Score, Unscored> {
        Ok(Score {
            score: s,
            label: None,
            latency: Duration::ZERO,
            origin: 0,
        })
    }

    /// Runs `f` on a join, collecting (id, fragment) of every row that left.
    fn with_join(
        unordered: bool,
        f: impl FnOnce(&mut Join, &mut Deliver<'_>),
    ) -> Vec<(u64, String)> {
        let w = PredictionWriter::new(OutputFormat::Jsonl, "p", "m", "1");
        let mut j = Join::new(Duration::from_secs(3600), unordered, true, w);
        let mut out = Vec::new();
        let mut deliver =
            |id: u64, b: &[u8]| out.push((id, String::from_utf8_lossy(b).into_owned()));
        f(&mut j, &mut deliver);
        out
    }

    #[test]
    fn ordered_rows_leave_in_input_order_once() {
        let t = Instant::now();
        let out = with_join(false, |j, d| {
            for id in [10, 11, 12] {
                j.push(id, t, None, d);
            }
            assert_eq!(j.complete(1, score(0.5), d), Arrival::Joined);
            j.release(t, d);
            assert!(j.len() == 3, "nothing before row 0 is in");
            assert_eq!(j.complete(0, score(0.25), d), Arrival::Joined);
            assert_eq!(j.complete(0, score(0.25), d), Arrival::Duplicate);
            j.release(t, d);
            assert_eq!(j.complete(1, score(0.5), d), Arrival::Duplicate);
            assert_eq!(j.complete(7, score(0.5), d), Arrival::Unknown);
            // Row 2 misses its deadline; its score then is late.
            j.release(t + Duration::from_secs(3601), d);
            assert_eq!(j.complete(2, score(0.5), d), Arrival::Late);
            assert_eq!(
                (
                    j.counts().duplicate_scores,
                    j.counts().late_scores,
                    j.counts().unknown_scores
                ),
                (2, 1, 1)
            );
        });
        let ids: Vec<u64> = out.iter().map(|o| o.0).collect();
        assert_eq!(ids, [10, 11, 12]);
        assert!(out[0].1.contains(r#""score":0.25"#), "{out:?}");
        assert_eq!(
            out[2].1,
            r#","p":null,"scored":false,"unscored":"deadline""#
        );
    }

    #[test]
    fn unordered_rows_never_cross_a_watermark() {
        let t = Instant::now();
        let out = with_join(true, |j, d| {
            j.push(0, t, None, d);
            j.push(1, t, None, d);
            j.watermark(5);
            j.push(2, t, None, d);
            j.complete(2, score(0.2), d); // held: row 0 and 1 come first
            j.complete(1, score(0.1), d); // leaves at once
            j.release(t, d);
            j.complete(0, score(0.0), d);
            j.release(t, d);
        });
        let ids: Vec<u64> = out.iter().map(|o| o.0).collect();
        assert_eq!(ids, [1, 0, 2]);
    }

    #[test]
    fn duplicates_are_told_from_late_scores_far_back() {
        let t = Instant::now();
        with_join(false, |j, d| {
            let n = (LEFT_WORDS as u64 + 2) * 64;
            for i in 0..n {
                j.push(i, t, None, d);
                j.complete(i, score(0.5), d);
                j.release(t, d);
            }
            assert_eq!(j.complete(n - 1, score(0.5), d), Arrival::Duplicate);
            assert_eq!(j.complete(0, score(0.5), d), Arrival::Late);
        });
    }
}

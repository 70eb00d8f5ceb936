//! Reading the online store while a pipeline runs (`docs/outputs.md`).
//!
//! A lookup names a key and gets that key's latest per-event features, as JSON. It is
//! answered between batches by the threads that own the state: the front thread resolves
//! the key, the engine thread reads its row in the store, the front thread encodes it. So
//! the event path takes no lock and pays nothing when nobody asks, and an answer is always
//! a whole row as of the end of some batch (never half of one event's update), with every
//! event of the batches decoded before the lookup arrived applied.
//!
//! ```
//! use eddy_runtime::lookup::{self, Answer};
//!
//! let (reader, lookups) = lookup::channel();
//! drop(lookups); // no run took them, or the run has ended
//! assert_eq!(reader.get("u1"), Answer::Ended);
//! ```

use std::sync::mpsc;

/// The answer to one lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `{"key":"<key>","features":{"<name>":<value>,...}}`: the key's latest per-event row,
    /// in the per-event output's encoding.
    Found(String),
    /// No event of this key has been applied yet.
    UnknownKey,
    /// The run is over, or past the end of its input (its last window rows are being fired).
    Ended,
}

/// One key asked for, and where its answer goes.
pub(crate) struct Lookup {
    pub(crate) key: String,
    pub(crate) reply: mpsc::Sender<Answer>,
}

impl Lookup {
    /// Answers; a caller that stopped waiting is no error.
    pub(crate) fn answer(self, a: Answer) {
        let _ = self.reply.send(a);
    }
}

/// The asking side: clone it for each thread that asks.
#[derive(Debug, Clone)]
pub struct StoreReader {
    tx: mpsc::Sender<Lookup>,
}

impl StoreReader {
    /// The latest features of `key`; blocks until the run answers (between two batches:
    /// milliseconds) or ends.
    pub fn get(&self, key: &str) -> Answer {
        let (reply, answer) = mpsc::channel();
        let asked = self.tx.send(Lookup {
            key: key.to_owned(),
            reply,
        });
        match asked {
            // a run that ends with the lookup unanswered drops it, and its reply sender
            Ok(()) => answer.recv().unwrap_or(Answer::Ended),
            Err(_) => Answer::Ended,
        }
    }
}

/// The answering side, for one run ([`crate::RunHooks::lookups`]).
pub struct Lookups {
    pub(crate) rx: mpsc::Receiver<Lookup>,
}

/// A reader and the lookups it sends, to hand to a run.
pub fn channel() -> (StoreReader, Lookups) {
    let (tx, rx) = mpsc::channel();
    (StoreReader { tx }, Lookups { rx })
}

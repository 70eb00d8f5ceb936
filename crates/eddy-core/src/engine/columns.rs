//! The per-key states of one feature for all keys, in slots of the feature kind's size.

use super::*;
use crate::agg::{Acc, AggKind};
use crate::window::WindowSpec;

/// The states of one feature for all keys, indexed by key, each in a slot of its own
/// kind's size (a session or tumbling feature's slot is its 32-byte window deque, not the
/// 120 bytes of a sliding state). Sliding states are typed by what they keep per event and
/// per pane (see [`Payload`], [`Pane`]); those whose panes are in a [`Ring`] keep no panes
/// and fit one cache line ([`RingSliding`]).
#[derive(Debug)]
pub(super) enum Col {
    /// count, rate
    SlCount(Vec<Sliding<(), u64>>),
    /// mean, variance, stddev
    SlWelford(Vec<Sliding<f64, Wf>>),
    /// sum, min, max
    SlNum(Vec<Sliding<f64, Acc>>),
    /// recency
    SlTs(Vec<Sliding<(), Acc>>),
    /// last-N, distinct count
    SlVal(Vec<Sliding<Value, Acc>>),
    /// count, rate with the panes in a ring
    RingCount(Vec<RingSliding<(), ()>>),
    /// mean, variance, stddev with the panes in a ring
    RingWelford(Vec<RingSliding<f64, WfRun>>),
    Windows(Vec<Wins>),
    Global(Vec<Global>),
    /// No state per key: a tumbling feature whose windows are its panes in a [`Ring`].
    Unused,
}

/// Runs the arm for key `$k`'s state in column `$col` (`$get`: `get` or `get_mut`): `$s`
/// for any sliding kind, `$w` for window deques, `$g` for global states; `$none` when the
/// key has no slot.
macro_rules! on_col {
    ($col:expr, $get:ident, $k:expr, $s:ident => $sl:expr, $w:ident => $win:expr,
     $g:ident => $glob:expr, _ => $none:expr) => {
        match $col {
            Col::SlCount(v) => match v.$get($k) {
                Some($s) => $sl,
                None => $none,
            },
            Col::SlWelford(v) => match v.$get($k) {
                Some($s) => $sl,
                None => $none,
            },
            Col::SlNum(v) => match v.$get($k) {
                Some($s) => $sl,
                None => $none,
            },
            Col::SlTs(v) => match v.$get($k) {
                Some($s) => $sl,
                None => $none,
            },
            Col::SlVal(v) => match v.$get($k) {
                Some($s) => $sl,
                None => $none,
            },
            Col::RingCount(v) => match v.$get($k) {
                Some($s) => $sl,
                None => $none,
            },
            Col::RingWelford(v) => match v.$get($k) {
                Some($s) => $sl,
                None => $none,
            },
            Col::Windows(v) => match v.$get($k) {
                Some($w) => $win,
                None => $none,
            },
            Col::Global(v) => match v.$get($k) {
                Some($g) => $glob,
                None => $none,
            },
            Col::Unused => $none,
        }
    };
}

impl Col {
    pub(super) fn new(feat: &Feat) -> Col {
        if feat.in_ring {
            return match (&feat.window, &feat.agg) {
                (WindowSpec::Sliding { .. }, AggKind::Count | AggKind::Rate { .. }) => {
                    Col::RingCount(Vec::new())
                }
                (WindowSpec::Sliding { .. }, _) => Col::RingWelford(Vec::new()),
                _ => Col::Unused,
            };
        }
        match feat.window {
            WindowSpec::Sliding { .. } => match feat.agg {
                AggKind::Count | AggKind::Rate { .. } => Col::SlCount(Vec::new()),
                AggKind::Mean | AggKind::Variance | AggKind::Stddev => Col::SlWelford(Vec::new()),
                AggKind::Sum | AggKind::Min | AggKind::Max => Col::SlNum(Vec::new()),
                AggKind::Recency => Col::SlTs(Vec::new()),
                AggKind::LastN { .. } | AggKind::DistinctCount { .. } => Col::SlVal(Vec::new()),
            },
            WindowSpec::Tumbling { .. } | WindowSpec::Session { .. } => Col::Windows(Vec::new()),
            WindowSpec::Global { .. } => Col::Global(Vec::new()),
        }
    }

    /// Address of the first slot and the slot size (0: no slots), for prefetching.
    pub(super) fn addr(&self) -> (usize, usize) {
        fn of<T>(v: &[T]) -> (usize, usize) {
            (v.as_ptr() as usize, std::mem::size_of::<T>())
        }
        match self {
            Col::SlCount(v) => of(v),
            Col::SlWelford(v) => of(v),
            Col::SlNum(v) => of(v),
            Col::SlTs(v) => of(v),
            Col::SlVal(v) => of(v),
            Col::RingCount(v) => of(v),
            Col::RingWelford(v) => of(v),
            Col::Windows(v) => of(v),
            Col::Global(v) => of(v),
            Col::Unused => (0, 0),
        }
    }

    /// Gives every key below `n` a fresh state.
    pub(super) fn grow(&mut self, feat: &Feat, n: usize) {
        let run = || new_run(&feat.agg);
        match self {
            Col::SlCount(v) => v.resize_with(n, || Sliding::new(run())),
            Col::SlWelford(v) => v.resize_with(n, || Sliding::new(run())),
            Col::SlNum(v) => v.resize_with(n, || Sliding::new(run())),
            Col::SlTs(v) => v.resize_with(n, || Sliding::new(run())),
            Col::SlVal(v) => v.resize_with(n, || Sliding::new(run())),
            Col::RingCount(v) => v.resize_with(n, RingSliding::new),
            Col::RingWelford(v) => v.resize_with(n, RingSliding::new),
            Col::Windows(v) => v.resize_with(n, Wins::default),
            Col::Global(v) => v.resize_with(n, || Global {
                acc: Acc::new(&feat.agg),
                since_fire: 0,
                dirty: false,
                boundary: i64::MIN,
            }),
            Col::Unused => {}
        }
    }

    pub(super) fn bytes(&self) -> usize {
        fn slots<T>(v: &Vec<T>) -> usize {
            v.capacity() * std::mem::size_of::<T>()
        }
        fn sliding<P, A: Pane>(v: &Vec<Sliding<P, A>>) -> usize {
            slots(v) + v.iter().map(Sliding::bytes).sum::<usize>()
        }
        match self {
            Col::SlCount(v) => sliding(v),
            Col::SlWelford(v) => sliding(v),
            Col::SlNum(v) => sliding(v),
            Col::SlTs(v) => sliding(v),
            Col::SlVal(v) => sliding(v),
            Col::RingCount(v) => slots(v) + v.iter().map(RingSliding::bytes).sum::<usize>(),
            Col::RingWelford(v) => slots(v) + v.iter().map(RingSliding::bytes).sum::<usize>(),
            Col::Windows(v) => {
                slots(v)
                    + v.iter()
                        .map(|w| {
                            w.capacity() * std::mem::size_of::<Win>()
                                + w.iter()
                                    .map(|x| x.acc.bytes() - std::mem::size_of::<Acc>())
                                    .sum::<usize>()
                        })
                        .sum::<usize>()
            }
            Col::Global(v) => {
                slots(v)
                    + v.iter()
                        .map(|g| g.acc.bytes() - std::mem::size_of::<Acc>())
                        .sum::<usize>()
            }
            Col::Unused => 0,
        }
    }
}

/// Starts loading the buffers an event of key `k` reads through its states (the back of
/// each window deque, the live region of sliding entries, ...), all at once, so that their
/// cache misses overlap instead of happening one feature after another (with many keys the
/// engine is bound by memory latency); and, in the same pass over the columns, the buffers
/// one level further for key `near`, those the buffers above point to (the last-N items of
/// the newest window or session: pass the key of an event a few events nearer, whose
/// buffers an earlier call loaded). A key without slots (`usize::MAX`) loads nothing.
#[inline]
pub(super) fn prefetch_buffers(cols: &[Col], k: usize, near: usize) {
    for col in cols {
        if let Col::Windows(v) = col {
            if let Some(x) = v.get(k).and_then(|w| w.back()) {
                prefetch(x);
            }
            if let Some(Acc::LastN(l)) = v.get(near).and_then(|w| w.back()).map(|x| &x.acc) {
                // the buffer whole: which timestamps an event reads and writes depends on
                // the ring's head (in the window, but the buffer's lines are few)
                prefetch_lines(l.buffer());
            }
            continue;
        }
        on_col!(col, get, k,
            s => s.prefetch_for_event(),
            _w => (), // above
            // recency timestamps are inline in the state (see `RecencyTs`)
            _g => (),
            _ => ());
    }
}

//! The per-key states of one feature for all keys, each in a slot of its kind's size in
//! the key's block ([`KeyBlocks`]).

use super::*;
use crate::agg::{Acc, AggKind};
use crate::window::WindowSpec;

/// The states of one feature for all keys, by key, each in a slot of its own kind's size
/// in the key's block (a session or tumbling feature's slot is its 32-byte window deque,
/// not the 120 bytes of a sliding state). Sliding states are typed by what they keep per
/// event and per pane (see [`Payload`], [`Pane`]); those whose panes are in a [`Ring`]
/// keep no panes and fit one cache line ([`RingSliding`]).
#[derive(Debug)]
pub(super) enum Col {
    /// count, rate
    SlCount(Slot<Sliding<(), u64>>),
    /// mean, variance, stddev
    SlWelford(Slot<Sliding<f64, Wf>>),
    /// sum, min, max
    SlNum(Slot<Sliding<f64, Acc>>),
    /// recency
    SlTs(Slot<Sliding<(), Acc>>),
    /// last-N, distinct count
    SlVal(Slot<Sliding<Value, Acc>>),
    /// count, rate with the panes in a ring
    RingCount(Slot<RingSliding<(), ()>>),
    /// mean, variance, stddev with the panes in a ring
    RingWelford(Slot<RingSliding<f64, WfRun>>),
    Windows(Slot<Wins>),
    Global(Slot<Global>),
    /// No state per key: a tumbling feature whose windows are its panes in a [`Ring`].
    Unused,
}

/// Runs the arm for a key's state in column `$col`, found by `$access` from the column's
/// slot (bound to `$v`): `$s` for any sliding kind, `$w` for window deques, `$g` for
/// global states; `$none` when there is no such state.
macro_rules! on_col {
    ($col:expr, |$v:ident| $access:expr, $s:ident => $sl:expr, $w:ident => $win:expr,
     $g:ident => $glob:expr, _ => $none:expr) => {
        match $col {
            Col::SlCount($v) => match $access {
                Some($s) => $sl,
                None => $none,
            },
            Col::SlWelford($v) => match $access {
                Some($s) => $sl,
                None => $none,
            },
            Col::SlNum($v) => match $access {
                Some($s) => $sl,
                None => $none,
            },
            Col::SlTs($v) => match $access {
                Some($s) => $sl,
                None => $none,
            },
            Col::SlVal($v) => match $access {
                Some($s) => $sl,
                None => $none,
            },
            Col::RingCount($v) => match $access {
                Some($s) => $sl,
                None => $none,
            },
            Col::RingWelford($v) => match $access {
                Some($s) => $sl,
                None => $none,
            },
            Col::Windows($v) => match $access {
                Some($w) => $win,
                None => $none,
            },
            Col::Global($v) => match $access {
                Some($g) => $glob,
                None => $none,
            },
            Col::Unused => $none,
        }
    };
}

impl Col {
    /// The column of `feat`, with its slot in every key's block (before the first key).
    pub(super) fn new(feat: &Feat, blocks: &mut KeyBlocks) -> Col {
        if feat.in_ring {
            return match (&feat.window, &feat.agg) {
                (WindowSpec::Sliding { .. }, AggKind::Count | AggKind::Rate { .. }) => {
                    Col::RingCount(blocks.add())
                }
                (WindowSpec::Sliding { .. }, _) => Col::RingWelford(blocks.add()),
                _ => Col::Unused,
            };
        }
        match feat.window {
            WindowSpec::Sliding { .. } => match feat.agg {
                AggKind::Count | AggKind::Rate { .. } => Col::SlCount(blocks.add()),
                AggKind::Mean | AggKind::Variance | AggKind::Stddev => Col::SlWelford(blocks.add()),
                AggKind::Sum | AggKind::Min | AggKind::Max => Col::SlNum(blocks.add()),
                AggKind::Recency => Col::SlTs(blocks.add()),
                AggKind::LastN { .. } | AggKind::DistinctCount { .. } => Col::SlVal(blocks.add()),
            },
            WindowSpec::Tumbling { .. } | WindowSpec::Session { .. } => Col::Windows(blocks.add()),
            WindowSpec::Global { .. } => Col::Global(blocks.add()),
        }
    }

    /// Gives the keys `from..to` a fresh state (their blocks reserved, not yet counted:
    /// [`KeyBlocks::init`]).
    pub(super) fn init(&self, feat: &Feat, blocks: &mut KeyBlocks, from: usize, to: usize) {
        let run = || new_run(&feat.agg);
        match *self {
            Col::SlCount(v) => blocks.init(v, from, to, || Sliding::new(run())),
            Col::SlWelford(v) => blocks.init(v, from, to, || Sliding::new(run())),
            Col::SlNum(v) => blocks.init(v, from, to, || Sliding::new(run())),
            Col::SlTs(v) => blocks.init(v, from, to, || Sliding::new(run())),
            Col::SlVal(v) => blocks.init(v, from, to, || Sliding::new(run())),
            Col::RingCount(v) => blocks.init(v, from, to, RingSliding::new),
            Col::RingWelford(v) => blocks.init(v, from, to, RingSliding::new),
            Col::Windows(v) => blocks.init(v, from, to, Wins::default),
            Col::Global(v) => blocks.init(v, from, to, || Global::new(feat)),
            Col::Unused => {}
        }
    }

    /// Gives key `k` (a key with a block) a fresh state, its old one dropped with whatever
    /// heap it held: a key gone idle costs no more than one never seen.
    pub(super) fn reset(&self, feat: &Feat, slots: &mut KeyMut<'_>) {
        fn put<T>(slot: Option<&mut T>, fresh: T) {
            if let Some(s) = slot {
                *s = fresh;
            }
        }
        let run = || new_run(&feat.agg);
        match *self {
            Col::SlCount(v) => put(slots.get_mut(v), Sliding::new(run())),
            Col::SlWelford(v) => put(slots.get_mut(v), Sliding::new(run())),
            Col::SlNum(v) => put(slots.get_mut(v), Sliding::new(run())),
            Col::SlTs(v) => put(slots.get_mut(v), Sliding::new(run())),
            Col::SlVal(v) => put(slots.get_mut(v), Sliding::new(run())),
            Col::RingCount(v) => put(slots.get_mut(v), RingSliding::new()),
            Col::RingWelford(v) => put(slots.get_mut(v), RingSliding::new()),
            Col::Windows(v) => put(slots.get_mut(v), Wins::default()),
            Col::Global(v) => put(slots.get_mut(v), Global::new(feat)),
            Col::Unused => {}
        }
    }

    /// Drops every key's state of this column (the engine's last use of the blocks).
    ///
    /// # Safety
    /// Once per column; no state of it is read after.
    pub(super) unsafe fn drop_states(&self, blocks: &mut KeyBlocks) {
        // SAFETY: passed on from the caller
        unsafe {
            match *self {
                Col::SlCount(v) => blocks.drop_slot(v),
                Col::SlWelford(v) => blocks.drop_slot(v),
                Col::SlNum(v) => blocks.drop_slot(v),
                Col::SlTs(v) => blocks.drop_slot(v),
                Col::SlVal(v) => blocks.drop_slot(v),
                Col::RingCount(v) => blocks.drop_slot(v),
                Col::RingWelford(v) => blocks.drop_slot(v),
                Col::Windows(v) => blocks.drop_slot(v),
                Col::Global(v) => blocks.drop_slot(v),
                Col::Unused => {}
            }
        }
    }

    /// Calls `f` with every interned string a key's state of this column holds.
    pub(super) fn for_each_sym(&self, blocks: &KeyBlocks, f: &mut dyn FnMut(crate::Sym)) {
        match *self {
            Col::SlVal(v) => blocks.iter(v).for_each(|s| s.for_each_sym(f)),
            Col::Windows(v) => {
                (blocks.iter(v).flat_map(|w| w.iter())).for_each(|w| w.acc.for_each_sym(f))
            }
            Col::Global(v) => blocks.iter(v).for_each(|g| g.acc.for_each_sym(f)),
            // numbers and timestamps only
            _ => {}
        }
    }

    /// Heap bytes of the states (their slots are counted with the blocks).
    pub(super) fn bytes(&self, blocks: &KeyBlocks) -> usize {
        fn sliding<P, A: Pane>(blocks: &KeyBlocks, v: Slot<Sliding<P, A>>) -> usize {
            blocks.iter(v).map(Sliding::bytes).sum::<usize>()
        }
        match *self {
            Col::SlCount(v) => sliding(blocks, v),
            Col::SlWelford(v) => sliding(blocks, v),
            Col::SlNum(v) => sliding(blocks, v),
            Col::SlTs(v) => sliding(blocks, v),
            Col::SlVal(v) => sliding(blocks, v),
            Col::RingCount(v) => blocks.iter(v).map(RingSliding::bytes).sum::<usize>(),
            Col::RingWelford(v) => blocks.iter(v).map(RingSliding::bytes).sum::<usize>(),
            Col::Windows(v) => blocks
                .iter(v)
                .map(|w| {
                    w.capacity() * std::mem::size_of::<Win>()
                        + w.iter()
                            .map(|x| x.acc.bytes() - std::mem::size_of::<Acc>())
                            .sum::<usize>()
                })
                .sum::<usize>(),
            Col::Global(v) => blocks
                .iter(v)
                .map(|g| g.acc.bytes() - std::mem::size_of::<Acc>())
                .sum::<usize>(),
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
pub(super) fn prefetch_buffers(cols: &[Col], blocks: &KeyBlocks, k: usize, near: usize) {
    for col in cols {
        if let Col::Windows(v) = *col {
            if let Some(x) = blocks.get(v, k).and_then(|w| w.back()) {
                prefetch(x);
            }
            let newest = blocks.get(v, near).and_then(|w| w.back());
            if let Some(Acc::LastN(l)) = newest.map(|x| &x.acc) {
                // the buffer whole: which timestamps an event reads and writes depends on
                // the ring's head (in the window, but the buffer's lines are few)
                prefetch_lines(l.buffer());
            }
            continue;
        }
        on_col!(col, |v| blocks.get(*v, k),
            s => s.prefetch_for_event(),
            _w => (), // above
            // recency timestamps are inline in the state (see `RecencyTs`)
            _g => (),
            _ => ());
    }
}

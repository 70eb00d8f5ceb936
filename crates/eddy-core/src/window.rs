//! Window kinds and assignment (Flink semantics, half-open `[start, end)`).

use crate::{CoreError, Timestamp};

/// Largest accepted size, slide, gap, offset or trigger interval: 2^50 ms (about 35,000
/// years). Keeps all window arithmetic far from `i64` overflow.
pub const MAX_WINDOW_MS: i64 = 1 << 50;

/// A time window `[start, end)`. Global windows use `start = i64::MIN`, `end = i64::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Window {
    /// The global window.
    pub const GLOBAL: Window = Window {
        start: i64::MIN,
        end: i64::MAX,
    };

    /// Largest timestamp inside the window; it fires when the watermark reaches this.
    pub fn max_timestamp(&self) -> Timestamp {
        self.end.saturating_sub(1)
    }
}

/// When a global window fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// On every event.
    EveryEvent,
    /// Every `n` events of the key.
    Count(u64),
    /// Every `interval` ms of event time (fires when the watermark passes each boundary).
    EventTime(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSpec {
    /// `start = ts - ((ts - offset) mod size)`, mathematical modulo. Offset may be negative.
    Tumbling { size: i64, offset: i64 },
    /// Windows `[s, s + size)` with `s` aligned to `slide` (plus offset) and `s <= ts < s + size`.
    Sliding { size: i64, slide: i64, offset: i64 },
    /// Each event opens `[ts, ts + gap)`; overlapping or touching windows of a key merge.
    Session { gap: i64 },
    /// One window per key, never closed by time; fires on `trigger`, then purges or keeps state.
    /// With a `ttl`, the key's window is emptied once the watermark passes `ttl` after its
    /// latest event (a due event-time firing first), so that a key gone quiet costs nothing.
    Global {
        trigger: Trigger,
        purge: bool,
        ttl: Option<i64>,
    },
}

/// Start of the window of length `size` (aligned to `offset`) that holds `ts`:
/// `ts - ((ts - offset) mod size)` with a non-negative modulo.
pub fn aligned_start(ts: Timestamp, size: i64, offset: i64) -> Timestamp {
    let size = size.max(1);
    ts.wrapping_sub(ts.wrapping_sub(offset).rem_euclid(size))
}

fn positive(what: &str, v: i64) -> Result<(), CoreError> {
    if v <= 0 {
        Err(CoreError::Window(format!(
            "{what} must be positive, got {v} ms"
        )))
    } else if v > MAX_WINDOW_MS {
        Err(CoreError::Window(format!(
            "{what} must be at most {MAX_WINDOW_MS} ms, got {v} ms"
        )))
    } else {
        Ok(())
    }
}

impl WindowSpec {
    /// Refuses zero or negative sizes/gaps, a slide larger than its size, |offset| >= size.
    pub fn validate(&self) -> Result<(), CoreError> {
        match *self {
            WindowSpec::Tumbling { size, offset } => {
                positive("tumbling size", size)?;
                if offset.unsigned_abs() >= size.unsigned_abs() {
                    return Err(CoreError::Window(format!(
                        "tumbling offset must be smaller than the size in absolute value, got offset {offset} ms for size {size} ms"
                    )));
                }
                Ok(())
            }
            WindowSpec::Sliding {
                size,
                slide,
                offset,
            } => {
                positive("sliding size", size)?;
                positive("sliding slide", slide)?;
                if slide > size {
                    return Err(CoreError::Window(format!(
                        "slide ({slide} ms) must not be larger than size ({size} ms)"
                    )));
                }
                if offset.unsigned_abs() >= size.unsigned_abs() {
                    return Err(CoreError::Window(format!(
                        "sliding offset must be smaller than the size in absolute value, got offset {offset} ms for size {size} ms"
                    )));
                }
                Ok(())
            }
            WindowSpec::Session { gap } => positive("session gap", gap),
            WindowSpec::Global { trigger, ttl, .. } => {
                match trigger {
                    Trigger::EveryEvent | Trigger::Count(1..) => {}
                    Trigger::Count(0) => {
                        return Err(CoreError::Window(
                            "count trigger must fire every n >= 1 events".into(),
                        ))
                    }
                    Trigger::EventTime(t) => positive("event-time trigger interval", t)?,
                }
                let Some(ttl) = ttl else { return Ok(()) };
                positive("global window ttl", ttl)?;
                match trigger {
                    // the firing a key's last events are due must come before they expire
                    Trigger::EventTime(t) if ttl < t => Err(CoreError::Window(format!(
                        "ttl ({ttl} ms) must be at least the trigger interval ({t} ms), so that every firing comes before the state expires"
                    ))),
                    _ => Ok(()),
                }
            }
        }
    }

    /// Appends the windows that contain `ts` (sessions: the proto-window `[ts, ts + gap)`;
    /// global: the single global window). Sliding windows come in ascending start order.
    pub fn assign(&self, ts: Timestamp, out: &mut Vec<Window>) {
        match *self {
            WindowSpec::Tumbling { size, offset } => {
                let start = aligned_start(ts, size, offset);
                out.push(Window {
                    start,
                    end: start.saturating_add(size),
                });
            }
            WindowSpec::Sliding {
                size,
                slide,
                offset,
            } => {
                if slide <= 0 || size <= 0 {
                    return;
                }
                let last = aligned_start(ts, slide, offset);
                // earliest start s with s + size > ts, i.e. s > ts - size
                let mut s = last;
                while s.saturating_sub(slide) > ts.saturating_sub(size) {
                    s -= slide;
                }
                while s <= last {
                    out.push(Window {
                        start: s,
                        end: s.saturating_add(size),
                    });
                    s = s.saturating_add(slide);
                    if s == i64::MAX {
                        break;
                    }
                }
            }
            WindowSpec::Session { gap } => out.push(Window {
                start: ts,
                end: ts.saturating_add(gap),
            }),
            WindowSpec::Global { .. } => out.push(Window::GLOBAL),
        }
    }

    /// Whether this is a time window (closed by the watermark).
    pub fn is_time_window(&self) -> bool {
        !matches!(self, WindowSpec::Global { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(start: i64, end: i64) -> Window {
        Window { start, end }
    }

    fn assign(spec: WindowSpec, ts: i64) -> Vec<Window> {
        let mut v = Vec::new();
        spec.assign(ts, &mut v);
        v
    }

    #[test]
    fn tumbling_alignment_and_offsets() {
        let t = WindowSpec::Tumbling {
            size: 60_000,
            offset: 0,
        };
        assert_eq!(assign(t, 0), vec![w(0, 60_000)]);
        assert_eq!(assign(t, 59_999), vec![w(0, 60_000)]);
        // exactly at the end: belongs to the next window (half-open)
        assert_eq!(assign(t, 60_000), vec![w(60_000, 120_000)]);
        // positive offset 15s: windows [15s, 75s)
        let t = WindowSpec::Tumbling {
            size: 60_000,
            offset: 15_000,
        };
        assert_eq!(assign(t, 14_999), vec![w(-45_000, 15_000)]);
        assert_eq!(assign(t, 15_000), vec![w(15_000, 75_000)]);
        // negative offset -15s: same grid as +45s: windows [45s, 105s)
        let t = WindowSpec::Tumbling {
            size: 60_000,
            offset: -15_000,
        };
        assert_eq!(assign(t, 44_999), vec![w(-15_000, 45_000)]);
        assert_eq!(assign(t, 45_000), vec![w(45_000, 105_000)]);
        assert_eq!(assign(t, 100_000), vec![w(45_000, 105_000)]);
    }

    #[test]
    fn sliding_assignment() {
        let s = WindowSpec::Sliding {
            size: 10,
            slide: 5,
            offset: 0,
        };
        assert_eq!(assign(s, 7), vec![w(0, 10), w(5, 15)]);
        assert_eq!(assign(s, 10), vec![w(5, 15), w(10, 20)]);
        assert_eq!(assign(s, 9), vec![w(0, 10), w(5, 15)]);
        let s = WindowSpec::Sliding {
            size: 10,
            slide: 3,
            offset: 1,
        };
        // starts ≡ 1 mod 3: ..., -2, 1, 4, 7, 10; containing 8: s in (-2, 8] → 1, 4, 7
        assert_eq!(assign(s, 8), vec![w(1, 11), w(4, 14), w(7, 17)]);
        let s = WindowSpec::Sliding {
            size: 10,
            slide: 10,
            offset: 0,
        };
        assert_eq!(assign(s, 10), vec![w(10, 20)]);
    }

    #[test]
    fn session_and_global() {
        assert_eq!(assign(WindowSpec::Session { gap: 30 }, 5), vec![w(5, 35)]);
        let g = WindowSpec::Global {
            trigger: Trigger::EveryEvent,
            purge: false,
            ttl: None,
        };
        assert_eq!(assign(g, 5), vec![Window::GLOBAL]);
        assert_eq!(Window::GLOBAL.max_timestamp(), i64::MAX - 1);
    }

    #[test]
    fn validation() {
        let bad = [
            WindowSpec::Tumbling { size: 0, offset: 0 },
            WindowSpec::Tumbling {
                size: -5,
                offset: 0,
            },
            WindowSpec::Tumbling {
                size: 10,
                offset: 10,
            },
            WindowSpec::Tumbling {
                size: 10,
                offset: -10,
            },
            WindowSpec::Sliding {
                size: 10,
                slide: 11,
                offset: 0,
            },
            WindowSpec::Sliding {
                size: 10,
                slide: 0,
                offset: 0,
            },
            WindowSpec::Session { gap: 0 },
            WindowSpec::Session {
                gap: MAX_WINDOW_MS + 1,
            },
            WindowSpec::Global {
                trigger: Trigger::Count(0),
                purge: true,
                ttl: None,
            },
            WindowSpec::Global {
                trigger: Trigger::EventTime(0),
                purge: true,
                ttl: None,
            },
        ];
        for b in bad {
            assert!(b.validate().is_err(), "{b:?}");
        }
        assert!(WindowSpec::Tumbling {
            size: 10,
            offset: -9
        }
        .validate()
        .is_ok());
        assert!(WindowSpec::Sliding {
            size: 10,
            slide: 10,
            offset: 0
        }
        .validate()
        .is_ok());
    }
}

//! The `window = {...}` table of a feature: its kind (tumbling, sliding, session, global),
//! sizes, offset and, for a global window, its trigger.

use eddy_core::time::parse_duration;
use eddy_core::window::{Trigger, WindowSpec};
use toml::{Table, Value as Toml};

use super::format_duration;
use crate::check::{join, type_name, Validator};

/// Validates the window table at `path`. Only the keys of its kind are accepted, so that a
/// The most windows one event may belong to in one sliding feature (`size / slide`): each is
/// state kept and a row fired per key, so `size = "1d", slide = "1ms"` (86.4 million) cannot
/// run, while a day sliding by the second (86,400) can.
pub const MAX_WINDOWS_PER_EVENT: i64 = 100_000;

/// How many sliding windows of `size` every `slide` hold one event.
pub fn windows_per_event(size: i64, slide: i64) -> i64 {
    let slide = slide.max(1);
    size / slide + i64::from(size % slide != 0)
}

/// `slide` on a tumbling window is an error rather than silently ignored.
pub(super) fn window(v: &mut Validator, w: &Table, path: &str) -> Option<WindowSpec> {
    const KINDS: &str = "tumbling, sliding, session, global";
    let kind = match w.get("kind") {
        None => {
            v.err(
                join(path, "kind"),
                format!("missing; expected one of: {KINDS}"),
            );
            return None;
        }
        Some(_) => v.string(w, path, "kind")?,
    };
    let allowed: &[&str] = match kind.as_str() {
        "tumbling" => &["kind", "size", "offset"],
        "sliding" => &["kind", "size", "slide", "offset"],
        "session" => &["kind", "gap"],
        "global" => &["kind", "trigger", "purge", "ttl"],
        other => {
            v.err(
                join(path, "kind"),
                format!("unknown window kind `{other}`; expected one of: {KINDS}"),
            );
            return None;
        }
    };
    for k in w.keys() {
        if !allowed.contains(&k.as_str()) {
            v.err(
                join(path, k),
                format!(
                    "unknown key for a {kind} window; expected one of: {}",
                    allowed.join(", ")
                ),
            );
        }
    }
    let errs = v.error_count();
    let required_positive = |v: &mut Validator, key: &str| -> Option<i64> {
        let p = join(path, key);
        if !w.contains_key(key) {
            v.err(
                p,
                format!("missing; a {kind} window needs a {key} such as \"5m\""),
            );
            return None;
        }
        let d = v.duration(w, path, key)?;
        if d <= 0 {
            v.err(p, format!("{key} must be > 0"));
            return None;
        }
        Some(d)
    };
    // `bound` names what the offset must stay under: the size, or for a sliding window the
    // slide (windows start every slide, so a larger offset would only repeat the alignment).
    let offset = |v: &mut Validator, bound: (&str, Option<i64>)| -> Option<i64> {
        let p = join(path, "offset");
        let off = match w.get("offset") {
            None => 0,
            Some(Toml::String(s)) => {
                let (neg, body) = match s.trim().strip_prefix('-') {
                    Some(b) => (true, b),
                    None => (false, s.trim()),
                };
                match parse_duration(body) {
                    Ok(d) => {
                        if neg {
                            -d
                        } else {
                            d
                        }
                    }
                    Err(_) => {
                        v.err(
                            p,
                            format!("`{s}` is not a duration; expected e.g. \"15m\" or \"-15m\""),
                        );
                        return None;
                    }
                }
            }
            Some(Toml::Integer(0)) => 0,
            Some(x) => {
                v.err(
                    p,
                    format!(
                        "expected a duration string such as \"15m\" or \"-15m\", found {}",
                        type_name(x)
                    ),
                );
                return None;
            }
        };
        if let (name, Some(bound)) = bound {
            if off.abs() >= bound {
                v.err(
                    p,
                    format!(
                        "offset ({}) must be smaller than {name} ({}) in absolute value",
                        format_duration(off),
                        format_duration(bound)
                    ),
                );
                return None;
            }
        }
        Some(off)
    };
    let spec = match kind.as_str() {
        "tumbling" => {
            let size = required_positive(v, "size");
            let off = offset(v, ("size", size));
            WindowSpec::Tumbling {
                size: size?,
                offset: off?,
            }
        }
        "sliding" => {
            let size = required_positive(v, "size");
            let slide = required_positive(v, "slide");
            if let (Some(size), Some(slide)) = (size, slide) {
                if slide > size {
                    v.err(
                        join(path, "slide"),
                        format!(
                            "slide ({}) is larger than size ({}); expected slide <= size",
                            format_duration(slide),
                            format_duration(size)
                        ),
                    );
                } else if windows_per_event(size, slide) > MAX_WINDOWS_PER_EVENT {
                    v.err(
                        join(path, "slide"),
                        format!(
                            "a window of {} sliding by {} puts each event in {} windows (and fires one per key every {}); at most {MAX_WINDOWS_PER_EVENT} are allowed: raise the slide or shorten the window",
                            format_duration(size),
                            format_duration(slide),
                            windows_per_event(size, slide),
                            format_duration(slide),
                        ),
                    );
                }
            }
            let off = offset(v, ("slide", slide));
            WindowSpec::Sliding {
                size: size?,
                slide: slide?,
                offset: off?,
            }
        }
        "session" => WindowSpec::Session {
            gap: required_positive(v, "gap")?,
        },
        _ => {
            let trigger = match w.get("trigger") {
                None => Some(Trigger::EveryEvent),
                Some(Toml::String(s)) => parse_trigger(s).or_else(|| {
                    v.err(
                        join(path, "trigger"),
                        format!("unknown trigger `{s}`; expected \"each_event\", \"every N events\" (N >= 1) or \"every DURATION\" (e.g. \"every 1h\")"),
                    );
                    None
                }),
                Some(x) => {
                    v.err(
                        join(path, "trigger"),
                        format!("expected a string such as \"each_event\", found {}", type_name(x)),
                    );
                    None
                }
            };
            let purge = match w.get("purge") {
                None => Some(false),
                Some(Toml::Boolean(b)) => Some(*b),
                Some(x) => {
                    v.err(
                        join(path, "purge"),
                        format!("expected true or false, found {}", type_name(x)),
                    );
                    None
                }
            };
            let ttl = match w.get("ttl") {
                None => Some(None),
                Some(_) => v.duration(w, path, "ttl").map(Some),
            };
            if let (Some(Trigger::EventTime(t)), Some(Some(ttl))) = (trigger, ttl) {
                if ttl < t {
                    v.err(
                        join(path, "ttl"),
                        format!(
                            "ttl ({}) is shorter than the trigger interval ({}): a key's last firing would come after its state expired; use a ttl of at least {}",
                            format_duration(ttl),
                            format_duration(t),
                            format_duration(t)
                        ),
                    );
                }
            }
            WindowSpec::Global {
                trigger: trigger?,
                purge: purge?,
                ttl: ttl?,
            }
        }
    };
    if v.error_count() != errs {
        return None;
    }
    if let Err(e) = spec.validate() {
        v.err(path, e.to_string());
        return None;
    }
    Some(spec)
}

/// `each_event` | `every N events` | `every DURATION`.
fn parse_trigger(s: &str) -> Option<Trigger> {
    let s = s.trim();
    if s == "each_event" {
        return Some(Trigger::EveryEvent);
    }
    let rest = s.strip_prefix("every ")?.trim();
    if let Some(n) = rest
        .strip_suffix(" events")
        .or_else(|| rest.strip_suffix(" event"))
    {
        let n: u64 = n.trim().parse().ok()?;
        return (n >= 1).then_some(Trigger::Count(n));
    }
    match parse_duration(rest) {
        Ok(d) if d > 0 => Some(Trigger::EventTime(d)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::tests::{errors, with_feature};

    #[test]
    fn triggers_parse() {
        assert_eq!(parse_trigger("each_event"), Some(Trigger::EveryEvent));
        assert_eq!(parse_trigger("every 100 events"), Some(Trigger::Count(100)));
        assert_eq!(parse_trigger("every 0 events"), None);
        assert_eq!(parse_trigger("sometimes"), None);
    }

    #[test]
    fn a_global_ttl_is_a_positive_duration_no_shorter_than_the_trigger() {
        let feature = |w: &str| {
            with_feature(&format!(
                "[[feature]]\nname = \"c\"\nagg = \"count\"\nwindow = {{ kind = \"global\", {w} }}"
            ))
        };
        let spec =
            crate::spec::PipelineSpec::parse(&feature(r#"trigger = "every 1h", ttl = "2h""#));
        let window = spec.map(|s| s.features[0].window);
        assert!(
            matches!(
                window,
                Ok(WindowSpec::Global {
                    ttl: Some(7_200_000),
                    ..
                })
            ),
            "{window:?}"
        );
        for (w, says) in [
            (
                r#"trigger = "every 1h", ttl = "10m""#,
                "shorter than the trigger interval (1h)",
            ),
            (r#"ttl = "0s""#, "must be positive"),
            (r#"ttl = "soon""#, "not a duration"),
            (r#"ttl = 5"#, "duration"),
        ] {
            let e = errors(&feature(w));
            assert!(
                e.has_path("feature[0].window.ttl") || e.has_path("feature[0].window"),
                "{w}: {e}"
            );
            assert!(e.to_string().contains(says), "{w}: {e}");
        }
        let e = errors(&format!("key_ttl = \"-1m\"\n{}", feature("")));
        assert!(e.has_path("key_ttl"), "{e}");
    }

    #[test]
    fn unknown_window_key() {
        let e = errors(&with_feature(
            r#"[[feature]]
name = "c"
agg = "count"
window = { kind = "tumbling", size = "1m", slide = "1m" }"#,
        ));
        assert!(e.has_path("feature[0].window.slide"), "{e}");
    }

    #[test]
    fn zero_and_negative_sizes() {
        let e = errors(&with_feature(
            r#"[[feature]]
name = "a"
agg = "count"
window = { kind = "tumbling", size = "0s" }
[[feature]]
name = "b"
agg = "count"
window = { kind = "sliding", size = "-5m", slide = "1m" }
[[feature]]
name = "c"
agg = "count"
window = { kind = "session", gap = 0 }"#,
        ));
        assert!(e.has_path("feature[0].window.size"), "{e}");
        assert!(e.has_path("feature[1].window.size"), "{e}");
        assert!(e.has_path("feature[2].window.gap"), "{e}");
    }

    #[test]
    fn windows_per_event_are_bounded() {
        // a day by the millisecond: 86,400,000 windows per event
        let msg = errors(&with_feature(
            r#"[[feature]]
name = "n"
agg = "count"
window = { kind = "sliding", size = "1d", slide = "1ms" }"#,
        ))
        .to_string();
        assert!(msg.contains("feature[0].window.slide"), "{msg}");
        assert!(msg.contains("86400000 windows"), "{msg}");
        // a day by the second, 86,400: runs
        let ok = crate::spec::PipelineSpec::parse(&with_feature(
            r#"[[feature]]
name = "n"
agg = "count"
window = { kind = "sliding", size = "1d", slide = "1s" }"#,
        ));
        assert!(ok.is_ok(), "{:?}", ok.err());
        // twelve of those: 1,036,800 windows per event in all
        let many: String = (0..12)
            .map(|i| {
                format!(
                    "[[feature]]\nname = \"n{i}\"\nagg = \"count\"\nwindow = {{ kind = \"sliding\", size = \"1d\", slide = \"1s\" }}\n"
                )
            })
            .collect();
        let msg = errors(&with_feature(&many)).to_string();
        assert!(
            msg.contains("feature: the features put each event in 1036800 windows"),
            "{msg}"
        );
    }

    #[test]
    fn slide_larger_than_size() {
        let e = errors(&with_feature(
            r#"[[feature]]
name = "a"
agg = "count"
window = { kind = "sliding", size = "5m", slide = "10m" }"#,
        ));
        let msg = e.to_string();
        assert!(
            msg.contains("feature[0].window.slide: slide (10m) is larger than size (5m)"),
            "{msg}"
        );
    }

    /// The offset bound is the size for a tumbling window and the slide for a sliding one,
    /// and the message names the bound that applies, with its value.
    #[test]
    fn offset_bound_is_named() {
        let e = errors(&with_feature(
            r#"[[feature]]
name = "a"
agg = "count"
window = { kind = "sliding", size = "10m", slide = "1m", offset = "-2m" }
[[feature]]
name = "b"
agg = "count"
window = { kind = "tumbling", size = "1m", offset = "90s" }
[[feature]]
name = "c"
agg = "count"
window = { kind = "sliding", size = "10m", slide = "5m", offset = "4m" }"#,
        ));
        let msg = e.to_string();
        assert!(
            msg.contains("feature[0].window.offset: offset (-2m) must be smaller than slide (1m) in absolute value"),
            "{msg}"
        );
        assert!(
            msg.contains("feature[1].window.offset: offset (90s) must be smaller than size (1m) in absolute value"),
            "{msg}"
        );
        assert!(!e.has_path("feature[2].window.offset"), "{msg}");
    }
}

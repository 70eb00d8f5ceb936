//! `[[feature]]` entries: each feature's name, aggregation, field, filter (`where`) and
//! window, checked against the declared schema.

use std::collections::BTreeMap;

use eddy_core::agg::{AggKind, RateUnit};
use eddy_core::feature::FeatureSpec;
use eddy_core::filter::Filter;
use eddy_core::window::WindowSpec;
use eddy_core::{FieldType, Interner, Schema};
use toml::{Table, Value as Toml};

use super::windows::{window, windows_per_event};
use crate::check::{join, type_name, Validator};

/// Default bound of exact distinct counting before switching to HyperLogLog.
pub const DEFAULT_EXACT_LIMIT: usize = 1_000;

/// Validates the `[[feature]]` array (`entries`, at `path`): at least one entry, names unique
/// across it. Filters intern their strings into `interner`, which the decoder goes on using.
pub(super) fn features(
    v: &mut Validator,
    entries: Option<&Toml>,
    path: &str,
    schema: &Schema,
    interner: &mut Interner,
) -> Vec<FeatureSpec> {
    let mut features = Vec::new();
    match entries {
        None => v.err(path, "missing; expected at least one [[feature]] entry"),
        Some(Toml::Array(arr)) => {
            if arr.is_empty() {
                v.err(path, "is empty; expected at least one [[feature]] entry");
            }
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            for (i, f) in arr.iter().enumerate() {
                let fpath = format!("{path}[{i}]");
                let Toml::Table(ft) = f else {
                    v.err(fpath, format!("expected a table, found {}", type_name(f)));
                    continue;
                };
                if let Some(Toml::String(name)) = ft.get("name") {
                    if let Some(first) = seen.get(name) {
                        v.err(
                            format!("{fpath}.name"),
                            format!("duplicate feature name `{name}` (first used by {path}[{first}]); names must be unique"),
                        );
                    } else {
                        seen.insert(name.clone(), i);
                    }
                }
                if let Some(fs) = feature(v, ft, &fpath, schema, interner) {
                    features.push(fs);
                }
            }
        }
        Some(x) => v.err(
            path,
            format!(
                "expected an array of tables ([[feature]]), found {}",
                type_name(x)
            ),
        ),
    }
    let windows: i64 = features
        .iter()
        .map(|f| match f.window {
            WindowSpec::Sliding { size, slide, .. } => windows_per_event(size, slide),
            _ => 1,
        })
        .sum();
    if windows > MAX_WINDOWS_PER_EVENT_ALL {
        v.err(
            path,
            format!(
                "the features put each event in {windows} windows in all; at most {MAX_WINDOWS_PER_EVENT_ALL} are allowed: fewer features, or longer slides"
            ),
        );
    }
    features
}

/// The most windows one event may belong to across all features.
pub const MAX_WINDOWS_PER_EVENT_ALL: i64 = 1_000_000;

/// One `[[feature]]` table at `path`. Keys that only apply to another aggregation are errors,
/// so that a misplaced `n` or `unit` is not silently ignored.
fn feature(
    v: &mut Validator,
    t: &Table,
    path: &str,
    schema: &Schema,
    interner: &mut Interner,
) -> Option<FeatureSpec> {
    v.unknown_keys(
        t,
        path,
        &[
            "name",
            "agg",
            "field",
            "window",
            "where",
            "n",
            "unit",
            "exact_limit",
        ],
    );
    let n_errors = v.error_count();
    let name = v.required_string(t, path, "name", "a feature name");
    if let Some(n) = &name {
        if !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        {
            v.err(
                join(path, "name"),
                format!("`{n}` has characters other than letters, digits, `_`, `-` and `.`"),
            );
        }
    }
    let agg_name = v.required_string(t, path, "agg", "an aggregation");
    let mut agg = None;
    if let Some(a) = agg_name.as_deref() {
        let only = |v: &mut Validator, key: &str, agg: &str| {
            if t.contains_key(key) {
                v.err(join(path, key), format!("only applies to agg = {agg}"));
            }
        };
        if a != "last_n" {
            only(v, "n", "\"last_n\"");
        }
        if a != "rate" {
            only(v, "unit", "\"rate\"");
        }
        if a != "distinct_count" {
            only(v, "exact_limit", "\"distinct_count\"");
        }
        agg = match a {
            "count" => Some(AggKind::Count),
            "sum" => Some(AggKind::Sum),
            "mean" | "avg" => Some(AggKind::Mean),
            "min" => Some(AggKind::Min),
            "max" => Some(AggKind::Max),
            "variance" => Some(AggKind::Variance),
            "stddev" => Some(AggKind::Stddev),
            "distinct_count" => {
                let exact_limit = if t.contains_key("exact_limit") {
                    v.positive_int(t, path, "exact_limit")
                } else {
                    Some(DEFAULT_EXACT_LIMIT)
                };
                exact_limit.map(|exact_limit| AggKind::DistinctCount { exact_limit })
            }
            "last_n" => {
                if !t.contains_key("n") {
                    v.err(join(path, "n"), "missing; agg = \"last_n\" needs n >= 1");
                    None
                } else {
                    v.positive_int(t, path, "n").map(|n| AggKind::LastN { n })
                }
            }
            "rate" => {
                let unit = if t.contains_key("unit") {
                    v.choice(
                        t,
                        path,
                        "unit",
                        &[
                            ("second", RateUnit::Second),
                            ("minute", RateUnit::Minute),
                            ("hour", RateUnit::Hour),
                        ],
                    )
                } else {
                    Some(RateUnit::Second)
                };
                unit.map(|unit| AggKind::Rate { unit })
            }
            "recency" => Some(AggKind::Recency),
            other => {
                v.err(
                    join(path, "agg"),
                    format!("unknown aggregation `{other}`; expected one of: count, sum, mean, min, max, variance, stddev, distinct_count, last_n, rate, recency"),
                );
                None
            }
        };
    }

    // field
    let field_name = v.string(t, path, "field");
    let mut field = None;
    if let Some(agg) = agg {
        match (&field_name, agg.needs_field()) {
            (None, true) => v.err(
                join(path, "field"),
                format!(
                    "missing; agg = \"{}\" reads a field",
                    agg_name.as_deref().unwrap_or("")
                ),
            ),
            (Some(_), false) => v.err(
                join(path, "field"),
                format!(
                    "agg = \"{}\" reads no field; remove `field` (use `where` to select events)",
                    agg_name.as_deref().unwrap_or("")
                ),
            ),
            (Some(f), true) => match schema.field_id(f) {
                None => v.err(
                    join(path, "field"),
                    format!("unknown field `{f}`; declare it in [source.fields]"),
                ),
                Some(id) => {
                    let ty = schema.field_type(id);
                    if agg.needs_numeric() && !matches!(ty, FieldType::Int | FieldType::Float) {
                        v.err(
                            join(path, "field"),
                            format!(
                                "field `{f}` is {}; agg = \"{}\" needs an int or float field",
                                match ty {
                                    FieldType::Bool => "bool",
                                    FieldType::String => "string",
                                    _ => "numeric",
                                },
                                agg_name.as_deref().unwrap_or("")
                            ),
                        );
                    } else {
                        field = Some(id);
                    }
                }
            },
            (None, false) => {}
        }
    }

    // where
    let mut filter = None;
    if let Some(expr) = v.string(t, path, "where") {
        match Filter::parse(&expr, schema, interner) {
            Ok(f) => filter = Some(f),
            Err(e) => v.err(join(path, "where"), e.to_string()),
        }
    }

    // window
    let wpath = join(path, "window");
    let window = match t.get("window") {
        None => {
            v.err(
                &wpath,
                "missing; expected a table such as { kind = \"tumbling\", size = \"1m\" }",
            );
            None
        }
        Some(Toml::Table(w)) => window(v, w, &wpath),
        Some(x) => {
            v.err(&wpath, format!("expected a table, found {}", type_name(x)));
            None
        }
    };

    if let (Some(AggKind::Rate { .. }), Some(WindowSpec::Global { .. })) = (agg, window) {
        v.err(
            join(path, "window.kind"),
            "agg = \"rate\" divides by the window length; use a tumbling, sliding or session window, not global",
        );
    }
    if v.error_count() != n_errors {
        return None;
    }
    Some(FeatureSpec {
        name: name?,
        agg: agg?,
        field,
        window: window?,
        filter,
    })
}

#[cfg(test)]
mod tests {
    use crate::spec::tests::{errors, with_feature};

    #[test]
    fn duplicate_feature_names() {
        let e = errors(&with_feature(
            r#"[[feature]]
name = "a"
agg = "count"
window = { kind = "tumbling", size = "1m" }
[[feature]]
name = "a"
agg = "count"
window = { kind = "tumbling", size = "5m" }"#,
        ));
        assert!(e.has_path("feature[1].name"), "{e}");
        assert!(e.to_string().contains("duplicate"), "{e}");
    }

    #[test]
    fn unknown_field_in_filter() {
        let e = errors(&with_feature(
            r#"[[feature]]
name = "a"
agg = "count"
where = 'colour == "red"'
window = { kind = "tumbling", size = "1m" }"#,
        ));
        assert!(e.has_path("feature[0].where"), "{e}");
    }

    /// A filter nested or chained past the parser's limits is a spec error at its `where`
    /// key (it used to overflow the stack).
    #[test]
    fn huge_filters_are_refused_at_where() {
        let deep = format!("{}amount > 1{}", "(".repeat(10_000), ")".repeat(10_000));
        let long = vec!["amount > 1"; 100_000].join(" and ");
        for (expr, want) in [
            (deep, "deeper than 64 levels"),
            (long, "more than 1000 comparisons"),
        ] {
            let e = errors(&with_feature(&format!(
                "[[feature]]\nname = \"a\"\nagg = \"count\"\nwhere = '{expr}'\n\
                 window = {{ kind = \"tumbling\", size = \"1m\" }}"
            )));
            assert!(e.has_path("feature[0].where"), "{e}");
            assert!(e.to_string().contains(want), "{e}");
        }
    }

    #[test]
    fn wrong_types() {
        let e = errors(&with_feature(
            r#"[[feature]]
name = 5
agg = "mean"
field = "event_type"
window = { kind = "tumbling", size = 60 }
[[feature]]
name = "n"
agg = "last_n"
n = "ten"
field = "event_type"
window = { kind = "session", gap = "30m" }"#,
        ));
        assert!(e.has_path("feature[0].name"), "{e}");
        assert!(e.has_path("feature[0].field"), "{e}");
        assert!(e.has_path("feature[0].window.size"), "{e}");
        assert!(e.has_path("feature[1].n"), "{e}");
    }

    #[test]
    fn rate_needs_a_time_window() {
        let e = errors(&with_feature(
            r#"[[feature]]
name = "r"
agg = "rate"
window = { kind = "global" }"#,
        ));
        assert!(e.has_path("feature[0].window.kind"), "{e}");
    }
}

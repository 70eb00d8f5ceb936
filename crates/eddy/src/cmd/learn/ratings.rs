//! `eddy learn --user FIELD --item FIELD`: a recommender (`biased_mf`, `funk_mf`) learning
//! `(user, item, rating)` rows prequentially: each rating is predicted, then learned, with
//! the same reader, metrics (default `mae`, `rmse`), label delay, drift detector and output
//! lines as the feature models.
//!
//! Ids are the cells' text (a JSON number as written, e.g. `42`), mapped to 64-bit ids by
//! `eddy_learn::mf::str_id`. A row whose user or item is missing, or whose rating is not a
//! finite number, is a bad row: skipped, counted and named.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use eddy_learn::metrics::{self, StreamMetric};
use eddy_learn::mf::str_id;
use eddy_learn::prequential::{Event, Prequential};
use eddy_learn::registry::{self, AnyRecommender, Params};
use eddy_learn::tabular::{trim, Field, PrequentialRun};
use eddy_learn::{Detector, Metric, Task};
use eddy_runtime::{DeadReason, DecodeError};

use super::{
    build_detector, is_broken_pipe, json_num, json_str, reuse, LearnArgs, Reader, MAX_MESSAGES,
};

/// The id of a cell, `None` when missing; `buf` holds a number's text.
fn id_of(f: &Field, buf: &mut String) -> Option<u64> {
    match *f {
        Field::Text(t) | Field::NumText(t, _) => {
            let t = trim(t);
            (!t.is_empty()).then(|| str_id(t))
        }
        Field::Num(v) => {
            buf.clear();
            let _ = write!(buf, "{v}");
            Some(str_id(buf))
        }
        Field::Missing => None,
    }
}

/// The rating of a cell, or why it is none.
fn rating_of(f: &Field) -> Result<f64, (DeadReason, String)> {
    match *f {
        Field::Num(v) | Field::NumText(_, v) if v.is_finite() => Ok(v),
        Field::Missing => Err((DeadReason::MissingField, "no rating".into())),
        Field::Text(t) if trim(t).is_empty() => Err((DeadReason::MissingField, "no rating".into())),
        Field::Text(t) | Field::NumText(t, _) => Err((
            DeadReason::BadField,
            format!("`{}` is not a finite number", trim(t)),
        )),
        Field::Num(v) => Err((DeadReason::BadField, format!("{v} is not a finite number"))),
    }
}

fn column(header: &[String], flag: &str, name: &str) -> Result<usize> {
    header.iter().position(|h| h == name).ok_or_else(|| {
        anyhow!(
            "{flag} column `{name}` is not in the input; columns: {}",
            header.join(", ")
        )
    })
}

fn build_model(args: &LearnArgs, params: &Params) -> Result<AnyRecommender> {
    let Some(path) = &args.load else {
        let name = args
            .model
            .as_deref()
            .ok_or_else(|| anyhow!("--model is required (biased_mf or funk_mf), or --load"))?;
        return registry::build_recommender(name, params)
            .with_context(|| format!("--user and --item need a recommender; `{name}`"));
    };
    let model = AnyRecommender::load(path)
        .with_context(|| format!("cannot load recommender snapshot `{}`", path.display()))?;
    if let Some(m) = &args.model {
        if m != model.name() {
            bail!(
                "--model `{m}` differs from the snapshot's model `{}`",
                model.name()
            );
        }
    }
    if !params.is_empty() {
        bail!("--param cannot change a loaded model's parameters");
    }
    Ok(model)
}

fn build_metrics(specs: &[String]) -> Result<Vec<StreamMetric>> {
    let defaults = PrequentialRun::default_metrics(Task::Regression);
    let specs: Vec<&str> = if specs.is_empty() {
        defaults.to_vec()
    } else {
        specs.iter().map(String::as_str).collect()
    };
    specs
        .into_iter()
        .map(|s| {
            let m = metrics::build(s)?;
            if m.kind().task() != Task::Regression {
                bail!("metric `{s}` is for classification; a recommender predicts ratings: use mae, rmse or r2");
            }
            Ok(m)
        })
        .collect()
}

pub(super) fn run(args: &LearnArgs, params: &Params, started: Instant) -> Result<()> {
    let (Some(user), Some(item)) = (&args.user, &args.item) else {
        bail!("--user and --item go together");
    };
    if !args.features.is_empty()
        || !args.ignore.is_empty()
        || !args.categorical.is_empty()
        || args.fill_missing.is_some()
    {
        bail!("--features, --ignore, --categorical and --fill-missing are for feature models; a recommender reads only --user, --item and --target");
    }
    let target = args
        .target
        .as_deref()
        .ok_or_else(|| anyhow!("--target is required: the rating column"))?;
    let mut model = build_model(args, params)?;
    let reader = Reader::open(&args.data, args.format)?;
    let cols = [
        column(&reader.header, "--user", user)?,
        column(&reader.header, "--item", item)?,
        column(&reader.header, "--target", target)?,
    ];
    let names = [user.as_str(), item.as_str(), target];
    let metrics = build_metrics(&args.metric)?;
    let detector = match &args.drift {
        Some(spec) => {
            let d = build_detector(spec)?;
            if d.is_binary() {
                bail!("detector `{}` watches 0/1 mistakes; a recommender's errors are real numbers: use adwin, page_hinkley or kswin", d.name());
            }
            Some(d)
        }
        None => None,
    };
    let mut preq: Prequential<(u64, u64)> =
        Prequential::new(metrics, detector, args.every, args.delay);

    let stdout = std::io::stdout();
    let mut out = Lines {
        out: std::io::BufWriter::new(stdout.lock()),
        err: None,
    };

    let mut skipped = 0u64;
    let mut report_bad = |e: &DecodeError| {
        skipped += 1;
        if skipped <= MAX_MESSAGES {
            match &e.field {
                Some(c) => eprintln!(
                    "eddy learn: line {}, column `{c}`: {}; row skipped",
                    e.line, e.msg
                ),
                None => eprintln!("eddy learn: line {}: {}; row skipped", e.line, e.msg),
            }
            if skipped == MAX_MESSAGES {
                eprintln!("eddy learn: further bad rows are counted but not shown");
            }
        }
    };
    let width = reader.header.len();
    let mut fields: Vec<Field<'static>> = Vec::new();
    let mut buf = String::new();
    let mut rows = reader.spawn();
    while let Some(batch) = rows.next()? {
        let mut f = std::mem::take(&mut fields);
        for rec in &batch.recs {
            let (line, first) = match rec {
                Err(e) => {
                    report_bad(e);
                    continue;
                }
                Ok(r) => *r,
            };
            batch.fields(first, width, &mut f);
            let u = id_of(&f[cols[0]], &mut buf);
            let i = id_of(&f[cols[1]], &mut buf);
            let bad = match (u, i, rating_of(&f[cols[2]])) {
                (Some(u), Some(i), Ok(y)) => {
                    preq.step(&mut model, &(u, i), y, &mut |e| out.event(e));
                    None
                }
                (None, ..) => Some((0, DeadReason::MissingField, "no user id".to_string())),
                (_, None, _) => Some((1, DeadReason::MissingField, "no item id".to_string())),
                (_, _, Err((reason, msg))) => Some((2, reason, msg)),
            };
            if let Some((c, reason, msg)) = bad {
                report_bad(&DecodeError::with_field(line, names[c], reason, msg));
            }
        }
        fields = reuse(f);
        rows.done(batch);
        if out.err.is_some() {
            break;
        }
    }
    if out.err.is_none() {
        preq.finish(&mut model, &mut |e| out.event(e));
    }
    let mut out = match out.err {
        None => out.out,
        Some(e) if is_broken_pipe(&e) => return Ok(()),
        Some(e) => return Err(e).context("writing stdout"),
    };
    if preq.n() == 0 && skipped == 0 {
        bail!("`{}` has a header but no data rows", args.data.display());
    }
    if let Some(path) = &args.save {
        save(&model, path)?;
    }
    let secs = started.elapsed().as_secs_f64();
    let mut summary = format!(
        "{{\"summary\":{{\"model\":{},\"examples\":{},\"skipped\":{skipped},\"drifts\":{},\"metrics\":{{",
        json_str(model.name()),
        preq.n(),
        preq.n_drifts()
    );
    for (k, m) in preq.metrics().iter().enumerate() {
        if k > 0 {
            summary.push(',');
        }
        summary.push_str(&format!("{}:{}", json_str(m.label()), json_num(m.get())));
    }
    summary.push_str(&format!(
        "}},\"seconds\":{},\"examples_per_s\":{}}}}}",
        json_num(secs),
        json_num((preq.n() as f64 / secs.max(1e-9)).round())
    ));
    if let Err(e) = writeln!(out, "{summary}").and_then(|_| out.flush()) {
        if !is_broken_pipe(&e) {
            return Err(e).context("writing stdout");
        }
    }
    if skipped > 0 {
        eprintln!("eddy learn: {skipped} bad row(s) skipped");
    }
    Ok(())
}

/// The output lines of a run's events, and the first write error (after which nothing more
/// is written).
struct Lines<W: Write> {
    out: W,
    err: Option<std::io::Error>,
}

impl<W: Write> Lines<W> {
    fn event(&mut self, e: Event) {
        let line = match e {
            Event::Report { n, metrics } => {
                let mut s = format!("{{\"n\":{n}");
                for m in metrics {
                    s.push_str(&format!(",{}:{}", json_str(m.label()), json_num(m.get())));
                }
                s.push('}');
                s
            }
            Event::Drift { n, detector } => {
                format!("{{\"n\":{n},\"drift\":{}}}", json_str(detector))
            }
            Event::Warning { .. } => return,
        };
        if self.err.is_none() {
            if let Err(e) = writeln!(self.out, "{line}").and_then(|_| self.out.flush()) {
                self.err = Some(e);
            }
        }
    }
}

/// The registry's snapshot, refused for a diverged model (its file could not be loaded).
fn save(model: &AnyRecommender, path: &Path) -> Result<()> {
    model
        .save(path)
        .with_context(|| format!("not saving `{}`", path.display()))
}

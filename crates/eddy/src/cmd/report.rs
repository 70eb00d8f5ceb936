//! `eddy report`: a learning log (`output.learning` of `eddy run`, JSON Lines or CSV) made into
//! one self-contained HTML page of charts and tables, openable offline.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use eddy_runtime::connector::file::FileId;

use crate::report::html;
use crate::report::log::{Format, Log};

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The learning log (`-` for stdin).
    pub log: PathBuf,
    /// The HTML file to write (`-` for stdout); an existing report is replaced. Default: the
    /// log's path with the extension `.html`.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// The log's format; by default `{` as its first character means JSON Lines, else CSV.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// The page's title.
    #[arg(long)]
    pub title: Option<String>,
}

pub fn run(args: ReportArgs) -> Result<()> {
    let stdin = args.log.as_os_str() == "-";
    let output = match (&args.output, stdin) {
        (Some(o), _) => o.clone(),
        (None, false) => args.log.with_extension("html"),
        (None, true) => bail!("reading the log from stdin: name the report with -o"),
    };
    let to_stdout = output.as_os_str() == "-";
    if !to_stdout && !stdin && FileId::of(&output) == FileId::of(&args.log) {
        bail!(
            "the report `{}` would overwrite the log it is made from; choose another -o",
            output.display()
        );
    }
    let name = if stdin {
        "stdin".to_string()
    } else {
        args.log.display().to_string()
    };
    let mut bytes = Vec::new();
    if stdin {
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .context("reading stdin")?;
    } else {
        bytes = std::fs::read(&args.log).with_context(|| format!("cannot read `{name}`"))?;
    }
    let format = args.format.or_else(|| format_of(&args.log));
    let log = Log::parse(&bytes, format).with_context(|| format!("`{name}`"))?;
    for bad in &log.bad {
        eprintln!("warning: `{name}` {bad}: line skipped");
    }
    if log.skipped > log.bad.len() as u64 {
        eprintln!(
            "warning: `{name}`: {} more lines skipped",
            log.skipped - log.bad.len() as u64
        );
    }
    let title = args.title.unwrap_or_else(|| {
        let file = args
            .log
            .file_name()
            .map(|f| f.to_string_lossy().into_owned());
        format!("Learning report: {}", file.unwrap_or(name.clone()))
    });
    let page = html::page(&log, &title, &name);
    if to_stdout {
        let mut out = std::io::stdout().lock();
        out.write_all(page.as_bytes())
            .and_then(|()| out.flush())
            .context("writing stdout")?;
    } else {
        write_replacing(&output, page.as_bytes())?;
        eprintln!(
            "wrote {} ({} rows of {}{})",
            output.display(),
            log.n.len(),
            name,
            if log.skipped > 0 {
                format!("; {} bad lines skipped", log.skipped)
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

/// The format the log's extension names, if it names one.
fn format_of(path: &Path) -> Option<Format> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "csv" => Some(Format::Csv),
        "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
        _ => None,
    }
}

/// Writes next to `path` and renames over it: a reader never sees half a page, and a failed
/// write leaves the old report as it was.
fn write_replacing(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let written = std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("cannot write `{}`", path.display()));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

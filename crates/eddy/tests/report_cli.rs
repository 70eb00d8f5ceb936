//! `eddy report`, checked in a real browser: the page is opened in headless Chromium (Debian's
//! `chromium`), and the DOM its script drew (`--dump-dom`) and the pixels it painted
//! (`--screenshot`) are checked against the values of a log the test writes itself. Positions
//! are checked against the axes' own ticks (a tick's place and its label), so a point drawn
//! at the wrong value or a marker at the wrong `n` fails.
//!
//! Without Chromium the browser tests say so loudly and pass, except under CI (`CI=true`),
//! where they fail; `.ci/run` installs it. `EDDY_CHROMIUM` names another binary.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use eddy_testutil::Tmp;
use serde_json::{json, Value};

fn eddy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(args)
        .output()
        .expect("run eddy")
}

/// The Chromium binary, or `None` (skip) outside CI.
fn chromium() -> Option<PathBuf> {
    let bin =
        std::env::var_os("EDDY_CHROMIUM").map_or_else(|| "/usr/bin/chromium".into(), PathBuf::from);
    if bin.exists() {
        return Some(bin);
    }
    let msg = format!(
        "Chromium is not installed ({} is absent): run .ci/run, `apt-get install chromium`, or set EDDY_CHROMIUM",
        bin.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED report browser test: {msg} ***\n"
    );
    None
}

/// A Chromium run, its whole process group killed when dropped: also when the test fails or
/// the browser hangs.
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs headless Chromium over `page` with a fresh profile in `tmp`; returns its stdout.
fn browse(bin: &Path, tmp: &Tmp, page: &Path, what: &[&str]) -> String {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let k = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (out, err) = (
        tmp.join(format!("chromium-{k}.out")),
        tmp.join(format!("chromium-{k}.err")),
    );
    let child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
        ])
        .arg(format!(
            "--user-data-dir={}",
            tmp.s(&format!("profile-{k}"))
        ))
        .args(what)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let mut browser = Browser(child);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = browser.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "Chromium did not finish in 180 s: {}",
            std::fs::read_to_string(&err).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "Chromium failed ({status}): {}",
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    std::fs::read_to_string(&out).unwrap()
}

/// The DOM Chromium holds once the page's script has run. A browser that prints no page at
/// all (it happens, rarely, on a loaded machine) is asked again, twice at most; a page printed
/// without its script's end mark fails at once.
fn drawn_dom(bin: &Path, tmp: &Tmp, page: &Path) -> String {
    for _ in 0..3 {
        let dom = browse(bin, tmp, page, &["--dump-dom"]);
        if dom.trim().is_empty() {
            continue;
        }
        assert!(
            dom.contains("<body data-drawn="),
            "the script did not run to its end:\n{dom}"
        );
        return dom;
    }
    panic!(
        "Chromium printed no page three times for {}",
        page.display()
    );
}

/// The part of `dom` from `start` to the next `end`.
fn between<'a>(dom: &'a str, start: &str, end: &str) -> &'a str {
    let s = dom
        .find(start)
        .unwrap_or_else(|| panic!("no `{start}` in the page"));
    let rest = &dom[s..];
    &rest[..rest
        .find(end)
        .unwrap_or_else(|| panic!("no `{end}` after `{start}`"))]
}

/// The SVG of one chart.
fn chart<'a>(dom: &'a str, id: &str) -> &'a str {
    let tag = format!("data-chart=\"{id}\"><h3>");
    let s = dom.find(&tag).unwrap_or_else(|| panic!("no chart `{id}`"));
    let rest = &dom[s..];
    &rest[..rest.find("</svg>").unwrap()]
}

/// Every element `<tag ...>` of `part` holding `has`: its attributes' text and its text.
fn elements<'a>(part: &'a str, tag: &str, has: &str) -> Vec<(&'a str, &'a str)> {
    let open = format!("<{tag} ");
    let mut out = Vec::new();
    let mut rest = part;
    while let Some(s) = rest.find(&open) {
        rest = &rest[s..];
        let head_end = rest.find('>').unwrap();
        let head = &rest[..head_end];
        let body = &rest[head_end + 1..];
        let text = &body[..body.find('<').unwrap_or(body.len())];
        if head.contains(has) {
            out.push((head, text));
        }
        rest = &rest[head_end..];
    }
    out
}

fn attr<'a>(head: &'a str, name: &str) -> &'a str {
    let key = format!(" {name}=\"");
    let s = head
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {head}"))
        + key.len();
    &head[s..s + head[s..].find('"').unwrap()]
}

fn number(text: &str) -> f64 {
    let t = text.replace(',', "").replace('\u{2212}', "-");
    t.trim()
        .parse()
        .unwrap_or_else(|_| panic!("`{text}` is not a number"))
}

/// An axis as its ticks draw it: pixel = a + b * value, from the first and last tick, after
/// checking that every tick is on that line.
struct Axis {
    a: f64,
    b: f64,
}

impl Axis {
    fn of(svg: &str, class: &str, coord: &str) -> Axis {
        let ticks: Vec<(f64, f64)> = elements(svg, "text", &format!("class=\"{class}\""))
            .into_iter()
            .map(|(head, text)| (number(text), number(attr(head, coord))))
            .collect();
        assert!(ticks.len() >= 3, "{class}: too few ticks: {ticks:?}");
        let (v0, p0) = ticks[0];
        let (v1, p1) = ticks[ticks.len() - 1];
        let b = (p1 - p0) / (v1 - v0);
        let axis = Axis { a: p0 - b * v0, b };
        for &(v, p) in &ticks {
            assert!(
                (axis.px(v) - p).abs() < 0.2,
                "{class}: tick {v} at {p}, off the line"
            );
        }
        axis
    }

    fn px(&self, v: f64) -> f64 {
        self.a + self.b * v
    }
}

/// The points of an SVG path's `d` (`M x,y L x,y ... Z`).
fn points(d: &str) -> Vec<(f64, f64)> {
    d.split(['M', 'L', 'Z'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (x, y) = p.split_once(',').unwrap();
            (number(x), number(y))
        })
        .collect()
}

fn path_of<'a>(svg: &'a str, class: &str, series: &str) -> Option<&'a str> {
    elements(svg, "path", &format!("class=\"{class}\""))
        .into_iter()
        .find(|(head, _)| head.contains(&format!("data-series=\"{series}\"")))
        .map(|(head, _)| attr(head, "d"))
}

/// Checks that a series is drawn through (n, value) for every row with a value, at the places
/// the axes' ticks give.
fn assert_line(svg: &str, series: &str, ns: &[f64], values: &[Option<f64>]) {
    let (x, y) = (Axis::of(svg, "tick-x", "x"), Axis::of(svg, "tick-y", "y"));
    let d = path_of(svg, "series", series).unwrap_or_else(|| panic!("no line `{series}`"));
    let want: Vec<(f64, f64)> = ns
        .iter()
        .zip(values)
        .filter_map(|(&n, v)| v.map(|v| (x.px(n), y.px(v))))
        .collect();
    let got = points(d);
    assert_eq!(got.len(), want.len(), "{series}: points drawn");
    for (g, w) in got.iter().zip(&want) {
        assert!(
            (g.0 - w.0).abs() < 0.3 && (g.1 - w.1).abs() < 0.3,
            "{series}: drawn at {g:?}, the ticks place it at {w:?}"
        );
    }
}

/// Checks a band: the rows with both bounds, along `hi` then back along `lo`.
fn assert_band(svg: &str, series: &str, ns: &[f64], lo: &[Option<f64>], hi: &[Option<f64>]) {
    let (x, y) = (Axis::of(svg, "tick-x", "x"), Axis::of(svg, "tick-y", "y"));
    let d = path_of(svg, "band", series).unwrap_or_else(|| panic!("no band `{series}`"));
    let rows: Vec<usize> = (0..ns.len())
        .filter(|&i| lo[i].is_some() && hi[i].is_some())
        .collect();
    let mut want: Vec<(f64, f64)> = rows
        .iter()
        .map(|&i| (x.px(ns[i]), y.px(hi[i].unwrap())))
        .collect();
    want.extend(
        rows.iter()
            .rev()
            .map(|&i| (x.px(ns[i]), y.px(lo[i].unwrap()))),
    );
    let got = points(d);
    assert_eq!(got.len(), want.len(), "{series}: band points");
    for (g, w) in got.iter().zip(&want) {
        assert!(
            (g.0 - w.0).abs() < 0.3 && (g.1 - w.1).abs() < 0.3,
            "{series} band: {g:?} vs {w:?}"
        );
    }
}

/// Checks the markers of a chart: one per (n, kind), at n on the x axis, with its label.
fn assert_markers(svg: &str, want: &[(f64, &str, &str)]) {
    let x = Axis::of(svg, "tick-x", "x");
    let lines = elements(svg, "line", "class=\"marker ");
    assert_eq!(lines.len(), want.len(), "markers");
    for (&(n, kind, label), (head, _)) in want.iter().zip(&lines) {
        assert!(head.contains(&format!("marker-{kind}\"")), "{head}");
        assert!(
            (number(attr(head, "x1")) - x.px(n)).abs() < 0.3,
            "marker {kind} at {head}"
        );
        let labels = elements(svg, "text", "class=\"marker-label\"");
        assert!(
            labels
                .iter()
                .any(|(h, t)| *t == label && label_at(h, x.px(n))),
            "no label `{label}` at n = {n}: {labels:?}"
        );
    }
}

/// A marker's label starts just right of its line at `x`, or ends just left of it.
fn label_at(head: &str, x: f64) -> bool {
    let at = number(attr(head, "x"));
    if head.contains("text-anchor=\"end\"") {
        (at + 3.0 - x).abs() < 0.3
    } else {
        (at - 3.0 - x).abs() < 0.3
    }
}

/// The classifier log: 13 rows with a drift (retrain) at 4,000, a promotion at 7,000 and a
/// rollback at 9,000, each arm's values a line in the row's index.
fn classifier_rows() -> Vec<Value> {
    let plan: [(u64, &str, &str, u64, Option<&str>); 13] = [
        (1000, "every", "baseline", 1, None),
        (2000, "every", "baseline", 1, None),
        (3000, "every", "baseline", 1, None),
        (4000, "drift", "baseline", 2, Some("retrain")),
        (4000, "every", "baseline", 2, None),
        (5000, "every", "baseline", 2, None),
        (6000, "every", "baseline", 2, None),
        (7000, "promotion", "online", 2, None),
        (7000, "every", "online", 2, None),
        (8000, "every", "online", 3, None),
        (9000, "rollback", "baseline", 3, None),
        (9000, "every", "baseline", 3, None),
        (10000, "end", "baseline", 3, None),
    ];
    let (mut drifts, mut promotions, mut rollbacks) = (0, 0, 0);
    plan.iter()
        .enumerate()
        .map(|(i, &(n, reason, serving, version, action))| {
            let f = i as f64;
            drifts += (reason == "drift") as u64;
            promotions += (reason == "promotion") as u64;
            rollbacks += (reason == "rollback") as u64;
            let on = 0.60 + 0.02 * f;
            let base = 0.80 - 0.01 * f;
            let diff = on - base;
            json!({
                "reason": reason, "n": n, "event_time": format!("2026-01-01T00:00:{i:02}.000Z"),
                "version": version, "serving": serving,
                "online_accuracy": on,
                "online_accuracy_lo": if i == 0 { None } else { Some(on - 0.05) },
                "online_accuracy_hi": if i == 0 { None } else { Some(on + 0.05) },
                "online_log_loss": 0.5 - 0.01 * f, "online_log_loss_lo": null, "online_log_loss_hi": null,
                "baseline_accuracy": base, "baseline_accuracy_lo": base - 0.04, "baseline_accuracy_hi": base + 0.04,
                "baseline_log_loss": 0.4 + 0.01 * f, "baseline_log_loss_lo": null, "baseline_log_loss_hi": null,
                "diff_metric": "accuracy", "diff": diff, "diff_lo": diff - 0.06, "diff_hi": diff + 0.06,
                "delay_p50_ms": 1000 + 100 * i, "delay_p99_ms": 20000 + 1000 * i,
                "pending": 100 + 10 * i, "expired": 2 * i, "defaulted": i,
                "duplicate_labels": 0, "unknown_labels": 0,
                "drifts": drifts, "actions": drifts, "promotions": promotions, "rollbacks": rollbacks,
                "action": action,
            })
        })
        .collect()
}

fn column(rows: &[Value], name: &str) -> Vec<Option<f64>> {
    rows.iter().map(|r| r[name].as_f64()).collect()
}

fn write_jsonl(path: &Path, rows: &[Value]) {
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(path, text).unwrap();
}

fn report(log: &str, out: &str) -> Output {
    let o = eddy(&["report", log, "-o", out]);
    assert!(
        o.status.success(),
        "eddy report failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// (r, g, b) pixels of a screenshot of `page`, its width and its height.
fn screenshot(bin: &Path, tmp: &Tmp, page: &Path, w: u32, h: u32) -> (Vec<[u8; 3]>, u32, u32) {
    let shot = tmp.join("shot.png");
    browse(
        bin,
        tmp,
        page,
        &[
            &format!("--window-size={w},{h}"),
            &format!("--screenshot={}", shot.display()),
        ],
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = match info.color_type {
        png::ColorType::Rgba => 4,
        png::ColorType::Rgb => 3,
        other => panic!("unexpected screenshot colour type {other:?}"),
    };
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let px = buf[..info.buffer_size()]
        .chunks(step)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (px, info.width, info.height)
}

fn hex(c: &str) -> [u8; 3] {
    let v = u32::from_str_radix(c.trim_start_matches('#'), 16).unwrap();
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

#[test]
fn the_drawn_page_matches_the_log() {
    let Some(bin) = chromium() else { return };
    let tmp = Tmp::new("report-classifier");
    let rows = classifier_rows();
    write_jsonl(&tmp.join("learning.jsonl"), &rows);
    let page = tmp.join("report.html");
    report(&tmp.s("learning.jsonl"), &tmp.s("report.html"));
    let html = std::fs::read_to_string(&page).unwrap();
    for external in [
        "src=\"http",
        "href=\"http",
        "@import",
        "url(http",
        "src=\"//",
    ] {
        assert!(!html.contains(external), "the page loads `{external}`…");
    }
    let dom = drawn_dom(&bin, &tmp, &page);
    let ns: Vec<f64> = rows.iter().map(|r| r["n"].as_f64().unwrap()).collect();
    let events = [
        (4000.0, "drift", "drift · retrain"),
        (7000.0, "promotion", "promotion"),
        (9000.0, "rollback", "rollback"),
    ];

    // Every chart, in order: one per metric, the difference, serving, delay, examples.
    let order: Vec<&str> = elements(&dom, "div", "class=\"chart\"")
        .iter()
        .map(|(head, _)| attr(head, "data-chart"))
        .collect();
    assert_eq!(
        order,
        [
            "metric-accuracy",
            "metric-log_loss",
            "diff",
            "serving",
            "delay",
            "examples"
        ]
    );
    assert!(dom.contains("<body data-drawn=\"6\">"));

    let acc = chart(&dom, "metric-accuracy");
    assert!(acc.contains("<h3>Accuracy</h3>"));
    for arm in ["online", "baseline"] {
        assert!(acc.contains(&format!("data-key=\"{arm}\"")), "legend {arm}");
        let y = column(&rows, &format!("{arm}_accuracy"));
        assert_line(acc, arm, &ns, &y);
        let (lo, hi) = (
            column(&rows, &format!("{arm}_accuracy_lo")),
            column(&rows, &format!("{arm}_accuracy_hi")),
        );
        assert_band(acc, arm, &ns, &lo, &hi);
        // the two arms in two colours
        let d = elements(acc, "path", &format!("data-series=\"{arm}\""));
        assert!(d.iter().all(|(h, _)| h.contains(&format!(
            "=\"{}\"",
            ["#2563eb", "#ea580c"][(arm == "baseline") as usize]
        ))));
    }
    assert_markers(acc, &events);

    // log loss has no intervals: lines, no band
    let ll = chart(&dom, "metric-log_loss");
    assert_line(ll, "online", &ns, &column(&rows, "online_log_loss"));
    assert_line(ll, "baseline", &ns, &column(&rows, "baseline_log_loss"));
    assert!(!ll.contains("class=\"band\""));

    let diff = chart(&dom, "diff");
    assert_line(diff, "diff", &ns, &column(&rows, "diff"));
    assert_band(
        diff,
        "diff",
        &ns,
        &column(&rows, "diff_lo"),
        &column(&rows, "diff_hi"),
    );
    let y = Axis::of(diff, "tick-y", "y");
    let zero = elements(diff, "line", "class=\"zero\"");
    assert_eq!(zero.len(), 1);
    assert!((number(attr(zero[0].0, "y1")) - y.px(0.0)).abs() < 0.3);
    assert_markers(diff, &events);

    // which arm served from one row to the next, and the version
    let serving = chart(&dom, "serving");
    let x = Axis::of(serving, "tick-x", "x");
    let segs = |lane: &str| -> Vec<(String, f64, f64)> {
        let part = between(serving, &format!("data-lane=\"{lane}\""), "</g>");
        elements(part, "rect", "class=\"seg\"")
            .into_iter()
            .map(|(h, _)| {
                let (from, to) = (number(attr(h, "data-from")), number(attr(h, "data-to")));
                assert!((number(attr(h, "x")) - x.px(from)).abs() < 0.3, "{h}");
                assert!(
                    (number(attr(h, "width")) - (x.px(to) - x.px(from))).abs() < 0.3,
                    "{h}"
                );
                (attr(h, "data-value").to_string(), from, to)
            })
            .collect()
    };
    let s = |v: &str, a: f64, b: f64| (v.to_string(), a, b);
    assert_eq!(
        segs("serving"),
        [
            s("baseline", 1000.0, 7000.0),
            s("online", 7000.0, 9000.0),
            s("baseline", 9000.0, 10000.0)
        ]
    );
    assert_eq!(
        segs("model version"),
        [
            s("1", 1000.0, 4000.0),
            s("2", 4000.0, 8000.0),
            s("3", 8000.0, 10000.0)
        ]
    );
    assert_markers(serving, &events);

    // label delay in seconds (the largest, 32 s, is under two minutes)
    let delay = chart(&dom, "delay");
    assert!(delay.contains(">label delay (s)</text>"));
    let secs = |c: Vec<Option<f64>>| {
        c.into_iter()
            .map(|v| v.map(|v| v / 1000.0))
            .collect::<Vec<_>>()
    };
    assert_line(delay, "p50", &ns, &secs(column(&rows, "delay_p50_ms")));
    assert_line(delay, "p99", &ns, &secs(column(&rows, "delay_p99_ms")));

    let examples = chart(&dom, "examples");
    for k in ["pending", "expired", "defaulted"] {
        assert_line(examples, k, &ns, &column(&rows, k));
    }
    assert_markers(examples, &events);

    // The summary: the last row's values, by hand.
    for (value, label) in [
        ("10,000", "labelled examples"),
        ("3", "model version"),
        ("baseline", "serving now"),
        ("1", "drifts"),
        ("1", "promotions"),
        ("1", "rollbacks"),
        ("220", "pending"),
        ("24", "expired"),
        ("12", "defaulted"),
        ("2.2 s", "label delay p50"),
        ("32.0 s", "label delay p99"),
    ] {
        let card = format!("<div class=\"value\">{value}</div><div class=\"label\">{label}</div>");
        assert!(dom.contains(&card), "no card {card}");
    }
    let metrics = between(&dom, "<tr data-metric=\"accuracy\">", "</tr>");
    assert!(
        metrics.contains("<td class=\"online\">0.8400 <span class=\"ci\">[0.7900, 0.8900]</span>"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("<td class=\"baseline\">0.6800 <span class=\"ci\">[0.6400, 0.7200]</span>"),
        "{metrics}"
    );
    assert!(
        metrics.contains("<td class=\"diff\">0.1600 <span class=\"ci\">[0.1000, 0.2200]</span>"),
        "{metrics}"
    );
    let events_table = between(&dom, "<section id=\"events\">", "</section>");
    for (n, label) in [
        ("4,000", "drift · retrain"),
        ("7,000", "promotion"),
        ("9,000", "rollback"),
    ] {
        assert!(
            events_table.contains(&format!("<td>{n}</td>")),
            "{events_table}"
        );
        assert!(events_table.contains(label), "{events_table}");
    }

    // The painted page, one chart at a time (the rest hidden, so that each colour comes only
    // from that chart): both arms' lines, the band's tint, and the markers where the n's put
    // them. A screenshot's pixel scale is the page's, not the SVG's, so positions are checked
    // as ratios: promotion at 7,000 lies 3/5 of the way from the drift (4,000) to the
    // rollback (9,000).
    let (px, w, h) = screenshot(
        &bin,
        &tmp,
        &isolate(&tmp, &page, "metric-accuracy"),
        1100,
        600,
    );
    let count = |c: [u8; 3]| px.iter().filter(|p| **p == c).count();
    for (what, colour) in [("online line", "#2563eb"), ("baseline line", "#ea580c")] {
        let n = count(hex(colour));
        assert!(n >= 500, "{what} ({colour}): {n} pixels in {w}x{h}");
    }
    let tint = hex("#2563eb").map(|c| (255.0 - 0.16 * (255.0 - c as f64)).round() as i32);
    let banded = px
        .iter()
        .filter(|p| p.iter().zip(tint).all(|(&a, b)| (a as i32 - b).abs() <= 2))
        .count();
    assert!(banded > 2000, "online band: {banded} pixels near {tint:?}");
    let (px, w, _) = screenshot(&bin, &tmp, &isolate(&tmp, &page, "delay"), 1100, 600);
    let at = |colour: &str| {
        let (x, tall) = tinted_column(&px, w, hex(colour));
        assert!(
            tall > 100,
            "marker {colour}: its tallest column has {tall} pixels"
        );
        x as f64
    };
    let (drift, promotion, rollback) = (at("#dc2626"), at("#16a34a"), at("#9333ea"));
    // the y axis is drawn at the x axis's first tick
    let origin = at("#94a3b8");
    let t0 = number(elements(delay, "text", "class=\"tick-x\"")[0].1);
    let ratio = |a: f64, b: f64, c: f64| (b - a) / (c - a);
    assert!(
        (ratio(drift, promotion, rollback) - 0.6).abs() < 0.01
            && (ratio(origin, drift, rollback) - (4000.0 - t0) / (9000.0 - t0)).abs() < 0.01
            && rollback - drift > 200.0,
        "markers painted at x = {drift}, {promotion}, {rollback}; the axis at {origin}"
    );
    // and the whole page is not blank
    let (px, _, _) = screenshot(&bin, &tmp, &page, 1100, 4200);
    let inked = px.iter().filter(|p| p.iter().any(|&c| c < 200)).count();
    assert!(
        inked * 100 > px.len(),
        "the page is nearly blank: {inked} dark pixels"
    );
}

/// A copy of the page showing only one chart's drawing (no legend, tables or other charts).
fn isolate(tmp: &Tmp, page: &Path, id: &str) -> PathBuf {
    let html = std::fs::read_to_string(page).unwrap();
    let only = format!(
        "<style>main > :not(#charts), #charts > :not(#chart-{id}), #chart-{id} > :not(svg) \
         {{ display: none !important; }}</style></head>"
    );
    let out = tmp.join(format!("only-{id}.html"));
    std::fs::write(&out, html.replacen("</head>", &only, 1)).unwrap();
    out
}

/// The pixel column holding most pixels of `colour` (or of its blend with white, as the
/// edges of a thin line are painted), and how many it holds.
fn tinted_column(px: &[[u8; 3]], w: u32, colour: [u8; 3]) -> (usize, usize) {
    let is_tint = |p: &[u8; 3]| {
        // p = 255 - a (255 - c): `a` from the channel farthest from white, the others predicted
        let k = (0..3).max_by_key(|&k| 255 - colour[k] as i32).unwrap();
        let a = (255.0 - p[k] as f64) / (255.0 - colour[k] as f64);
        a > 0.35
            && a < 1.05
            && (0..3).all(|j| {
                let want = 255.0 - a * (255.0 - colour[j] as f64);
                (p[j] as f64 - want).abs() <= 12.0
            })
    };
    let mut columns = vec![0usize; w as usize];
    for (i, p) in px.iter().enumerate() {
        if is_tint(p) {
            columns[i % w as usize] += 1;
        }
    }
    let (x, &n) = columns.iter().enumerate().max_by_key(|&(_, n)| *n).unwrap();
    (x, n)
}

#[test]
fn a_regressor_without_baseline_from_csv_with_a_cut_off_last_line() {
    let Some(bin) = chromium() else { return };
    let tmp = Tmp::new("report-regressor");
    // header, 10 rows every 500, a drift row at 2,500, then a line cut off mid-write
    let mut csv = String::from(
        "reason,n,event_time,version,serving,online_mae,online_mae_lo,online_mae_hi,online_rmse,online_rmse_lo,online_rmse_hi,pending,expired,defaulted,drifts,action\n",
    );
    let mut ns = Vec::new();
    let (mut mae, mut rmse, mut rmse_lo, mut pending) = (vec![], vec![], vec![], vec![]);
    let mut i = 0;
    for k in 1..=10u64 {
        let n = 500 * k;
        for reason in if n == 2500 {
            vec!["drift", "every"]
        } else {
            vec!["every"]
        } {
            let f = i as f64;
            let (m, r) = (2.0 - 0.1 * f, 3.0 - 0.1 * f);
            let rl = (i >= 2).then_some(r - 0.5);
            let cell = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
            let action = if reason == "drift" { "boost" } else { "" };
            csv.push_str(&format!(
                "{reason},{n},2026-01-01T00:00:00.000Z,1,online,{m},{},{},{r},{},{},{},0,0,{},{action}\n",
                m - 0.3,
                m + 0.3,
                cell(rl),
                cell(rl.map(|_| r + 0.5)),
                10 + i,
                (n >= 2500) as u8,
            ));
            ns.push(n as f64);
            mae.push(Some(m));
            rmse.push(Some(r));
            rmse_lo.push(rl);
            pending.push(Some(10.0 + f));
            i += 1;
        }
    }
    csv.push_str("every,5500,2026-01-01T00:0");
    std::fs::write(tmp.join("learning.csv"), &csv).unwrap();
    let o = report(&tmp.s("learning.csv"), &tmp.s("report.html"));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("line 13: malformed CSV: expected 16 columns (as in the header), found 3"),
        "{stderr}"
    );
    let page = tmp.join("report.html");
    let dom = drawn_dom(&bin, &tmp, &page);
    assert!(dom.contains("1 line of the log could not be read and is left out."));
    let order: Vec<&str> = elements(&dom, "div", "class=\"chart\"")
        .iter()
        .map(|(head, _)| attr(head, "data-chart"))
        .collect();
    assert_eq!(order, ["metric-mae", "metric-rmse", "serving", "examples"]);
    assert!(!dom.contains("data-series=\"baseline\"") && !dom.contains("data-key=\"baseline\""));
    assert!(!dom.contains("<th>baseline</th>"));
    let m = chart(&dom, "metric-mae");
    assert!(m.contains("<h3>MAE</h3>") && m.contains("lower is better"));
    assert_line(m, "online", &ns, &mae);
    let lo: Vec<Option<f64>> = mae.iter().map(|v| v.map(|v| v - 0.3)).collect();
    let hi: Vec<Option<f64>> = mae.iter().map(|v| v.map(|v| v + 0.3)).collect();
    assert_band(m, "online", &ns, &lo, &hi);
    assert_markers(m, &[(2500.0, "drift", "drift · boost")]);
    let r = chart(&dom, "metric-rmse");
    assert_line(r, "online", &ns, &rmse);
    let hi: Vec<Option<f64>> = rmse_lo.iter().map(|v| v.map(|v| v + 1.0)).collect();
    assert_band(r, "online", &ns, &rmse_lo, &hi);
    assert_line(chart(&dom, "examples"), "pending", &ns, &pending);
}

#[test]
fn the_report_never_overwrites_its_log() {
    let tmp = Tmp::new("report-self");
    let log = "{\"n\":1,\"online_mae\":1}\n";
    std::fs::write(tmp.join("log.html"), log).unwrap();
    std::fs::hard_link(tmp.join("log.html"), tmp.join("other.html")).unwrap();
    // the default output (the log's name with .html) and another name for the same file
    for args in [
        vec!["report".to_string(), tmp.s("log.html")],
        vec![
            "report".into(),
            tmp.s("log.html"),
            "-o".into(),
            tmp.s("other.html"),
        ],
        vec![
            "report".into(),
            tmp.s("log.html"),
            "-o".into(),
            format!("{}/./log.html", tmp.display()),
        ],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = eddy(&args);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("would overwrite the log it is made from"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(tmp.join("log.html")).unwrap(), log);
    }
    // an existing report is replaced, as any build output is
    std::fs::write(tmp.join("r.html"), "old").unwrap();
    report(&tmp.s("log.html"), &tmp.s("r.html"));
    assert!(std::fs::read_to_string(tmp.join("r.html"))
        .unwrap()
        .starts_with("<!DOCTYPE html>"));
}

#[test]
fn a_log_with_no_readable_row_is_an_error_naming_the_line() {
    let tmp = Tmp::new("report-bad");
    std::fs::write(
        tmp.join("l.jsonl"),
        "\n{\"reason\":\"every\",\"pending\":3}\n",
    )
    .unwrap();
    let o = eddy(&["report", &tmp.s("l.jsonl"), "-o", &tmp.s("r.html")]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no row could be read (1 bad line; the first: line 2: column `n`: missing)"),
        "{err}"
    );
    assert!(!tmp.join("r.html").exists());
}

#[test]
fn the_script_runs_to_its_end_on_the_smallest_logs() {
    let Some(bin) = chromium() else { return };
    let tmp = Tmp::new("report-small");
    // only `n`; one row with one metric; a metric with no value at all (no chart)
    for (name, log, charts) in [
        ("n.jsonl", "{\"n\":0}\n", 0),
        (
            "one.jsonl",
            "{\"n\":7,\"online_accuracy\":0.5,\"serving\":\"online\"}\n",
            2,
        ),
        ("nulls.csv", "n,online_mae,pending\n1,,\n2,,\n", 0),
    ] {
        std::fs::write(tmp.join(name), log).unwrap();
        let page = tmp.s(&format!("{name}.html"));
        report(&tmp.s(name), &page);
        let dom = drawn_dom(&bin, &tmp, Path::new(&page));
        assert!(
            dom.contains(&format!("<body data-drawn=\"{charts}\">")),
            "{name}"
        );
    }
}

#[test]
fn a_long_log_is_drawn_thinned_keeping_every_extreme() {
    let Some(bin) = chromium() else { return };
    let tmp = Tmp::new("report-long");
    // 20,000 rows, flat but for spikes (up at every 500th row, down 250 rows later) that a
    // thinned line must keep, and a gap (no value) at rows 10,000..10,099.
    let rows = 20_000usize;
    let value = |i: usize| match i % 500 {
        0 => 0.95,
        250 => 0.65,
        _ => 0.8,
    };
    let mut text = String::new();
    let (mut ns, mut ys) = (Vec::new(), Vec::new());
    for i in 0..rows {
        let n = 10 * i as u64 + 10;
        let gap = (10_000..10_100).contains(&i);
        let y = (!gap).then(|| value(i));
        // the band's top spikes where the line dips, so the band's extremes differ
        let hi = y.map(|v| if i % 500 == 250 { 0.99 } else { v + 0.02 });
        let lo = y.map(|v| v - 0.02);
        let cell = |v: Option<f64>| v.map_or("null".to_string(), |v| v.to_string());
        text.push_str(&format!(
            "{{\"n\":{n},\"online_accuracy\":{},\"online_accuracy_lo\":{},\"online_accuracy_hi\":{}}}\n",
            cell(y),
            cell(lo),
            cell(hi)
        ));
        ns.push(n as f64);
        ys.push((y, lo, hi));
    }
    std::fs::write(tmp.join("long.jsonl"), text).unwrap();
    report(&tmp.s("long.jsonl"), &tmp.s("long.html"));
    let dom = drawn_dom(&bin, &tmp, &tmp.join("long.html"));
    let svg = chart(&dom, "metric-accuracy");
    let (x, y) = (Axis::of(svg, "tick-x", "x"), Axis::of(svg, "tick-y", "y"));
    // a line keeps each extreme at its own place; a band draws its pixel column's extreme
    // across the column
    let near_within = |pts: &[(f64, f64)], n: f64, v: f64, dx: f64| {
        pts.iter()
            .any(|p| (p.0 - x.px(n)).abs() < dx && (p.1 - y.px(v)).abs() < 0.3)
    };
    let near = |pts: &[(f64, f64)], n: f64, v: f64| near_within(pts, n, v, 0.3);

    let d = path_of(svg, "series", "online").unwrap();
    assert_eq!(d.matches('M').count(), 2, "the gap breaks the line");
    let line = points(d);
    assert!(
        line.len() < rows / 4,
        "{} points drawn for {rows} rows",
        line.len()
    );
    let mut spikes = 0;
    for (i, &(v, _, _)) in ys.iter().enumerate() {
        if let Some(v) = v.filter(|_| i % 250 == 0) {
            assert!(near(&line, ns[i], v), "row {i} ({v}) is not drawn");
            spikes += 1;
        }
    }
    assert_eq!(spikes, 79);
    // every drawn point is a row's
    for p in &line {
        let k = ns.partition_point(|&n| x.px(n) < p.0 - 0.3);
        let found = (k..ns.len())
            .take_while(|&i| x.px(ns[i]) <= p.0 + 0.3)
            .any(|i| ys[i].0.is_some_and(|v| (y.px(v) - p.1).abs() < 0.3));
        assert!(found, "{p:?} is no row's point");
    }

    let band = points(path_of(svg, "band", "online").unwrap());
    assert!(band.len() < rows / 4, "{} band points", band.len());
    for (i, &(_, lo, hi)) in ys.iter().enumerate() {
        if let (Some(lo), Some(hi)) = (lo, hi) {
            if i % 250 == 0 {
                assert!(
                    near_within(&band, ns[i], hi, 1.0),
                    "row {i}: the band's top {hi} is lost"
                );
                assert!(
                    near_within(&band, ns[i], lo, 1.0) || i % 500 == 0,
                    "row {i}: the band's bottom {lo} is lost"
                );
            }
        }
    }
}

#[test]
fn a_label_near_the_right_edge_ends_at_its_line() {
    let Some(bin) = chromium() else { return };
    let tmp = Tmp::new("report-edge");
    let log = "{\"n\":0,\"online_mae\":1}\n{\"n\":990,\"reason\":\"drift\",\"action\":\"retrain\",\"online_mae\":2}\n{\"n\":1000,\"online_mae\":1}\n";
    std::fs::write(tmp.join("l.jsonl"), log).unwrap();
    report(&tmp.s("l.jsonl"), &tmp.s("l.html"));
    let dom = drawn_dom(&bin, &tmp, &tmp.join("l.html"));
    let svg = chart(&dom, "metric-mae");
    assert_markers(svg, &[(990.0, "drift", "drift · retrain")]);
    let labels = elements(svg, "text", "class=\"marker-label\"");
    assert!(labels[0].0.contains("text-anchor=\"end\""), "{labels:?}");
}

/// The log `eddy run` writes, as it is: a fraud stream that drifts half-way, labels 30 s
/// late, the online model in shadow of the example model. Every row is drawn where the log's
/// own values (read here with serde) put it, and every drift, promotion and rollback row is a
/// marker.
#[test]
fn the_log_of_a_real_run_is_drawn_whole() {
    let Some(bin) = chromium() else { return };
    let tmp = Tmp::new("report-run");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let gen = eddy(&[
        "generate",
        "fraud",
        "--events",
        "60000",
        "--seed",
        "7",
        "--drift-at",
        "30000",
        "--labels",
        &tmp.s("labels.jsonl"),
        "--label-delay",
        "30s",
        "-o",
        &tmp.s("fraud.jsonl"),
    ]);
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    let spec = format!(
        r#"[source]
path = "{events}"
format = "jsonl"
key = "user_id"
timestamp = "ts"
timestamp_format = "rfc3339"
event_id = "event_id"
[source.fields]
event_type = "string"
[[feature]]
name = "events_5m"
agg = "count"
window = {{ kind = "sliding", size = "5m", slide = "1m" }}
[[feature]]
name = "login_rate_1m"
agg = "rate"
unit = "minute"
where = 'event_type == "login"'
window = {{ kind = "tumbling", size = "1m" }}
[output]
learning = "{log}"
[learn]
model = "logistic_regression"
inputs = ["events_5m", "login_rate_1m"]
fill_null = 0
log_every = 1000
[learn.labels]
path = "{labels}"
[learn.drift]
action = "retrain"
[learn.baseline]
path = "{model}"
"#,
        events = tmp.s("fraud.jsonl"),
        log = tmp.s("learning.jsonl"),
        labels = tmp.s("labels.jsonl"),
        model = root.join("examples/models/fraud_lr.json").display(),
    );
    std::fs::write(tmp.join("spec.toml"), spec).unwrap();
    let run = eddy(&["run", &tmp.s("spec.toml"), "-q"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let rows: Vec<Value> = std::fs::read_to_string(tmp.join("learning.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(rows.len() > 60, "{} rows", rows.len());
    let o = report(&tmp.s("learning.jsonl"), &tmp.s("report.html"));
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("warning"),
        "{o:?}"
    );
    let dom = drawn_dom(&bin, &tmp, &tmp.join("report.html"));
    let ns: Vec<f64> = rows.iter().map(|r| r["n"].as_f64().unwrap()).collect();
    let svg = chart(&dom, "metric-accuracy");
    for arm in ["online", "baseline"] {
        let col = format!("{arm}_accuracy");
        assert_line(svg, arm, &ns, &column(&rows, &col));
        let (lo, hi) = (
            column(&rows, &format!("{col}_lo")),
            column(&rows, &format!("{col}_hi")),
        );
        assert_band(svg, arm, &ns, &lo, &hi);
    }
    let events: Vec<(f64, &str)> = rows
        .iter()
        .filter_map(|r| {
            let reason = r["reason"].as_str().unwrap();
            (!matches!(reason, "every" | "end")).then(|| (r["n"].as_f64().unwrap(), reason))
        })
        .collect();
    assert!(
        events.iter().any(|e| e.1 == "drift"),
        "no drift in the run: {events:?}"
    );
    let x = Axis::of(svg, "tick-x", "x");
    let lines = elements(svg, "line", "class=\"marker ");
    assert_eq!(lines.len(), events.len());
    for ((n, kind), (head, _)) in events.iter().zip(&lines) {
        assert!(head.contains(&format!("marker-{kind}\"")), "{head}");
        assert!((number(attr(head, "x1")) - x.px(*n)).abs() < 0.3, "{head}");
    }
    assert_line(chart(&dom, "diff"), "diff", &ns, &column(&rows, "diff"));
    assert_line(
        chart(&dom, "examples"),
        "pending",
        &ns,
        &column(&rows, "pending"),
    );
}

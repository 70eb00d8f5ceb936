// Draws the report's charts from the log's columns (the JSON in #eddy-data), as inline SVG.
// No library and no network: the page must open from a file, offline, years from now.
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("eddy-data").textContent);
  const SVG = "http://www.w3.org/2000/svg";
  // viewBox units: the drawing scales with the page, its coordinates do not.
  const W = 960, M = { l: 74, r: 24, t: 36, b: 46 };
  const C = {
    online: "#2563eb", baseline: "#ea580c", diff: "#4f46e5", other: "#6b7280",
    drift: "#dc2626", promotion: "#16a34a", rollback: "#9333ea",
    p50: "#0d9488", p99: "#b45309", pending: "#334155", expired: "#db2777", defaulted: "#ca8a04",
  };
  const TITLES = { accuracy: "Accuracy", log_loss: "Log loss", roc_auc: "ROC AUC", mae: "MAE", rmse: "RMSE" };
  const HIGHER = { accuracy: true, roc_auc: true, log_loss: false, mae: false, rmse: false };
  const N = D.n;
  const root = document.getElementById("charts");
  const tip = document.getElementById("tip");

  function svg(name, attrs, parent) {
    const e = document.createElementNS(SVG, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function html(tag, cls, text, parent) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== null && text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  const num = (name) => D.num[name] || null;
  const any = (col) => !!col && col.some((v) => v !== null);
  const r1 = (v) => v.toFixed(1);

  // A "nice" step (1, 2 or 5 times a power of ten) for about `count` intervals.
  function niceStep(span, count) {
    const raw = span / count;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / p;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
  }
  function scale(lo, hi, count, from, to) {
    if (!(hi > lo)) { const pad = Math.abs(lo) * 0.05 || 1; lo -= pad; hi += pad; }
    const step = niceStep(hi - lo, count);
    const a = Math.floor(lo / step + 1e-9) * step, b = Math.ceil(hi / step - 1e-9) * step;
    const f = (v) => from + (v - a) / (b - a) * (to - from);
    f.lo = a; f.hi = b; f.step = step;
    f.ticks = [];
    for (let k = Math.round(a / step); k <= Math.round(b / step); k++) f.ticks.push(+(k * step).toPrecision(12));
    f.invert = (px) => a + (px - from) / (to - from) * (b - a);
    return f;
  }
  function fmt(v, step) {
    if (v === null || v === undefined) return "–";
    let s;
    if (step !== undefined) {
      s = v.toLocaleString("en-US", { maximumFractionDigits: Math.max(0, -Math.floor(Math.log10(step) + 1e-9)) });
    } else if (Number.isInteger(v)) {
      s = v.toLocaleString("en-US");
    } else {
      const d = v === 0 ? 0 : Math.floor(Math.log10(Math.abs(v)));
      s = v.toFixed(Math.min(6, Math.max(0, 3 - d)));
    }
    return s.replace("-", "\u2212");
  }

  // The frame every chart shares: a box with its title and legend, an SVG with the n axis.
  function frame(id, title, note, keys, height) {
    const box = html("div", "chart", null, root);
    box.id = "chart-" + id;
    box.dataset.chart = id;
    html("h3", null, title, box);
    if (note) html("p", "note", note, box);
    const legend = html("div", "legend", null, box);
    for (const k of keys) {
      const key = html("span", "key", null, legend);
      key.dataset.key = k.key;
      if (k.band) {
        const b = html("span", "sw band", null, key);
        b.style.background = k.color;
      }
      const sw = html("span", "sw line", null, key);
      sw.style.background = k.color;
      if (k.dash) sw.style.background = `repeating-linear-gradient(90deg, ${k.color} 0 5px, transparent 5px 8px)`;
      html("span", null, k.label, key);
    }
    const s = svg("svg", { class: "plot", viewBox: `0 0 ${W} ${height}`, role: "img", "aria-label": title }, box);
    s.dataset.chart = id;
    const X = scale(N[0], N[N.length - 1], 8, M.l, W - M.r);
    const bottom = height - M.b;
    const ax = svg("g", { class: "axis x" }, s);
    svg("line", { class: "domain", x1: M.l, x2: W - M.r, y1: bottom, y2: bottom }, ax);
    for (const t of X.ticks) {
      svg("line", { class: "domain", x1: r1(X(t)), x2: r1(X(t)), y1: bottom, y2: bottom + 5 }, ax);
      const tx = svg("text", { class: "tick-x", x: r1(X(t)), y: bottom + 18, "text-anchor": "middle" }, ax);
      tx.dataset.value = t;
      tx.textContent = fmt(t, X.step);
    }
    const xl = svg("text", { class: "axis-label", x: (M.l + W - M.r) / 2, y: height - 6, "text-anchor": "middle" }, s);
    xl.textContent = "labelled examples (n)";
    return { box, s, X, bottom };
  }

  // Drift, promotion, rollback and other rows: a dashed vertical line each, labelled above
  // the plot where there is room (every one is in the table of events).
  function markers(f, top) {
    const g = svg("g", { class: "markers" }, f.s);
    const ends = [-Infinity, -Infinity];
    for (const e of D.events) {
      const x = f.X(e.n), color = C[e.kind] || C.other;
      const line = svg("line", { class: "marker marker-" + e.kind, x1: r1(x), x2: r1(x), y1: top, y2: f.bottom, stroke: color }, g);
      line.dataset.n = e.n;
      // right of its line, or left of it where it would run off the chart
      const width = e.label.length * 6 + 6;
      const left = x + width > W ? x - width : x;
      const row = ends.findIndex((end) => end < left);
      if (row < 0) continue;
      ends[row] = left + width;
      const at = left < x ? { x: r1(x - 3), "text-anchor": "end" } : { x: r1(x + 3) };
      const t = svg("text", { class: "marker-label", ...at, y: top - 6 - row * 13 }, g);
      t.style.fill = color;
      t.dataset.n = e.n;
      t.textContent = e.label;
    }
  }

  function eventKeys() {
    const kinds = [...new Set(D.events.map((e) => e.kind))];
    return kinds.map((k) => ({ key: "event-" + k, label: k, color: C[k] || C.other, dash: true }));
  }

  // Above this many rows a path keeps, per pixel column, only the first, lowest, highest and
  // last point of the rows in it (and a band its column's extremes): the same picture, with
  // a path the browser can draw quickly however long the log.
  const THIN = 2000;

  // A path through the non-null points; a null breaks the line.
  function linePath(xs, ys, X, Y) {
    const thin = xs.length > THIN;
    let d = "", pen = false, col = null, bucket = [];
    const put = (i) => { d += (pen ? "L" : "M") + r1(X(xs[i])) + "," + r1(Y(ys[i])); pen = true; };
    const flush = () => {
      if (!bucket.length) return;
      let lo = bucket[0], hi = bucket[0];
      for (const i of bucket) { if (ys[i] < ys[lo]) lo = i; if (ys[i] > ys[hi]) hi = i; }
      [...new Set([bucket[0], lo, hi, bucket[bucket.length - 1]])].sort((a, b) => a - b).forEach(put);
      bucket = [];
    };
    for (let i = 0; i < xs.length; i++) {
      if (ys[i] === null) { flush(); pen = false; continue; }
      if (!thin) { put(i); continue; }
      const c = Math.round(X(xs[i]));
      if (c !== col) { flush(); col = c; }
      bucket.push(i);
    }
    flush();
    return d;
  }
  // The band between lo and hi, one closed shape per run of rows that have both.
  function bandPath(xs, lo, hi, X, Y) {
    const thin = xs.length > THIN;
    let d = "", top = [], bottom = [], col = null, bucket = [];
    const pt = (i, v) => r1(X(xs[i])) + "," + r1(Y(v));
    const flush = () => {
      if (!bucket.length) return;
      const first = bucket[0], last = bucket[bucket.length - 1];
      const h = Math.max(...bucket.map((i) => hi[i])), l = Math.min(...bucket.map((i) => lo[i]));
      top.push(pt(first, h));
      bottom.push(pt(first, l));
      if (last !== first) { top.push(pt(last, h)); bottom.push(pt(last, l)); }
      bucket = [];
    };
    const close = () => {
      flush();
      if (top.length) d += "M" + top.join("L") + "L" + bottom.reverse().join("L") + "Z";
      top = []; bottom = []; col = null;
    };
    for (let i = 0; i < xs.length; i++) {
      if (lo[i] === null || hi[i] === null) { close(); continue; }
      const c = thin ? Math.round(X(xs[i])) : i;
      if (c !== col) { flush(); col = c; }
      bucket.push(i);
    }
    close();
    return d;
  }

  // A chart of lines over n (with bands where the series have intervals).
  function lines(id, title, note, ylabel, series, opts) {
    opts = opts || {};
    const height = 310;
    const keys = series.map((s) => ({ key: s.key, label: s.label, color: s.color, band: any(s.lo) && any(s.hi) }));
    const f = frame(id, title, note, keys.concat(eventKeys()), height);
    let lo = Infinity, hi = -Infinity;
    for (const s of series) for (const col of [s.y, s.lo, s.hi]) if (col) for (const v of col) if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (opts.zero || opts.fromZero) { lo = Math.min(lo, 0); hi = Math.max(hi, 0); }
    if (lo > hi) { lo = 0; hi = 1; }
    const Y = scale(lo, hi, 5, f.bottom, M.t);
    const grid = svg("g", { class: "grid" }, f.s);
    const ay = svg("g", { class: "axis y" }, f.s);
    svg("line", { class: "domain", x1: M.l, x2: M.l, y1: M.t, y2: f.bottom }, ay);
    for (const t of Y.ticks) {
      const y = r1(Y(t));
      svg("line", { x1: M.l, x2: W - M.r, y1: y, y2: y }, grid);
      svg("line", { class: "domain", x1: M.l - 5, x2: M.l, y1: y, y2: y }, ay);
      const tx = svg("text", { class: "tick-y", x: M.l - 8, y, "text-anchor": "end", "dominant-baseline": "middle" }, ay);
      tx.dataset.value = t;
      tx.textContent = (opts.tick || ((v) => fmt(v, Y.step)))(t);
    }
    const yl = svg("text", { class: "axis-label", transform: `translate(16,${(M.t + f.bottom) / 2}) rotate(-90)`, "text-anchor": "middle" }, f.s);
    yl.textContent = ylabel;
    if (opts.zero) {
      const z = r1(Y(0));
      svg("line", { class: "zero", x1: M.l, x2: W - M.r, y1: z, y2: z }, f.s);
    }
    for (const s of series) {
      if (any(s.lo) && any(s.hi)) {
        const b = svg("path", { class: "band", d: bandPath(N, s.lo, s.hi, f.X, Y), fill: s.color }, f.s);
        b.dataset.series = s.key;
      }
    }
    for (const s of series) {
      const p = svg("path", { class: "series", d: linePath(N, s.y, f.X, Y), stroke: s.color }, f.s);
      p.dataset.series = s.key;
    }
    markers(f, M.t);
    hover(f, M.t, (i) => series.map((s) => {
      const iv = s.lo && s.hi && s.lo[i] !== null && s.hi[i] !== null ? ` [${fmt(s.lo[i])}, ${fmt(s.hi[i])}]` : "";
      return [s.color, `${s.label}: ${(opts.value || fmt)(s.y[i])}${iv}`];
    }));
  }

  // Which arm served, and the model's version, as lanes over n.
  function lanes() {
    const serving = D.text.serving, version = num("version");
    if (!serving && !any(version)) return;
    const rows = [];
    if (serving && serving.some((v) => v !== null)) rows.push(["serving", serving, (v) => C[v] || C.other, (v) => v]);
    if (any(version)) {
      let k = 0, last;
      const shade = version.map((v) => { if (v !== last) { k++; last = v; } return k % 2 ? "#cbd5e1" : "#e2e8f0"; });
      rows.push(["model version", version, (v, i) => shade[i], (v) => "v" + v]);
    }
    const lane = 28, gap = 10, height = M.t + rows.length * (lane + gap) + M.b - gap + 6;
    const arms = serving ? [...new Set(serving.filter((v) => v !== null))] : [];
    const keys = arms.map((a) => ({ key: a, label: a + " serves", color: C[a] || C.other }));
    const f = frame("serving", "Serving arm and model version", "Which arm's predictions were served, and the online model's version, from one row to the next.", keys.concat(eventKeys()), height);
    rows.forEach(([name, col, color, text], r) => {
      const y = M.t + r * (lane + gap);
      const label = svg("text", { class: "lane-label", x: M.l - 8, y: y + lane / 2, "text-anchor": "end", "dominant-baseline": "middle" }, f.s);
      label.textContent = name;
      const g = svg("g", { class: "lane", "data-lane": name }, f.s);
      let i = 0;
      while (i < N.length) {
        let j = i;
        while (j + 1 < N.length && col[j + 1] === col[i]) j++;
        const end = j + 1 < N.length ? N[j + 1] : N[j];
        if (col[i] !== null) {
          const x0 = f.X(N[i]), x1 = f.X(end);
          const rect = svg("rect", { class: "seg", x: r1(x0), y, width: r1(Math.max(x1 - x0, 1)), height: lane, fill: color(col[i], i) }, g);
          rect.dataset.value = col[i];
          rect.dataset.from = N[i];
          rect.dataset.to = end;
          if (x1 - x0 > 34) {
            const t = svg("text", { x: r1((x0 + x1) / 2), y: y + lane / 2, "text-anchor": "middle", "dominant-baseline": "middle", "font-size": 11 }, g);
            if (name === "serving") t.style.fill = "#fff";
            t.textContent = text(col[i]);
          }
        }
        i = j + 1;
      }
    });
    markers(f, M.t - 4);
    hover(f, M.t, (i) => rows.map(([name, col, color, text]) => [color(col[i], i), `${name}: ${col[i] === null ? "–" : text(col[i])}`]));
  }

  // A crosshair and a tooltip with the values of the row nearest the pointer.
  function hover(f, top, values) {
    const cross = svg("line", { class: "cross", y1: top, y2: f.bottom, visibility: "hidden" }, f.s);
    const area = svg("rect", { x: M.l, y: top, width: W - M.l - M.r, height: f.bottom - top, fill: "transparent" }, f.s);
    area.addEventListener("mousemove", (ev) => {
      const pt = f.s.createSVGPoint();
      pt.x = ev.clientX; pt.y = ev.clientY;
      const n = f.X.invert(pt.matrixTransform(f.s.getScreenCTM().inverse()).x);
      let lo = 0, hi = N.length - 1;
      while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (N[mid] < n) lo = mid; else hi = mid; }
      const i = Math.abs(N[lo] - n) <= Math.abs(N[hi] - n) ? lo : hi;
      const x = r1(f.X(N[i]));
      cross.setAttribute("x1", x); cross.setAttribute("x2", x); cross.setAttribute("visibility", "visible");
      tip.textContent = "";
      const when = D.text.event_time ? D.text.event_time[i] : null;
      const reason = D.text.reason ? D.text.reason[i] : null;
      html("div", null, `n = ${fmt(N[i])}${reason && reason !== "every" ? " · " + reason : ""}`, tip).style.fontWeight = "600";
      if (when) html("div", null, when, tip).style.opacity = ".75";
      for (const [color, text] of values(i)) {
        const line = html("div", null, null, tip);
        html("span", "k", null, line).style.background = color;
        line.appendChild(document.createTextNode(text));
      }
      tip.hidden = false;
      const r = tip.getBoundingClientRect();
      tip.style.left = Math.min(ev.clientX + 14, window.innerWidth - r.width - 8) + "px";
      tip.style.top = Math.min(ev.clientY + 14, window.innerHeight - r.height - 8) + "px";
    });
    area.addEventListener("mouseleave", () => { tip.hidden = true; cross.setAttribute("visibility", "hidden"); });
  }

  // Milliseconds in a unit that suits the largest of them.
  function msUnit(cols) {
    let max = 0;
    for (const c of cols) if (c) for (const v of c) if (v !== null) max = Math.max(max, Math.abs(v));
    return max < 2000 ? ["ms", 1] : max < 120000 ? ["s", 1000] : max < 7200000 ? ["min", 60000] : ["h", 3600000];
  }

  for (const [metric, arms] of D.metrics) {
    const series = arms.map((arm) => ({
      key: arm, label: arm, color: C[arm],
      y: num(`${arm}_${metric}`), lo: num(`${arm}_${metric}_lo`), hi: num(`${arm}_${metric}_hi`),
    }));
    if (!series.some((s) => any(s.y))) continue;
    const better = metric in HIGHER ? (HIGHER[metric] ? "higher is better" : "lower is better") + " · " : "";
    const band = !series.some((s) => any(s.lo)) ? "no intervals for this metric"
      : arms.length > 1 ? "bands: 95% anytime-valid confidence sequences" : "band: 95% anytime-valid confidence sequence";
    lines("metric-" + metric, TITLES[metric] || metric, `Prequential ${{ accuracy: "accuracy", log_loss: "log loss" }[metric] || TITLES[metric] || metric} of ${arms.length > 1 ? "each arm" : "the " + arms[0] + " arm"}; ${better}${band}.`, metric, series);
  }
  if (any(num("diff"))) {
    const m = D.diff_metric || "the rule's metric";
    lines("diff", `Online − baseline (${TITLES[m] || m})`,
      "Above zero the online arm is better; band: its 95% anytime-valid interval, which the promotion and rollback rules compare with zero.",
      "difference", [{ key: "diff", label: "online − baseline", color: C.diff, y: num("diff"), lo: num("diff_lo"), hi: num("diff_hi") }], { zero: true });
  }
  lanes();
  const p50 = num("delay_p50_ms"), p99 = num("delay_p99_ms");
  if (any(p50) || any(p99)) {
    const [unit, div] = msUnit([p50, p99]);
    const conv = (c) => c && c.map((v) => (v === null ? null : v / div));
    const series = [];
    if (any(p50)) series.push({ key: "p50", label: "p50", color: C.p50, y: conv(p50) });
    if (any(p99)) series.push({ key: "p99", label: "p99", color: C.p99, y: conv(p99) });
    lines("delay", "Label delay", "How long labels took to arrive (the label's time minus its event's, in event time).",
      `label delay (${unit})`, series, { fromZero: true, value: (v) => (v === null ? "–" : fmt(v) + " " + unit) });
  }
  const counts = ["pending", "expired", "defaulted"].filter((k) => any(num(k)));
  if (counts.length) {
    lines("examples", "Pending, expired and defaulted examples",
      "Pending: scored, waiting for a label now. Expired (no label in time, no default) and defaulted (learned with the default label): cumulative.",
      "examples", counts.map((k) => ({ key: k, label: k, color: C[k], y: num(k) })), { fromZero: true });
  }
  document.body.dataset.drawn = root.querySelectorAll("svg.plot").length;
})();

#!/usr/bin/env python3
"""Runs River 0.26.1's drift detectors over many streams and records where each one fires.

The streams come from eddy's own generator (`eddy_core::rng::Rng`, ported bit for bit in
scripts/make_doc_examples.py), so the fixture stores only how to rebuild each stream (its kind,
segments and seed) plus a checksum, not the values. Gaussian values are rounded to multiples of
1/1024 (`floor(v * 1024 + 0.5) / 1024`): the rounding hides any last-bit difference between
Python's and Rust's `log`/`cos`, and the checksum (the exact sum of the values) proves the Rust
side rebuilt the same stream.

For every stream and detector the fixture holds River's drift indices (and warning indices for
DDM and EDDM, as [first, last] runs of consecutive indices); crates/eddy-learn/tests/drift_fixtures.rs checks eddy's detections against them
exactly.

Setup (once):  python3 -m venv /work/venv-river && /work/venv-river/bin/pip install river==0.26.1
Run:           /work/venv-river/bin/python scripts/make_drift_fixtures.py
"""

import json
import math
import os
import sys

import river
from river import drift

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_doc_examples import Rng  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "drift_detections.json")
SEEDS = list(range(6))


def gauss(segments, seed):
    """Segments of (length, mean, sd); each value mean + sd * N(0, 1), rounded to 1/1024."""
    rng = Rng(seed)
    out = []
    for n, mean, sd in segments:
        for _ in range(n):
            out.append(math.floor((mean + sd * rng.normal()) * 1024.0 + 0.5) / 1024.0)
    return out


def bernoulli(segments, seed):
    """Segments of (length, p); each value 1.0 with probability p (a mistake), else 0.0."""
    rng = Rng(seed)
    out = []
    for n, p in segments:
        for _ in range(n):
            out.append(1.0 if rng.chance(p) else 0.0)
    return out


STREAMS = {
    "gauss_mean_shifts": ("gauss", [[1000, 0.0, 1.0], [1000, 1.0, 1.0], [1000, 0.5, 1.0], [1000, 3.0, 1.0]]),
    "gauss_small_shift": ("gauss", [[1500, 0.0, 1.0], [1500, 0.4, 1.0]]),
    "gauss_variance": ("gauss", [[1500, 0.0, 1.0], [1500, 0.0, 3.0]]),
    "gauss_no_drift": ("gauss", [[4000, 0.0, 1.0]]),
    "bernoulli_rates": ("bernoulli", [[1000, 0.2], [1000, 0.5], [1000, 0.1], [1000, 0.3]]),
    "bernoulli_rising": ("bernoulli", [[1500, 0.1], [1500, 0.25]]),
    "bernoulli_no_drift": ("bernoulli", [[4000, 0.2]]),
}

# (name in eddy's registry, parameters as eddy spells them, River constructor, binary only)
DETECTORS = [
    ("adwin", {}, lambda: drift.ADWIN(), False),
    ("adwin", {"clock": "1"}, lambda: drift.ADWIN(clock=1), False),
    ("adwin", {"delta": "0.05", "clock": "8", "grace_period": "50"},
     lambda: drift.ADWIN(delta=0.05, clock=8, grace_period=50), False),
    ("page_hinkley", {}, lambda: drift.PageHinkley(), False),
    ("page_hinkley", {"threshold": "20", "mode": "up"}, lambda: drift.PageHinkley(threshold=20, mode="up"), False),
    ("page_hinkley", {"threshold": "20", "mode": "down"}, lambda: drift.PageHinkley(threshold=20, mode="down"), False),
    ("ddm", {}, lambda: drift.binary.DDM(), True),
    ("ddm", {"warm_start": "100", "drift_threshold": "2.5"}, lambda: drift.binary.DDM(warm_start=100, drift_threshold=2.5), True),
    ("eddm", {}, lambda: drift.binary.EDDM(), True),
    ("eddm", {"alpha": "0.8", "beta": "0.75"}, lambda: drift.binary.EDDM(alpha=0.8, beta=0.75), True),
    ("kswin", {"seed": "42"}, lambda: drift.KSWIN(seed=42), False),
    ("kswin", {"seed": "7", "alpha": "0.0001", "window_size": "200", "stat_size": "50"},
     lambda: drift.KSWIN(seed=7, alpha=0.0001, window_size=200, stat_size=50), False),
]


def run(make, xs, binary):
    det = make()
    drifts, warnings = [], []
    for i, x in enumerate(xs):
        det.update(bool(x) if binary else x)
        if det.drift_detected:
            drifts.append(i)
        elif getattr(det, "warning_detected", False):
            warnings.append(i)
    return drifts, runs_of(warnings)


def runs_of(indices):
    """Consecutive indices as [first, last] pairs (warnings last many updates in a row)."""
    out = []
    for i in indices:
        if out and out[-1][1] == i - 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


def main():
    cases = []
    for sname, (kind, segments) in STREAMS.items():
        for seed in SEEDS:
            xs = gauss(segments, seed) if kind == "gauss" else bernoulli(segments, seed)
            runs = []
            for name, params, make, binary in DETECTORS:
                if binary and kind != "bernoulli":
                    continue
                drifts, warnings = run(make, xs, binary)
                r = {"detector": name, "params": params, "drifts": drifts}
                if name in ("ddm", "eddm"):
                    r["warnings"] = warnings
                runs.append(r)
            cases.append({"stream": sname, "kind": kind, "segments": segments, "seed": seed,
                          "sum": math.fsum(xs), "runs": runs})
    doc = {
        "generator": "scripts/make_drift_fixtures.py",
        "river": river.__version__,
        "cases": cases,
    }
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"{len(cases)} streams, {sum(len(c['runs']) for c in cases)} runs -> {os.path.relpath(OUT)}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Runs River 0.26.1's HoeffdingTreeClassifier test-then-train over streams with numeric,
nominal and mixed attributes, and records what it predicted.

The features come from eddy's own generator (`eddy_core::rng::Rng`, ported bit for bit in
scripts/make_doc_examples.py): for each example, column by column, a numeric column draws
`10 * next_f64()` and a nominal column draws a category code `below(card)` (`card_late` from
`late_at` on: categories the tree has never seen appear after it has split). The labels come
from rules written only here (a second generator adds label noise) and are stored as a string
of digits, so crates/eddy-learn/tests/tree_fixtures.rs rebuilds the same examples without
porting the rules.

Runs marked `strings` give River the nominal values as strings instead (named by their order
of first appearance, `k00`, `k01`, ..., so River's sorted order of them is the order eddy's
ordinal encoder numbers them in), without `nominal_attributes` (River takes any non-numeric
value as nominal); eddy gets the same strings as categories with `categorical=ordinal`.

For each stream and setting, the fixture holds River's number of correct predictions, an
FNV-1a hash of all its predictions (one byte per example), and the final tree's size. River
predicts `None` before it has learned anything; that is read as class 0, as eddy predicts.

Setup (once):  python3 -m venv /work/venv-river && /work/venv-river/bin/pip install river==0.26.1
Run:           /work/venv-river/bin/python scripts/make_tree_fixtures.py
"""

import json
import os
import sys

import river
from river import tree

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_doc_examples import Rng  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "tree_prequential.json")
SEEDS = [0, 1, 2]
N = 4000


def features(columns, late_at, seed, n):
    rng = Rng(seed)
    for i in range(n):
        x = []
        for col in columns:
            if col["kind"] == "num":
                x.append(10.0 * rng.next_f64())
            else:
                card = col["card_late"] if late_at is not None and i >= late_at else col["card"]
                x.append(rng.below(card))
        yield x


def mixed(x):
    """A numeric threshold moved by two nominal attributes."""
    return int(x[0] + [0.0, 3.0, 6.0, 1.0][x[2]] > 6.0 + x[3] % 3)


TABLE = [[0, 1, 2], [1, 1, 0], [2, 0, 2], [0, 2, 1], [1, 0, 0]]


def nominal(x):
    """Three classes from a table of two nominal attributes; the third is noise."""
    return TABLE[x[0]][x[1]]


def late(x):
    """Like `mixed`, with a nominal attribute whose later categories are new."""
    return int(x[0] + (x[1] % 4) * 2.0 > 7.0)


def multiclass(x):
    """Four classes: numeric bands and a nominal attribute."""
    return min(3, int(x[0] / 3.0) + (1 if x[2] in (1, 4) else 0))


def sea(x):
    """Numeric only (SEA concept)."""
    return int(x[0] + x[1] > 8.0)


STREAMS = {
    "mixed": ([{"kind": "num"}, {"kind": "num"}, {"kind": "nom", "card": 4}, {"kind": "nom", "card": 6}],
              None, mixed, 0.1),
    "nominal": ([{"kind": "nom", "card": 5}, {"kind": "nom", "card": 3}, {"kind": "nom", "card": 7}],
                None, nominal, 0.1),
    "late_categories": ([{"kind": "num"}, {"kind": "nom", "card": 4, "card_late": 9}, {"kind": "num"}],
                        2000, late, 0.05),
    "multiclass": ([{"kind": "num"}, {"kind": "num"}, {"kind": "nom", "card": 6}], None, multiclass, 0.1),
    "numeric": ([{"kind": "num"}, {"kind": "num"}, {"kind": "num"}], None, sea, 0.1),
}

# (eddy parameters, River keyword arguments); nominal_attributes are added per stream.
SETTINGS = [
    ({}, {}),
    ({"grace_period": "50"}, {"grace_period": 50}),
    ({"grace_period": "50", "leaf_prediction": "mc"}, {"grace_period": 50, "leaf_prediction": "mc"}),
    ({"grace_period": "100", "leaf_prediction": "nb"}, {"grace_period": 100, "leaf_prediction": "nb"}),
    ({"grace_period": "50", "binary_split": "true"}, {"grace_period": 50, "binary_split": True}),
    ({"grace_period": "50", "max_depth": "2", "tau": "0.2"}, {"grace_period": 50, "max_depth": 2, "tau": 0.2}),
]


def as_strings(xs, columns):
    """Nominal codes renamed by order of first appearance in their column."""
    names = [{} for _ in columns]
    out = []
    for x in xs:
        row = []
        for j, (v, col) in enumerate(zip(x, columns)):
            if col["kind"] == "num":
                row.append(v)
            else:
                row.append(names[j].setdefault(v, f"k{len(names[j]):02}"))
        out.append(row)
    return out


def fnv1a(preds):
    h = 0xCBF29CE484222325
    for p in preds:
        h ^= p
        h = (h * 0x100000001B3) & ((1 << 64) - 1)
    return h


def main():
    streams, runs = [], []
    for sname, (columns, late_at, rule, noise) in STREAMS.items():
        nominal_idx = [j for j, c in enumerate(columns) if c["kind"] == "nom"]
        n_classes = 0
        for seed in SEEDS:
            xs = list(features(columns, late_at, seed, N))
            noise_rng = Rng(seed + 1000)
            ys = []
            for x in xs:
                y = rule(x)
                n_classes = max(n_classes, y + 1)
                if noise_rng.next_f64() < noise:
                    y = noise_rng.below(max(n_classes, 2))
                ys.append(y)
            si = len(streams)
            streams.append({"name": sname, "seed": seed, "columns": columns, "late_at": late_at,
                            "labels": "".join(str(y) for y in ys)})
            variants = [(e, r, False) for e, r in SETTINGS]
            if nominal_idx:
                variants += [(e, r, True) for e, r in SETTINGS[:2]]
            for eddy_params, river_kwargs, strings in variants:
                params = dict(eddy_params)
                if strings:
                    params["categorical"] = "ordinal"
                    model = tree.HoeffdingTreeClassifier(**river_kwargs)
                    rows = as_strings(xs, columns)
                else:
                    if nominal_idx:
                        params["nominal_attributes"] = ",".join(str(j) for j in nominal_idx)
                    model = tree.HoeffdingTreeClassifier(
                        nominal_attributes=nominal_idx or None, **river_kwargs)
                    rows = xs
                preds, correct = [], 0
                for x, y in zip(rows, ys):
                    xd = dict(enumerate(x))
                    p = model.predict_one(xd)
                    p = 0 if p is None else p
                    preds.append(p)
                    correct += p == y
                    model.learn_one(xd, y)
                runs.append({"stream": si, "params": params, "strings": strings, "correct": correct,
                             "predictions_fnv1a": f"{fnv1a(preds):016x}",
                             "n_nodes": model.n_nodes, "n_leaves": model.n_leaves,
                             "height": model.height})
    doc = {"generator": "scripts/make_tree_fixtures.py", "river": river.__version__,
           "streams": streams, "runs": runs}
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"{len(streams)} streams, {len(runs)} runs -> {os.path.relpath(OUT)}")


if __name__ == "__main__":
    main()

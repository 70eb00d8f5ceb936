"""The scikit-learn side of eddy's MLServer test (crates/eddy/tests/mlserver.rs).

Run by the test with the Python of the MLServer virtual environment that `.ci/run` makes:

    python scripts/mlserver_sklearn.py model DIR
        Fits a seeded LogisticRegression on two features shaped like the fraud example's
        (`events_5m`, `login_rate_1m`), saves it with joblib as DIR/model.joblib, and writes
        DIR/model-settings.json for MLServer's scikit-learn runtime with its default settings
        (so the model's metadata declares no inputs or outputs).

    python scripts/mlserver_sklearn.py proba DIR ROWS OUT
        Reads ROWS (JSON: a list of feature rows), loads DIR/model.joblib and writes OUT
        (JSON: predict_proba of every row, a list of [p0, p1]), computed here, independently
        of the server and of eddy.
"""

import json
import sys

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression


def model(d):
    rng = np.random.default_rng(19)
    n = 2000
    events = rng.poisson(6.0, n).astype(float)
    logins = rng.uniform(0.0, 4.0, n)
    z = 0.35 * events - 1.2 * logins - 0.5 + rng.normal(0.0, 1.0, n)
    y = (z > 0).astype(int)
    clf = LogisticRegression().fit(np.column_stack([events, logins]), y)
    joblib.dump(clf, f"{d}/model.joblib")
    with open(f"{d}/model-settings.json", "w") as f:
        json.dump(
            {
                "name": "fraud_sk",
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib", "version": "1"},
            },
            f,
        )


def proba(d, rows, out):
    clf = joblib.load(f"{d}/model.joblib")
    with open(rows) as f:
        x = np.array(json.load(f), dtype=float).reshape(-1, 2)
    with open(out, "w") as f:
        json.dump(clf.predict_proba(x).tolist(), f)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"model": model, "proba": proba}[cmd](*args)

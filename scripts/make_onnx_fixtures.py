#!/usr/bin/env python3
"""Makes the ONNX fixtures of eddy-infer's tests and bench, with ONNX Runtime reference outputs.

Trains tiny deterministic scikit-learn models (and, when installed, XGBoost / LightGBM through
onnxmltools) on seeded synthetic data, exports them with skl2onnx (zipmap=False), runs ONNX
Runtime on a fixed input set and writes, for each model NAME, into fixtures/onnx/:

  NAME.onnx           the model (input `float_input`, FP32 [N, 4])
  NAME.features.json  the feature names, in column order (eddy's sidecar)
  NAME.ref.json       {"inputs": [[...]], "outputs": {output name: values}, "ops": [...]}

Setup (once):  python3 -m venv /tmp/onnxvenv && /tmp/onnxvenv/bin/pip install \
                 scikit-learn skl2onnx onnxruntime numpy onnxmltools xgboost lightgbm
Run:           /tmp/onnxvenv/bin/python scripts/make_onnx_fixtures.py

The test suite only reads the committed files; it never needs Python.
"""

import json
import os
import sys

import numpy as np
import onnxruntime as ort
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.svm import LinearSVC
from onnx import TensorProto, helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "onnx")
FEATURES = ["amount", "hour", "velocity", "distance"]
N_FEATURES = len(FEATURES)


def data(seed, n=400, classes=2):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    w = np.array([1.5, -2.0, 0.7, 0.3], dtype=np.float32)
    z = x @ w + 0.5 * x[:, 0] * x[:, 1] + rng.normal(scale=0.3, size=n).astype(np.float32)
    if classes == 0:
        return x, z.astype(np.float32)
    if classes == 2:
        return x, (z > 0).astype(np.int64)
    return x, np.digitize(z, np.quantile(z, [1 / 3, 2 / 3])).astype(np.int64)


def test_inputs():
    # Fixed rows (rounded so the JSON is exact in f32), including edge-ish values.
    rng = np.random.default_rng(12345)
    x = np.round(rng.normal(size=(16, N_FEATURES)) * 1.5, 3).astype(np.float32)
    x[0] = 0.0
    x[1] = [3.0, -3.0, 2.5, -2.5]
    return x


def one_row_linear_classifier():
    node = helper.make_node(
        "LinearClassifier",
        ["float_input"],
        ["label", "probabilities"],
        domain="ai.onnx.ml",
        classlabels_ints=[3, 7],
        coefficients=[0.8, -1.2, 0.5, 0.25],
        intercepts=[-0.1],
        post_transform="LOGISTIC",
    )
    graph = helper.make_graph(
        [node],
        "one_row",
        [helper.make_tensor_value_info("float_input", TensorProto.FLOAT, [None, N_FEATURES])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2]),
        ],
    )
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 15), helper.make_opsetid("ai.onnx.ml", 3)],
        ir_version=8,
    )


def tree_with_missing_values():
    """Two hand-built trees, 3 classes, base values, SOFTMAX, LT/GTE/LEQ modes and
    missing-value routing: exercises eddy's TreeEnsembleClassifier against ONNX Runtime."""
    node = helper.make_node(
        "TreeEnsembleClassifier",
        ["float_input"],
        ["label", "probabilities"],
        domain="ai.onnx.ml",
        classlabels_int64s=[10, 20, 30],
        nodes_treeids=[0, 0, 0, 0, 0, 1, 1, 1],
        nodes_nodeids=[0, 1, 2, 3, 4, 0, 1, 2],
        nodes_featureids=[1, 0, 0, 0, 0, 3, 0, 0],
        nodes_modes=["BRANCH_LT", "BRANCH_GTE", "LEAF", "LEAF", "LEAF", "BRANCH_LEQ", "LEAF", "LEAF"],
        nodes_values=[0.3, -0.5, 0, 0, 0, 0.0, 0, 0],
        nodes_truenodeids=[1, 3, 0, 0, 0, 1, 0, 0],
        nodes_falsenodeids=[2, 4, 0, 0, 0, 2, 0, 0],
        nodes_missing_value_tracks_true=[1, 0, 0, 0, 0, 0, 0, 0],
        class_treeids=[0, 0, 0, 0, 0, 1, 1, 1],
        class_nodeids=[2, 2, 3, 4, 4, 1, 2, 2],
        class_ids=[0, 2, 1, 0, 1, 2, 0, 1],
        class_weights=[0.7, 0.2, 1.1, 0.4, 0.5, 0.9, 0.3, -0.25],
        base_values=[0.1, -0.2, 0.05],
        post_transform="SOFTMAX",
    )
    graph = helper.make_graph(
        [node],
        "trees_missing",
        [helper.make_tensor_value_info("float_input", TensorProto.FLOAT, [None, N_FEATURES])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 3]),
        ],
    )
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 15), helper.make_opsetid("ai.onnx.ml", 3)],
        ir_version=8,
    )


def export(name, model, x_in, onx=None):
    if onx is None:
        onx = to_onnx(
            model,
            initial_types=[("float_input", FloatTensorType([None, N_FEATURES]))],
            options={id(model): {"zipmap": False}} if hasattr(model, "predict_proba") else None,
            target_opset={"": 15, "ai.onnx.ml": 3},
        )
    path = os.path.join(OUT, name + ".onnx")
    with open(path, "wb") as f:
        f.write(onx.SerializeToString())
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    in_name = sess.get_inputs()[0].name
    outs = sess.run(None, {in_name: x_in})
    outputs = {}
    for meta, val in zip(sess.get_outputs(), outs):
        outputs[meta.name] = np.asarray(val).tolist()
    ops = sorted({f"{n.domain or 'ai.onnx'}:{n.op_type}" for n in onx.graph.node})
    # NaN (a missing value) is written as null.
    rows = [[None if np.isnan(v) else v for v in row] for row in x_in.tolist()]
    ref = {"model": name, "inputs": rows, "outputs": outputs, "ops": ops}
    with open(os.path.join(OUT, name + ".ref.json"), "w") as f:
        json.dump(ref, f, indent=None)
        f.write("\n")
    with open(os.path.join(OUT, name + ".features.json"), "w") as f:
        json.dump(FEATURES, f)
        f.write("\n")
    print(f"{name}: {os.path.getsize(path)} bytes, ops {ops}, outputs {list(outputs)}")


def main():
    os.makedirs(OUT, exist_ok=True)
    xt = test_inputs()

    x, y = data(1, classes=0)
    export("linear_regression", LinearRegression().fit(x, y), xt)

    x, y = data(2)
    export("logistic_regression", LogisticRegression(max_iter=500).fit(x, y), xt)

    # LinearSVC: LinearClassifier (post_transform NONE) + ArrayFeatureExtractor on the scores;
    # its "probabilities" output is the positive-class decision value, [N, 1].
    x, y = data(10)
    export("linear_svc", LinearSVC(random_state=0).fit(x, y), xt)

    # A hand-built binary LinearClassifier with a single coefficient row (the ONNX-ML form
    # that skl2onnx does not emit but other exporters do), logistic post-transform.
    export("linear_classifier_1row", None, xt, one_row_linear_classifier())

    xt_missing = xt.copy()
    xt_missing[2, 1] = np.nan
    xt_missing[3, 0] = np.nan
    xt_missing[4, 3] = np.nan
    xt_missing[5, :] = np.nan
    export("trees_missing", None, xt_missing, tree_with_missing_values())

    x, y = data(9, classes=3)
    export("logistic_regression_3class", LogisticRegression(max_iter=500).fit(x, y), xt)

    x, y = data(3, classes=3)
    export(
        "random_forest_3class",
        RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(x, y),
        xt,
    )

    x, y = data(4)
    export(
        "gradient_boosting",
        GradientBoostingClassifier(n_estimators=10, max_depth=3, random_state=0).fit(x, y),
        xt,
    )

    x, y = data(5)
    export(
        "mlp",
        MLPClassifier(hidden_layer_sizes=(8,), max_iter=2000, random_state=0).fit(x, y),
        xt,
    )

    # The bench model: 100 trees of depth 6.
    x, y = data(6, n=2000)
    export(
        "forest_100x6",
        RandomForestClassifier(n_estimators=100, max_depth=6, random_state=0).fit(x, y),
        xt,
    )

    # Optional boosters through onnxmltools.
    try:
        import onnxmltools
        from onnxmltools.convert.common.data_types import FloatTensorType as MlFloat
        import xgboost

        x, y = data(7)
        m = xgboost.XGBClassifier(n_estimators=10, max_depth=3, random_state=0).fit(x, y)
        onx = onnxmltools.convert_xgboost(
            m, initial_types=[("float_input", MlFloat([None, N_FEATURES]))], target_opset=15
        )
        export("xgboost", m, xt, onx)
    except Exception as e:  # noqa: BLE001
        print(f"xgboost skipped: {e}", file=sys.stderr)
    try:
        import onnxmltools
        from onnxmltools.convert.common.data_types import FloatTensorType as MlFloat
        import lightgbm

        x, y = data(8)
        m = lightgbm.LGBMClassifier(n_estimators=10, max_depth=3, random_state=0, verbose=-1)
        m.fit(x, y)
        onx = onnxmltools.convert_lightgbm(
            m,
            initial_types=[("float_input", MlFloat([None, N_FEATURES]))],
            target_opset=15,
            zipmap=False,
        )
        export("lightgbm", m, xt, onx)
    except Exception as e:  # noqa: BLE001
        print(f"lightgbm skipped: {e}", file=sys.stderr)


if __name__ == "__main__":
    main()

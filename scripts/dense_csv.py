#!/usr/bin/env python3
"""Writes a dense numeric CSV for timing `eddy learn`: a header, ROWS rows of 20 columns
`x0..x19` (uniform in [0, 1), 6 decimals) and a 0/1 label `y` from a noisy hyperplane.

Run:  python3 scripts/dense_csv.py 1000000 /tmp/dense.csv
      eddy learn --data /tmp/dense.csv --target y --model logistic_regression --every 0
(the summary line's `examples_per_s` is the rate, parsing included). Seeded: the same file
every time.
"""

import random
import sys


def main():
    rows, path = int(sys.argv[1]), sys.argv[2]
    random.seed(7)
    d = 20
    w = [random.uniform(-1, 1) for _ in range(d)]
    bias = sum(w) / 2
    with open(path, "w") as out:
        out.write(",".join(f"x{i}" for i in range(d)) + ",y\n")
        buf = []
        for _ in range(rows):
            x = [random.random() for _ in range(d)]
            s = sum(a * b for a, b in zip(w, x)) - bias
            y = 1 if s + random.gauss(0, 0.1) > 0 else 0
            buf.append(",".join(f"{v:.6f}" for v in x) + f",{y}\n")
            if len(buf) >= 10000:
                out.write("".join(buf))
                buf = []
        out.write("".join(buf))


if __name__ == "__main__":
    main()

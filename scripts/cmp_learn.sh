#!/usr/bin/env bash
# Runs two eddy builds' `eddy learn` over the same generated files and options and compares
# what they write: stdout (with the measured `seconds` and `examples_per_s` masked), stderr,
# the exit code and any snapshot saved. A refactoring of learn must not change any of it.
#
#   scripts/cmp_learn.sh OLD_EDDY NEW_EDDY [ROWS]
#
# Files: CSV and JSONL, classification (integer, boolean and named labels) and regression,
# numeric and categorical columns, missing values, bad rows (non-numbers, NaN, missing
# targets, wrong field counts, bad quotes, broken JSON). Exits 1 if anything differs.
set -euo pipefail
old=$(realpath "$1"); new=$(realpath "$2"); n=${3:-20000}
work=$(mktemp -d)
if [ -n "${KEEP:-}" ]; then echo "files in $work"; else trap 'rm -rf "$work"' EXIT; fi
cd "$work"
python3 - "$n" <<'PY'
import json, math, random, sys
n = int(sys.argv[1])
r = random.Random(5)
zips = ["10001", "02139", "94105", "60601", "73301"]
colors = ["red", "green", "blue"]
# Classification, CSV: a concept that flips half way, bad rows spliced in.
with open("cls.csv", "w") as f:
    f.write("id,x1,x2,x3,zip,color,y\n")
    for i in range(n):
        x = [r.uniform(-1, 1) for _ in range(3)]
        s = x[0] + 0.5 * x[1] - x[2] + (0.3 if i % 3 == 0 else 0)
        y = int(s > 0) if i < n // 2 else int(s <= 0)
        z, c = r.choice(zips), r.choice(colors)
        row = [str(i), f"{x[0]:.5f}", f"{x[1]:.5f}", f"{x[2]:.5f}", z, c, str(y)]
        if i % 997 == 5: row[1] = "oops"
        if i % 1009 == 7: row[6] = ""
        if i % 1013 == 9: row[2] = ""
        if i % 1019 == 11: row[3] = "NaN"
        if i % 1021 == 13: row = row[:-1]
        if i % 1031 == 17: row[5] = '"bad"quote'
        if i % 1033 == 19: row[5] = '"with, comma"'
        f.write(",".join(row) + "\n")
# The same with named and boolean labels.
for name, labels in (("names", ["no", "yes"]), ("bools", ["False", "true"])):
    with open("cls.csv") as f, open(f"cls_{name}.csv", "w") as out:
        out.write(next(f))
        for line in f:
            cells = line.rstrip("\n").split(",")
            if cells[-1] in ("0", "1"):
                cells[-1] = labels[int(cells[-1])]
            out.write(",".join(cells) + "\n")
# Regression, CSV, with a categorical column and empty cells.
with open("reg.csv", "w") as f:
    f.write("a,b,zip,t\n")
    for i in range(n):
        a, b = r.gauss(0, 1), r.gauss(2, 3)
        z = r.choice(zips)
        t = 3 * a - b + zips.index(z) + r.gauss(0, 0.1) + (5 if i > n // 2 else 0)
        row = [f"{a:.4f}", f"{b:.4f}", z, f"{t:.4f}"]
        if i % 211 == 3: row[1] = ""
        if i % 401 == 5: row[3] = "x"
        if i % 503 == 7: row[0] = "inf"
        f.write(",".join(row) + "\n")
# JSONL: nested features, nulls, booleans, strings, named labels; broken lines.
with open("ev.jsonl", "w") as f:
    for i in range(n):
        a = r.uniform(0, 10)
        seen = r.random() < 0.5
        label = "fraud" if (a > 6) != seen and r.random() < 0.9 else "ok"
        o = {"event_id": i, "user": f"u{i % 37}", "amount": round(a, 3), "seen": seen,
             "features": {"n_5m": i % 7, "avg": None if i % 13 == 0 else round(a / 2, 2)},
             "channel": r.choice(["web", "app", "kiosk"]), "label": label, "v": round(a * 2 + seen, 3)}
        if i % 499 == 4: o["amount"] = "many"
        if i % 701 == 6: o["label"] = None
        line = json.dumps(o)
        if i % 887 == 8: line = line[:25]
        f.write(line + "\n")
PY

cases=(
  "cls.csv|--target y --model logistic_regression --ignore id --categorical zip --drift adwin --metric accuracy,rolling(500):accuracy,f1,logloss,rocauc --every 1000"
  "cls.csv|--target y --model logistic_regression --ignore id --delay 50 --drift ddm --every 777 --param scaler=standard"
  "cls.csv|--target y --model gaussian_nb --features x1,x2,x3 --fill-missing 0 --drift eddm --every 500"
  "cls.csv|--target y --model hoeffding_tree --categorical zip --ignore id --every 2000 --drift kswin"
  "cls.csv|--target y --model logistic_regression --categorical zip,color --param categorical=hash --param n_features=64 --ignore id --every 1500 --delay 3"
  "cls_names.csv|--target y --model softmax_regression --ignore id --every 1000 --drift adwin:delta=0.01"
  "cls_bools.csv|--target y --model pa_classifier --ignore id --every 1000 --fill-missing -1"
  "reg.csv|--target t --model linear_regression --categorical zip --param scaler=standard --metric mae,rmse,r2,rolling(100):mae --drift adwin --delay 10 --every 1000"
  "reg.csv|--target t --model pa_regressor --categorical zip --fill-missing 0 --drift page_hinkley --every 999"
  "reg.csv|--target t --model linear_regression --param scaler=minmax --every 0"
  "ev.jsonl|--target label --model logistic_regression --ignore event_id,user --fill-missing -1 --drift adwin --every 1000"
  "ev.jsonl|--target label --model logistic_regression --ignore event_id,user,v --every 500 --delay 20 --metric accuracy,precision,recall"
  "ev.jsonl|--target v --model linear_regression --ignore event_id,user,label --categorical features.n_5m --fill-missing 0 --delay 5 --drift page_hinkley --every 1000"
  "ev.jsonl|--target v --model linear_regression --features amount,seen --every 0"
  "cls.csv|--target y --model linear_regression --ignore id --metric accuracy"
  "reg.csv|--target t --model linear_regression --drift ddm"
  "cls.csv|--target y --model logistic_regression --categorical nope"
  "cls.csv|--target y --model logistic_regression --features x1,nope"
  "cls.csv|--target y --model logistic_regression --ignore nope"
  "cls.csv|--target z --model logistic_regression"
  "cls.csv|--target y --model logistic_regression --fill-missing nan"
  "cls.csv|--target y --model logistic_regression --metric nope"
  "cls.csv|--target y --model logistic_regression --metric nope --drift nope"
  "cls_names.csv|--target color --model logistic_regression --ignore id"
  "cls.csv|--target zip --model logistic_regression --ignore id --every 0"
)
status=0
mask() { sed -E 's/"seconds":[0-9.e+-]+/"seconds":_/; s/"examples_per_s":[0-9.e+-]+/"examples_per_s":_/' "$1"; }
check() { # label file-a file-b
  if cmp -s "$2" "$3"; then return 0; fi
  echo "DIFF  $1"; diff "$2" "$3" | head -5; status=1
}
i=0
for c in "${cases[@]}"; do
  i=$((i + 1)); file=${c%%|*}; read -r -a opts <<<"${c#*|}"
  for b in old new; do
    set +e
    "${!b}" learn --data "$file" "${opts[@]}" --save "$b.$i.snap" > "$b.$i.out" 2> "$b.$i.err"
    echo $? > "$b.$i.rc"
    set -e
    mask "$b.$i.out" > "$b.$i.masked"
  done
  before=$status
  check "$i stdout: $c" "old.$i.masked" "new.$i.masked"
  check "$i stderr: $c" "old.$i.err" "new.$i.err"
  check "$i exit code: $c" "old.$i.rc" "new.$i.rc"
  if [ -e "old.$i.snap" ] || [ -e "new.$i.snap" ]; then
    check "$i snapshot: $c" "old.$i.snap" "new.$i.snap"
  fi
  if [ "$status" = "$before" ]; then
    echo "same  $i: $(wc -l < "old.$i.out") lines, exit $(cat "old.$i.rc"): $c"
  fi
done
# Continuing from a snapshot (learn's own, and a plain model snapshot with --target).
head -n $((n / 2)) cls.csv > a.csv; { head -n 1 cls.csv; tail -n +$((n / 2 + 1)) cls.csv; } > b.csv
for b in old new; do
  "${!b}" learn --data a.csv --target y --model logistic_regression --ignore id --drift ddm --every 0 --save "$b.half.snap" > /dev/null 2>&1
  "${!b}" learn --data b.csv --load "$b.half.snap" --every 1000 --save "$b.resumed.snap" > "$b.resumed.out" 2> "$b.resumed.err"
  mask "$b.resumed.out" > "$b.resumed.masked"
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); d.pop('eddy_learn'); json.dump(d, open(sys.argv[2],'w'))" "$b.half.snap" "$b.plain.snap"
  "${!b}" learn --data b.csv --load "$b.plain.snap" --target y --ignore id --every 1000 > "$b.plain.out" 2> "$b.plain.err"
  mask "$b.plain.out" > "$b.plain.masked"
done
before=$status
check "resumed stdout" old.resumed.masked new.resumed.masked
check "resumed stderr" old.resumed.err new.resumed.err
check "resumed snapshot" old.resumed.snap new.resumed.snap
check "plain snapshot continued, stderr" old.plain.err new.plain.err
check "plain snapshot continued" old.plain.masked new.plain.masked
[ "$status" = "$before" ] && echo "same  --save then --load (learn's snapshot, a plain model snapshot): $(wc -l < old.resumed.out) and $(wc -l < old.plain.out) lines"
exit $status

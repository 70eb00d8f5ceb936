#!/usr/bin/env bash
# Runs two eddy builds over the same generated streams and example specs and compares every
# output byte for byte: a refactoring must not change what eddy writes.
#
#   scripts/cmp_builds.sh OLD_EDDY NEW_EDDY [EVENTS]
#
# Streams: fraud and clicks with disorder, very late events and malformed lines spliced in;
# a CSV copy of the fraud stream (with quoted cells). Specs: examples/fraud.toml,
# clicks.toml, fraud_embedded.toml (latency_us masked: it is measured), and fraud.toml with
# CSV input and with CSV output. Exits 1 on the first difference.
set -euo pipefail
old=$(realpath "$1"); new=$(realpath "$2"); n=${3:-300000}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$work"
"$old" generate fraud --events "$n" --seed 11 --keys 5000 --disorder-ms 8000 --late-fraction 0.002 --output fraud.clean
"$old" generate clicks --events "$n" --seed 12 --disorder-ms 8000 --late-fraction 0.002 --output clicks.clean
# every 997th line is damaged: cut short, or not JSON at all
for s in fraud clicks; do
  awk 'NR % 997 == 0 { print substr($0, 1, 30); next } NR % 1999 == 0 { print "not json"; next } { print }' "$s.clean" > "$s.jsonl"
done
python3 - <<'PY'
import csv, json
with open("fraud.clean") as f, open("fraud.csv", "w", newline="") as out:
    w = csv.writer(out, lineterminator="\n")
    cols = ["event_id", "user_id", "ts", "event_type", "page", "amount", "merchant", "label"]
    w.writerow(cols)
    for i, line in enumerate(f):
        r = json.loads(line)
        row = ["" if r.get(c) is None else r[c] for c in cols]
        if i % 500 == 0:
            row[4] = row[4] + ", with a comma"  # a quoted cell
        w.writerow(row)
PY
cp -r "$root/examples/models" models
sed -e '1,/^\[output\]/ s/^format = "jsonl"$/format = "csv"/' -e 's/^path = "fraud.jsonl".*/path = "fraud.csv"/' "$root/examples/fraud.toml" > fraud_csv_in.toml
sed -e '/^\[output\]/,$ s/^format = "jsonl".*/format = "csv"/' "$root/examples/fraud.toml" > fraud_csv_out.toml
cp "$root/examples/fraud.toml" "$root/examples/clicks.toml" "$root/examples/fraud_embedded.toml" .
status=0
for spec in fraud.toml clicks.toml fraud_embedded.toml fraud_csv_in.toml fraud_csv_out.toml; do
  for build in old new; do
    mkdir -p "$build.$spec" && cp -r fraud.jsonl clicks.jsonl fraud.csv models "$spec" "$build.$spec/"
    (cd "$build.$spec" && "${!build}" run "$spec" -q > events.out)
  done
  for name in events.out $(cd "old.$spec" && ls -- *-*.jsonl 2>/dev/null); do
    f="old.$spec/$name"
    a="$f"; b="new.$spec/$name"
    if [ "$spec" = fraud_embedded.toml ]; then
      sed -E 's/"latency_us":[0-9]+/"latency_us":_/' "$a" > "$a.masked"; a="$a.masked"
      sed -E 's/"latency_us":[0-9]+/"latency_us":_/' "$b" > "$b.masked"; b="$b.masked"
    fi
    if cmp -s "$a" "$b"; then
      echo "same  $spec $name ($(wc -l < "$a") lines)"
    else
      echo "DIFF  $spec $name"; cmp "$a" "$b" | head -1; status=1
    fi
  done
done
exit $status

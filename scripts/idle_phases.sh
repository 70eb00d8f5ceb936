#!/usr/bin/env bash
# State and memory of a run over phases of new keys: 50,000 new keys every 10 minutes of event
# time (4 events each), over sliding, tumbling and session features (no global window). For
# each number of phases P, runs `eddy run` over the first P phases and prints the state bytes
# the run reports at the end of input and its peak RSS (GNU time).
#   scripts/idle_phases.sh BIN [BIN2] [PHASES]
# With two binaries, both run each input back to back (the figures side by side).
set -euo pipefail
bins=("$1"); [ $# -ge 2 ] && [ -x "$2" ] && bins+=("$2")
phases="${3:-12}"
dir="$(mktemp -d)"; trap 'rm -rf "$dir"' EXIT
python3 - "$dir" "$phases" <<'PY'
import sys
d, phases = sys.argv[1], int(sys.argv[2])
MIN, KEYS = 60_000, 50_000
with open(f"{d}/all.jsonl", "w") as out:
    for p in range(phases):
        n = 4 * KEYS
        for i in range(n):
            ts = p * 10 * MIN + i * 10 * MIN // n
            out.write('{"user":"u%d-%d","ts":%d,"amount":%d,"page":"p%d"}\n' % (p, i % KEYS, ts, i % 50, i % 7))
PY
cat > "$dir/spec.toml" <<'TOML'
allowed_lateness = "10s"
[source]
format = "jsonl"
key = "user"
timestamp = "ts"
timestamp_format = "epoch_ms"
[source.fields]
amount = "float"
page = "string"
[watermark]
max_out_of_orderness = "5s"
[[feature]]
name = "n_5m"
agg = "count"
window = { kind = "sliding", size = "5m", slide = "1m" }
[[feature]]
name = "spend_1h"
agg = "mean"
field = "amount"
window = { kind = "sliding", size = "1h", slide = "5m" }
[[feature]]
name = "pages"
agg = "last_n"
n = 5
field = "page"
window = { kind = "session", gap = "3m" }
[[feature]]
name = "per_min"
agg = "sum"
field = "amount"
window = { kind = "tumbling", size = "1m" }
[output]
windows = "/dev/null"
TOML
printf "%-8s" "phases"; for b in "${bins[@]}"; do printf "  %-40s" "$b (state bytes, peak RSS MB)"; done; echo
for p in $(seq 1 "$phases"); do
  head -n $((p * 200000)) "$dir/all.jsonl" > "$dir/in.jsonl"
  printf "%-8s" "$p"
  for b in "${bins[@]}"; do
    /usr/bin/time -f "%M" -o "$dir/rss" "$b" run "$dir/spec.toml" --input "$dir/in.jsonl" 2> "$dir/err" > /dev/null
    # (a build whose summary does not say its state bytes: n/a)
    state=$({ grep -o 'state: *[0-9,]* bytes' "$dir/err" || true; } | tr -dc '0-9')
    printf "  %-40s" "${state:-n/a}, $(( $(cat "$dir/rss") / 1024 ))"
  done
  echo
done

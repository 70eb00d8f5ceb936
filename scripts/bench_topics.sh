#!/usr/bin/env bash
# Async enrichment through Kafka topics (model.pattern = "topics") with one and with two
# `eddy score-worker`s, on a tansu broker on loopback: scored events/s of `eddy run` over a
# generated fraud file, and the p50/p99 latency each row waited for its score (its
# `latency_us`: from producing its request to reading its answer), next to the same
# pipeline scoring in process (embedded). Each round uses fresh topics.
#
#   scripts/bench_topics.sh [EDDY] [EVENTS] [ROUNDS]
#   RATE=2000 scripts/bench_topics.sh ...   # the input fed at RATE events/s (latency below saturation)
#
# Read from a file, eddy outruns the workers: `capacity` rows wait at once, so latency is
# then mostly queueing (capacity / throughput). A RATE below the workers' pace shows the
# latency the round trip itself adds.
# Needs tansu (`.ci/run` installs it to ~/.cache/eddy/tansu/bin/tansu, or set EDDY_TANSU).
set -euo pipefail
eddy=${1:-target/release/eddy}; events=${2:-100000}; rounds=${3:-3}
tansu=${EDDY_TANSU:-$HOME/.cache/eddy/tansu/bin/tansu}
root=$(cd "$(dirname "$0")/.." && pwd)
model=$root/examples/models/fraud_lr.json
dir=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$tansu" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
  --storage-engine memory://tansu/ > "$dir/tansu.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
"$eddy" generate fraud --events "$events" --seed 7 --output "$dir/fraud.jsonl" 2>/dev/null
# the example's features and model, with the pattern swapped in
features=$(sed -n '/^\[source\]/,/^\[model\]/p' "$root/examples/fraud_topics.toml" | sed '$d' | sed "s#^path = .*#path = \"$dir/fraud.jsonl\"#")
printf '%s\n[model]\npath = "%s"\nname = "fraud_lr"\ninputs = ["events_5m", "login_rate_1m"]\n' "$features" "$model" > "$dir/embedded.toml"
stats() { # wall seconds, output file -> events/s, p50, p99 of latency_us
  python3 - "$1" "$2" <<'PY'
import json, sys
secs, path = float(sys.argv[1]), sys.argv[2]
lat, scored, n = [], 0, 0
for line in open(path):
    r = json.loads(line); n += 1
    p = r.get("prediction")
    if r.get("scored"): scored += 1
    if p: lat.append(p["latency_us"])
lat.sort()
q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))] if lat else 0
print(f"{n:>8} rows {scored:>8} scored {scored / secs:>10,.0f} scored/s  p50 {q(0.5) / 1000:8.2f} ms  p99 {q(0.99) / 1000:8.2f} ms")
PY
}
timed() { local s e; s=$(date +%s.%N); "$@" > /dev/null 2> "$dir/err"; e=$(date +%s.%N); awk -v s="$s" -v e="$e" 'BEGIN { print e - s }'; }
for r in $(seq "$rounds"); do
  secs=$(timed "$eddy" run "$dir/embedded.toml" --output "$dir/out.jsonl")
  echo "round $r embedded       $(stats "$secs" "$dir/out.jsonl")"
  for workers in 1 2; do
    req=req-$r-$workers; resp=resp-$r-$workers
    "$tansu" topic create --broker "tcp://127.0.0.1:$port" --partitions 4 "$req" > /dev/null
    "$tansu" topic create --broker "tcp://127.0.0.1:$port" --partitions 4 "$resp" > /dev/null
    wp=()
    for w in $(seq "$workers"); do
      "$eddy" score-worker --brokers "127.0.0.1:$port" --request-topic "$req" --response-topic "$resp" \
        --model "$model" --group "g-$r-$workers" 2> "$dir/worker$w.log" &
      wp+=($!); pids+=($!)
      until grep -qs "assigned \[$req" "$dir/worker$w.log"; do sleep 0.1; done
    done
    # the last worker's joining moved partitions: wait until the first has its share again
    until [ "$(grep -cs "assigned \[$req" "$dir/worker1.log")" -ge "$workers" ]; do sleep 0.1; done
    printf '%s\n[model]\npattern = "topics"\nbrokers = "127.0.0.1:%s"\nrequest_topic = "%s"\nresponse_topic = "%s"\nname = "fraud_lr"\ninputs = ["events_5m", "login_rate_1m"]\ndeadline = "30s"\n' \
      "$features" "$port" "$req" "$resp" > "$dir/topics.toml"
    if [ -n "${RATE:-}" ]; then
      secs=$(timed bash -c 'python3 -c "
import sys, time
rate = float(sys.argv[1]); t0 = time.monotonic()
for i, line in enumerate(open(sys.argv[2])):
    d = t0 + i / rate - time.monotonic()
    if d > 0: time.sleep(d)
    sys.stdout.write(line); sys.stdout.flush()
" "$0" "$1" | "$2" run "$3" --input - --output "$4"' "$RATE" "$dir/fraud.jsonl" "$eddy" "$dir/topics.toml" "$dir/out.jsonl")
    else
      secs=$(timed "$eddy" run "$dir/topics.toml" --output "$dir/out.jsonl")
    fi
    echo "round $r topics, $workers worker$( [ "$workers" = 1 ] || echo s) $(stats "$secs" "$dir/out.jsonl")"
    for p in "${wp[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
  done
done

#!/usr/bin/env bash
# Kafka -> eddy (examples/fraud.toml's five features) -> Kafka on loopback, next to the same
# pipeline file to file, and next to a plain rdkafka loop that consumes and produces every
# message doing no work (crates/eddy-runtime/examples/kafka_passthrough.rs), in the same
# rounds; prints events/s and the ratios. Each Kafka run reads the input topic from its start
# to its end (`end = "caught_up"`) and writes its per-event, window and late rows to fresh
# topics; its time includes start-up (metadata, tansu's slow first fetch), as does the loop's.
#
#   scripts/bench_kafka.sh [EVENTS=200000] [ROUNDS=3] [PARTITIONS=1]
#
# Needs tansu ($EDDY_TANSU, else ~/.cache/eddy/tansu/bin/tansu, which .ci/run installs). The
# broker runs on a free loopback port with in-memory storage and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-200000}
rounds=${2:-3}
parts=${3:-1}
tansu=${EDDY_TANSU:-$HOME/.cache/eddy/tansu/bin/tansu}
[ -x "$tansu" ] || { echo "tansu not found at $tansu (see docs/connectors.md#kafka)" >&2; exit 1; }
target=${CARGO_TARGET_DIR:-target}
cargo build --quiet --release -p eddy
cargo build --quiet --release -p eddy-runtime --example kafka_passthrough
eddy="$target/release/eddy"
pass="$target/release/examples/kafka_passthrough"
work=$(mktemp -d)
tansu_pid=
cleanup() {
  [ -n "$tansu_pid" ] && kill "$tansu_pid" 2>/dev/null && wait "$tansu_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
brokers="127.0.0.1:$port"
"$tansu" broker --listener-url "tcp://$brokers" --advertised-listener-url "tcp://$brokers" \
  --storage-engine memory://tansu/ >"$work/tansu.log" 2>&1 &
tansu_pid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
topic() { "$tansu" topic create --broker "tcp://$brokers" --partitions "$2" "$1" >/dev/null; }

"$eddy" generate fraud --events "$events" --seed 7 --disorder-ms 2000 --late-fraction 0.001 \
  --output "$work/fraud.jsonl"
topic in "$parts"
"$eddy" produce --brokers "$brokers" --topic in --key user_id --input "$work/fraud.jsonl"

# examples/fraud.toml with another [source] and [output]
spec() { # $1: source lines, $2: output lines
  python3 - "$1" "$2" <<'PY'
import sys
s = open("examples/fraud.toml").read()
head, fields, out = s.index("[source]"), s.index("[source.fields]"), s.index("[output]")
print(s[:head] + "[source]\n" + sys.argv[1] + '\nformat = "jsonl"\nkey = "user_id"\ntimestamp = "ts"\nevent_id = "event_id"\n\n'
      + s[fields:out] + "[output]\n" + sys.argv[2])
PY
}
spec "path = \"$work/fraud.jsonl\"" \
  "events = \"$work/events.jsonl\"
windows = \"$work/windows.jsonl\"
late = \"$work/late.jsonl\"" >"$work/file.toml"

now() { date +%s.%N; }
rate() { python3 -c "print(f'{$events / ($2 - $1):.0f}')"; }
printf '%-6s %14s %14s %14s %10s %10s\n' round file_ev/s kafka_ev/s loop_msg/s kafka/file kafka/loop
for r in $(seq "$rounds"); do
  t0=$(now); "$eddy" run -q "$work/file.toml"; t1=$(now)
  for t in ev win late; do topic "$t-$r" "$parts"; done
  sink() { echo "{ type = \"kafka\", brokers = \"$brokers\", topic = \"$1-$r\" }"; }
  spec "type = \"kafka\"
brokers = \"$brokers\"
topics = \"in\"
group = \"bench-$r\"
start = \"earliest\"
end = \"caught_up\"" "events = $(sink ev)
windows = $(sink win)
late = $(sink late)" >"$work/kafka.toml"
  t2=$(now); "$eddy" run -q "$work/kafka.toml"; t3=$(now)
  topic "pass-$r" "$parts"
  t4=$(now); "$pass" "$brokers" in "pass-$r" >/dev/null; t5=$(now)
  f=$(rate "$t0" "$t1"); k=$(rate "$t2" "$t3"); l=$(rate "$t4" "$t5")
  printf '%-6s %14s %14s %14s %10s %10s\n' "$r" "$f" "$k" "$l" \
    "$(python3 -c "print(f'{$k/$f:.2f}')")" "$(python3 -c "print(f'{$k/$l:.2f}')")"
done

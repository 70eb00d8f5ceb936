#!/usr/bin/env bash
# Alternates two builds of the engine bench (`cargo bench -p eddy-runtime --bench engine
# --no-run` prints where each is) in quick mode and prints each round's events per
# CPU-second and the median of the per-round new/old ratios.
#
#   scripts/engine_pair.sh OLD_BENCH NEW_BENCH [ROUNDS]
set -euo pipefail
old=$1; new=$2; rounds=${3:-8}
out=$(mktemp); trap 'rm -f "$out"' EXIT
for r in $(seq "$rounds"); do
  if (( r % 2 )); then order=(old new); else order=(new old); fi
  for b in "${order[@]}"; do
    bin=$old; [ "$b" = new ] && bin=$new
    rate=$(EDDY_BENCH_QUICK=1 "$bin" --bench 2>&1 | sed -n 's/.* \([0-9]*\) events per CPU-second.*/\1/p')
    echo "$r $b $rate" >> "$out"
  done
done
python3 - "$out" <<'PY'
import statistics, sys
by = {}
for r, b, v in (l.split() for l in open(sys.argv[1])):
    by.setdefault(r, {})[b] = float(v)
ratios = []
print("round  old ev/CPU-s  new ev/CPU-s  ratio")
for r in sorted(by, key=int):
    o, n = by[r]["old"], by[r]["new"]
    ratios.append(n / o)
    print(f"{r:>5}  {o:>12,.0f}  {n:>12,.0f}  {n/o:5.3f}")
print(f"median new/old: {statistics.median(ratios):.3f} ({len(ratios)} rounds)")
PY

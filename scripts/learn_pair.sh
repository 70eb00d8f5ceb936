#!/usr/bin/env bash
# Alternates two eddy builds over `eddy learn` rounds on the same file and prints each round's
# examples_per_s and the median of the per-round new/old ratios. On a shared, noisy machine
# only ratios measured side by side mean anything.
#
#   scripts/learn_pair.sh OLD_EDDY NEW_EDDY FILE [ROUNDS] [learn options...]
#
# Default options: --target y --model logistic_regression --every 0. A file to try: 1M rows
# of 20 numeric columns and a 0/1 label `y`:
#   awk 'BEGIN{srand(7); h="x0"; for(i=1;i<20;i++) h=h",x"i; print h",y";
#     for(r=0;r<1000000;r++){s=0; l=""; for(i=0;i<20;i++){v=rand(); s+=v*(i%3-1);
#     l=l sprintf("%.6f,",v)} print l (s>0?1:0)}}' > num20.csv
set -euo pipefail
old=$1; new=$2; file=$3; rounds=${4:-6}; shift $(( $# < 4 ? $# : 4 ))
opts=("$@"); [ ${#opts[@]} -eq 0 ] && opts=(--target y --model logistic_regression --every 0)
rate() { grep -o '"examples_per_s":[0-9.e+]*' | cut -d: -f2; }
out=$(mktemp); trap 'rm -f "$out"' EXIT
for r in $(seq "$rounds"); do
  # alternate which build goes first, so neither always gets the quieter slot
  if (( r % 2 )); then order=(old new); else order=(new old); fi
  for b in "${order[@]}"; do
    bin=$old; [ "$b" = new ] && bin=$new
    echo "$r $b $("$bin" learn --data "$file" "${opts[@]}" | tail -1 | rate)" >> "$out"
  done
done
python3 - "$out" <<'PY'
import statistics, sys
by = {}
for r, b, v in (l.split() for l in open(sys.argv[1])):
    by.setdefault(r, {})[b] = float(v)
print("round     old ex/s     new ex/s   ratio")
ratios = []
for r in sorted(by, key=int):
    o, n = by[r]["old"], by[r]["new"]
    ratios.append(n / o)
    print(f"{r:>5}  {o:>11,.0f}  {n:>11,.0f}   {n/o:5.3f}")
print(f"median new/old {statistics.median(ratios):.3f} ({len(ratios)} rounds); "
      f"old median {statistics.median(v['old'] for v in by.values()):,.0f}, "
      f"new median {statistics.median(v['new'] for v in by.values()):,.0f} examples/s")
PY

#!/usr/bin/env bash
# Alternates two eddy builds over `eddy bench` rounds and prints each round's events/s and the
# median of the per-round new/old ratios (in memory, file to file). On a shared, noisy machine
# only ratios measured side by side mean anything.
#
#   scripts/bench_pair.sh OLD_EDDY NEW_EDDY [ROUNDS] [bench options...]
set -euo pipefail
old=$1; new=$2; rounds=${3:-8}; shift $(( $# < 3 ? $# : 3 ))
opts=("$@"); [ ${#opts[@]} -eq 0 ] && opts=(--events 1000000 --keys 1000 --no-model)
rate() { awk -v what="$1" '$0 ~ "^"what { for (i = 1; i <= NF; i++) if ($i == "=") { gsub(",", "", $(i+1)); print $(i+1) } }'; }
out=$(mktemp); trap 'rm -f "$out"' EXIT
for r in $(seq "$rounds"); do
  # alternate which build goes first, so neither always gets the quieter slot
  if (( r % 2 )); then order=(old new); else order=(new old); fi
  for b in "${order[@]}"; do
    bin=$old; [ "$b" = new ] && bin=$new
    text=$("$bin" bench "${opts[@]}")
    echo "$r $b $(rate 'in memory' <<<"$text") $(rate 'file to file' <<<"$text")" >> "$out"
  done
done
python3 - "$out" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
by = {}
for r, b, mem, ftf in rows:
    by.setdefault(r, {})[b] = (float(mem), float(ftf))
print("round  old mem/s   new mem/s   ratio   old file/s  new file/s  ratio")
mr, fr = [], []
for r in sorted(by, key=int):
    (om, of), (nm, nf) = by[r]["old"], by[r]["new"]
    mr.append(nm / om); fr.append(nf / of)
    print(f"{r:>5}  {om:>10,.0f}  {nm:>10,.0f}  {nm/om:5.3f}   {of:>10,.0f}  {nf:>10,.0f}  {nf/of:5.3f}")
print(f"median new/old: in memory {statistics.median(mr):.3f}, file to file {statistics.median(fr):.3f} ({len(mr)} rounds)")
PY

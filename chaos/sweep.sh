#!/usr/bin/env bash
# A longer sweep: RUNS chaos runs of DURATION each on a 3-node cluster with the whole nemesis
# menu, seeds FIRST_SEED, FIRST_SEED+1, ...; one summary line per run, reports under OUT.
#   chaos/sweep.sh [RUNS=30] [DURATION=60s] [FIRST_SEED=1000] [OUT=/tmp/actorkv-sweep]
# Exits 1 if any run found a violation. chaos/summarize.py OUT sums the reports up.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${1:-30}"
duration="${2:-60s}"
first_seed="${3:-1000}"
out="${4:-/tmp/actorkv-sweep}"
mkdir -p "$out"
failed=0
for i in $(seq 0 $(( runs - 1 ))); do
  seed=$(( first_seed + i ))
  if bash "$root/chaos/run.sh" --duration "$duration" --seed "$seed" --report "$out/$seed" > "$out/$seed.out" 2>&1; then
    verdict=ok
  else
    verdict=FAILED
    failed=1
  fi
  echo "seed $seed: $verdict; $(grep -E '^seed ' "$out/$seed.out" | cut -d: -f2-)"
done
exit "$failed"

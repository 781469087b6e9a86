#!/usr/bin/env bash
# Side-by-side put benchmark: ActorKv and real etcd 3.4, one node each, both durable (fsync
# before acknowledging), on loopback, in the same run. Measures the disk's fsync latency first,
# then alternates the two systems (A B A B ...) for --rounds rounds per client count and prints
# medians with the ratio ActorKv / etcd.
#
#   scripts/bench-vs-etcd.sh [--rounds 3] [--clients "1 64"] [--total-per-client 2000] [--max-total 60000]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds=3
client_counts="1 64"
total_per_client=2000
max_total=60000
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --clients) client_counts="$2"; shift 2 ;;
    --total-per-client) total_per_client="$2"; shift 2 ;;
    --max-total) max_total="$2"; shift 2 ;;
    *) echo "bench-vs-etcd.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

bash "$root/scripts/install-prereqs.sh"
dotnet build "$root/src/ActorKv.Bench/ActorKv.Bench.csproj" -c Release -nologo -v quiet >/dev/null
bench=(dotnet "$root/src/ActorKv.Bench/bin/Release/net10.0/actorkv-bench.dll")

work="$(mktemp -d /tmp/actorkv-bench-XXXXXX)"
etcd_port=32379
actorkv_port=33379
etcd_pid=""
cleanup() {
  # Never stop half way: a failed step here must not leave a server running.
  set +e
  if [ -n "$etcd_pid" ]; then
    kill "$etcd_pid" 2>/dev/null
    wait "$etcd_pid" 2>/dev/null
  fi
  bash "$root/scripts/cluster.sh" down --data-dir "$work/actorkv"
  rm -rf "$work"
}
trap cleanup EXIT

etcd --name bench --data-dir "$work/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$((etcd_port + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((etcd_port + 1))" \
  --initial-cluster "bench=http://127.0.0.1:$((etcd_port + 1))" --log-level error >"$work/etcd.log" 2>&1 &
etcd_pid=$!
bash "$root/scripts/cluster.sh" up --data-dir "$work/actorkv" --base-port "$actorkv_port" >/dev/null
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$etcd_port") 2>/dev/null && break; sleep 0.1; done

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r); etcd $(etcd --version | head -1 | awk '{print $3}'); dotnet $(dotnet --version)"
echo "disk fsync (4 KiB append + fsync, 1000 times, in $work):"
"${bench[@]}" fsync --total 1000 --dir "$work" | sed 's/^/  /'

results="$work/results.tsv"
for clients in $client_counts; do
  total=$(( clients * total_per_client ))
  [ "$total" -gt "$max_total" ] && total="$max_total"
  conns=$(( clients < 8 ? clients : 8 ))
  for round in $(seq 1 "$rounds"); do
    for system in actorkv etcd; do
      port=$([ "$system" = actorkv ] && echo "$actorkv_port" || echo "$etcd_port")
      json="$("${bench[@]}" put --endpoints "127.0.0.1:$port" --clients "$clients" --conns "$conns" --total "$total" --key-size 16 --val-size 256 --json)"
      python3 - "$system" "$clients" "$round" "$json" >>"$results" <<'PY'
import json, sys
system, clients, rnd, text = sys.argv[1:]
r = json.loads(text)
print(f"{system}\t{clients}\t{rnd}\t{r['requestsPerSecond']:.0f}\t{r['p50Ms']:.3f}\t{r['p99Ms']:.3f}\t{sum(r['errors'].values())}")
PY
    done
  done
done

python3 - "$results" <<'PY'
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
print()
print("put, 16-byte keys, 256-byte values, distinct keys; median of rounds (each round: ActorKv then etcd)")
print(f"{'clients':>7} | {'ActorKv req/s':>13} {'etcd req/s':>10} {'ratio':>6} | {'ActorKv p50':>11} {'etcd p50':>8} | {'ActorKv p99':>11} {'etcd p99':>8} | errors")
for clients in sorted({int(r[1]) for r in rows}):
    def med(system, column):
        return statistics.median(float(r[column]) for r in rows if r[0] == system and int(r[1]) == clients)
    errors = sum(int(r[6]) for r in rows if int(r[1]) == clients)
    a, e = med("actorkv", 3), med("etcd", 3)
    print(f"{clients:>7} | {a:>13.0f} {e:>10.0f} {a / e:>6.2f} | {med('actorkv', 4):>9.2f}ms {med('etcd', 4):>6.2f}ms | {med('actorkv', 5):>9.2f}ms {med('etcd', 5):>6.2f}ms | {errors}")
print()
print("all rounds (system, clients, round, req/s, p50 ms, p99 ms, errors):")
for r in rows:
    print("  " + "  ".join(r))
PY

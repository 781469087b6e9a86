#!/usr/bin/env bash
# Side-by-side benchmark: ActorKv and real etcd 3.4 with the same topology (--nodes 1 or 3),
# both durable (fsync before acknowledging), on loopback, in the same run. Measures the disk's
# fsync latency and the bare replication floor (actorkv-bench replication-floor) first, then
# alternates the two systems (A B A B ...) for --rounds rounds per workload and client count
# and prints medians with the ratio ActorKv / etcd. Clients spread over every member's
# endpoint; followers forward writes to the leader in both systems. Each round starts the
# spread at the next member, so one client visits every member in turn.
#
#   scripts/bench-vs-etcd.sh [--nodes 1|3] [--rounds 3] [--clients "1 64"] [--total-per-client 2000] [--max-total 60000]
#       [--workloads "put range-l range-s txn-put txn-mixed lease-keepalive mixed lease-storm watch"] [--target-leader]
#       [--check-perf s|m|l|xl|none] [--chart FILE.svg] [--warmup 10s] [--duration 10s]
#       [--storm "LEASES TTL"] [--watch "STREAMS WATCHERS_PER_STREAM PUTS RATE"] [--actorkv-conf FILE]
# --actorkv-conf adds a HOCON file to ActorKv's nodes (say, another actorkv.leases.revoke-rate).
# Workloads lease-storm and watch run once a round per system, whatever --clients says:
# lease-storm grants LEASES leases of TTL s (default "10000 5") while 16 clients put, and times
# until every leased key is gone; watch opens STREAMS x WATCHERS_PER_STREAM watchers on one prefix
# (default "100 100 300 20": 10,000 watchers, 300 puts at 20/s) and times put to event. They
# print a table of their own.
# --duration runs each round for a time instead of a number of requests (short rounds weigh
# connection set-up and the thread pool's ramp-up after the other system's round).
# --warmup runs each workload unmeasured against each system (64 clients) before its rounds;
# 0 measures cold. --target-leader sends every request to the leader (both systems). --check-perf runs
# "etcdctl check perf --load=L" against each system after the workloads and prints its verdicts
# (default none). --chart writes an SVG of req/s and p99 against the client count, per workload.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds=3
nodes=1
workloads="put"
client_counts="1 64"
total_per_client=2000
max_total=60000
target_leader=""
check_perf="none"
chart=""
warmup="10s"
duration=""
storm="10000 5"
watch="100 100 300 20"
actorkv_conf=""
while [ $# -gt 0 ]; do
  case "$1" in
    --target-leader) target_leader="--target-leader"; shift ;;
    --check-perf) check_perf="$2"; shift 2 ;;
    --chart) chart="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --nodes) nodes="$2"; shift 2 ;;
    --workloads) workloads="$2"; shift 2 ;;
    --clients) client_counts="$2"; shift 2 ;;
    --total-per-client) total_per_client="$2"; shift 2 ;;
    --max-total) max_total="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --storm) storm="$2"; shift 2 ;;
    --watch) watch="$2"; shift 2 ;;
    --actorkv-conf) actorkv_conf="$2"; [ -f "$actorkv_conf" ] || { echo "bench-vs-etcd.sh: no such file: $actorkv_conf" >&2; exit 2; }; shift 2 ;;
    *) echo "bench-vs-etcd.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

bash "$root/scripts/install-prereqs.sh"
dotnet build "$root/src/ActorKv.Bench/ActorKv.Bench.csproj" -c Release -nologo -v quiet >/dev/null
bench=(dotnet "$root/src/ActorKv.Bench/bin/Release/net10.0/actorkv-bench.dll")

work="$(mktemp -d /tmp/actorkv-bench-XXXXXX)"
# Both get the same 8 GiB space quota (the default 2 GiB fills in a long run: the rounds last a
# time, so the faster system writes more, and check perf then meets NOSPACE on it first).
quota_bytes=$((8 * 1024 * 1024 * 1024))
etcd_port=32379
actorkv_port=33379
etcd_pid=""
cleanup() {
  # Never stop half way: a failed step here must not leave a server running.
  set +e
  for pid in $etcd_pid; do
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  bash "$root/scripts/cluster.sh" down --data-dir "$work/actorkv"
  rm -rf "$work"
}
trap cleanup EXIT

etcd_members=""
for i in $(seq 1 "$nodes"); do
  etcd_members+="${etcd_members:+,}e$i=http://127.0.0.1:$((etcd_port + 1 + 10 * (i - 1)))"
done
etcd_pids=()
for i in $(seq 1 "$nodes"); do
  client=$((etcd_port + 10 * (i - 1)))
  peer=$((client + 1))
  etcd --name "e$i" --data-dir "$work/etcd$i" --quota-backend-bytes "$quota_bytes" \
    --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "$etcd_members" --initial-cluster-state new --log-level error >"$work/etcd$i.log" 2>&1 &
  etcd_pids+=($!)
done
etcd_pid="${etcd_pids[*]}"
printf 'actorkv.storage {\n  quota-backend-bytes = %s\n  map-size = %s\n}\n' "$quota_bytes" "$((2 * quota_bytes))" >"$work/actorkv-extra.conf"
[ -n "$actorkv_conf" ] && cat "$actorkv_conf" >>"$work/actorkv-extra.conf"
bash "$root/scripts/cluster.sh" up --nodes "$nodes" --data-dir "$work/actorkv" --base-port "$actorkv_port" --extra-conf "$work/actorkv-extra.conf" >/dev/null
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$etcd_port") 2>/dev/null && break; sleep 0.1; done
port_of() { [ "$1" = actorkv ] && echo "$actorkv_port" || echo "$etcd_port"; }
# Member endpoints from the client port base; with a second argument R, the list starts at member
# R mod N (clients take endpoints in order, so fewer clients than members land where the list starts).
endpoints_of() { local base="$1" first="${2:-0}" list="" i; for i in $(seq 0 $(( nodes - 1 ))); do list+="${list:+,}127.0.0.1:$((base + 10 * ((i + first) % nodes)))"; done; echo "$list"; }
# Both clusters must have a leader before measuring.
for endpoints in "$(endpoints_of "$etcd_port")" "$(endpoints_of "$actorkv_port")"; do
  for _ in $(seq 1 100); do ETCDCTL_API=3 etcdctl --endpoints="$endpoints" --command-timeout=2s put bench-ready 1 >/dev/null 2>&1 && break; sleep 0.2; done
done

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r); etcd $(etcd --version | head -1 | awk '{print $3}'); dotnet $(dotnet --version)"
echo "disk fsync (4 KiB append + fsync, 1000 times, in $work):"
"${bench[@]}" fsync --total 1000 --dir "$work" | sed 's/^/  /'
# The practical floor of one client's replicated put here: the same topology with raw sockets
# and one write + fdatasync per member, nothing else (issue 5's floor for one client's put is
# the line above plus a loopback round trip, which is the one-node path).
echo "replication floor ($nodes member(s), one client, raw TCP + preallocated write + fdatasync, 5 s, in $work):"
"${bench[@]}" replication-floor --members "$nodes" --duration 5s --key-size 16 --val-size 256 --dir "$work" | sed 's/^/  /'

results="$work/results.tsv"
coordination="$work/coordination.tsv"
for workload in $workloads; do
  if [ "$workload" = lease-storm ] || [ "$workload" = watch ]; then
    if [ "$workload" = lease-storm ]; then
      read -r storm_total storm_ttl <<<"$storm"
      args=(lease-storm --total "$storm_total" --ttl "$storm_ttl" --clients 16 --conns 4)
    else
      read -r streams per_stream puts rate <<<"$watch"
      args=(watch --streams "$streams" --watchers-per-stream "$per_stream" --total "$puts" --rate "$rate" --conns "$(( streams < 8 ? streams : 8 ))")
    fi
    # Unmeasured first, as for the other workloads: a small run of the same kind on each system.
    if [ "$warmup" != "0" ] && [ "$warmup" != "0s" ]; then
      small=(--total 100)
      [ "$workload" = lease-storm ] && small=(--total 2000 --ttl 2)
      for base in "$actorkv_port" "$etcd_port"; do
        "${bench[@]}" "${args[@]}" "${small[@]}" --endpoints "$(endpoints_of "$base")" --json >/dev/null || true
      done
    fi
    for round in $(seq 1 "$rounds"); do
      for system in actorkv etcd; do
        base=$(port_of "$system")
        json="$("${bench[@]}" "${args[@]}" --endpoints "$(endpoints_of "$base")" --json || true)"
        python3 - "$system" "$workload" "$round" "$json" >>"$coordination" <<'PY'
import json, sys
system, workload, rnd, text = sys.argv[1:]
r = json.loads(text)
figures = {"client req/s": r["requestsPerSecond"], "p50 ms": r["p50Ms"], "p99 ms": r["p99Ms"], "errors": sum(r["errors"].values())}
if workload == "watch":
    figures = {"p50 ms": r["p50Ms"], "p99 ms": r["p99Ms"], "errors": sum(r["errors"].values())}
figures.update(r["figures"])
for name, value in figures.items():
    print(f"{system}\t{workload}\t{rnd}\t{name}\t{value}")
PY
      done
    done
    continue
  fi
  case "$workload" in
    put) args=(put --key-size 16 --val-size 256) ;;
    range-l) args=(range --consistency l --key-size 16) ;;
    range-s) args=(range --consistency s --key-size 16) ;;
    txn-put) args=(txn-put --txn-ops 4 --key-size 16 --val-size 256) ;;
    txn-mixed) args=(txn-mixed --rw-ratio 4 --key-size 16 --val-size 256 --key-space-size 10000) ;;
    lease-keepalive) args=(lease-keepalive --ttl 60) ;;
    mixed) args=(mixed --key-size 16 --val-size 256 --key-space-size 1000 --streams 2 --watchers-per-stream 10) ;;
    *) echo "bench-vs-etcd.sh: unknown workload $workload (put, range-l, range-s, txn-put, txn-mixed, lease-keepalive, mixed, lease-storm, watch)" >&2; exit 2 ;;
  esac
  [ -n "$target_leader" ] && args+=("$target_leader")
  # Unmeasured: each system serves the workload with 64 clients first (.NET compiles its hot
  # paths while running; etcd is compiled ahead of time and needs none, but gets the same).
  if [ "$warmup" != "0" ] && [ "$warmup" != "0s" ]; then
    for base in "$actorkv_port" "$etcd_port"; do
      "${bench[@]}" "${args[@]}" --endpoints "$(endpoints_of "$base")" --clients 64 --conns 8 --duration "$warmup" --json >/dev/null || true
    done
  fi
  for clients in $client_counts; do
    total=$(( clients * total_per_client ))
    [ "$total" -gt "$max_total" ] && total="$max_total"
    amount=(--total "$total")
    [ -n "$duration" ] && amount=(--duration "$duration")
    conns=$(( clients < 8 ? clients : 8 ))
    [ "$conns" -lt "$nodes" ] && conns="$nodes"
    for round in $(seq 1 "$rounds"); do
      for system in actorkv etcd; do
        base=$(port_of "$system")
        # Round r starts the list at member r: with fewer clients than members, each round puts
        # them on other members, the same ones in both systems, so that neither system's
        # median depends on which member its election made leader.
        json="$("${bench[@]}" "${args[@]}" --endpoints "$(endpoints_of "$base" "$(( round - 1 ))")" --clients "$clients" --conns "$conns" "${amount[@]}" --json || true)"
        python3 - "$system" "$workload" "$clients" "$round" "$json" >>"$results" <<'PY'
import json, sys
system, workload, clients, rnd, text = sys.argv[1:]
r = json.loads(text)
print(f"{system}\t{workload}\t{clients}\t{rnd}\t{r['requestsPerSecond']:.0f}\t{r['p50Ms']:.3f}\t{r['p99Ms']:.3f}\t{sum(r['errors'].values())}")
PY
      done
    done
  done
done

if [ -s "$coordination" ]; then
  python3 - "$coordination" "$nodes" "$storm" "$watch" <<'PY'
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
print()
print(f"{sys.argv[2]} node(s) each; lease-storm \"{sys.argv[3]}\" (leases, TTL s; 16 clients put meanwhile), watch \"{sys.argv[4]}\" (streams, watchers each, puts, puts/s); median of rounds")
print(f"{'workload':>12} {'figure':>40} | {'ActorKv':>10} {'etcd':>10} {'ratio':>6}")
for workload in dict.fromkeys(r[1] for r in rows):
    for name in dict.fromkeys(r[3] for r in rows if r[1] == workload):
        a = statistics.median(float(r[4]) for r in rows if r[0] == "actorkv" and r[1] == workload and r[3] == name)
        e = statistics.median(float(r[4]) for r in rows if r[0] == "etcd" and r[1] == workload and r[3] == name)
        ratio = f"{a / e:6.2f}" if e else "     -"
        print(f"{workload:>12} {name:>40} | {a:>10.2f} {e:>10.2f} {ratio}")
print()
print("all rounds (system, workload, round, figure, value):")
for r in rows:
    print("  " + "  ".join(r))
PY
fi

[ -s "$results" ] && python3 - "$results" "$nodes" <<'PY'
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
print()
print(f"{sys.argv[2]} node(s) each; 16-byte keys, 256-byte values (put: distinct keys); median of rounds (each round: ActorKv then etcd)")
print(f"{'workload':>15} {'clients':>7} | {'ActorKv req/s':>13} {'etcd req/s':>10} {'ratio':>6} | {'ActorKv p50':>11} {'etcd p50':>8} | {'ActorKv p99':>11} {'etcd p99':>8} | errors")
for workload in dict.fromkeys(r[1] for r in rows):
    for clients in sorted({int(r[2]) for r in rows if r[1] == workload}):
        def med(system, column):
            return statistics.median(float(r[column]) for r in rows if r[0] == system and r[1] == workload and int(r[2]) == clients)
        errors = sum(int(r[7]) for r in rows if r[1] == workload and int(r[2]) == clients)
        a, e = med("actorkv", 4), med("etcd", 4)
        print(f"{workload:>15} {clients:>7} | {a:>13.0f} {e:>10.0f} {a / e:>6.2f} | {med('actorkv', 5):>9.2f}ms {med('etcd', 5):>6.2f}ms | {med('actorkv', 6):>9.2f}ms {med('etcd', 6):>6.2f}ms | {errors}")
print()
print("all rounds (system, workload, clients, round, req/s, p50 ms, p99 ms, errors):")
for r in rows:
    print("  " + "  ".join(r))
PY

if [ -n "$chart" ] && [ -s "$results" ]; then
  python3 "$root/scripts/bench-chart.py" "$results" "$chart" "ActorKv vs etcd 3.4.23, $nodes node(s), median of $rounds rounds"
  echo "chart: $chart"
fi

# What each server's own metrics say its disk and its peer links did during the rounds above
# (etcd's histograms, same names on both; summed over the members and peers): which of the two
# waited longer on the disk, and on the round trip between members (each member probes each peer:
# ActorKv every 4 s over Akka.Remote, each probe recorded; etcd every 4 s over its peer HTTP port,
# a smoothed figure recorded every 30 s).
echo
echo "disk and peer round-trip latency as each server measured it (all members, all rounds above):"
for system in actorkv etcd; do
  http=()
  [ "$system" = actorkv ] && http=(--http2-prior-knowledge)
  for endpoint in $(endpoints_of "$(port_of "$system")" | tr , ' '); do
    curl -s --max-time 5 "${http[@]}" "http://$endpoint/metrics" || true
  done >"$work/metrics-$system.txt"
done
python3 - "$work/metrics-actorkv.txt" "$work/metrics-etcd.txt" <<'PY'
import re, sys
# The histograms compared, each with the bucket bounds (seconds) shown as columns.
shown = {
    "etcd_disk_backend_commit_duration_seconds": (0.001, 0.002, 0.004, 0.008),
    "etcd_disk_wal_fsync_duration_seconds": (0.001, 0.002, 0.004, 0.008),
    "etcd_network_peer_round_trip_time_seconds": (0.0004, 0.0008, 0.0016, 0.0032),
}
def histograms(path):
    found = {}
    for line in open(path):
        m = re.match(r'(\w+)_(bucket|count|sum)(?:\{([^}]*)\})? ([0-9.e+-]+)$', line.strip())
        if not m or m.group(1) not in shown:
            continue
        name, part, labels, value = m.groups()
        h = found.setdefault(name, {"buckets": {}, "count": 0.0, "sum": 0.0})
        if part == "bucket":
            le = float(re.search(r'le="([^"]+)"', labels).group(1))
            h["buckets"][le] = h["buckets"].get(le, 0.0) + float(value)
        else:
            h[part] += float(value)
    return found
def ms(bound):
    return f"<={1000 * bound:g}ms"
systems = (("ActorKv", histograms(sys.argv[1])), ("etcd", histograms(sys.argv[2])))
for name, bounds in shown.items():
    print(f"{'':>8} {name:>42} | {'count':>8} {'mean':>8} | " + " ".join(f"{ms(b):>8}" for b in bounds))
    for system, found in systems:
        h = found.get(name)
        if not h or h["count"] == 0:
            continue
        n = h["count"]
        print(f"{system:>8} {name:>42} | {n:>8.0f} {1000 * h['sum'] / n:>6.2f}ms | " + " ".join(f"{100 * h['buckets'].get(b, 0) / n:>7.1f}%" for b in bounds))
PY

if [ "$check_perf" != "none" ]; then
  echo
  for system in actorkv etcd; do
    base=$(port_of "$system")
    echo "etcdctl check perf --load=$check_perf against $system:"
    ETCDCTL_API=3 etcdctl --endpoints="$(endpoints_of "$base")" check perf --load="$check_perf" 2>&1 \
      | tr '\r' '\n' | grep -E 'PASS|FAIL|Slowest|Stddev|Error' | sed 's/^/  /' || true
  done
fi

#!/usr/bin/env bash
# Leader failover time, ActorKv vs real etcd 3.4, 3 members each on loopback: kill -9 the
# leader, then time until a put through the surviving members succeeds (etcdctl with a 500 ms
# command timeout, retried every 50 ms; the figure includes etcdctl's own start-up, the same for
# both). The killed member is restarted between trials.
#
#   scripts/failover-vs-etcd.sh [--trials 3]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
trials=3
[ "${1:-}" = "--trials" ] && trials="$2"
bash "$root/scripts/install-prereqs.sh"
export ETCDCTL_API=3
work="$(mktemp -d /tmp/actorkv-failover-XXXXXX)"
etcd_base=33379
actorkv_base=34379
declare -A etcd_pid
cleanup() {
  set +e
  for pid in "${etcd_pid[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  bash "$root/scripts/cluster.sh" down --data-dir "$work/actorkv"
  rm -rf "$work"
}
trap cleanup EXIT

etcd_members=""
for i in 1 2 3; do etcd_members+="${etcd_members:+,}e$i=http://127.0.0.1:$((etcd_base + 1 + 10 * (i - 1)))"; done
start_etcd() {
  local i="$1" client=$((etcd_base + 10 * ($1 - 1)))
  etcd --name "e$i" --data-dir "$work/etcd$i" \
    --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$((client + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((client + 1))" \
    --initial-cluster "$etcd_members" --initial-cluster-state new --log-level error >>"$work/etcd$i.log" 2>&1 &
  etcd_pid[$i]=$!
}
for i in 1 2 3; do start_etcd "$i"; done
bash "$root/scripts/cluster.sh" up --nodes 3 --data-dir "$work/actorkv" --base-port "$actorkv_base" >/dev/null

endpoints() { echo "127.0.0.1:$1,127.0.0.1:$(($1 + 10)),127.0.0.1:$(($1 + 20))"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# Prints the 1-based index of the leader member of the cluster whose clients start at $1.
leader_of() {
  local base="$1" i
  for _ in $(seq 1 100); do
    for i in 1 2 3; do
      local status
      status="$(etcdctl --endpoints="127.0.0.1:$((base + 10 * (i - 1)))" --command-timeout=1s endpoint status -w json 2>/dev/null)" || continue
      if python3 -c 'import json,sys; s=json.load(sys.stdin)[0]["Status"]; sys.exit(0 if s["leader"]==s["header"]["member_id"] else 1)' <<<"$status"; then
        echo "$i"; return 0
      fi
    done
    sleep 0.1
  done
  return 1
}

# Kills the leader of $1 (etcd|actorkv), returns the time in ms to the next successful put.
trial() {
  local system="$1" base leader survivors started
  base=$([ "$system" = etcd ] && echo "$etcd_base" || echo "$actorkv_base")
  # A fresh or just-healed cluster may still be electing: wait until a write goes through.
  for _ in $(seq 1 100); do
    etcdctl --endpoints="$(endpoints "$base")" --command-timeout=1s put warmup 1 >/dev/null 2>&1 && break
    sleep 0.1
  done
  leader="$(leader_of "$base")"
  survivors=""
  for i in 1 2 3; do [ "$i" = "$leader" ] || survivors+="${survivors:+,}127.0.0.1:$((base + 10 * (i - 1)))"; done
  if [ "$system" = etcd ]; then kill -9 "${etcd_pid[$leader]}"; else bash "$root/scripts/cluster.sh" kill "n$leader" --data-dir "$work/actorkv"; fi
  started="$(now_ms)"
  for _ in $(seq 1 400); do
    if etcdctl --endpoints="$survivors" --command-timeout=500ms put after-failover 1 >/dev/null 2>&1; then
      echo "$system trial: leader member $leader killed, first write after $(( $(now_ms) - started )) ms"
      break
    fi
    sleep 0.05
  done
  if [ "$system" = etcd ]; then
    wait "${etcd_pid[$leader]}" 2>/dev/null || true
    start_etcd "$leader"
  else
    bash "$root/scripts/cluster.sh" restart "n$leader" --nodes 3 --data-dir "$work/actorkv" --base-port "$actorkv_base"
  fi
  sleep 3
}

for t in $(seq 1 "$trials"); do
  trial actorkv
  trial etcd
done

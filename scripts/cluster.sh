#!/usr/bin/env bash
# Starts and stops local ActorKv nodes in the background, from the HOCON files in hocon/.
#
#   scripts/cluster.sh up [--nodes N] [--data-dir DIR] [--base-port P] [--extra-conf FILE]
#       Builds actorkv (Release) if needed, starts the nodes, waits until they serve, prints
#       ENDPOINTS=host:port,...  Node i (1-based) serves clients on P + 10*(i-1) and talks Raft
#       (Akka.Remote) on P + 1 + 10*(i-1); default P 2379. One node is a Raft cluster of one
#       member (hocon/single.conf, as a single etcd is); more form a Raft cluster (hocon/node1.conf
#       ... with the ports above). --extra-conf hocon/single-plain.conf runs a lone node without Raft.
#       --extra-conf adds a HOCON file over each node's own, on every start (chaos/run.sh gives
#       hocon/chaos.conf or chaos-links.conf).
#   scripts/cluster.sh down [--data-dir DIR]      stops every node of DIR (SIGTERM, then kill -9)
#   scripts/cluster.sh status [--data-dir DIR]    one line per node: name, PID, endpoint, alive
#   scripts/cluster.sh kill NODE [--data-dir DIR]     kill -9 one node (NODE: n1, n2, ...)
#   scripts/cluster.sh restart NODE [--data-dir DIR]  start it again on its data
#   scripts/cluster.sh join NODE [--learner] [--data-dir DIR] [--base-port P] [--extra-conf FILE]
#       adds a new member to the running cluster (etcdctl member add), then starts it with
#       initial-cluster-state = existing and the id the cluster gave it (and the extra HOCON
#       the other nodes of DIR run with, unless --extra-conf names one)
#   scripts/cluster.sh promote NODE [--data-dir DIR]  makes a learner a voter (etcdctl member promote)
#   scripts/cluster.sh remove NODE [--data-dir DIR]   removes a member (etcdctl member remove, asked again if
#                                                     its answer is lost), then stops it
#
# A node's files live in DIR/NAME: node.conf (its overrides), data/ (LMDB), actorkv.log, pid.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command="${1:-}"
shift || true
nodes=1
data_dir="$root/.data/cluster"
base_port=2379
node_name=""
learner=""
extra_conf=""
while [ $# -gt 0 ]; do
  case "$1" in
    --learner) learner="--learner"; shift ;;
    --nodes) nodes="$2"; shift 2 ;;
    --data-dir) data_dir="$2"; shift 2 ;;
    --base-port) base_port="$2"; shift 2 ;;
    --extra-conf) extra_conf="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"; shift 2 ;;
    n[0-9]*) node_name="$1"; shift ;;
    *) echo "cluster.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
mkdir -p "$data_dir"
data_dir="$(cd "$data_dir" && pwd)"
server_dll="$root/src/ActorKv.Server/bin/Release/net10.0/actorkv.dll"
ready_timeout_seconds=60
stop_timeout_seconds=20

die() { echo "cluster.sh: $*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

alive() { [ -f "$1/pid" ] && kill -0 "$(cat "$1/pid")" 2>/dev/null; }

build() {
  bash "$root/scripts/install-prereqs.sh"
  if bash "$root/scripts/stale.sh" "$server_dll"; then
    echo "cluster.sh: building actorkv (Release)"
    dotnet build "$root/src/ActorKv.Server/ActorKv.Server.csproj" -c Release -v quiet -nologo >/dev/null
    # A build that recompiles only a library leaves the executable's own file as it was.
    touch "$server_dll"
  fi
}

client_port_of() { echo $(( base_port + 10 * (${1#n} - 1) )); }

members_hocon() {
  local i
  for i in $(seq 1 "$nodes"); do
    echo "      { id = $i, name = n$i, peer = \"127.0.0.1:$(( base_port + 1 + 10 * (i - 1) ))\", client = \"127.0.0.1:$(( base_port + 10 * (i - 1) ))\" }"
  done
}

# Writes DIR/NAME/node.conf once (a restart reuses it, so a node keeps its ports and members).
write_node_conf() {
  local name="$1" dir="$data_dir/$1"
  [ -f "$dir/node.conf" ] && return 0
  mkdir -p "$dir/data"
  {
    echo "actorkv.node {"
    echo "  name = \"$name\""
    echo "  data-dir = \"$dir/data\""
    echo "  client-url = \"127.0.0.1:$(client_port_of "$name")\""
    echo "}"
    echo "actorkv.cluster {"
    echo "  node-id = ${name#n}"
    echo "  initial-members = ["
    members_hocon
    echo "  ]"
    echo "}"
  } > "$dir/node.conf"
  # The base file: single.conf for a lone node, the node's own example file for a cluster.
  if [ "$nodes" -gt 1 ]; then echo "$root/hocon/node1.conf"; else echo "$root/hocon/single.conf"; fi > "$dir/base-conf"
}

start_node() {
  local name="$1" dir="$data_dir/$1"
  write_node_conf "$name"
  local port
  port="$(sed -n 's/.*client-url = "127.0.0.1:\([0-9]*\)".*/\1/p' "$dir/node.conf")"
  alive "$dir" && die "$name is already running (PID $(cat "$dir/pid"))"
  port_open "$port" && die "port $port is in use by another process; choose another --base-port"
  local configs=(--config "$(cat "$dir/base-conf")" --config "$dir/node.conf")
  [ -f "$dir/extra-conf" ] && configs+=(--config "$(cat "$dir/extra-conf")")
  nohup dotnet "$server_dll" "${configs[@]}" >>"$dir/actorkv.log" 2>&1 &
  echo $! > "$dir/pid"
  local waited=0
  until port_open "$port"; do
    alive "$dir" || die "$name exited during startup; see $dir/actorkv.log"
    [ "$waited" -lt $(( ready_timeout_seconds * 10 )) ] || die "$name did not serve on $port within ${ready_timeout_seconds}s"
    sleep 0.1
    waited=$(( waited + 1 ))
  done
  echo "127.0.0.1:$port"
}

stop_node() {
  local dir="$1"
  alive "$dir" || { rm -f "$dir/pid"; return 0; }
  local pid waited=0
  pid="$(cat "$dir/pid")"
  # It may have exited since (a removed member stops on its own).
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt $(( stop_timeout_seconds * 10 )) ]; do
    sleep 0.1
    waited=$(( waited + 1 ))
  done
  kill -0 "$pid" 2>/dev/null && { kill -KILL "$pid" 2>/dev/null || true; }
  rm -f "$dir/pid"
}

node_dirs() { find "$data_dir" -mindepth 1 -maxdepth 1 -type d -name 'n[0-9]*' | sort; }

# The endpoints of the running nodes, comma-separated.
running_endpoints() {
  local dir list=()
  for dir in $(node_dirs); do
    alive "$dir" && list+=("$(sed -n 's/.*client-url = "\(.*\)".*/\1/p' "$dir/node.conf")")
  done
  [ "${#list[@]}" -gt 0 ] || die "no node is running in $data_dir"
  (IFS=,; echo "${list[*]}")
}

# A node's member id as etcdctl prints it (hex), from its node.conf.
member_id_of() {
  local id
  id="$(sed -n 's/^  node-id = \([0-9]*\)$/\1/p' "$data_dir/$1/node.conf")"
  [ -n "$id" ] || die "$1 has no node-id in $data_dir/$1/node.conf"
  printf '%x' "$id"
}

# Whether member $1 (hex) may still be in the cluster: a running node other than $2 lists it, or
# none of them answered.
member_listed() {
  local dir endpoint list answered=""
  for dir in $(node_dirs); do
    [ "$(basename "$dir")" != "$2" ] && alive "$dir" || continue
    endpoint="$(sed -n 's/.*client-url = "\(.*\)".*/\1/p' "$dir/node.conf")"
    list="$(ETCDCTL_API=3 etcdctl --endpoints="$endpoint" member list 2>/dev/null)" || continue
    answered=yes
    grep -q "^$1," <<<"$list" && return 0
  done
  [ -z "$answered" ]
}

# Member lines of every node that has run here (their node.conf), for a joining node's HOCON.
known_members_hocon() {
  local dir name id client
  for dir in $(node_dirs); do
    name="$(basename "$dir")"
    id="$(sed -n 's/^  node-id = \([0-9]*\)$/\1/p' "$dir/node.conf")"
    client="$(sed -n 's/.*client-url = "127.0.0.1:\([0-9]*\)".*/\1/p' "$dir/node.conf")"
    [ -n "$id" ] && echo "      { id = $id, name = $name, peer = \"127.0.0.1:$(( client + 1 ))\", client = \"127.0.0.1:$client\" }"
  done
}

# A new cluster serves only once it has elected a leader: wait for one (etcdctl endpoint status).
wait_for_leader() {
  local endpoints="$1" waited=0
  until ETCDCTL_API=3 etcdctl --endpoints="$endpoints" --command-timeout=1s endpoint status -w json 2>/dev/null \
      | grep -q '"leader":[1-9]'; do
    [ "$waited" -lt $(( ready_timeout_seconds * 10 )) ] || die "no leader elected within ${ready_timeout_seconds}s"
    sleep 0.1
    waited=$(( waited + 1 ))
  done
}

case "$command" in
  up)
    [ "$nodes" -ge 1 ] && [ "$nodes" -le 9 ] || die "--nodes takes 1 to 9"
    build
    endpoints=()
    for i in $(seq 1 "$nodes"); do
      if [ -n "$extra_conf" ]; then
        [ -f "$extra_conf" ] || die "no such file: $extra_conf"
        mkdir -p "$data_dir/n$i"
        echo "$extra_conf" > "$data_dir/n$i/extra-conf"
      fi
      endpoints+=("$(start_node "n$i")")
    done
    # A one-member Raft cluster elects itself first (a plain lone node leads at once): wait.
    wait_for_leader "$(IFS=,; echo "${endpoints[*]}")"
    echo "ENDPOINTS=$(IFS=,; echo "${endpoints[*]}")"
    ;;
  down)
    for dir in $(node_dirs); do stop_node "$dir"; done
    ;;
  status)
    for dir in $(node_dirs); do
      name="$(basename "$dir")"
      endpoint="$(sed -n 's/.*client-url = "\(.*\)".*/\1/p' "$dir/node.conf")"
      if alive "$dir"; then echo "$name pid=$(cat "$dir/pid") endpoint=$endpoint alive=yes"; else echo "$name pid=- endpoint=$endpoint alive=no"; fi
    done
    ;;
  kill)
    [ -n "$node_name" ] || die "kill needs a node name (n1, n2, ...)"
    dir="$data_dir/$node_name"
    alive "$dir" || die "$node_name is not running"
    kill -KILL "$(cat "$dir/pid")"
    rm -f "$dir/pid"
    ;;
  restart)
    [ -n "$node_name" ] || die "restart needs a node name (n1, n2, ...)"
    [ -f "$data_dir/$node_name/node.conf" ] || die "$node_name has never run in $data_dir"
    build
    stop_node "$data_dir/$node_name"
    start_node "$node_name" >/dev/null
    ;;
  join)
    [ -n "$node_name" ] || die "join needs a new node name (n4, n5, ...)"
    dir="$data_dir/$node_name"
    [ -f "$dir/node.conf" ] && die "$node_name already exists in $data_dir"
    build
    client_port="$(client_port_of "$node_name")"
    peer_port=$(( client_port + 1 ))
    added="$(ETCDCTL_API=3 etcdctl --endpoints="$(running_endpoints)" member add "$node_name" $learner --peer-urls="http://127.0.0.1:$peer_port")" \
      || die "etcdctl member add failed"
    hex_id="$(echo "$added" | sed -n 's/^Member  *\([0-9a-f]*\) added to cluster.*/\1/p')"
    [ -n "$hex_id" ] || die "could not read the new member id from: $added"
    members="$(known_members_hocon)"
    mkdir -p "$dir/data"
    {
      echo "actorkv.node {"
      echo "  name = \"$node_name\""
      echo "  data-dir = \"$dir/data\""
      echo "  client-url = \"127.0.0.1:$client_port\""
      echo "}"
      echo "actorkv.cluster {"
      echo "  node-id = $(( 16#$hex_id ))"
      echo "  initial-cluster-state = existing"
      echo "  initial-members = ["
      echo "$members"
      echo "      { id = $(( 16#$hex_id )), name = $node_name, peer = \"127.0.0.1:$peer_port\", client = \"127.0.0.1:$client_port\" }"
      echo "  ]"
      echo "}"
    } > "$dir/node.conf"
    echo "$root/hocon/node1.conf" > "$dir/base-conf"
    # The new member runs with the cluster's extra HOCON (its transport must match the others').
    if [ -n "$extra_conf" ]; then
      echo "$extra_conf" > "$dir/extra-conf"
    else
      inherited="$(find "$data_dir" -mindepth 2 -maxdepth 2 -name extra-conf -print -quit)"
      [ -n "$inherited" ] && cp "$inherited" "$dir/extra-conf"
    fi
    start_node "$node_name" >/dev/null
    echo "$node_name member=$hex_id endpoint=127.0.0.1:$client_port"
    ;;
  promote)
    [ -n "$node_name" ] || die "promote needs a node name"
    ETCDCTL_API=3 etcdctl --endpoints="$(running_endpoints)" member promote "$(member_id_of "$node_name")"
    ;;
  remove)
    [ -n "$node_name" ] || die "remove needs a node name"
    id="$(member_id_of "$node_name")"
    # A remove whose answer times out may still be committed: the member asked answers once it has
    # applied it, and one that lags (say, waiting for a snapshot) answers late. So a timeout or an
    # election is asked again, and "member not found" is taken as done once no other running member
    # lists it; the node is stopped only when the cluster no longer has it. A refusal fails at once.
    for attempt in $(seq 1 10); do
      if out="$(ETCDCTL_API=3 etcdctl --endpoints="$(running_endpoints)" member remove "$id" 2>&1)"; then
        echo "$out"
        break
      fi
      if grep -q 'member not found' <<<"$out" && ! member_listed "$id" "$node_name"; then
        echo "Member $id removed from the cluster (by an earlier attempt)"
        break
      fi
      if [ "$attempt" -eq 10 ] || grep -q 'unhealthy cluster' <<<"$out" \
        || ! grep -qE 'member not found|deadline exceeded|request timed out|leader changed|no leader|Unavailable' <<<"$out"; then
        die "member remove $id failed: $out"
      fi
      sleep 1
    done
    stop_node "$data_dir/$node_name"
    ;;
  *)
    sed -n '2,24p' "$0"
    exit 2
    ;;
esac

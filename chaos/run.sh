#!/usr/bin/env bash
# One chaos run against a fresh local ActorKv cluster:
#   chaos/run.sh [--nodes 3] [--duration 60s] [--nemesis kill-node,pause-node,partition,one-way,link-drop,
#                link-delay,kill-actor,crash-point,membership] [--combined on] [--seed N] [--report DIR] [--clients-per-node 2]
# Builds actorkv and the runner (Release) if needed, starts the cluster with hocon/chaos.conf (chaos-links.conf with a link nemesis) on
# free loopback ports in a temp dir, runs clients, watchers and the nemeses, heals, checks, prints
# the verdict table, writes report.json, timeline.html and the node logs to the report dir
# (default /tmp/actorkv-chaos-SEED), stops every node it started, and exits 1 on any violation.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install-prereqs.sh"
runner="$root/src/ActorKv.Chaos.Runner/bin/Release/net10.0/actorkv-chaos.dll"
server="$root/src/ActorKv.Server/bin/Release/net10.0/actorkv.dll"
if [ ! -f "$server" ] || bash "$root/scripts/stale.sh" "$runner"; then
  echo "run.sh: building actorkv and the chaos runner (Release)"
  dotnet build "$root/src/ActorKv.Server/ActorKv.Server.csproj" -c Release -v quiet -nologo >/dev/null
  dotnet build "$root/src/ActorKv.Chaos.Runner/ActorKv.Chaos.Runner.csproj" -c Release -v quiet -nologo >/dev/null
  # A build that recompiles only a library leaves the executables' own files as they were.
  touch "$server" "$runner"
fi
exec dotnet "$runner" --root "$root" "$@"

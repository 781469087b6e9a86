#!/usr/bin/env bash
# Runs every ActorKv test (unit, property, storage, actor, and the compatibility tests that start
# real etcd and actorkv processes on free loopback ports), then prints "N passed, N failed".
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/install-prereqs.sh || exit 1

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# The compatibility tests start the actorkv executable: build the whole solution first.
dotnet build ActorKv.sln -c Release -nologo -v quiet 2>&1 | tail -n 3
build_status=${PIPESTATUS[0]}
if [ "$build_status" -ne 0 ]; then
  echo "test.sh: build failed"
  exit "$build_status"
fi

dotnet test ActorKv.sln -c Release --no-build -nologo --blame-hang-timeout 5m 2>&1 | tee "$log"
test_status=${PIPESTATUS[0]}

passed=$(grep -aoE 'Passed: +[0-9]+' "$log" | awk '{s += $2} END {print s + 0}')
failed=$(grep -aoE 'Failed: +[0-9]+' "$log" | awk '{s += $2} END {print s + 0}')
echo "$passed passed, $failed failed"
if [ "$test_status" -eq 0 ] && [ "$passed" -eq 0 ]; then
  echo "test.sh: no test ran"
  exit 1
fi
exit "$test_status"

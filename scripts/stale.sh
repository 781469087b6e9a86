#!/usr/bin/env bash
# Exits 0 if FILE (a built binary) is missing or older than any source it may be built from:
# a .cs, .proto, .conf or .csproj file under src/ (bin/ and obj/ left out: a build of any other
# project rewrites their generated files, which made every later check ask for a build that
# changes nothing, 4-5 s each time: chaos/README #24). Exits 1 if FILE is up to date.
#   scripts/stale.sh FILE
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ -f "$1" ] || exit 0
newer="$(find "$root/src" \( -name bin -o -name obj \) -prune -o -type f \
  \( -name '*.cs' -o -name '*.proto' -o -name '*.conf' -o -name '*.csproj' \) -newer "$1" -print -quit)"
[ -n "$newer" ]

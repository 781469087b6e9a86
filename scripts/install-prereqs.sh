#!/usr/bin/env bash
# Installs what ActorKv needs beyond the .NET SDK, from Debian's packages, if it is missing:
#   liblmdb0 + liblmdb-dev  LightningDB's bundled liblmdb.so needs glibc 2.38; on Debian 12
#                           (glibc 2.36) it loads the system library instead, which these provide.
#   etcd-server, etcd-client  real etcd 3.4 and etcdctl: the yardstick of the compatibility tests.
set -euo pipefail

missing=()
for package in liblmdb0 liblmdb-dev etcd-server etcd-client; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "install-prereqs: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's etcd-server may start a system etcd on 2379/2380 where systemd runs; tests use free
# ports and do not need it, but a user's `scripts/cluster.sh up` on the default port would.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
  echo "install-prereqs: note: a system etcd is running on 2379; stop it (systemctl stop etcd) or use cluster.sh --base-port"
fi

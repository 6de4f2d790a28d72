#!/usr/bin/env bash
# deps.sh: installs what podpilot's end-to-end tier needs on a fresh Debian 12 machine (run as root), then builds
# the Kubernetes control plane, kwok and Prometheus once into the cache (build.sh). Safe to run again: it installs only what
# is missing and build.sh returns at once when the binaries are cached.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# command -> Debian package that provides it
declare -A pkg_of=(
  [etcd]=etcd-server
  [openssl]=openssl
  [curl]=curl
)
missing=()
for cmd in "${!pkg_of[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${pkg_of[$cmd]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  echo "deps.sh: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "deps.sh: etcd, openssl and curl are installed"
fi

command -v go >/dev/null 2>&1 || { echo "deps.sh: go not found on PATH" >&2; exit 1; }

"$here/build.sh" >/dev/null
echo "deps.sh: control-plane and Prometheus binaries ready"

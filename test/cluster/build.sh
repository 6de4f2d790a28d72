#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok and Prometheus once per pinned
# version into a cache folder outside the clone, and prints where they are: the Kubernetes folder, the kwok folder
# and the Prometheus binary, tab-separated on its last line. Later runs find the binaries and return at once.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.2}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
# Prometheus 3.16.0: the module's v0.3XY.Z is release 3.XY.Z. Debian 12's package is 2.42, which ignores an
# instant query's lookback_delta (podpilot's maxAge) and is older than what clusters run.
PROM_VERSION=${PROM_VERSION:-v0.316.0}
root=${PODPILOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/podpilot}
bin="$root/k8s-$K8S_VERSION"
kwokdir="$root/kwok-$KWOK_VERSION"
promdir="$root/prometheus-$PROM_VERSION"

log() { echo "build.sh: $*" >&2; }

# kubectl too: the harness and the demo run the one built here, whatever is (or is not) on PATH.
missing=()
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  [ -x "$bin/$b" ] || missing+=("$b")
done
if [ ${#missing[@]} -gt 0 ]; then
  start=$(date +%s)
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  log "building ${missing[*]} ($K8S_VERSION) into $bin (first run only; several minutes)"
  dir=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] || { log "cannot locate k8s.io/kubernetes@$K8S_VERSION in the module cache"; exit 1; }
  staging=${K8S_VERSION/v1./v0.}
  {
    echo "module podpilot.local/k8sbuild"
    echo
    echo "go 1.24"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    # Every staging module k8s.io/kubernetes replaces with ./staging/... becomes the published v0.x release.
    sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#replace \1 => \1 '"$staging"'#p' "$dir/go.mod"
  } >"$work/go.mod"
  grep -q '^replace' "$work/go.mod" || { log "found no staging replace lines in $dir/go.mod"; exit 1; }
  cat >"$work/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  (cd "$work" && GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>&1 || true)
  mkdir -p "$bin"
  for b in "${missing[@]}"; do
    log "go build $b"
    tmp=$(mktemp "$bin/.$b.XXXXXX") # two builds at once each write their own, and the last mv wins
    (cd "$work" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$tmp" "k8s.io/kubernetes/cmd/$b")
    chmod 755 "$tmp" && mv "$tmp" "$bin/$b"
  done
  log "Kubernetes binaries built in $(( $(date +%s) - start )) s"
fi

if [ ! -x "$kwokdir/kwok" ]; then
  start=$(date +%s)
  log "building kwok $KWOK_VERSION into $kwokdir"
  rm -rf "$kwokdir.tmp" && mkdir -p "$kwokdir.tmp"
  GOBIN="$kwokdir.tmp" CGO_ENABLED=0 go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  rm -rf "$kwokdir" && mv "$kwokdir.tmp" "$kwokdir"
  log "kwok built in $(( $(date +%s) - start )) s"
fi

if [ ! -x "$promdir/prometheus" ]; then
  start=$(date +%s)
  log "building Prometheus $PROM_VERSION into $promdir (first run only; several minutes)"
  rm -rf "$promdir.tmp" && mkdir -p "$promdir.tmp"
  # remove_all_sd: the tier scrapes static targets only; leaving out the service discoveries (cloud SDKs and
  # client-go) cuts the compile on two cores from about 9 minutes to 4.
  GOBIN="$promdir.tmp" CGO_ENABLED=0 go install -trimpath -tags remove_all_sd "github.com/prometheus/prometheus/cmd/prometheus@$PROM_VERSION"
  rm -rf "$promdir" && mv "$promdir.tmp" "$promdir"
  log "Prometheus built in $(( $(date +%s) - start )) s"
fi

# kwok needs Stage objects to move nodes and pods through their lifecycle: the module's "fast" stages, plus the
# lease heartbeat (used with kwok --node-lease-duration-seconds) without which kube-controller-manager marks the
# node NotReady after its grace period (about 40 s) and the pods on it unready. Regenerated when an older cache
# lacks the heartbeat.
if ! grep -q 'name: node-heartbeat-with-lease' "$kwokdir/stages.yaml" 2>/dev/null; then
  src=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$src" ] || { log "cannot locate sigs.k8s.io/kwok@$KWOK_VERSION in the module cache"; exit 1; }
  for f in "$src"/kustomize/stage/node/fast/*.yaml "$src"/kustomize/stage/node/heartbeat-with-lease/*.yaml \
    "$src"/kustomize/stage/pod/fast/*.yaml; do
    case "$f" in */kustomization.yaml) continue ;; esac
    echo "---"
    cat "$f"
  done >"$kwokdir/stages.yaml.tmp"
  mv "$kwokdir/stages.yaml.tmp" "$kwokdir/stages.yaml"
  log "wrote kwok stages to $kwokdir/stages.yaml"
fi
printf '%s\t%s\t%s\n' "$bin" "$kwokdir" "$promdir/prometheus" # tabs: a cache path may hold spaces

#!/usr/bin/env bash
# up.sh [STATE_DIR]: starts a local Kubernetes control plane without containers, for podpilot's end-to-end tests:
# etcd, kube-apiserver (RBAC, token auth), kube-controller-manager, kube-scheduler and kwok, every one on a free
# 127.0.0.1 port, plus one fake kwok node that is Ready. STATE_DIR (default: a new temp dir) receives
#   kubeconfig   the admin kubeconfig (system:masters)
#   env          shell-sourceable: KUBECONFIG, PODPILOT_API_SERVER, the ports, PODPILOT_STATE_DIR
#   pids         one "name pid" line per process started, written as each one starts
#   logs/*.log   one log per process
# Stop everything with down.sh STATE_DIR. If up.sh fails, it stops what it started itself.
#
# With PODPILOT_OWNER_PID set, a small watcher process runs down.sh once that process is gone, so that a test
# binary killed by a timeout does not leave a control plane behind.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
state=${1:-$(mktemp -d "${TMPDIR:-/tmp}/podpilot-cluster.XXXXXX")}
mkdir -p "$state/logs"
state=$(cd "$state" && pwd -P)
NODE_NAME=${NODE_NAME:-kwok-node-0}

log() { echo "up.sh: $*"; }
die() { echo "up.sh: error: $*" >&2; exit 1; }

if [ -s "$state/pids" ]; then
  die "$state/pids exists: a cluster may be running there; run down.sh $state first"
fi
: >"$state/pids"

for tool in etcd openssl curl; do
  command -v "$tool" >/dev/null || die "$tool not found: run test/cluster/deps.sh (as root) first"
done
IFS=$'\t' read -r bin kwokdir _ < <("$here/build.sh" | tail -n 1)
for b in "$bin/kube-apiserver" "$bin/kube-controller-manager" "$bin/kube-scheduler" "$bin/kubectl" "$kwokdir/kwok" "$kwokdir/stages.yaml"; do
  [ -e "$b" ] || die "$b missing: run test/cluster/build.sh"
done

ok=0
cleanup() {
  if [ "$ok" != 1 ]; then
    echo "up.sh: failed; stopping what was started (logs in $state/logs)" >&2
    "$here/down.sh" "$state" >&2 || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Time keeping: each phase prints how long it took.
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
t0=$(now)

# free_port prints a port on 127.0.0.1 that nothing listens on and that this script has not handed out yet.
used_ports=" "
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 12000 ))
    case "$used_ports" in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      used_ports="$used_ports$p "
      echo "$p"
      return 0
    fi
  done
  die "no free port found on 127.0.0.1"
}

# start NAME COMMAND...: runs COMMAND in the background with its output in logs/NAME.log and records its pid.
start() {
  local name=$1
  shift
  "$@" </dev/null >"$state/logs/$name.log" 2>&1 &
  echo "$name $!" >>"$state/pids"
}

pid_of() { awk -v n="$1" '$1 == n { print $2 }' "$state/pids"; }

# wait_for NAME TIMEOUT_S WHAT COMMAND...: polls COMMAND every 0.25 s until it succeeds; fails with NAME's log tail
# if NAME's process exits or TIMEOUT_S passes.
wait_for() {
  local name=$1 timeout=$2 what=$3
  shift 3
  local pid deadline
  pid=$(pid_of "$name")
  deadline=$(( $(date +%s) + timeout ))
  until "$@" >/dev/null 2>&1; do
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      echo "up.sh: $name exited while waiting for $what; last lines of $state/logs/$name.log:" >&2
      tail -n 30 "$state/logs/$name.log" >&2 || true
      exit 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "up.sh: timed out after ${timeout}s waiting for $what; last lines of $state/logs/$name.log:" >&2
      tail -n 30 "$state/logs/$name.log" >&2 || true
      exit 1
    fi
    sleep 0.25
  done
}

if [ -n "${PODPILOT_OWNER_PID:-}" ]; then
  # The watcher: runs down.sh once the owner is gone, even if up.sh itself was killed midway; down.sh stops it
  # like any other process (it is in pids), and it exits by itself once the pids file is gone.
  kill -0 "$PODPILOT_OWNER_PID" 2>/dev/null || die "PODPILOT_OWNER_PID $PODPILOT_OWNER_PID is not running"
  # shellcheck disable=SC2016 # $1..$3 are the inner script's arguments
  start reaper setsid bash -c '
    while kill -0 "$2" 2>/dev/null && [ -e "$1/pids" ]; do sleep 1; done
    [ -e "$1/pids" ] && exec "$3" "$1"' reaper "$state" "$PODPILOT_OWNER_PID" "$here/down.sh"
fi

ETCD_PORT=$(free_port)
ETCD_PEER_PORT=$(free_port)
APISERVER_PORT=$(free_port)
KCM_PORT=$(free_port)
SCHEDULER_PORT=$(free_port)
API_SERVER="https://127.0.0.1:$APISERVER_PORT"

# Credentials: an admin token in system:masters and the service-account signing key.
phase=$(now)
mkdir -p "$state/pki"
openssl genrsa -out "$state/pki/sa.key" 2048 2>/dev/null
openssl rsa -in "$state/pki/sa.key" -pubout -out "$state/pki/sa.pub" 2>/dev/null
token=$(openssl rand -hex 24)
echo "$token,admin,admin,system:masters" >"$state/pki/tokens.csv"
chmod 600 "$state/pki/sa.key" "$state/pki/tokens.csv"
log "credentials made in $(since "$phase") s"

phase=$(now)
start etcd etcd --name podpilot-e2e --data-dir "$state/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "podpilot-e2e=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls ""
etcd_healthy() { [[ $(curl -sf "http://127.0.0.1:$ETCD_PORT/health") == *'"health":"true"'* ]]; }
wait_for etcd 30 "etcd /health on 127.0.0.1:$ETCD_PORT" etcd_healthy
log "etcd ready on 127.0.0.1:$ETCD_PORT in $(since "$phase") s"

# WatchList=false: with it on, the apiserver turns every watch from resourceVersion "" or "0" into a watch-list
# stream, which needs etcd's RequestWatchProgress; Debian's etcd 3.4.23 lacks it, so such watches (kwok's among
# them) fail and back off, and new pods could wait tens of seconds to become Ready. Clients fall back to list+watch.
# --endpoint-reconciler-type none: the "kubernetes" Service cannot have a loopback endpoint; nothing here needs it.
phase=$(now)
start kube-apiserver "$bin/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address 127.0.0.1 --secure-port "$APISERVER_PORT" --advertise-address 127.0.0.1 \
  --cert-dir "$state/pki/apiserver" \
  --token-auth-file "$state/pki/tokens.csv" \
  --authorization-mode RBAC \
  --service-account-key-file "$state/pki/sa.pub" \
  --service-account-signing-key-file "$state/pki/sa.key" \
  --service-account-issuer https://kubernetes.default.svc \
  --service-cluster-ip-range 10.0.0.0/24 \
  --endpoint-reconciler-type none \
  --feature-gates WatchList=false
# The apiserver writes a self-signed serving certificate followed by its CA into the cert dir; clients trust
# that CA (the serving certificate itself is no CA, and kube-controller-manager's --root-ca-file wants one).
cert_written() { [ "$(grep -c 'BEGIN CERTIFICATE' "$state/pki/apiserver/apiserver.crt" 2>/dev/null)" -ge 2 ]; }
wait_for kube-apiserver 60 "kube-apiserver's serving certificate and CA in $state/pki/apiserver" cert_written
awk '/BEGIN CERTIFICATE/ { n++ } n >= 2' "$state/pki/apiserver/apiserver.crt" >"$state/pki/ca.crt"
# The token goes to curl through a header file, not its command line.
printf 'Authorization: Bearer %s\n' "$token" >"$state/pki/auth-header"
chmod 600 "$state/pki/auth-header"
curl_api() { curl -sf --cacert "$state/pki/ca.crt" -H "@$state/pki/auth-header" "$@"; }
apiserver_ready() { [ "$(curl_api "$API_SERVER/readyz")" = ok ]; }
wait_for kube-apiserver 120 "kube-apiserver /readyz on $API_SERVER" apiserver_ready
log "kube-apiserver ready on $API_SERVER in $(since "$phase") s"

cat >"$state/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: podpilot-e2e
  cluster:
    server: $API_SERVER
    certificate-authority: $state/pki/ca.crt
users:
- name: admin
  user:
    token: $token
contexts:
- name: podpilot-e2e
  context: {cluster: podpilot-e2e, user: admin}
current-context: podpilot-e2e
EOF
chmod 600 "$state/kubeconfig"

phase=$(now)
start kube-controller-manager "$bin/kube-controller-manager" \
  --kubeconfig "$state/kubeconfig" \
  --authentication-kubeconfig "$state/kubeconfig" --authorization-kubeconfig "$state/kubeconfig" \
  --service-account-private-key-file "$state/pki/sa.key" \
  --root-ca-file "$state/pki/ca.crt" \
  --controllers '*,-nodeipam' --leader-elect=false \
  --bind-address 127.0.0.1 --secure-port "$KCM_PORT" --cert-dir "$state/pki/kcm"
start kube-scheduler "$bin/kube-scheduler" \
  --kubeconfig "$state/kubeconfig" \
  --authentication-kubeconfig "$state/kubeconfig" --authorization-kubeconfig "$state/kubeconfig" \
  --leader-elect=false \
  --bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" --cert-dir "$state/pki/scheduler"
start kwok "$kwokdir/kwok" \
  --kubeconfig "$state/kubeconfig" \
  --config "$kwokdir/stages.yaml" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --node-lease-duration-seconds 40 --cidr 10.244.0.0/16
# /healthz of kube-controller-manager and kube-scheduler is open to anyone; their certificates are self-signed.
healthy() { [ "$(curl -skf "https://127.0.0.1:$1/healthz")" = ok ]; }
wait_for kube-controller-manager 60 "kube-controller-manager /healthz on 127.0.0.1:$KCM_PORT" healthy "$KCM_PORT"
log "kube-controller-manager healthy on 127.0.0.1:$KCM_PORT in $(since "$phase") s"
wait_for kube-scheduler 60 "kube-scheduler /healthz on 127.0.0.1:$SCHEDULER_PORT" healthy "$SCHEDULER_PORT"
log "kube-scheduler healthy on 127.0.0.1:$SCHEDULER_PORT in $(since "$phase") s"

# The fake node: kwok manages it because of the annotation and reports it Ready.
phase=$(now)
code=$(curl -s --cacert "$state/pki/ca.crt" -H "@$state/pki/auth-header" -o "$state/logs/node-create.json" \
  -w '%{http_code}' -X POST -H 'Content-Type: application/json' "$API_SERVER/api/v1/nodes" --data-binary @- <<EOF
{
  "apiVersion": "v1",
  "kind": "Node",
  "metadata": {
    "name": "$NODE_NAME",
    "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
    "labels": {"type": "kwok", "kubernetes.io/hostname": "$NODE_NAME", "kubernetes.io/os": "linux",
               "kubernetes.io/arch": "amd64", "node-role.kubernetes.io/agent": ""}
  },
  "status": {
    "allocatable": {"cpu": "1000", "memory": "4Ti", "pods": "1000"},
    "capacity": {"cpu": "1000", "memory": "4Ti", "pods": "1000"}
  }
}
EOF
) || true
[ "$code" = 201 ] || die "could not create node $NODE_NAME: HTTP $code: $(cat "$state/logs/node-create.json" 2>/dev/null)"
node_ready() { [[ $(curl_api "$API_SERVER/api/v1/nodes/$NODE_NAME" | tr -d ' \n') == *'"type":"Ready","status":"True"'* ]]; }
wait_for kwok 60 "node $NODE_NAME Ready (kwok)" node_ready
log "node $NODE_NAME Ready in $(since "$phase") s"

# One `export K='v'` per line, a quote inside written '\'': bash sources it and the Go harness (readEnv) reads
# it back, spaces and all.
env_line() { local v=${2//\'/\'\\\'\'}; printf "export %s='%s'\n" "$1" "$v"; }
{
  env_line KUBECONFIG "$state/kubeconfig"
  env_line PODPILOT_STATE_DIR "$state"
  env_line PODPILOT_API_SERVER "$API_SERVER"
  env_line PODPILOT_ETCD_PORT "$ETCD_PORT"
  env_line PODPILOT_ETCD_PEER_PORT "$ETCD_PEER_PORT"
  env_line PODPILOT_APISERVER_PORT "$APISERVER_PORT"
  env_line PODPILOT_KCM_PORT "$KCM_PORT"
  env_line PODPILOT_SCHEDULER_PORT "$SCHEDULER_PORT"
  env_line PODPILOT_NODE_NAME "$NODE_NAME"
  env_line PODPILOT_KUBECTL "$bin/kubectl"
} >"$state/env"

ok=1
log "cluster up in $(since "$t0") s; state in $state"
log "use it with: source $state/env; stop it with: $here/down.sh $state"

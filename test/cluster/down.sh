#!/usr/bin/env bash
# down.sh STATE_DIR: stops every process up.sh recorded in STATE_DIR/pids, by pid: SIGTERM, up to 10 s for them
# to exit, then SIGKILL. Idempotent: the pids file is renamed pids.stopped once everything is gone, and a second
# run finds nothing to do. A pid is only signalled while its command line still names STATE_DIR, so a pid reused
# by an unrelated process after the component died is left alone.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: down.sh STATE_DIR" >&2; exit 2; }
state=$(cd "$1" 2>/dev/null && pwd -P) || { echo "down.sh: no state dir $1; nothing to stop"; exit 0; }
pids_file="$state/pids"
[ -e "$pids_file" ] || { echo "down.sh: nothing to stop in $state"; exit 0; }

# ours PID: the process is alive (not a zombie) and is one that up.sh started for this state dir.
ours() {
  local pid=$1 st
  [ -r "/proc/$pid/stat" ] || return 1
  st=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ "$st" != Z ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$state"
}

names=()
pids=()
while read -r name pid; do
  [ -n "${pid:-}" ] || continue
  [ "$pid" = "$$" ] && continue # the reaper runs this script in its own process
  names+=("$name")
  pids+=("$pid")
done <"$pids_file"

# stop I...: SIGTERM to the processes at those indexes, up to 10 s for them to exit, then SIGKILL.
stop() {
  local i alive=() still
  for i in "$@"; do
    if ours "${pids[i]}"; then
      kill -TERM "${pids[i]}" 2>/dev/null || true
      alive+=("$i")
    fi
  done
  local deadline=$(( $(date +%s) + 10 ))
  while [ ${#alive[@]} -gt 0 ] && [ "$(date +%s)" -lt "$deadline" ]; do
    still=()
    for i in "${alive[@]}"; do
      ours "${pids[i]}" && still+=("$i")
    done
    alive=("${still[@]+"${still[@]}"}")
    [ ${#alive[@]} -gt 0 ] && sleep 0.2
  done
  for i in "${alive[@]+"${alive[@]}"}"; do
    ours "${pids[i]}" || continue
    echo "down.sh: ${names[i]} (pid ${pids[i]}) did not stop within 10 s of SIGTERM; sending SIGKILL" >&2
    kill -KILL "${pids[i]}" 2>/dev/null || true
    for _ in $(seq 1 25); do ours "${pids[i]}" || break; sleep 0.2; done
    if ours "${pids[i]}"; then
      echo "down.sh: ${names[i]} (pid ${pids[i]}) still running after SIGKILL" >&2
      return 1
    fi
  done
}

# Three rounds, so that nothing loses its backend while shutting down: first every client of the apiserver
# (controllers, scheduler, kwok, the reaper) together, then the apiserver, then etcd.
clients=()
for i in "${!pids[@]}"; do
  case "${names[i]}" in kube-apiserver | etcd) ;; *) clients+=("$i") ;; esac
done
stop "${clients[@]+"${clients[@]}"}"
for n in kube-apiserver etcd; do
  for i in "${!pids[@]}"; do
    [ "${names[i]}" = "$n" ] && stop "$i"
  done
done

mv "$pids_file" "$state/pids.stopped"
echo "down.sh: stopped ${#pids[@]} processes of $state"

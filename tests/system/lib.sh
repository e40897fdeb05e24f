# Helpers for the multi-process system tests. Every process a test starts
# is killed on exit, so a failing test leaves nothing running.
set -euo pipefail
JOB="${FLOW_CLUSTER_JOB:?path of flow_cluster_job}"
WORK="$(mktemp -d /tmp/flow-system.XXXXXX)"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ "${KEEP_WORK:-0}" != 1 ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for f in "$WORK"/*.err; do
    [[ -f "$f" ]] && { echo "--- $f" >&2; tail -20 "$f" >&2; }
  done
  exit 1
}

# start NAME ARGS...: runs the job in the background, output in $WORK/NAME.*
# Without HTTP endpoints unless ARGS set flow.http-port: the processes of a
# test (and of tests run elsewhere on this machine) must not compete for
# the default port.
start() {
  local name="$1"; shift
  local http=(--flow.http-port=0)
  [[ " $* " == *" --flow.http-port="* ]] && http=()
  "$JOB" "$@" "${http[@]}" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PIDS+=($!)
  eval "PID_${name//-/_}=$!"
}

# wait_exit PID SECONDS: waits for PID (a child of this shell) to end and
# sets RC to its exit code, or to "timeout".
wait_exit() {
  local pid="$1" limit="$2" waited=0
  while kill -0 "$pid" 2>/dev/null && ! is_zombie "$pid"; do
    sleep 0.1
    waited=$((waited + 1))
    if ((waited > limit * 10)); then RC=timeout; return 0; fi
  done
  RC=0
  wait "$pid" || RC=$?
}

is_zombie() {
  [[ "$(ps -o stat= -p "$1" 2>/dev/null)" == Z* ]]
}

# wait_for_log FILE TEXT SECONDS
wait_for_log() {
  local file="$1" text="$2" limit="$3" waited=0
  until grep -q -- "$text" "$file" 2>/dev/null; do
    sleep 0.1
    waited=$((waited + 1))
    ((waited <= limit * 10)) || fail "no '$text' in $file after ${limit}s"
  done
}

# cluster flags for a node: role, port base
coordinator_flags() {
  echo "--cluster.role=coordinator --cluster.coordinator-port=$1 --cluster.slots=0 --cluster.workers=${2:-2} --cluster.connect-timeout=${3:-30} --flow.status-interval=0s"
}
# Workers set no job options: they run with the coordinator's (a worker
# that sets one to another value is rejected).
worker_flags() {
  echo "--cluster.role=worker --cluster.name=$2 --cluster.coordinator-port=$1 --cluster.slots=${3:-2} --cluster.connect-timeout=${4:-30}"
}

# free_port: a TCP port on loopback that nothing listens on now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL SECONDS [STATUS]: waits until URL answers with STATUS
# (default 200).
wait_http() {
  local url="$1" limit="$2" want="${3:-200}" waited=0
  until [[ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" == "$want" ]]; do
    sleep 0.2
    waited=$((waited + 1))
    ((waited <= limit * 5)) || fail "$url did not answer $want within ${limit}s"
  done
}

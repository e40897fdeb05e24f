#!/usr/bin/env bash
# Results must not depend on machine load (issue 13): with one busy-loop
# process pinned to every core beside them, YSB and the window tests give
# exact results at flow.idle-timeout 1 ms, 10 ms and 100 ms. Before sources
# declared idleness themselves, a backpressured channel looked silent,
# was taken for idle, and YSB at 1 ms marked every view late.
set -euo pipefail
YSB="${FLOW_YSB:?path of the ysb example}"
UNIT="${FLOW_UNIT_TESTS:?path of flow_unit_tests}"
CONF="${FLOW_CONF_DIR:?conf directory}"
WORK="$(mktemp -d /tmp/flow-load.XXXXXX)"
HOGS=()

cleanup() {
  for pid in "${HOGS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cores=$(nproc)
for ((c = 0; c < cores; ++c)); do
  taskset -c "$c" yes >/dev/null &
  HOGS+=($!)
done
echo "$cores CPU hogs running"

for timeout in 1 10 100; do
  echo "== flow.idle-timeout ${timeout}ms"
  if ! "$YSB" --config-file="$CONF/ysb.conf" --ysb.events=300000 \
      --flow.idle-timeout="${timeout}ms" --flow.status-interval=0s --flow.http-port=0 \
      >"$WORK/ysb.out" 2>"$WORK/ysb.err" ||
      ! grep -q "check passed" "$WORK/ysb.err"; then
    tail -20 "$WORK/ysb.err" >&2
    echo "FAIL: ysb at idle-timeout ${timeout}ms" >&2
    exit 1
  fi
  grep "check passed" "$WORK/ysb.err"
  if ! FLOW_TEST_IDLE_TIMEOUT_MS="$timeout" "$UNIT" --run_test=windows \
      >"$WORK/unit.out" 2>&1; then
    tail -30 "$WORK/unit.out" >&2
    echo "FAIL: window tests at idle-timeout ${timeout}ms" >&2
    exit 1
  fi
  echo "window tests passed"
done

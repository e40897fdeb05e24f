#!/usr/bin/env bash
# A worker built from a different topology is rejected, with a clear error
# on both sides.
source "$(dirname "$0")/lib.sh"
port=$((4300 + RANDOM % 500))
start coord $(coordinator_flags $port 1 5) --flow.parallelism=2
FLOW_TEST_VARIANT=1 start bad $(worker_flags $port worker-bad)
wait_exit "$PID_bad" 20; [[ $RC != 0 && $RC != timeout ]] || fail "mismatched worker exit '$RC'"
grep -q "rejected by the coordinator: topology fingerprint mismatch" "$WORK/bad.err" \
  || fail "worker did not report the rejection"
grep -q "rejected worker-bad: topology fingerprint mismatch" "$WORK/coord.err" \
  || fail "coordinator did not report the rejection"
wait_exit "$PID_coord" 20; [[ $RC != 0 && $RC != timeout ]] || fail "coordinator exit '$RC' (no worker joined)"
echo "PASS: mismatched worker rejected on both sides"

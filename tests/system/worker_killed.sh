#!/usr/bin/env bash
# kill -9 of a worker mid-job without checkpoints: the coordinator reports
# the node and its subtasks, does not try to recover, and exits non-zero;
# the other worker exits too. (It takes about a second; the deadlines are
# for a machine under load.)
source "$(dirname "$0")/lib.sh"
port=$((4300 + RANDOM % 500))
export FLOW_TEST_RECORDS=0 FLOW_TEST_RATE=20000   # unbounded, slow
start w1 $(worker_flags $port worker-1)
start w2 $(worker_flags $port worker-2)
start coord $(coordinator_flags $port) --flow.parallelism=4
wait_for_log "$WORK/coord.err" "starting" 30
sleep 1
kill -9 "$PID_w2"
t0=$(date +%s.%N)
wait_exit "$PID_coord" 60; [[ $RC != 0 && $RC != timeout ]] || fail "coordinator exit '$RC' (want non-zero within 60 s)"
elapsed=$(echo "$(date +%s.%N) - $t0" | bc)
grep -q "node worker-2 lost" "$WORK/coord.err" || fail "coordinator did not name the lost node"
grep -q "its subtasks: .*numbers\[2\]" "$WORK/coord.err" || fail "coordinator did not list the node's subtasks"
grep -q "not recovered: no restart allowed" "$WORK/coord.err" || fail "coordinator did not say why it does not recover"
wait_exit "$PID_w1" 60; [[ $RC != 0 && $RC != timeout ]] || fail "worker-1 exit '$RC' (want non-zero)"
for pid in "$PID_coord" "$PID_w1" "$PID_w2"; do
  kill -0 "$pid" 2>/dev/null && fail "process $pid still running"
done
echo "PASS: failure reported after ${elapsed}s, all processes ended"

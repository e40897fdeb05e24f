#!/usr/bin/env bash
# kill -9 of a worker mid-job with checkpoints every 500 ms: the coordinator
# names the lost node, cancels the other subtasks, waits for the worker
# started again with the same command to register, restores every subtask
# from the latest complete checkpoint, and the job ends with the exact count
# per key. Prints the recovery time (re-registration -> records flowing).
source "$(dirname "$0")/lib.sh"
port=$((4300 + RANDOM % 500))
n=300000
export FLOW_TEST_RECORDS=$n FLOW_TEST_RATE=30000   # about 10 s
# One directory for every process: what a shared filesystem gives a cluster.
cp_dir="$WORK/checkpoints"
start w1 $(worker_flags $port worker-1)
start w2 $(worker_flags $port worker-2)
start coord $(coordinator_flags $port) --flow.parallelism=4 \
  --flow.checkpoint-dir="$cp_dir" --flow.checkpoint-interval=500ms \
  --flow.restart-backoff=100ms --cluster.recovery-timeout=30s \
  --flow.status-interval=100ms
wait_for_log "$WORK/coord.err" "checkpoint 3 complete" 30
kill -9 "$PID_w2"
start w2b $(worker_flags $port worker-2)
wait_exit "$PID_coord" 90; [[ $RC == 0 ]] || fail "coordinator exit $RC (want 0: recovered)"
wait_exit "$PID_w1" 10; [[ $RC == 0 ]] || fail "worker-1 exit $RC"
wait_exit "$PID_w2b" 10; [[ $RC == 0 ]] || fail "restarted worker-2 exit $RC"
grep -q "node worker-2 lost" "$WORK/coord.err" || fail "coordinator did not name the lost node"
grep -q "recovery 1 of 3: redeploying on 4 slots from checkpoint" "$WORK/coord.err" \
  || fail "no redeployment from a checkpoint logged"
restored=$(grep -o "restoring checkpoint [0-9]* from [^ ]* (taken [0-9.]* s ago)" "$WORK/coord.err" | tail -1)
[[ -n $restored ]] || fail "the restored checkpoint and its age are not logged"
grep -q "spawned [0-9]* subtasks restored from checkpoint" "$WORK/w2b.err" \
  || fail "restarted worker-2 did not restore its subtasks"
flowing=$(grep -o "records flowing again [0-9.]* s" "$WORK/coord.err" | grep -o "[0-9.]*" | head -1)
[[ -n $flowing ]] || fail "recovery time not printed"
# A checkpoint completed after the recovery: the job went on taking them.
last=$(grep -o "checkpoint [0-9]* complete" "$WORK/coord.err" | tail -1 | grep -o "[0-9]*")
first_restored=$(echo "$restored" | grep -o "checkpoint [0-9]*" | grep -o "[0-9]*")
((last > first_restored)) || fail "no checkpoint after the recovery (last $last, restored $first_restored)"
# Exact counts: key x*x % 1000 over x in [0, n), each key once over the
# sinks of the surviving and the restarted worker.
python3 -c "
import collections
c = collections.Counter((x * x) % 1000 for x in range($n))
print('\n'.join('key %d\t%d' % (k, v) for k, v in c.items()))" | sort >"$WORK/expected"
cat "$WORK/w1.out" "$WORK/w2b.out" | sort >"$WORK/actual"
diff -q "$WORK/expected" "$WORK/actual" >/dev/null || {
  diff "$WORK/expected" "$WORK/actual" | head -5 >&2
  fail "counts per key differ from the exact ones"
}
echo "PASS: worker-2 lost and restarted, $restored restored, $(wc -l <"$WORK/expected") keys exact, records flowing again ${flowing} s after re-registration"

#!/usr/bin/env bash
# A slow sink behind remote channels holds back the sources on the other
# node: in-flight batches per channel stay within the credit window and
# queued batches within the windows of a subtask's inputs (runtime
# counters reported by every subtask), and nothing is lost.
source "$(dirname "$0")/lib.sh"
port=$((4300 + RANDOM % 500))
export FLOW_TEST_RECORDS=300000 FLOW_TEST_SINK_US=2000
window=4
start w1 $(worker_flags $port worker-1 1)
start w2 $(worker_flags $port worker-2 1)
start coord $(coordinator_flags $port) --flow.parallelism=2 --flow.credit-window=$window --flow.batch-size=256 --flow.status-interval=300ms
wait_exit "$PID_coord" 120; [[ $RC == 0 ]] || fail "coordinator exit $RC"
wait_exit "$PID_w1" 10; wait_exit "$PID_w2" 10
line() { grep -E "\] +$1 " "$WORK/coord.err" | tail -1; }
for op in numbers square count by-key final-counts; do
  l=$(line "$op"); [[ -n "$l" ]] || fail "no summary for $op"
  inflight=$(sed -E 's/.*max in-flight ([0-9]+).*/\1/' <<<"$l")
  queued=$(sed -E 's/.*max queued ([0-9]+).*/\1/' <<<"$l")
  ((inflight <= window)) || fail "$op: $inflight batches in flight > window $window"
  ((queued <= 2 * window)) || fail "$op: $queued queued batches > 2 inputs x window"
done
# The coordinator runs no subtask: its status line comes from the workers'
# reports, and shows the sources waiting for credit.
grep -qE "status: numbers=[1-9]" "$WORK/coord.err" || fail "no status line with remote rates"
# The first line waits for the workers' first reports: no running operator
# shows 0/s in it.
first=$(grep -m1 "status:" "$WORK/coord.err")
[[ -n "$first" && "$first" != *"=0/s"* ]] || fail "first status line shows 0/s: $first"
grep -qE "blocked on credit:.*numbers\[" "$WORK/coord.err" || fail "status line does not show blocked sources"
blocked=$(line numbers | sed -E 's/.*blocked ([0-9.]+)s.*/\1/')
[[ $(echo "$blocked > 0.5" | bc) == 1 ]] || fail "sources were not held back (blocked ${blocked}s)"
total=$(cat "$WORK"/*.out | awk -F'\t' '{s += $2} END {print s}')
[[ $total == 300000 ]] || fail "sink counted $total of 300000 records"
echo "PASS: sources blocked ${blocked}s across nodes, windows respected, all records counted"

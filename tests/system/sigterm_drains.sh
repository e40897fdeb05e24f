#!/usr/bin/env bash
# SIGTERM stops an unbounded single-node job gracefully: sources stop, the
# job drains and flushes, and the process exits 0 with every emitted
# record counted by the sink.
source "$(dirname "$0")/lib.sh"
export FLOW_TEST_RECORDS=0 FLOW_TEST_RATE=50000
start job --flow.parallelism=2 --flow.status-interval=1s
wait_for_log "$WORK/job.err" "status:" 60
kill -TERM "$PID_job"
wait_exit "$PID_job" 60; [[ $RC == 0 ]] || fail "exit '$RC' after SIGTERM (want 0)"
grep -q "stop requested" "$WORK/job.err" || fail "stop not logged"
emitted=$(grep -E "\] +numbers " "$WORK/job.err" | awk '{for (i = 1; i <= NF; ++i) if ($i == "out") print $(i + 1)}')
total=$(awk -F'\t' '{s += $2} END {print s + 0}' "$WORK/job.out")
((emitted > 0)) || fail "nothing emitted"
[[ $total == "$emitted" ]] || fail "sink counted $total of $emitted emitted records"
echo "PASS: SIGTERM drained $emitted records, exit 0"

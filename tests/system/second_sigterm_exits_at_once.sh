#!/usr/bin/env bash
# A second SIGTERM ends a draining job at once: the first stops the sources
# and the job drains; the sink here takes 5 s per batch, so the drain is
# still under way when the second arrives. The process exits 143 (128 +
# SIGTERM) and says it did not drain. (One SIGTERM: sigterm_drains.)
source "$(dirname "$0")/lib.sh"
export FLOW_TEST_RECORDS=0 FLOW_TEST_SINK_US=5000000
start job --flow.parallelism=1 --flow.status-interval=1s
wait_for_log "$WORK/job.err" "status:" 60
kill -TERM "$PID_job"
wait_for_log "$WORK/job.err" "stop requested" 30
kill -TERM "$PID_job"
wait_exit "$PID_job" 30
[[ $RC == 143 ]] || fail "exit '$RC' after a second SIGTERM (want 143 at once)"
grep -q "second stop signal: exiting at once, without draining" "$WORK/job.err" ||
  fail "the exit without draining is not said"
echo "PASS: the second SIGTERM ended the draining job at once (exit 143)"

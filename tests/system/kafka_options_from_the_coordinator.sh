#!/usr/bin/env bash
# A Kafka job on 3 nodes (coordinator + 2 workers, parallelism 4, sources
# and sinks on both workers) with the Kafka options given to the
# coordinator only: the workers run with the coordinator's job
# configuration, so the output topic on the broker holds every input
# record. Then a worker that sets a job option to another value than the
# coordinator is rejected, with the key named on both sides.
source "$(dirname "$0")/lib.sh"
JOB="${FLOW_KAFKA_CLUSTER_JOB:?path of flow_kafka_cluster_job}"
TOPIC="${FLOW_KAFKA_TOPIC:?path of flow_kafka_topic}"
: "${LIBFLOW_KAFKA_BOOTSTRAP:?the broker that scripts/test starts}"
n=20000
run_id="$$-$RANDOM"
export FLOW_TEST_INPUT="libflow-system-in-$run_id"
export FLOW_TEST_OUTPUT="libflow-system-out-$run_id"
"$TOPIC" create "$FLOW_TEST_INPUT" 4 || fail "cannot create $FLOW_TEST_INPUT"
"$TOPIC" create "$FLOW_TEST_OUTPUT" 4 || fail "cannot create $FLOW_TEST_OUTPUT"
"$TOPIC" produce "$FLOW_TEST_INPUT" $n || fail "cannot produce the input"

port=$((4300 + RANDOM % 500))
kafka=(--kafka.bootstrap="$LIBFLOW_KAFKA_BOOTSTRAP" --kafka.stop-at-end=true
       --kafka.timeout-ms=15000)
start w1 $(worker_flags $port worker-1)
start w2 $(worker_flags $port worker-2)
start coord $(coordinator_flags $port) --flow.parallelism=4 "${kafka[@]}"
wait_exit "$PID_coord" 120; [[ $RC == 0 ]] || fail "coordinator exit $RC"
wait_exit "$PID_w1" 20; [[ $RC == 0 ]] || fail "worker-1 exit $RC"
wait_exit "$PID_w2" 20; [[ $RC == 0 ]] || fail "worker-2 exit $RC"
for w in w1 w2; do
  grep -q "spawned [1-9]" "$WORK/$w.err" \
    || fail "$w ran no subtasks"
done

"$TOPIC" dump "$FLOW_TEST_OUTPUT" | sort >"$WORK/got" || fail "cannot read the output"
for ((i = 0; i < n; i++)); do echo "RECORD-$i"; done | sort >"$WORK/expected"
got=$(wc -l <"$WORK/got")
diff -q "$WORK/expected" "$WORK/got" >/dev/null \
  || fail "the output topic holds $got records, not the $n expected ones"

# A worker whose own job option disagrees with the coordinator's.
port=$((port + 1))
start coord2 $(coordinator_flags $port 1 10) --flow.parallelism=2 "${kafka[@]}"
start bad $(worker_flags $port worker-bad) --kafka.bootstrap=embedded
wait_exit "$PID_bad" 30; [[ $RC != 0 && $RC != timeout ]] || fail "disagreeing worker exit '$RC'"
grep -q "rejected by the coordinator: .*kafka.bootstrap" "$WORK/bad.err" \
  || fail "the worker did not name the differing key"
grep -q "rejected worker-bad: .*kafka.bootstrap" "$WORK/coord2.err" \
  || fail "the coordinator did not name the differing key"
echo "PASS: 3-node Kafka job with coordinator-only Kafka options wrote all $n records; a disagreeing worker was rejected"

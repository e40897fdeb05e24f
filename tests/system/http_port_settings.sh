#!/usr/bin/env bash
# flow.http-port as a user meets it: a port another process holds (another
# libflow job, or any listener) ends the second process with exit code 2
# and a message naming the key and the value, before the job starts;
# flow.http-port=0 leaves the process without any listening socket.
source "$(dirname "$0")/lib.sh"
listening() { ss -Hltnp 2>/dev/null | grep -c "pid=$1," || true; }

http=$(free_port)
FLOW_TEST_RECORDS=0 FLOW_TEST_RATE=1000 start first --flow.http-port=$http --flow.status-interval=0s
wait_http "http://127.0.0.1:$http/healthz" 30
# Positive control for the socket check below.
(( $(listening "$PID_first") >= 1 )) || fail "ss shows no listening socket of the first job"

# A second libflow process on the same port.
FLOW_TEST_RECORDS=0 start second --flow.http-port=$http --flow.status-interval=0s
wait_exit "$PID_second" 30
[[ $RC == 2 ]] || fail "second job on port $http: exit $RC, expected 2"
grep -q "invalid config: flow.http-port = $http (expected a port free on 127.0.0.1" "$WORK/second.err" ||
  fail "the error does not name flow.http-port = $http: $(cat "$WORK/second.err")"
grep -q "job 'cluster-test'" "$WORK/second.err" && fail "the second job started anyway"
kill -0 "$PID_first" || fail "the first job died"

# A port held by a non-libflow listener.
other=$(free_port)
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
time.sleep(60)' "$other" &
PIDS+=($!)
wait_for_port() { for _ in $(seq 1 50); do ss -Hltn "sport = :$1" | grep -q . && return 0; sleep 0.1; done; return 1; }
wait_for_port "$other" || fail "the python listener did not start"
FLOW_TEST_RECORDS=0 start third --flow.http-port=$other
wait_exit "$PID_third" 30
[[ $RC == 2 ]] || fail "job on a port held by another program: exit $RC, expected 2"
grep -q "flow.http-port = $other" "$WORK/third.err" || fail "no key in: $(cat "$WORK/third.err")"

# Cluster nodes on a taken port end the same way, naming their key.
start coordinator --cluster.role=coordinator --cluster.coordinator-port=$other --cluster.workers=1 --flow.http-port=0
wait_exit "$PID_coordinator" 30
[[ $RC == 2 ]] || fail "coordinator on a taken port: exit $RC, expected 2"
grep -q "invalid config: cluster.coordinator-port = $other (expected a port free on cluster.host = 127.0.0.1" "$WORK/coordinator.err" ||
  fail "no key in: $(cat "$WORK/coordinator.err")"
start worker --cluster.role=worker --cluster.port=$other --cluster.slots=1 --flow.http-port=0
wait_exit "$PID_worker" 30
[[ $RC == 2 ]] || fail "worker on a taken port: exit $RC, expected 2"
grep -q "invalid config: cluster.port = $other" "$WORK/worker.err" || fail "no key in: $(cat "$WORK/worker.err")"

# flow.http-port=0: no endpoints, no listening socket at all.
FLOW_TEST_RECORDS=0 FLOW_TEST_RATE=1000 start off --flow.http-port=0 --flow.status-interval=0s
wait_for_log "$WORK/off.err" "subtasks" 30
sleep 1
kill -0 "$PID_off" || fail "the job with flow.http-port=0 died: $(cat "$WORK/off.err")"
n=$(listening "$PID_off")
[[ $n == 0 ]] || fail "flow.http-port=0 but the process listens on $n socket(s): $(ss -Hltnp | grep "pid=$PID_off,")"
grep -q "serving /metrics" "$WORK/off.err" && fail "flow.http-port=0 logged an HTTP endpoint"
echo "PASS: a taken flow.http-port, cluster.coordinator-port or cluster.port exits 2 naming the key; flow.http-port=0 listens nowhere"

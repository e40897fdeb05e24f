#!/usr/bin/env bash
# A CAF client that is not a member of the cluster cannot register with the
# coordinator, cannot deploy on a worker (before or after the worker has
# registered), learns nothing from the refusals (no fingerprint, no path),
# and the job it tried to disturb runs to the end.
source "$(dirname "$0")/lib.sh"
ROGUE="${FLOW_ROGUE_CLIENT:?path of flow_rogue_client}"
port=$((4300 + RANDOM % 500))
wport=$((port + 500))
start w1 $(worker_flags $port worker-1) --cluster.port=$wport
wait_for_log "$WORK/w1.err" "not reachable yet" 20
# No coordinator yet: nobody may deploy.
"$ROGUE" deploy 127.0.0.1 $wport >"$WORK/rogue-deploy-1.out" 2>&1 \
  || fail "the worker accepted a deploy before registering: $(cat "$WORK/rogue-deploy-1.out")"

start coord $(coordinator_flags $port 2 30) --flow.parallelism=2
wait_for_log "$WORK/w1.err" "registered with the coordinator" 20
"$ROGUE" register 127.0.0.1 $port >"$WORK/rogue-register.out" 2>&1 \
  || fail "the coordinator accepted a rogue worker: $(cat "$WORK/rogue-register.out")"
"$ROGUE" deploy 127.0.0.1 $wport >"$WORK/rogue-deploy-2.out" 2>&1 \
  || fail "the worker accepted a deploy from a rogue: $(cat "$WORK/rogue-deploy-2.out")"
grep -q "refused a deploy request" "$WORK/w1.err" || fail "the worker did not log the refusal"

# The refusals reveal nothing of the coordinator: not its fingerprint (in
# its own log), not the path asked for.
fp=$(grep -o "!= [0-9]*)" "$WORK/coord.err" | head -1 | tr -dc 0-9)
[[ -n "$fp" ]] || fail "the coordinator did not log the rejected fingerprint"
grep -q "$fp" "$WORK"/rogue-*.out && fail "a refusal revealed the fingerprint $fp"
grep -q "hostname" "$WORK"/rogue-*.out && fail "a refusal echoed the path"

start w2 $(worker_flags $port worker-2)
wait_exit "$PID_coord" 60; [[ $RC == 0 ]] || fail "coordinator exit $RC after the rogue's attempts"
wait_exit "$PID_w1" 10; [[ $RC == 0 ]] || fail "worker-1 exit $RC"
wait_exit "$PID_w2" 10; [[ $RC == 0 ]] || fail "worker-2 exit $RC"
echo "PASS: rogue register and deploys refused, nothing revealed, the job ran"

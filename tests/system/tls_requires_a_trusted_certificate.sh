#!/usr/bin/env bash
# With cluster.tls and a CA set, a worker whose certificate the CA signed
# joins and the job runs; a worker with a self-signed certificate is
# refused and no job starts.
source "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || fail "openssl CLI missing (scripts/setup installs it)"
pki="$WORK/pki"
# The README's recipe: a CA of this cluster and a certificate it signed.
DAYS=2 "$ROOT/scripts/make-certs" "$pki" node >/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=rogue" \
  -keyout "$pki/rogue.key" -out "$pki/rogue.pem" 2>/dev/null
tls() {  # cert key ca
  echo "--cluster.tls --openssl.certificate=$pki/$1.pem --openssl.key=$pki/$1.key --openssl.cafile=$pki/$2.pem"
}

port=$((4300 + RANDOM % 500))
start coord $(coordinator_flags $port 1 20) $(tls node ca) --flow.parallelism=2
start good $(worker_flags $port worker-good) $(tls node ca)
wait_exit "$PID_coord" 60; [[ $RC == 0 ]] || fail "TLS job with a trusted worker: coordinator exit $RC"
wait_exit "$PID_good" 10; [[ $RC == 0 ]] || fail "trusted worker exit $RC"
grep -q "(TLS)" "$WORK/coord.err" || fail "coordinator did not listen with TLS"

port=$((port + 2))
start coord2 $(coordinator_flags $port 1 6) $(tls node ca) --flow.parallelism=2
start rogue $(worker_flags $port worker-rogue 2 4) $(tls rogue rogue)
wait_exit "$PID_rogue" 30; [[ $RC != 0 && $RC != timeout ]] || fail "rogue worker exit '$RC' (want refused)"
grep -q "registered" "$WORK/coord2.err" && fail "the coordinator accepted the rogue worker"
grep -q "cannot reach the coordinator" "$WORK/rogue.err" || fail "rogue worker did not report the refusal"
wait_exit "$PID_coord2" 30; [[ $RC != 0 && $RC != timeout ]] || fail "coordinator without workers exit '$RC'"
echo "PASS: trusted worker joined over TLS; self-signed worker refused"

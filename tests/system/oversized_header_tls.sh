#!/usr/bin/env bash
# A CAF network header announcing a 1 GiB payload, sent by a stranger to a
# cluster port. CAF 0.17 has no limit on a message's size on the wire: a
# plaintext node reserves the announced payload (the probe below checks
# that it does, so the TLS figure means something). With cluster.tls the
# bytes are a failed TLS handshake, never a BASP header: the node's memory
# stays flat and the job the stranger tried to disturb runs to the end.
source "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || fail "openssl CLI missing (scripts/setup installs it)"
pki="$WORK/pki"
DAYS=2 "$ROOT/scripts/make-certs" "$pki" node >/dev/null
tls="--cluster.tls --openssl.certificate=$pki/node.pem --openssl.key=$pki/node.key --openssl.cafile=$pki/ca.pem"

# Memory the node has allocated (VmData), not touched (VmRSS): the
# allocator may hand out fresh zero pages for the announced payload, which
# count in RSS only once bytes arrive, and the probe sends none (RSS grew by
# 0 to 884 MB from run to run).
rss_mb() { awk '/^VmData/ {printf "%d", $2 / 1024}' "/proc/$1/status"; }

# probe PORT CONNECTIONS: each connection sends one 32-byte BASP header
# (client_handshake, payload_len 2^30, network byte order) and stays open
# for 3 s without sending the payload.
probe() {
  python3 - "$1" "$2" <<'PY'
import socket, struct, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
header = struct.pack(">BBBBIQQQ", 0x01, 0, 0, 0, 1 << 30, 0, 0, 0)
assert len(header) == 32
conns = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(header)
    except OSError:
        pass
    conns.append(s)
time.sleep(3)
for s in conns:
    s.close()
PY
}

port=$((4300 + RANDOM % 500))

# Plaintext: the probe inflates the node (what TLS has to prevent).
start plain $(coordinator_flags $port 1 30) --flow.parallelism=2
wait_for_log "$WORK/plain.err" "listening" 20
before=$(rss_mb "$PID_plain")
probe $port 1
after=$(rss_mb "$PID_plain")
plain_growth=$((after - before))
echo "plaintext node: allocated $before MB -> $after MB after one 1 GiB header"
((plain_growth > 256)) || fail "probe ineffective: a plaintext node grew only $plain_growth MB"
kill -9 "$PID_plain"

# TLS: three connections with the same header; its allocated memory stays flat.
port=$((port + 2))
start coord $(coordinator_flags $port 1 60) $tls --flow.parallelism=2
wait_for_log "$WORK/coord.err" "(TLS)" 20
before=$(rss_mb "$PID_coord")
probe $port 3
after=$(rss_mb "$PID_coord")
echo "TLS node: allocated $before MB -> $after MB after three 1 GiB headers"
((after - before < 32)) || fail "TLS node grew $((after - before)) MB on oversized headers"
kill -0 "$PID_coord" 2>/dev/null || fail "the TLS coordinator died"

# The job it waits for still runs, with a trusted worker.
start w1 $(worker_flags $port worker-1) $tls
wait_exit "$PID_coord" 60; [[ $RC == 0 ]] || fail "coordinator exit $RC after the probe"
wait_exit "$PID_w1" 10; [[ $RC == 0 ]] || fail "worker exit $RC"
echo "PASS: plaintext node +$plain_growth MB, TLS node +$((after - before)) MB; the job ran"

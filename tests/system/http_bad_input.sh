#!/usr/bin/env bash
# Bad input to a running job's HTTP endpoints: malformed requests, unknown
# paths, wrong methods, huge headers and 1000 concurrent connections get
# clear 4xx (or 200) answers, and the job is not disturbed: it keeps
# running at the rate its source is limited to.
source "$(dirname "$0")/lib.sh"
ulimit -n 4096 2>/dev/null || true
http=$(free_port)
rate=20000
FLOW_TEST_RECORDS=0 FLOW_TEST_RATE=$rate start job --flow.http-port=$http --flow.status-interval=0s
url="http://127.0.0.1:$http"
wait_http "$url/readyz" 30
source_total() {
  curl -s "$url/metrics" | awk '/^flow_records_out_total\{job="cluster-test",operator="numbers"/ {s += $2} END {print s + 0}'
}
sleep 2 # two samples: the counters are published
before=$(source_total)
t0=$(date +%s.%N)
python3 - "$http" <<'PY' || fail "bad-input checks failed"
import socket, sys, threading, time
port = int(sys.argv[1])

def exchange(payload, timeout=30):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(payload)
    except OSError:
        pass  # the server may answer and close before reading everything
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except OSError:
        pass
    s.close()
    return out.decode("latin-1")

def status(reply):
    parts = reply.split(" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None

checks = {
    "malformed request line": (b"GARBAGE\r\n\r\n", 400),
    "unknown path": (b"GET /no/such/path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404),
    "wrong method": (b"DELETE /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405),
    "huge header": (b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n", None),
    "huge URI": (b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    "binary junk": (bytes(range(256)) * 64, 400),
}
for name, (payload, want) in checks.items():
    reply = exchange(payload)
    code = status(reply)
    ok = (400 <= code < 500) if want is None and code is not None else code == want
    assert ok, f"{name}: answered {reply[:80]!r}, expected {want or '4xx'}"
    print(f"{name}: {code}")

# 1000 concurrent connections, all open with their request sent before any
# answer is read. (A connection that sends nothing is closed after the
# server's read timeout, as it should be: not part of this check.)
n = 1000
results = [None] * n
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    socks.append(s)
def one(i):
    try:
        out = b""
        while True:
            b = socks[i].recv(4096)
            if not b:
                break
            out += b
        results[i] = status(out.decode("latin-1"))
    except OSError as e:
        results[i] = repr(e)
    finally:
        socks[i].close()
start = time.time()
threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in threads: t.start()
for t in threads: t.join()
answered = sum(1 for r in results if r == 200)
print(f"{n} concurrent connections: {answered} answered 200 in {time.time() - start:.1f}s; others: {[r for r in results if r != 200][:5]}")
assert answered == n
PY
t1=$(date +%s.%N)
sleep 1.5
after=$(source_total)
kill -0 "$PID_job" 2>/dev/null || fail "the job died"
wait_http "$url/readyz" 5
# Not disturbed: the source kept its rate during the storm (the counters
# are sampled every second, hence the margin).
python3 -c "
import sys
done = $after - $before
expected = $rate * ($t1 - $t0)
print(f'records during the bad input: {done:.0f} of about {expected:.0f} expected')
sys.exit(0 if done >= 0.8 * expected else 1)" || fail "the job slowed down during the bad input"
echo "PASS: bad input answered 4xx, 1000 concurrent connections answered, job undisturbed"

#!/usr/bin/env bash
# Bad input to a running job's HTTP endpoints: malformed requests, unknown
# paths, wrong methods, huge headers and 1000 concurrent connections get
# clear 4xx (or 200) answers, and the job survives them: it is still
# alive and ready, and its source is still making progress. (How fast it
# goes meanwhile is for the benchmarks: a test beside a CPU hog cannot
# tell.)
source "$(dirname "$0")/lib.sh"
ulimit -n 4096 2>/dev/null || true
http=$(free_port)
rate=20000
FLOW_TEST_RECORDS=0 FLOW_TEST_RATE=$rate start job --flow.http-port=$http --flow.status-interval=0s
url="http://127.0.0.1:$http"
wait_http "$url/readyz" 30
# The kernel queues 1024 connections for the server's pool (ss shows a
# listening socket's backlog as its Send-Q); at cpp-httplib's own 5, the
# burst below waited for the clients' SYN retries, 80 s in all.
# (The kernel caps it at net.core.somaxconn.)
backlog=$(ss -Hltn "sport = :$http" | awk '{print $3; exit}')
want=$(( $(cat /proc/sys/net/core/somaxconn) < 1024 ? $(cat /proc/sys/net/core/somaxconn) : 1024 ))
((backlog >= want)) || fail "the HTTP endpoints listen with a backlog of ${backlog:-?}, not $want"
source_total() {
  curl -s "$url/metrics" | awk '/^flow_records_out_total\{job="cluster-test",operator="numbers"/ {s += $2} END {print s + 0}'
}
# source_total_above N SECONDS: waits until the source's count (published
# every second) exceeds N and prints it; returns 1 after SECONDS.
source_total_above() {
  local n="$1" limit="$2" waited=0 now
  while now=$(source_total); ! awk -v a="$now" -v b="$n" 'BEGIN { exit !(a > b) }'; do
    sleep 0.2
    waited=$((waited + 1))
    ((waited <= limit * 5)) || return 1
  done
  echo "$now"
}
before=$(source_total_above 0 30) || fail "the source's count was not published within 30s"
python3 - "$http" <<'PY' || fail "bad-input checks failed"
import socket, sys, threading, time
port = int(sys.argv[1])

def exchange(payload, timeout=30):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(payload)
    except OSError:
        pass  # the server may answer and close before reading everything
    # Reads one response: its head and Content-Length bytes of body (the
    # server may keep the connection open for the next request).
    out = b""
    try:
        while True:
            head_end = out.find(b"\r\n\r\n")
            if head_end >= 0:
                head = out[:head_end].decode("latin-1").lower()
                length = 0
                for line in head.split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if name.strip() == "content-length":
                        length = int(value)
                if len(out) >= head_end + 4 + length:
                    break
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
    began = time.time()
    reply = exchange(payload)
    code = status(reply)
    ok = (400 <= code < 500) if want is None and code is not None else code == want
    assert ok, f"{name}: answered {reply[:80]!r}, expected {want or '4xx'}"
    print(f"{name}: {code} in {time.time() - began:.1f}s")

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
kill -0 "$PID_job" 2>/dev/null || fail "the job died"
wait_http "$url/readyz" 30
# Survived: the source's count grows past what it was before the
# storm, and then again.
after=$(source_total_above "$before" 30) ||
  fail "the source made no progress since the bad input began (count $before)"
later=$(source_total_above "$after" 30) ||
  fail "the source made no progress after the bad input (count $after)"
echo "source records: $before before the bad input, $after after it, $later later"
echo "PASS: bad input answered 4xx, 1000 concurrent connections answered, job alive, ready and progressing"

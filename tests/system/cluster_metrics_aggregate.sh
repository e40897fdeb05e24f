#!/usr/bin/env bash
# The coordinator's /metrics shows the whole cluster: every subtask of both
# workers (node label = the worker), their counters moving between two
# scrapes, and every node's memory and CPU; each worker's own endpoint
# shows its subtasks only, and together they are exactly the coordinator's.
# The output passes promtool check metrics.
source "$(dirname "$0")/lib.sh"
command -v promtool >/dev/null || fail "promtool is not installed (scripts/setup)"
port=$((4300 + RANDOM % 500))
http=$(free_port); h1=$(free_port); h2=$(free_port)
export FLOW_TEST_RECORDS=0 FLOW_TEST_RATE=20000
start w1 $(worker_flags $port worker-1 1) --flow.http-port=$h1
start w2 $(worker_flags $port worker-2 1) --flow.http-port=$h2
start coord $(coordinator_flags $port) --flow.parallelism=2 --flow.http-port=$http
wait_http "http://127.0.0.1:$http/readyz" 60
scrape() { curl -sf "http://127.0.0.1:$1/metrics" >"$WORK/$2.prom" || fail "scrape of :$1 failed"; }
# Reports arrive every second, later on a busy machine: the scrapes and
# checks are tried again (up to 10 times) until every report is there; a
# wrong aggregation fails every attempt.
check_aggregation() {
  python3 - "$WORK" <<'PY'
import re, sys
work = sys.argv[1]
def samples(name):
    out = {}
    for line in open(f"{work}/{name}.prom"):
        m = re.match(r'(\w+)\{([^}]*)\} (\S+)$', line.strip())
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
            out[(m.group(1), tuple(sorted(labels.items())))] = float(m.group(3))
    return out
c1, c2, w1, w2 = (samples(n) for n in ("coord1", "coord2", "w1", "w2"))
def series(s, metric):
    return {k[1] for k in s if k[0] == metric}
def by_node(s, metric, node):
    return sum(v for k, v in s.items() if k[0] == metric and dict(k[1]).get("node") == node)
recs = "flow_records_in_total"
nodes = {dict(l)["node"] for l in series(c1, recs)}
assert nodes == {"worker-1", "worker-2"}, f"subtask nodes on the coordinator: {nodes}"
assert {dict(l)["node"] for l in series(w1, recs)} == {"worker-1"}, series(w1, recs)
assert {dict(l)["node"] for l in series(w2, recs)} == {"worker-2"}, series(w2, recs)
assert series(c1, recs) == series(w1, recs) | series(w2, recs), "coordinator series != union of the workers'"
# 5 operators x parallelism 2, one subtask of each per worker.
assert len(series(c1, recs)) == 10, len(series(c1, recs))
for node in ("worker-1", "worker-2"):
    a, b = by_node(c1, "flow_records_out_total", node), by_node(c2, "flow_records_out_total", node)
    assert b > a > 0, f"{node}: records out {a} -> {b} on the coordinator"
    print(f"{node}: records out {a:.0f} -> {b:.0f}")
mem = {dict(l)["node"] for l in series(c1, "process_resident_memory_bytes")}
assert {"coordinator", "worker-1", "worker-2"} <= mem, f"memory of nodes {mem}"
cpu = {dict(l)["node"] for l in series(c1, "process_cpu_seconds_total")}
assert {"coordinator", "worker-1", "worker-2"} <= cpu, f"CPU of nodes {cpu}"
PY
}
for attempt in $(seq 10); do
  sleep 3
  scrape $http coord1; scrape $h1 w1; scrape $h2 w2
  sleep 3
  scrape $http coord2
  for f in coord1 coord2 w1 w2; do
    promtool check metrics <"$WORK/$f.prom" >"$WORK/$f.promtool" 2>&1 ||
      fail "promtool check metrics on $f: $(cat "$WORK/$f.promtool")"
  done
  if check_aggregation >"$WORK/check.out" 2>&1; then
    cat "$WORK/check.out"
    break
  fi
  ((attempt < 10)) || fail "aggregation check failed: $(cat "$WORK/check.out")"
  echo "attempt $attempt: $(tail -1 "$WORK/check.out"); again"
done
echo "PASS: the coordinator's /metrics aggregates both workers (series = union of theirs, counters moving, every node's memory and CPU)"

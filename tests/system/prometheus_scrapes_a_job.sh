#!/usr/bin/env bash
# A real Prometheus server (Debian's package, started here on a free port,
# scrape interval 1 s) scrapes a running job's /metrics and answers a PromQL
# query for the job's output rate through its HTTP API: the rate matches the
# rate the job's source is limited to.
source "$(dirname "$0")/lib.sh"
command -v prometheus >/dev/null || fail "prometheus is not installed (scripts/setup)"
http=$(free_port)
prom=$(free_port)
rate=20000
FLOW_TEST_RECORDS=0 FLOW_TEST_RATE=$rate start job --flow.http-port=$http --flow.status-interval=0s
wait_http "http://127.0.0.1:$http/readyz" 30
cat >"$WORK/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: libflow
    # Keep the series' own job label (the libflow job's name); without it
    # Prometheus renames it exported_job.
    honor_labels: true
    static_configs:
      - targets: ["127.0.0.1:$http"]
YML
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$prom" >"$WORK/prometheus.out" 2>"$WORK/prometheus.err" &
PIDS+=($!)
wait_http "http://127.0.0.1:$prom/-/ready" 60
query='sum(rate(flow_records_in_total{job="cluster-test",operator="final-counts"}[5s]))'
in_range() { python3 -c "import sys; v=float('$1'); sys.exit(0 if 0.7*$rate <= v <= 1.3*$rate else 1)"; }
# The source is limited to $rate records/s and every record reaches the
# sink: once Prometheus holds a few seconds of samples past the job's
# start, the PromQL rate is about $rate (the first windows cover the start).
value=""
for _ in $(seq 1 120); do
  value=$(curl -s -G "http://127.0.0.1:$prom/api/v1/query" --data-urlencode "query=$query" |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")')
  [[ -n "$value" ]] && in_range "$value" && break
  sleep 0.5
done
[[ -n "$value" ]] || fail "Prometheus has no output rate for the job"
in_range "$value" || fail "PromQL output rate $value records/s, expected about $rate"
targets=$(curl -s "http://127.0.0.1:$prom/api/v1/targets" | python3 -c 'import json,sys; print([t["health"] for t in json.load(sys.stdin)["data"]["activeTargets"]])')
[[ "$targets" == "['up']" ]] || fail "scrape target health: $targets"
echo "PASS: Prometheus scraped the job every second; PromQL output rate $value records/s (source limited to $rate)"

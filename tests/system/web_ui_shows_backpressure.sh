#!/usr/bin/env bash
# Headless Chromium opens the web UI of a running job with a slow sink: the
# rendered DOM shows every operator with a non-zero rate and the sink's
# upstream marked as backpressured. Writes a screenshot to
# $FLOW_BUILD_DIR/web-ui.png.
source "$(dirname "$0")/lib.sh"
browser=$(command -v chromium || true)
[[ -n "$browser" ]] || fail "chromium is not installed (scripts/setup)"
http=$(free_port)
# Two workers even on one CPU: with one, operators take turns and only the
# source shows backpressure (README, "Backpressure is the share ...").
FLOW_TEST_RECORDS=0 FLOW_TEST_SINK_US=2000 start job --flow.http-port=$http \
  --flow.status-interval=0s --flow.batch-size=64 --flow.credit-window=2 \
  --flow.threads=2
url="http://127.0.0.1:$http/"
wait_http "${url}readyz" 30
# The sink's upstream, from the job graph; wait until its backpressure and
# every operator's rate show in the API (rates need two samples).
check_api() {
  curl -s "${url}api/v1/job" | python3 -c '
import json, sys
job = json.load(sys.stdin)
sink = [o["name"] for o in job["operators"] if o["kind"] == "sink"][0]
up = [e["from"] for e in job["edges"] if e["to"] == sink][0]
ops = {o["name"]: o for o in job["operators"]}
moving = all(o["records_in_per_s"] > 0 or o["records_out_per_s"] > 0 for o in ops.values())
print(up if moving and ops[up]["backpressure"] > 0.5 else "")'
}
upstream=""
for _ in $(seq 1 60); do
  upstream=$(check_api)
  [[ -n "$upstream" ]] && break
  sleep 0.5
done
[[ -n "$upstream" ]] || fail "the API never showed the sink's upstream backpressured: $(curl -s "${url}api/v1/job")"
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync
  --virtual-time-budget=5000)
"$browser" "${flags[@]}" --user-data-dir="$WORK/profile-dom" --dump-dom "$url" \
  >"$WORK/dom.html" 2>"$WORK/chromium.err" || fail "chromium --dump-dom failed"
python3 - "$WORK/dom.html" "$upstream" <<'PY' || fail "DOM check failed"
import html.parser, sys
dom, upstream = open(sys.argv[1]).read(), sys.argv[2]
class Ops(html.parser.HTMLParser):
    ops = {}
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "g" and "data-op" in a:
            self.ops[a["data-op"]] = a
p = Ops(); p.feed(dom)
assert p.ops, "no operator in the rendered graph"
for name, a in p.ops.items():
    rate = max(float(a["data-rate-in"]), float(a["data-rate-out"]))
    assert rate > 0, f"{name} shows no rate: {a}"
    print(f"{name}: in {a['data-rate-in']}/s out {a['data-rate-out']}/s backpressure {a['data-backpressure']} class {a['class']}")
assert "backpressured" in p.ops[upstream]["class"].split(), f"{upstream} not marked: {p.ops[upstream]}"
PY
shot="${FLOW_BUILD_DIR:-$WORK}/web-ui.png"
"$browser" "${flags[@]}" --user-data-dir="$WORK/profile-shot" --window-size=1400,1000 \
  --hide-scrollbars --screenshot="$shot" "$url" >/dev/null 2>>"$WORK/chromium.err" ||
  fail "chromium --screenshot failed"
[[ -s "$shot" ]] || fail "no screenshot at $shot"
echo "PASS: every operator shows a rate, $upstream is marked backpressured; screenshot $shot"

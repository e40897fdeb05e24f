#!/usr/bin/env bash
# flow.log-format=json: every line a job writes to stderr is one JSON object
# with time, level, logger and msg, and the job's end is among them.
set -euo pipefail
prog="$1" conf="$2"
err="$(mktemp)"
trap 'rm -f "$err"' EXIT
"$prog" --config-file="$conf" --flow.log-format=json --flow.http-port=0 \
  2>"$err" >/dev/null
python3 - "$err" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
objs = [json.loads(l) for l in lines]  # fails on any non-JSON line
assert objs, "no log lines"
for o in objs:
    assert set(o) >= {"time", "level", "logger", "msg"}, o
assert any(o["logger"] == "flow/runtime" and
           o["msg"].startswith("job 'wordcount' finished") for o in objs), objs
print(f"PASS: {len(objs)} JSON log lines")
PY

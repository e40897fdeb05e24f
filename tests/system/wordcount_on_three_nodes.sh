#!/usr/bin/env bash
# examples/wordcount launched from conf/cluster/ (coordinator + 2 workers,
# parallelism 4) prints exactly what the single-node run prints.
source "$(dirname "$0")/lib.sh"
WC="${FLOW_WORDCOUNT:?path of examples/wordcount}"
CONF="${FLOW_CONF_DIR:?path of conf/}"
port=$((4300 + RANDOM % 500))
"$WC" --flow.parallelism=4 --flow.status-interval=0s --flow.http-port=0 >"$WORK/single.out" 2>"$WORK/single.err" \
  || fail "single-node wordcount failed"
# Ports of their own: the confs' HTTP ports may be taken on this machine.
over=(--cluster.coordinator-port=$port --flow.status-interval=0s --flow.http-port=0)
"$WC" --config-file="$CONF/cluster/worker-1.conf" "${over[@]}" >"$WORK/w1.out" 2>"$WORK/w1.err" &
PIDS+=($!); w1=$!
"$WC" --config-file="$CONF/cluster/worker-2.conf" "${over[@]}" >"$WORK/w2.out" 2>"$WORK/w2.err" &
PIDS+=($!); w2=$!
"$WC" --config-file="$CONF/cluster/coordinator.conf" "${over[@]}" >"$WORK/coord.out" 2>"$WORK/coord.err" &
PIDS+=($!); coord=$!
wait_exit "$coord" 60; [[ $RC == 0 ]] || fail "coordinator exit $RC"
wait_exit "$w1" 10; [[ $RC == 0 ]] || fail "worker-1 exit $RC"
wait_exit "$w2" 10; [[ $RC == 0 ]] || fail "worker-2 exit $RC"
sort "$WORK/single.out" >"$WORK/single.sorted"
cat "$WORK/coord.out" "$WORK/w1.out" "$WORK/w2.out" | sort >"$WORK/cluster.sorted"
lines=$(wc -l <"$WORK/single.sorted")
((lines > 10)) || fail "single-node wordcount printed only $lines lines"
diff -q "$WORK/single.sorted" "$WORK/cluster.sorted" >/dev/null \
  || fail "3-node wordcount output differs from single-node output"
echo "PASS: wordcount on 3 nodes prints the same $lines lines as on one"

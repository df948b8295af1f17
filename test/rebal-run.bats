#!/usr/bin/env bats
# rebal-run end to end against ib-sim and alloc-sim on the demo scenario.
load helper
load e2e

setup() {
	cd "$BATS_TEST_TMPDIR"
	e2e_start
}

teardown() {
	e2e_stop
}

@test "print-rebalance previews every account of a strategy and sends nothing" {
	run --separate-stderr rebal-run -s etf-blend-101-15 -e print-rebalance
	assert_success
	assert_equal "$(jq -r .account_id <<<"$output" | sort | tr '\n' ' ')" "DU3456789 DU4567890 "
	assert_equal "$(jq -r .status <<<"$output" | sort -u)" ok
	r=$(last_run)
	[ -f "$r/event.json" ] && [ -f "$r/jobs/DU3456789.json" ] && [ -f "$r/jobs/DU4567890.json" ]
	assert_equal "$(cat "$r/summary.ndjson")" "$output"
	# the IRA's replacement set was applied before planning
	assert_equal "$(tail -n 1 "$r/out/DU3456789.ndjson" | jq -c '[.plan.orders[] | select(.action == "BUY") | .symbol]')" \
	    '["IEF","PDBC","VXX","USDU"]'
	grep -q "PLANNED\|ORDERS" "$r/out/DU3456789.txt"
	# every log line is stamped with time, account and strategy
	run grep -cv '^20[0-9-]*T[0-9:]*Z DU3456789 etf-blend-101-15 ' "$r/log/DU3456789.log"
	assert_output 0
	# allocations fetched once for the strategy, no order placed
	assert_equal "$(jq -r 'select(.path != null) | .path' alloc.ndjson | wc -l)" 1
	assert_equal "$(placed)" ""
}

@test "print-positions reads the accounts without fetching allocations" {
	run --separate-stderr rebal-run -s etf-blend-200-35 -e print-positions
	assert_success
	assert_equal "$(jq -r .account_id <<<"$output" | sort | tr '\n' ' ')" "DU1234567 DU2345678 "
	assert_equal "$(tail -n 1 "$(last_run)/out/DU1234567.ndjson" | jq -c '[.snapshot.positions[].symbol]')" '["SPY","TLT","IWM"]'
	assert_equal "$(jq -r 'select(.path != null) | .path' alloc.ndjson | wc -l)" 0
}

@test "-a runs one account; an event on stdin works the same" {
	run --separate-stderr rebal-run -s etf-blend-200-35 -e print-equity -a DU2345678
	assert_success
	assert_equal "$(jq -r .account_id <<<"$output")" DU2345678
	echo '{"id":"x1","strategy":"etf-blend-200-35","exec":"print-orders"}' > ev.json
	run --separate-stderr rebal-run ev.json
	assert_success
	assert_equal "$(jq -r .event <<<"$output" | sort -u)" x1
}

@test "accounts that finished for this event are not run again" {
	echo '{"id":"x2","strategy":"etf-blend-200-35","exec":"print-positions","spool":{"accounts_done":["DU1234567"]}}' > ev.json
	run --separate-stderr rebal-run ev.json
	assert_success
	assert_equal "$(jq -r .account_id <<<"$output")" DU2345678
	[[ "$stderr" == *"DU1234567: already finished for this event, not run again"* ]]
}

@test "an allocation API that keeps failing fails every account of the strategy, once" {
	cat > al.yaml <<'YAML'
fault: {status: 500}
strategies:
  etf-blend-200-35:
    allocations: [{symbol: SPY, allocation: 1}]
YAML
	stop_server AL
	start_server AL alloc-sim -f al.yaml -j "$BATS_TEST_TMPDIR/alloc.ndjson"
	export ALLOCATIONS_BASE_URL=http://127.0.0.1:$AL_PORT
	run --separate-stderr rebal-run -s etf-blend-200-35 -e print-rebalance
	assert_equal "$status" 1
	assert_equal "$(jq -r .status <<<"$output" | sort -u)" failed
	assert_equal "$(jq -r .error.code <<<"$output" | sort -u)" 69
	assert_equal "$(placed)" ""
}

@test "configuration and usage errors" {
	printf 'accounts:\n  - account_id: DU1\n    type: papr\n' > bad.yaml
	run --separate-stderr rebal-run -f bad.yaml -s etf-blend-200-35
	assert_equal "$status" 78
	[[ "$stderr" == *"bad.yaml:3:"* ]]
	run rebal-run -P 0 -s x
	assert_equal "$status" 64
	run rebal-run -e nonsense -s x
	assert_equal "$status" 64
	run --separate-stderr sh -c 'echo "{\"exec\":\"rebalance\"}" | rebal-run'
	assert_equal "$status" 65
	run rebal-run -h
	assert_success
	assert_output --partial "usage: rebal-run"
}

@test "no enabled account follows the strategy: nothing to do, exit 0" {
	run --separate-stderr rebal-run -s nobody-follows-this -e print-positions
	assert_success
	assert_output ""
}

@test "an event whose accounts all finished runs nothing, and spool fields stay out of the jobs" {
	echo '{"id":"x3","strategy":"etf-blend-200-35","exec":"print-positions","spool":{"attempt":2,"accounts_done":["DU1234567","DU2345678"]}}' > ev.json
	run --separate-stderr rebal-run ev.json
	assert_success
	assert_output ""
	echo '{"id":"x4","strategy":"etf-blend-200-35","exec":"print-positions","spool":{"attempt":2,"accounts_done":["DU1234567"]}}' > ev.json
	run --separate-stderr rebal-run ev.json
	assert_success
	assert_equal "$(jq -c 'has("spool")' "$(last_run)/jobs/DU2345678.json")" false
}

@test "SIGTERM lets running accounts finish and does not start the others" {
	# one account at a time; the first is slowed by the gateway's latency
	sed 's/^latency_ms: 5/latency_ms: 300/' "$EX/demo/ib-sim.yaml" > ib.yaml
	stop_server IB
	start_server IB ib-sim -f ib.yaml -j "$BATS_TEST_TMPDIR/ib.ndjson"
	export IB_PORT=$IB_PORT
	rebal-run -P 1 -s etf-blend-200-35 -e print-positions >out 2>err &
	pid=$!
	# wait until the first account is at its snapshot, then stop the run
	wait_for 10 grep -q START_API ib.ndjson
	kill -TERM $pid
	wait $pid || true
	assert_equal "$(jq -r .status out | sort | tr '\n' ' ')" "failed ok "
	assert_equal "$(jq -r 'select(.status == "failed") | .error.code' out)" 75
	assert_equal "$(jq -r 'select(.status == "failed") | .error.message' out)" "not started: the run was stopped"
	grep -q "stopping: running accounts finish" err
}

@test "manual commands on the demo scenario: cancel-orders cancels only rebal orders of the account's client; -n sends nothing; a rebalance trades" {
	e2e_stop
	{
		cat "$EX/demo/ib-sim.yaml"
		cat <<-'YAML'
		orders:
		  - {account: DU1234567, symbol: SPY, action: BUY, qty: 1, type: LMT, limit: 100, ref: "rebal:old:DU1234567", client_id: 1234567, order_id: 10}
		  - {account: DU1234567, symbol: TLT, action: BUY, qty: 2, type: LMT, limit: 50, ref: manual, client_id: 1234567, order_id: 11}
		  - {account: DU2345678, symbol: TLT, action: BUY, qty: 3, type: LMT, limit: 50, ref: "rebal:old:DU2345678", client_id: 7, order_id: 12}
		YAML
	} >ib.yaml
	e2e_start "$BATS_TEST_TMPDIR/ib.yaml"
	run --separate-stderr rebal-run -s etf-blend-200-35 -e cancel-orders
	assert_success
	assert_equal "$(jq -r '"\(.account_id) \(.status)"' <<<"$output" | sort | tr '\n' ' ')" "DU1234567 ok DU2345678 ok "
	assert_equal "$(jq -c 'select(.dir == "in" and (.msg == "CANCEL_ORDER" or .msg == "REQ_GLOBAL_CANCEL")) | [.msg, .order_id]' ib.ndjson)" '["CANCEL_ORDER",10]'
	assert_equal "$(tail -n 1 "$(last_run)/out/DU1234567.ndjson" | jq -c '[.executions[] | [.order_id, .status]]')" '[[10,"Cancelled"]]'
	# a dry rebalance plans both phases' first step and places nothing
	run --separate-stderr rebal-run -n -s etf-blend-200-35 -e rebalance
	assert_success
	assert_equal "$(jq -r .status <<<"$output" | sort -u)" ok
	assert_equal "$(placed)" ""
	run --separate-stderr rebal-run -s etf-blend-200-35 -e rebalance
	assert_success
	assert_equal "$(jq -r '"\(.account_id) \(.status) \(.filled > 0)"' <<<"$output" | sort | tr '\n' ' ')" \
	    "DU1234567 ok true DU2345678 ok true "
	assert_equal "$(placed | awk '{ print $1 }' | sort -u | tr '\n' ' ')" "DU1234567 DU2345678 "
	# every order the rebalance placed carries its event's reference
	ev=$(jq -r .event <<<"$output" | sort -u)
	assert_equal "$(jq -r 'select(.dir == "in" and .msg == "PLACE_ORDER") | .ref' ib.ndjson | sort -u)" \
	    "$(printf 'rebal:%s:DU1234567\nrebal:%s:DU2345678' "$ev" "$ev")"
}

@test "a retry in the same second gets a run directory of its own" {
	# the names this event's run can take in the next minute, all taken
	# (and a few seconds back: this VM's clock has been seen to step)
	for s in $(seq -5 60); do
		mkdir -p "$REBAL_STATE/runs/$(date -u -d "@$(($(date +%s) + s))" +%Y%m%dT%H%M%SZ)-etf-blend-200-35-x9"
	done
	echo '{"id":"x9","strategy":"etf-blend-200-35","exec":"print-positions","account_id":"DU1234567"}' > ev.json
	run --separate-stderr rebal-run ev.json
	assert_success
	r=$(jq -r .run <<<"$output")
	echo "run: $r"
	[[ $r == */runs/*-etf-blend-200-35-x9-2 ]]
	[ -f "$r/event.json" ]
	# the taken directories are left as they were
	assert_equal "$(find "$REBAL_STATE/runs" -mindepth 2 -path '*-x9/*' | wc -l)" 0
}

@test "an account whose process dies without a summary ends failed in its output too, and is notified as failed" {
	# a rebal-account that records a finished sell phase (DU1234567) or
	# half a line (DU2345678), then dies by SIGKILL
	mkdir shim
	cat > shim/rebal-account <<-'SH'
	#!/bin/sh
	while getopts d:n c; do [ "$c" = d ] && run=$OPTARG; done
	shift $((OPTIND - 1))
	a=${1##*/}; a=${a%.json}
	case $a in
	DU1234567) jq -c '.status = "ok" | .plan = {phase: "sell", orders: []}' "$1" >>"$run/out/$a.ndjson" ;;
	*) printf '{"account_id":"%s","sta' "$a" >>"$run/out/$a.ndjson" ;;
	esac
	kill -KILL $$
	SH
	chmod +x shim/rebal-account
	start_server SINK alloc-sim -s -j "$BATS_TEST_TMPDIR/sink.ndjson"
	NTFY_URL=http://127.0.0.1:$SINK_PORT/t PATH=$PWD/shim:$PATH \
	    run --separate-stderr rebal-run -s etf-blend-200-35 -e rebalance
	stop_server SINK
	assert_failure 1
	assert_equal "$(jq -c '[.account_id, .status, .error.code]' <<<"$output" | sort | tr '\n' ' ')" \
	    '["DU1234567","failed",75] ["DU2345678","failed",75] '
	r=$(last_run)
	# the sell phase's record stays, the failed one follows it
	assert_equal "$(jq -c '[.status, .plan.phase, .error.message]' "$r/out/DU1234567.ndjson")" \
	    "$(printf '%s\n' '["ok","sell",null]' '["failed","sell","rebal-account ended without a summary"]')"
	# the half line stays on a line of its own; the failed job is whole
	assert_equal "$(sed -n 1p "$r/out/DU2345678.ndjson")" '{"account_id":"DU2345678","sta'
	assert_equal "$(sed -n 2p "$r/out/DU2345678.ndjson" | jq -c '[.account.id, .strategy, .status, .error.tool]')" \
	    '["DU2345678","etf-blend-200-35","failed","rebal-run"]'
	# one notification per account, each a failure, none a success
	assert_equal "$(jq -r .headers.tags sink.ndjson | sort | tr '\n' ' ')" 'x x '
}

# most gateway connections open at once, from the journal
max_conn() {
	jq -s '[foreach .[] as $l (0; if $l.msg == "CONNECT" then . + 1
	    elif $l.msg == "CLOSE" then . - 1 else . end)] | max' ib.ndjson
}

@test "-P caps the accounts at once: -P 1 one gateway connection at a time; by default they run side by side" {
	run --separate-stderr rebal-run -P 1 -s etf-blend-200-35 -e print-positions
	assert_success
	assert_equal "$(jq -r .status <<<"$output" | tr '\n' ' ')" "ok ok "
	assert_equal "$(max_conn)" 1
	run rebal-run -P 33 -s etf-blend-200-35
	assert_equal "$status" 64
	# without -P: each account's snapshot waits (bounded) until both
	# accounts have started one, which only a parallel run allows
	mkdir fake started
	printf '#!/bin/sh\n: >"%s/started/$$"\ni=0\nwhile [ "$(ls "%s/started" | wc -l)" -lt 2 ]; do\n\ti=$((i + 1)); [ $i -gt 300 ] && exit 69\n\tsleep 0.1\ndone\nexec "%s/bin/ib-snapshot" "$@"\n' \
	    "$PWD" "$PWD" "$TOP" >fake/ib-snapshot
	chmod +x fake/ib-snapshot
	PATH=$PWD/fake:$PATH run --separate-stderr rebal-run -s etf-blend-200-35 -e print-positions
	assert_success
	assert_equal "$(jq -r .status <<<"$output" | tr '\n' ' ')" "ok ok "
	assert_equal "$(ls started | wc -l)" 2
}

@test "on a terminal: progress on stderr (done, failed, pending; the slowest account's stage); none without one" {
	# DU1234567's snapshot waits until the terminal shows DU2345678 done;
	# DU2345678's until the terminal has drawn both accounts' first stage
	# (three lines with the start), so that it plans while DU1234567 is
	# longer in its stage
	mkdir fake
	cat >fake/ib-snapshot <<-EOF
	#!/bin/sh
	job=\$(cat)
	i=0
	case \$job in
	*'"account":{"id":"DU1234567"'*)
		until tr '\r' '\n' <"$PWD/ts" | grep -q '^rebal-run: 1/2 done'; do
			i=\$((i + 1)); [ \$i -gt 300 ] && exit 69
			sleep 0.1
		done ;;
	*)
		until [ "\$(tr '\r' '\n' <"$PWD/ts" | grep -c '^rebal-run: 0/2 done')" -ge 3 ]; do
			i=\$((i + 1)); [ \$i -gt 300 ] && exit 69
			sleep 0.1
		done ;;
	esac
	printf '%s\n' "\$job" | exec "$TOP/bin/ib-snapshot" "\$@"
	EOF
	chmod +x fake/ib-snapshot
	PATH=$PWD/fake:$PATH SHELL=/bin/sh script -qefc 'rebal-run -s etf-blend-200-35 -e print-rebalance >out.ndjson' ts >/dev/null
	assert_equal "$(jq -r .status out.ndjson | tr '\n' ' ')" "ok ok "
	tr '\r' '\n' <ts | sed 's/\x1b\[K//; /^$/d' >progress
	cat progress
	# at the start; DU2345678 planning while DU1234567 is still at its
	# snapshot: the slowest is the one longest in its stage
	grep -qx 'rebal-run: 0/2 done, 0 failed, 2 pending' progress
	grep -qx 'rebal-run: 0/2 done, 0 failed, 2 pending; slowest: DU1234567 at snapshot' progress
	grep -qx 'rebal-run: 1/2 done, 0 failed, 1 pending; slowest: DU1234567 at snapshot' progress
	grep -qx 'rebal-run: 1/2 done, 0 failed, 1 pending; slowest: DU1234567 at plan' progress
	assert_equal "$(grep '^rebal-run: [0-9]' progress | tail -n 1)" 'rebal-run: 2/2 done, 0 failed, 0 pending'
	# failed accounts are counted
	IB_PORT=1 SHELL=/bin/sh run script -qefc 'rebal-run -s etf-blend-200-35 -e print-positions >out.ndjson' ts2
	assert_equal "$status" 1
	assert_equal "$(jq -r .status out.ndjson | tr '\n' ' ')" "failed failed "
	tr '\r' '\n' <ts2 | grep -qx $'rebal-run: 2/2 done, 2 failed, 0 pending\e\\[K'
	# without a terminal: no progress line
	run --separate-stderr rebal-run -s etf-blend-200-35 -e print-positions
	assert_success
	[[ $stderr != *pending* && $stderr != *$'\r'* ]]
}

@test "exit 75 when an account is deferred and none failed, 1 when one failed; the gate's delay from REBAL_GATE_OPTS" {
	e2e_stop
	# Monday 08:00 New York: no liquid session yet
	sed 's/^clock: .*/clock: {at: 2026-11-23T13:00:00Z}/' "$EX/demo/ib-sim.yaml" >closed.yaml
	e2e_start closed.yaml
	run --separate-stderr rebal-run -s etf-blend-200-35 -e rebalance
	assert_equal "$status" 75
	assert_equal "$(jq -r '"\(.account_id) \(.status) \(.defer_until)"' <<<"$output" | sort | tr '\n' ' ')" \
	    "DU1234567 deferred 2026-11-23T14:35:00Z DU2345678 deferred 2026-11-23T14:35:00Z "
	REBAL_GATE_OPTS="-d 600" run --separate-stderr rebal-run -s etf-blend-200-35 -e rebalance -a DU1234567
	assert_equal "$status" 75
	assert_equal "$(jq -r .defer_until <<<"$output")" 2026-11-23T14:40:00Z
	# an account the gateway does not know fails; the others are deferred
	{ cat "$EX/accounts.yaml"; printf '  - {account_id: DU9999999, type: paper, strategy_name: etf-blend-200-35}\n'; } >acc.yaml
	run --separate-stderr rebal-run -f acc.yaml -s etf-blend-200-35 -e rebalance
	assert_equal "$status" 1
	assert_equal "$(jq -r '"\(.account_id) \(.status)"' <<<"$output" | sort | tr '\n' ' ')" \
	    "DU1234567 deferred DU2345678 deferred DU9999999 failed "
	assert_equal "$(placed)" ""
}

@test "every print command and cancel-orders on the demo scenario: reports by rebal-fmt, no allocation fetched, nothing sent" {
	for e in print-positions print-equity print-orders cancel-orders; do
		run --separate-stderr rebal-run -s etf-blend-200-35 -e "$e"
		assert_success
		assert_equal "$(jq -r '"\(.account_id) \(.exec) \(.status)"' <<<"$output" | sort | tr '\n' ' ')" \
		    "DU1234567 $e ok DU2345678 $e ok "
		r=$(last_run)
		assert_equal "$(ls "$r/jobs" | tr '\n' ' ')" "DU1234567.json DU2345678.json "
		assert_equal "$(jq -c 'has("allocations")' "$r/jobs/DU1234567.json")" false
		cp "$r/out/DU1234567.txt" "$e.txt"
	done
	assert_equal "$(jq -r 'select(.path != null) | .path' alloc.ndjson | wc -l)" 0
	assert_equal "$(placed)" ""
	# the reports: positions with their values, the net liquidation
	grep -q '^  SPY  *60 ' print-positions.txt
	grep -q '^  IWM  *50 ' print-positions.txt
	grep -q 'net liquidation' print-equity.txt
	grep -q 'DU1234567' print-orders.txt
}

#!/usr/bin/env bats
# End to end through the spool worker, several accounts and the clock
# (issue 6): parallel accounts, one account's failure, a closed market, PDT
# protection, SIGKILL of rebal-run with accounts at different points, and an
# event published while rebal-daemon is down.
#
# Strategy s3 targets AAA 45 % and BBB 45 % (10 % stays in cash, so that one
# pass reaches the targets). Three accounts of about 100 000 USD:
#   DU222222 all cash: buys AAA and BBB;
#   DU333333 holds CCC (not a target) and too much AAA: sells, buys BBB;
#   DU444444 holds too much BBB and some OLD (not a target): sells, buys AAA.
load helper
load faults

setup() {
	fx_setup
	cat >alloc.yaml <<-'EOF'
	strategies:
	  s3:
	    allocations:
	      - {symbol: AAA, allocation: 0.45}
	      - {symbol: BBB, allocation: 0.45}
	EOF
	fx_alloc
	cat >accounts.yaml <<-'EOF'
	accounts:
	  - {account_id: DU222222, type: paper, strategy_name: s3, pdt_protection_enabled: true}
	  - {account_id: DU333333, type: paper, strategy_name: s3}
	  - {account_id: DU444444, type: paper, strategy_name: s3}
	EOF
	export FX_ACCOUNTS='  - {id: DU222222, cash: 100000}
  - id: DU333333
    cash: 20000
    positions: [{symbol: CCC, qty: 1000, avg_cost: 25}, {symbol: AAA, qty: 500, avg_cost: 90}]
  - id: DU444444
    cash: 50000
    positions: [{symbol: BBB, qty: 2500, avg_cost: 18}, {symbol: OLD, qty: 100, avg_cost: 45}]'
}

teardown() {
	fx_teardown
}

# near ACCOUNT: every target within 0.5 percentage points of its weight
# (valued at the last price), from the final state.
near() {
	jq -e --arg a "$1" '
	  {AAA: 100.02, BBB: 20.01} as $px |
	  .accounts[] | select(.id == $a) | .net_liquidation as $v |
	  [.positions[] | select($px[.symbol]) | .qty * $px[.symbol] / $v - 0.45 |
	   if . < 0 then -. else . end] | length == 2 and all(. <= 0.005)' \
	    ib-final.json >/dev/null || {
		jq -c --arg a "$1" '.accounts[] | select(.id == $a)' ib-final.json >&2
		return 1
	}
}

@test "a three-account event trades all three in parallel; each ends at its targets" {
	fx_ib
	fx_add e1 rebalance s3
	fx_work
	assert_success
	assert_equal "$(fx_item e1 | jq -c '[.state, .accounts_done]')" '["done",["DU222222","DU333333","DU444444"]]'
	r=$(fx_last_run)
	assert_equal "$(jq -r '.account_id + " " + .status' "$r/summary.ndjson" | sort | tr '\n' ' ')" \
	    "DU222222 ok DU333333 ok DU444444 ok "
	# the three client ids interleave in the journal: more runs of one id
	# than ids, and at some moment two accounts' connections were open
	assert_equal "$(jq -s -r '[.[] | select(.dir == "in" and .client_id != null) | .client_id] |
	    reduce .[] as $c ([]; if .[-1] == $c then . else . + [$c] end) |
	    [(unique | length), length > 3] | @tsv' ib.ndjson)" "$(printf '3\ttrue')"
	assert_equal "$(jq -s '[foreach .[] as $l (0;
	    if $l.msg == "CONNECT" then . + 1 elif $l.msg == "CLOSE" then . - 1 else . end)] | max >= 2' ib.ndjson)" true
	fx_final
	near DU222222
	near DU333333
	near DU444444
	assert_equal "$(fx_position DU333333 CCC)" 0
	fx_no_lost e1
}

@test "one account's rejected order fails that account only" {
	FX_CCC=", reject: not allowed in this account" fx_ib
	fx_add e1 rebalance s3
	fx_work
	assert_equal "$status" 1
	assert_equal "$(fx_item e1 | jq -c '[.state, .accounts_done, .error.code, .error.account]')" \
	    '["failed",["DU222222","DU333333","DU444444"],77,"DU333333"]'
	fx_stderr_has "DU333333: failed: ib-order: SELL 1000 CCC rejected: 201 Order rejected - reason:not allowed in this account"
	r=$(fx_last_run)
	assert_equal "$(jq -r '.account_id + " " + .status' "$r/summary.ndjson" | sort | tr '\n' ' ')" \
	    "DU222222 ok DU333333 failed DU444444 ok "
	# no buy phase for the account whose sells did not all fill
	! grep -q 'stage buy' "$r/log/DU333333.log"
	fx_final
	near DU222222
	near DU444444
	assert_equal "$(fx_position DU333333 CCC)" 1000
	fx_no_lost e1
}

@test "an event while the market is closed is deferred, then runs after the sim clock opens" {
	sed -i '/DU333333\|DU444444/d' accounts.yaml
	# Monday 09:00 New York: before the open
	export REBAL_NOW=2026-03-02T14:00:00Z FX_PUBLISHED=2026-03-02T13:59:00Z
	FX_CLOCK='{at: 2026-03-02T14:00:00Z}' fx_ib
	fx_add e1 rebalance s3
	fx_work
	assert_equal "$status" 75
	# the open (09:30) plus rebal-gate's delay of 5 minutes
	assert_equal "$(fx_item e1 | jq -c '[.state, .due]')" '["deferred","2026-03-02T14:35:00Z"]'
	fx_stderr_has "DU222222: deferred until 2026-03-02T14:35:00Z: market closed"
	assert_equal "$(fx_item e1 | jq -r .reason)" "DU222222: market closed (AAA)"
	assert_equal "$(jq -r .status "$(fx_last_run)/summary.ndjson")" deferred
	assert_equal "$(fx_orders)" ""
	# not due yet: the worker leaves it
	run timeout 30 rebal-spool run -1 -- rebal-run
	assert_success
	assert_equal "$(fx_state e1)" deferred
	# the gateway's clock and the spool's move past the open
	stop_server IB
	FX_CLOCK='{at: 2026-03-02T14:36:00Z}' fx_ib
	export REBAL_NOW=2026-03-02T14:36:00Z
	fx_work
	assert_success
	assert_equal "$(fx_item e1 | jq -c '[.state, .attempts]')" '["done",2]'
	fx_final
	near DU222222
	fx_no_lost e1
}

@test "a second live rebalance on the same day with PDT protection is deferred to the next session" {
	# one live account (PDT rules are for real accounts), traded for real
	cat >accounts.yaml <<-'EOF'
	accounts:
	  - {account_id: U2222222, type: live, strategy_name: s3, pdt_protection_enabled: true}
	EOF
	export FX_ACCOUNTS='  - {id: U2222222, cash: 100000}' TRADING_MODE=live
	export REBAL_NOW=2026-03-02T15:00:00Z FX_PUBLISHED=2026-03-02T14:59:00Z
	fx_ib
	fx_add e1 rebalance s3
	fx_work
	assert_success
	n=$(fx_orders | wc -l)
	[ "$n" -eq 2 ]
	export FX_PUBLISHED=2026-03-02T15:00:00Z
	fx_add e2 rebalance s3
	fx_work
	assert_equal "$status" 75
	# Tuesday's open plus the delay
	assert_equal "$(fx_item e2 | jq -c '[.state, .due]')" '["deferred","2026-03-03T14:35:00Z"]'
	fx_stderr_has "U2222222: deferred until 2026-03-03T14:35:00Z: PDT protection: already rebalanced today"
	assert_equal "$(fx_item e2 | jq -r .reason)" "U2222222: PDT protection: already rebalanced today"
	assert_equal "$(fx_orders | wc -l)" "$n"
	fx_final
	fx_no_lost e1 e2
}

@test "SIGKILL of rebal-run mid-event: finished accounts are not traded again, the others complete" {
	fx_ib
	fx_add e1 rebalance s3
	# DU444444 cannot start while the test holds its account lock, as if
	# it were slow; the other two finish
	mkdir -p "$REBAL_STATE/locks"
	mkfifo hold
	flock "$REBAL_STATE/locks/DU444444.lock" sh -c 'echo locked; read x <hold' >held &
	FX_PIDS="${FX_PIDS:-} $!"
	fx_wait 10 grep -q locked held
	rebal-spool run -1 -- rebal-run >w.out 2>w.err &
	W=$!
	FX_PIDS="$FX_PIDS $W"
	fx_wait 60 eval '[ "$(wc -l <"$(fx_last_run)/summary.ndjson")" -eq 2 ]'
	fx_crash "$W" rebal-run
	wrc=0
	wait "$W" || wrc=$?
	assert_equal "$wrc" 75
	grep -q "rebal-spool: e1: CMD killed by signal 9 (Killed): retried at" w.err
	# the accounts that reported before the kill are done for the spool
	assert_equal "$(fx_item e1 | jq -c '[.state, .accounts_done]')" '["deferred",["DU222222","DU333333"]]'
	# DU444444 gets its lock and runs on alone to the end
	echo go >hold
	fx_orphans_gone
	[ -s "$REBAL_STATE/finished/e1/DU444444.json" ]
	fx_retry e1
	fx_work
	assert_success
	assert_equal "$(fx_item e1 | jq -c '[.state, .accounts_done]')" '["done",["DU222222","DU333333","DU444444"]]'
	# the retry ran only DU444444, which had finished: nothing traded twice
	fx_stderr_has "rebal-run: DU222222: already finished for this event, not run again"
	fx_stderr_has "rebal-run: DU333333: already finished for this event, not run again"
	assert_equal "$(jq -c '[.account_id, .status]' "$(fx_last_run)/summary.ndjson")" '["DU444444","skipped"]'
	assert_equal "$(fx_orders | awk '{ print $1 }' | sort | uniq -c | awk '{ print $2 ":" $1 }' | tr '\n' ' ')" \
	    "DU222222:2 DU333333:3 DU444444:3 "
	fx_final
	near DU222222
	near DU333333
	near DU444444
	fx_no_lost e1
}

@test "an event published while rebal-daemon is down is executed after it comes back" {
	sed -i '/DU333333\|DU444444/d' accounts.yaml
	key=fxapp.fxkey:fx-daemon-secret-6a01
	ABLY_SIM_KEYS=$key start_server AB ably-sim -j "$BATS_TEST_TMPDIR/ably.ndjson"
	fx_ib
	export ABLY_API_KEY=$key REBAL_LISTEN_OPTS="-T -H 127.0.0.1:$AB_PORT"
	pub() {
		curl -sf -u "$key" -H 'Content-Type: application/json' \
		    -d "{\"id\":\"$1\",\"name\":\"rebalance\",\"data\":{\"exec\":\"$2\",\"eventId\":\"$1\"}}" \
		    "http://127.0.0.1:$AB_PORT/channels/s3/messages" >/dev/null
	}
	is_done() { [ "$(fx_state "$1")" = done ]; }
	rebal-daemon >>daemon.err 2>&1 &
	DAEMON_PID=$!
	FX_PIDS="${FX_PIDS:-} $DAEMON_PID"
	curl -sf "http://127.0.0.1:$AB_PORT/_sim/wait?event=attached:s3&timeout=30000" >/dev/null
	pub m1 print-positions
	fx_wait 60 is_done m1
	kill -TERM "$DAEMON_PID"
	wait "$DAEMON_PID"
	grep -q "rebal-daemon: stopped" daemon.err
	# while it is down
	pub m2 rebalance
	rebal-daemon >>daemon.err 2>&1 &
	DAEMON_PID=$!
	FX_PIDS="$FX_PIDS $DAEMON_PID"
	fx_wait 90 is_done m2
	kill -TERM "$DAEMON_PID"
	wait "$DAEMON_PID"
	assert_equal "$(fx_item m2 | jq -c '[.source, .outcome]')" '["history","ok"]'
	assert_equal "$(fx_orders | wc -l)" 2
	fx_final
	near DU222222
	fx_no_lost m1 m2
}

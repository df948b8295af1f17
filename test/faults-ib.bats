#!/usr/bin/env bats
# Fault matrix, IB Gateway: one event through the spool worker
# (rebal-spool run -1 -- rebal-run) against ib-sim and alloc-sim, with the
# gateway misbehaving at each point of an account's pipeline:
#   connection 1 ib-snapshot, 2 ib-order (sell), 3 ib-snapshot, 4 ib-order (buy).
# Every row checks the worker's exit status, the item in the spool, the
# error on standard error and in the run directory, and, from the sim's
# journal and final state, that no order was duplicated and nothing traded
# beyond the plans. See faults.bash.
load helper
load faults

setup() {
	fx_setup
	fx_alloc
}

teardown() {
	fx_teardown
}

@test "baseline: an event sells, then buys, and is done" {
	fx_ib
	fx_add e1
	fx_work
	assert_success
	assert_equal "$(jq -r '[.state, .outcome] | join(" ")' <<<"$output")" "done ok"
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	r=$(fx_last_run)
	assert_equal "$(jq -r .status "$r/summary.ndjson")" ok
	assert_equal "$(grep -o 'stage [a-z0-9-]*' "$r/log/DU111111.log" | tr '\n' ' ')" \
	    "stage snapshot stage gate stage plan-sell stage sell stage snapshot-2 stage plan-buy stage buy "
	fx_final
	fx_no_lost e1
}

@test "gateway disconnect before the sell phase (snapshot): deferred 69, done on retry" {
	fx_ib 'faults: [{connection: 1, disconnect_after: 5}]'
	fx_add e1
	fx_work
	assert_equal "$status" 75
	assert_equal "$(fx_state e1)" deferred
	assert_equal "$(fx_item e1 | jq -c '[.error.code, .error.tool, .accounts_pending]')" '[69,"ib-snapshot",["DU111111"]]'
	fx_stderr_has "DU111111: failed: ib-snapshot: gateway closed the connection (69)"
	fx_log_has DU111111 'ib-snapshot: DU111111: gateway closed the connection'
	fx_story DU111111 failed 69
	assert_equal "$(fx_orders)" ""
	fx_retry e1
	fx_work
	assert_success
	assert_equal "$(fx_state e1)" done
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_final
	fx_no_lost e1
}

@test "gateway disconnect during the sell phase (order placed, not filled): reconnect, no second order" {
	FX_OLD=", fills: {delay_ms: 400}" fx_ib 'faults: [{connection: 2, disconnect_after: 5}]'
	fx_add e1
	fx_work
	assert_success
	assert_equal "$(fx_state e1)" done
	# the connection closed with the sell placed and not yet filled
	fx_journal_has '.conn == 2 and .msg == "CLOSE" and .reason == "disconnect_after"'
	! fx_journal_has '.conn == 2 and .msg == "EXECUTION_DATA"'
	fx_log_has DU111111 'ib-order: DU111111: gateway closed the connection: reconnecting'
	fx_story DU111111 ok
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_final
	assert_equal "$(fx_position DU111111 OLD)" 0
	fx_no_lost e1
}

@test "gateway disconnect after the sell phase (fill reported, then closed): done, no second order" {
	fx_ib 'faults: [{connection: 2, disconnect_after: 5}]'
	fx_add e1
	fx_work
	assert_success
	assert_equal "$(fx_state e1)" done
	fx_journal_has '.conn == 2 and .msg == "EXECUTION_DATA" and .symbol == "OLD" and .cum_qty == 100'
	fx_journal_has '.conn == 2 and .msg == "CLOSE" and .reason == "disconnect_after"'
	# ib-order had its fill when the gateway closed: nothing failed, it
	# has nothing to say; the run directory has the sell filled once
	assert_equal "$(jq -c 'select(.plan.phase == "sell" and .executions) | [.executions[] | [.symbol, .filled, .status]]' \
	    "$(fx_last_run)/out/DU111111.ndjson" | sort -u)" '[["OLD",100,"Filled"]]'
	fx_story DU111111 ok
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_final
	fx_no_lost e1
}

@test "gateway disconnect between the phases (second snapshot): deferred 69; the retry does not sell again" {
	fx_ib 'faults: [{connection: 3, disconnect_after: 4}]'
	fx_add e1
	fx_work
	assert_equal "$status" 75
	assert_equal "$(fx_item e1 | jq -c '[.state, .error.code, .error.tool]')" '["deferred",69,"ib-snapshot"]'
	fx_stderr_has "DU111111: failed: ib-snapshot: gateway closed the connection (69)"
	# the run directory: sold, then the second snapshot failed; no buy stage
	r=$(fx_last_run)
	assert_equal "$(tail -n 1 "$r/out/DU111111.ndjson" | jq -c '[.status, [.executions[] | .symbol + " " + .status]]')" \
	    '["failed",["OLD Filled"]]'
	! grep -q 'stage buy' "$r/log/DU111111.log"
	fx_story DU111111 failed 69
	assert_equal "$(fx_orders)" "DU111111 SELL 100 OLD"
	fx_retry e1
	fx_work
	assert_success
	assert_equal "$(fx_state e1)" done
	fx_story DU111111 ok
	# the retry planned no sell (OLD is gone) and bought
	assert_equal "$(jq -c 'select(.plan.phase == "sell") | .plan.orders' "$(fx_last_run)/out/DU111111.ndjson" | sort -u)" '[]'
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_final
	fx_no_lost e1
}

@test "gateway disconnect during the buy phase: the order that never arrived is placed once" {
	FX_AAA=", fills: {delay_ms: 400}" fx_ib 'faults: [{connection: 4, disconnect_after: 5}]'
	fx_add e1
	fx_work
	assert_success
	assert_equal "$(fx_state e1)" done
	fx_log_has DU111111 'reconnecting'
	fx_log_has DU111111 'BUY 390 BBB: order [0-9]+ never reached the gateway: placing it again'
	fx_story DU111111 ok
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_final
	assert_equal "$(fx_position DU111111 BBB)" 390
	fx_no_lost e1
}

@test "order rejected: the account fails for good (77), the item is failed, not retried" {
	FX_BBB=", reject: no trading permissions" fx_ib
	fx_add e1
	fx_work
	assert_equal "$status" 1
	assert_equal "$(fx_item e1 | jq -c '[.state, .outcome, .error.code, .error.tool, .accounts_pending]')" \
	    '["failed","failed",77,"ib-order",[]]'
	fx_stderr_has "DU111111: failed: ib-order: BUY 390 BBB rejected: 201 Order rejected - reason:no trading permissions"
	fx_log_has DU111111 'BUY 390 BBB: rejected: 201'
	fx_story DU111111 failed 77
	assert_equal "$(jq -r '.status + " " + (.error.code | tostring)' "$(fx_last_run)/summary.ndjson")" "failed 77"
	# the worker has nothing left to do
	run timeout 30 rebal-spool run -1 -- rebal-run
	assert_success
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_final
	fx_no_lost e1
}

@test "partial fill then timeout: the rest is cancelled, deferred 75; the retry buys what is left" {
	FX_BBB=", fills: {partial: 0.5, steps: 1}" fx_ib
	fx_add e1
	fx_work
	assert_equal "$status" 75
	assert_equal "$(fx_item e1 | jq -c '[.state, .error.code]')" '["deferred",75]'
	fx_stderr_has "DU111111: failed: ib-order: BUY 390 BBB filled 195 by the deadline of 8 s; the rest was cancelled (75)"
	r=$(fx_last_run)
	assert_equal "$(tail -n 1 "$r/out/DU111111.ndjson" | jq -c '[.executions[] | select(.symbol == "BBB") | [.qty, .filled, .status]]')" \
	    '[[390,195,"Cancelled"]]'
	fx_story DU111111 failed 75
	fx_log_has DU111111 'BUY 390 BBB filled 195'
	fx_journal_has '.msg == "CANCEL_ORDER"'
	fx_retry e1
	fx_work
	# the retry plans the rest from a fresh snapshot; it fills half again
	assert_equal "$status" 75
	assert_equal "$(jq -c 'select(.plan.phase == "buy") | [.plan.orders[] | select(.symbol == "BBB") | .qty]' "$(fx_last_run)/out/DU111111.ndjson" | sort -u)" '[196]'
	fx_final
	assert_equal "$(fx_position DU111111 BBB)" $((195 + 98))
	fx_no_lost e1
}

@test "no market data: nothing is traded, deferred 75 naming the symbol" {
	FX_BBB=", market_data: none" fx_ib
	fx_add e1
	fx_work
	assert_equal "$status" 75
	assert_equal "$(fx_item e1 | jq -c '[.state, .error.code, .error.tool]')" '["deferred",75,"ib-snapshot"]'
	fx_stderr_has "DU111111: failed: ib-snapshot: no valid bid/ask for BBB"
	fx_log_has DU111111 'no live market data \(354\)'
	fx_story DU111111 failed 75
	assert_equal "$(fx_orders)" ""
	fx_final
	fx_no_lost e1
}

@test "a quote that turns NaN after the sell: no buy on it, deferred 75" {
	fx_ib 'events: [{on: PLACE_ORDER, after_ms: 0, symbol: BBB, bid: nan, ask: nan, last: nan}]'
	fx_add e1
	fx_work
	assert_equal "$status" 75
	assert_equal "$(fx_item e1 | jq -c '[.state, .error.code, .error.tool]')" '["deferred",75,"ib-snapshot"]'
	fx_stderr_has "DU111111: failed: ib-snapshot: no valid bid/ask for BBB"
	# sold, then the second snapshot found no price for BBB
	fx_story DU111111 failed 75
	fx_log_has DU111111 'ib-snapshot: DU111111: no valid bid/ask for BBB'
	assert_equal "$(grep -o 'stage [a-z0-9-]*:' "$(fx_last_run)/log/DU111111.log" | tail -n 1)" "stage snapshot-2:"
	assert_equal "$(fx_orders)" "DU111111 SELL 100 OLD"
	fx_final
	fx_no_lost e1
}

@test "pacing violation: a snapshot that lost a request defers (75); ib-order slows down and finishes" {
	# attempt 1: connection 1 (snapshot); attempt 2: 2 snapshot, 3 sell,
	# 4 snapshot, 5 buy
	fx_ib 'faults: [{connection: 1, pacing: 5}, {connection: 5, pacing: 5}]'
	fx_add e1
	fx_work
	assert_equal "$status" 75
	assert_equal "$(fx_item e1 | jq -c '[.state, .error.code, .error.tool]')" '["deferred",75,"ib-snapshot"]'
	fx_stderr_has "DU111111: failed: ib-snapshot: pacing violation"
	fx_story DU111111 failed 75
	fx_log_has DU111111 'pacing violation'
	fx_retry e1
	fx_work
	assert_success
	fx_journal_has '.conn == 5 and .msg == "ERR_MSG" and .code == 100'
	fx_log_has DU111111 'pacing violation \(error 100\): slowing to'
	fx_story DU111111 ok
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_final
	fx_no_lost e1
}

@test "duplicate client id (326): the connection is retried and the event done" {
	fx_ib 'faults: [{connection: [1, 2, 5], duplicate_client_id: true}]'
	fx_add e1
	fx_work
	assert_success
	assert_equal "$(fx_state e1)" done
	assert_equal "$(jq -c 'select(.msg == "ERR_MSG" and .code == 326) | .conn' ib.ndjson | tr '\n' ' ')" "1 2 5 "
	# connections 1 and 2 are the first snapshot's (said once), 5 the
	# second's
	assert_equal "$(grep -Ec 'ib-snapshot: 127.0.0.1:[0-9]+: client id 111111 is in use \(326\): retrying' \
	    "$(fx_last_run)/log/DU111111.log")" 2
	fx_story DU111111 ok
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_final
	fx_no_lost e1
}

@test "gateway silent mid-request: ib-order gives up at its deadline (75); the retry does not sell twice" {
	FX_OLD=", fills: {delay_ms: 300}" fx_ib 'faults: [{connection: 2, silent_after: 5}]'
	fx_add e1
	fx_work
	assert_equal "$status" 75
	assert_equal "$(fx_item e1 | jq -c '[.state, .error.code, .error.tool]')" '["deferred",75,"ib-order"]'
	fx_stderr_has "DU111111: failed: ib-order: SELL 100 OLD still working (cancel not confirmed) after the deadline"
	fx_story DU111111 failed 75
	fx_log_has DU111111 'ib-order: DU111111: .*SELL 100 OLD still working'
	assert_equal "$(fx_orders)" "DU111111 SELL 100 OLD"
	fx_retry e1
	fx_work
	assert_success
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_final
	assert_equal "$(fx_position DU111111 OLD)" 0
	fx_no_lost e1
}

@test "gateway refusing connections: deferred 69; once it listens, done" {
	# a port nobody listens on: take one from ib-sim, then stop it
	fx_ib
	port=$IB_PORT
	stop_server IB
	rm -f ib.ndjson ib-final.json
	fx_add e1
	fx_work
	assert_equal "$status" 75
	assert_equal "$(fx_item e1 | jq -c '[.state, .error.code, .error.tool]')" '["deferred",69,"ib-snapshot"]'
	fx_stderr_has "DU111111: failed: ib-snapshot: 127.0.0.1:$port: Connection refused (69)"
	fx_story DU111111 failed 69
	fx_log_has DU111111 "ib-snapshot: .*127.0.0.1:$port: Connection refused"
	FX_IB_PORT=$port fx_ib
	fx_retry e1
	fx_work
	assert_success
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_final
	fx_no_lost e1
}

@test "gateway accepting and closing (not logged in): deferred 69, nothing sent" {
	fx_ib 'faults: [{not_logged_in: true}]'
	fx_add e1
	fx_work
	assert_equal "$status" 75
	assert_equal "$(fx_item e1 | jq -c '[.state, .error.code, .error.tool]')" '["deferred",69,"ib-snapshot"]'
	fx_stderr_has "DU111111: failed: ib-snapshot: gateway closed the connection during the handshake (69)"
	fx_story DU111111 failed 69
	fx_log_has DU111111 'ib-snapshot: .*gateway closed the connection during the handshake'
	assert_equal "$(fx_orders)" ""
	fx_final
	fx_no_lost e1
}

@test "the checks themselves: a duplicate live order and an over-trade are caught" {
	cat >ib.ndjson <<-'EOF2'
	{"t":"1","conn":2,"client_id":7,"dir":"in","msg":"PLACE_ORDER","order_id":1,"account":"X","symbol":"A","action":"BUY","qty":10}
	{"t":"2","conn":2,"client_id":7,"dir":"out","msg":"ORDER_STATUS","order_id":1,"status":"Submitted","client":7}
	{"t":"3","conn":3,"client_id":7,"dir":"in","msg":"PLACE_ORDER","dropped":"pacing"}
	{"t":"4","conn":3,"client_id":7,"dir":"in","msg":"PLACE_ORDER","order_id":2,"account":"X","symbol":"A","action":"BUY","qty":10}
	EOF2
	run fx_no_dup
	assert_failure
	assert_output --partial "X BUY A: order 7:2 placed while 7:1 live"
	# an open-order listing without order 1 (it ended unseen) clears it
	sed -i '3a {"t":"3","conn":3,"client_id":7,"dir":"in","msg":"REQ_ALL_OPEN_ORDERS"}\n{"t":"3","conn":3,"client_id":7,"dir":"out","msg":"OPEN_ORDER_END"}' ib.ndjson
	run fx_no_dup
	assert_success
	mkdir -p "$REBAL_STATE/runs/r1/out"
	echo '{"exec":"rebalance","account":{"id":"X"},"plan":{"phase":"buy","orders":[{"symbol":"A","action":"BUY","qty":10}]}}' >"$REBAL_STATE/runs/r1/out/X.ndjson"
	echo '{"executions":[{"account":"X","symbol":"A","action":"BUY","qty":6},{"account":"X","symbol":"A","action":"BUY","qty":6}]}' >ib-final.json
	run fx_within_plan
	assert_failure
	assert_output --partial "X BUY A: traded 12, planned 10"
	echo '{"executions":[{"account":"X","symbol":"A","action":"BUY","qty":6},{"account":"X","symbol":"A","action":"BUY","qty":4}]}' >ib-final.json
	run fx_within_plan
	assert_success
}

#!/usr/bin/env bats
# Fault matrix, crashes: SIGKILL of rebal-run, rebal-account, ib-order or the
# spool worker at a stage of an account's rebalance, then a restart of the
# worker. What the killed process left running finishes on its own (as it
# would on a real host); the restart recovers the item (from deferred/ with
# `rebal-spool retry`, or from cur/ after the worker's death), an account
# that finished is not traded again, and no order is duplicated.
load helper
load faults

setup() {
	fx_setup
	fx_alloc
}

teardown() {
	fx_teardown
}

stage_is() {
	[ "$(fx_stage DU111111)" = "$1" ]
}

# worker: the spool worker in the background on one item.
worker() {
	rebal-spool run -1 -- rebal-run >w.out 2>w.err &
	W=$!
	FX_PIDS="${FX_PIDS:-} $W"
}

# crash VICTIM STAGE [JQ]: once DU111111 is at STAGE (and the journal has a
# line matching JQ), SIGKILL the process VICTIM of the worker's tree; then
# wait for the worker ($wrc: its exit status) and for every process of the
# tree to end.
crash() {
	fx_wait 60 stage_is "$2"
	[ -z "${3:-}" ] || fx_wait 30 fx_journal_has "$3"
	fx_crash "$W" "$1"
	wrc=0
	wait "$W" || wrc=$?
	fx_orphans_gone
}

# restart: the worker again, after the item is made due at once.
restart() {
	[ "$(fx_state e1)" != deferred ] || fx_retry e1
	fx_work
}

@test "SIGKILL of ib-order in the sell phase: retryable (75); the retry adopts the working order instead of placing another" {
	# half the sell fills, the rest keeps working at the gateway
	FX_OLD=", fills: {partial: 0.5, steps: 1}" fx_ib
	fx_add e1
	worker
	crash ib-order sell '.msg == "EXECUTION_DATA" and .symbol == "OLD"'
	assert_equal "$wrc" 75
	assert_equal "$(fx_item e1 | jq -c '[.state, .error.code, .error.tool]')" '["deferred",75,"ib-order"]'
	grep -q "rebal-run: DU111111: failed: ib-order: ib-order (stage sell) killed by signal 9 (75)" w.err
	fx_log_has DU111111 'ib-order \(stage sell\) killed by signal 9'
	restart
	# the retry plans the 50 left, finds order 1 working for them and
	# waits for it; it never fills, so it is cancelled at the deadline
	assert_equal "$status" 75
	fx_log_has DU111111 'SELL OLD: order 1 \(SELL 100, Submitted\) is already working: waiting for it instead of placing another'
	assert_equal "$(tail -n 1 "$(fx_last_run)/out/DU111111.ndjson" | jq -c '[.plan.orders[].qty, [.executions[] | .order_id, .filled, .status]]')" \
	    '[50,[1,50,"Cancelled"]]'
	assert_equal "$(fx_orders)" "DU111111 SELL 100 OLD"
	fx_final
	assert_equal "$(fx_position DU111111 OLD)" 50
	fx_no_lost e1
}

@test "SIGKILL of ib-order in the buy phase: retryable; the retry buys nothing twice" {
	FX_BBB=", fills: {delay_ms: 1500}" fx_ib
	fx_add e1
	worker
	crash ib-order buy '.msg == "PLACE_ORDER" and .symbol == "BBB"'
	assert_equal "$wrc" 75
	assert_equal "$(fx_item e1 | jq -c '[.state, .error.code]')" '["deferred",75]'
	grep -q "ib-order (stage buy) killed by signal 9" w.err
	restart
	if [ "$status" -eq 75 ]; then
		# the killed attempt's order filled between the retry's
		# snapshot and its orders: ib-order refuses to buy on that
		# snapshot's cash (75), and the next retry finishes
		assert_equal "$(fx_state e1)" deferred
		restart
	fi
	assert_success
	assert_equal "$(fx_state e1)" done
	# a fresh plan may top up what the first left, never buy it again
	fx_final
	fx_not_above_target DU111111 BBB 0.5 20.01
	fx_not_above_target DU111111 AAA 0.5 100.02
	fx_no_lost e1
}

@test "SIGKILL of rebal-account in the sell phase: its account is retried (75), sold once" {
	FX_OLD=", fills: {delay_ms: 1500}" fx_ib
	fx_add e1
	worker
	crash rebal-account sell '.msg == "PLACE_ORDER" and .symbol == "OLD"'
	assert_equal "$wrc" 75
	assert_equal "$(fx_item e1 | jq -c '[.state, .error.code, .error.message]')" \
	    '["deferred",75,"rebal-account ended without a summary"]'
	grep -q "xargs: rebal-account: terminated by signal 9" w.err
	restart
	assert_success
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_final
	fx_no_lost e1
}

@test "SIGKILL of rebal-account between the phases: retried; the retry sells nothing and buys" {
	FX_LATENCY='{default: 2, REQ_MKT_DATA: 800}' fx_ib
	fx_add e1
	worker
	crash rebal-account snapshot-2
	assert_equal "$wrc" 75
	assert_equal "$(fx_state e1)" deferred
	restart
	assert_success
	assert_equal "$(jq -c 'select(.plan.phase == "sell") | .plan.orders' "$(fx_last_run)/out/DU111111.ndjson" | sort -u)" '[]'
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_final
	fx_no_lost e1
}

@test "SIGKILL of rebal-run at the first snapshot: the account finishes alone; the retry skips it as finished" {
	FX_LATENCY='{default: 2, REQ_MKT_DATA: 800}' fx_ib
	fx_add e1
	worker
	crash rebal-run snapshot
	# the worker saw its command die and retries the item
	assert_equal "$wrc" 75
	assert_equal "$(fx_item e1 | jq -c '[.state, .error.message]')" '["deferred","CMD killed by signal 9 (Killed)"]'
	grep -q "rebal-spool: e1: CMD killed by signal 9 (Killed): retried at " w.err
	# the account ran on and finished; its run directory says so
	first=$(fx_last_run)
	assert_equal "$(jq -r .status "$first/summary.ndjson")" ok
	[ -s "$REBAL_STATE/finished/e1/DU111111.json" ]
	restart
	assert_success
	assert_equal "$(fx_state e1)" done
	r=$(fx_last_run)
	assert_equal "$(jq -c '[.status, .reason]' "$r/summary.ndjson")" \
	    "[\"skipped\",\"already finished for this event (ok, run $first)\"]"
	# traded once, in the first run only
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_final
	fx_no_lost e1
}

@test "SIGKILL of rebal-run in the buy phase: the retry does not buy again" {
	FX_BBB=", fills: {delay_ms: 1500}" fx_ib
	fx_add e1
	worker
	crash rebal-run buy '.msg == "PLACE_ORDER" and .symbol == "BBB"'
	assert_equal "$wrc" 75
	restart
	assert_success
	fx_log_has DU111111 'already finished for this event'
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_final
	fx_no_lost e1
}

@test "SIGKILL of the spool worker between the phases: the item is recovered from cur/; not traded twice" {
	FX_LATENCY='{default: 2, REQ_MKT_DATA: 800}' fx_ib
	fx_add e1
	worker
	crash rebal-spool snapshot-2
	assert_equal "$wrc" 137
	# rebal-run got SIGTERM from the dying worker: it let the account finish
	grep -q "rebal-run: stopping: running accounts finish" w.err
	assert_equal "$(fx_state e1)" cur
	restart
	assert_success
	[[ "$stderr" == *"rebal-spool: e1: recovered from cur/ (attempt 1 was interrupted)"* ]]
	assert_equal "$(fx_state e1)" done
	fx_log_has DU111111 'already finished for this event'
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_final
	fx_no_lost e1
}

@test "SIGKILL of the spool worker in the sell phase: recovered from cur/; one sell, one buy each" {
	FX_OLD=", fills: {delay_ms: 1500}" fx_ib
	fx_add e1
	worker
	crash rebal-spool sell '.msg == "PLACE_ORDER" and .symbol == "OLD"'
	assert_equal "$wrc" 137
	restart
	assert_success
	assert_equal "$(fx_state e1)" done
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_final
	fx_no_lost e1
}

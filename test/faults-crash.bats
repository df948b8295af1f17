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
	fx_story DU111111 failed 75
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
	fx_story DU111111 failed 75
	fx_log_has DU111111 'ib-order \(stage buy\) killed by signal 9'
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
	fx_story DU111111 failed 75
	assert_equal "$(fx_stage DU111111)" sell
	restart
	assert_success
	fx_story DU111111 ok
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
	assert_equal "$(fx_item e1 | jq -c '[.state, .error.code]')" '["deferred",75]'
	grep -q "xargs: rebal-account: terminated by signal 9" w.err
	grep -q "^rebal-run: DU111111: failed: .*(75)$" w.err
	fx_story DU111111 failed 75
	assert_equal "$(fx_stage DU111111)" snapshot-2
	restart
	assert_success
	fx_story DU111111 ok
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
	grep -q "rebal-spool: e1: CMD killed by signal 9 (Killed): retried at " w.err
	fx_story DU111111 ok
	restart
	assert_success
	fx_log_has DU111111 'already finished for this event'
	fx_story DU111111 skipped
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
	grep -q "rebal-run: stopping: running accounts finish" w.err
	assert_equal "$(fx_state e1)" cur
	fx_story DU111111 ok
	restart
	assert_success
	fx_stderr_has "rebal-spool: e1: recovered from cur/ (attempt 1 was interrupted)"
	fx_log_has DU111111 'already finished for this event'
	assert_equal "$(fx_state e1)" done
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_final
	fx_no_lost e1
}

# --- every process at every stage ----------------------------------------
# row VICTIM STAGE: SIGKILL VICTIM (rebal-account, rebal-run or the spool
# worker) while DU111111 is at STAGE of its rebalance, then restart the
# worker. The stage lasts because of the sim (a snapshot waits on slow
# market data; an order fills after 1.5 s) or, for the short local stages,
# because the test holds it (fx_hold). Checks the worker's status and
# standard error, the item, the run directory of the killed attempt, then
# that the restart finishes the event, each order placed once.
row() {
	local victim=$1 stage=$2 jq= first
	case $stage in
	snapshot | snapshot-2) FX_LATENCY='{default: 2, REQ_MKT_DATA: 800}' fx_ib ;;
	sell)
		FX_OLD=", fills: {delay_ms: 1500}" fx_ib
		jq='.msg == "PLACE_ORDER" and .symbol == "OLD"' ;;
	buy)
		FX_BBB=", fills: {delay_ms: 1500}" fx_ib
		jq='.msg == "PLACE_ORDER" and .symbol == "BBB"' ;;
	*)
		fx_ib
		fx_hold "$stage" ;;
	esac
	fx_add e1
	worker
	fx_wait 60 stage_is "$stage"
	case $stage in gate | plan-sell | plan-buy) fx_wait 30 fx_held ;; esac
	[ -z "$jq" ] || fx_wait 30 fx_journal_has "$jq"
	fx_crash "$W" "$victim"
	wrc=0
	wait "$W" || wrc=$?
	case $stage in gate | plan-sell | plan-buy) fx_release ;; esac
	fx_orphans_gone
	first=$(fx_last_run)
	case $victim in
	rebal-account)
		# the account's process died: no summary from it, retryable
		assert_equal "$wrc" 75
		assert_equal "$(fx_item e1 | jq -c '[.state, .error.code, .accounts_pending]')" \
		    '["deferred",75,["DU111111"]]'
		grep -q "xargs: rebal-account: terminated by signal 9" w.err
		grep -q "^rebal-run: DU111111: failed: .*(75)$" w.err
		fx_story DU111111 failed 75 "$first"
		# it was killed there: the stage file never said done
		assert_equal "$(cat "$first/stage/DU111111")" "$stage"
		assert_equal "$(grep -o 'stage [a-z0-9-]*:' "$first/log/DU111111.log" | tail -n 1)" "stage $stage:"
		;;
	rebal-run)
		# the worker saw its command die; the account ran on alone
		assert_equal "$wrc" 75
		assert_equal "$(fx_item e1 | jq -c '[.state, .error.message]')" \
		    '["deferred","CMD killed by signal 9 (Killed)"]'
		grep -q "rebal-spool: e1: CMD killed by signal 9 (Killed): retried at " w.err
		fx_story DU111111 ok "" "$first"
		assert_equal "$(cat "$first/stage/DU111111")" done
		[ -s "$REBAL_STATE/finished/e1/DU111111.json" ]
		;;
	rebal-spool)
		# rebal-run was told to stop by the dying worker; the running
		# account finished; the item is left in cur/
		assert_equal "$wrc" 137
		grep -q "rebal-run: stopping: running accounts finish" w.err
		assert_equal "$(fx_state e1)" cur
		fx_story DU111111 ok "" "$first"
		[ -s "$REBAL_STATE/finished/e1/DU111111.json" ]
		;;
	esac
	restart
	assert_success
	assert_equal "$(fx_state e1)" done
	case $victim in
	rebal-account)
		fx_story DU111111 ok
		# a kill before the sell's orders: the retry sells; after: not
		case $stage in
		snapshot | gate | plan-sell) ;;
		*) assert_equal "$(jq -c 'select(.plan.phase == "sell") | .plan.orders' \
		    "$(fx_last_run)/out/DU111111.ndjson" | sort -u)" '[]' ;;
		esac ;;
	rebal-run | rebal-spool)
		[ "$victim" = rebal-run ] ||
		    fx_stderr_has "rebal-spool: e1: recovered from cur/ (attempt 1 was interrupted)"
		fx_story DU111111 skipped
		fx_log_has DU111111 'already finished for this event' ;;
	esac
	if [ "$victim $stage" = "rebal-account buy" ]; then
		# the killed attempt's buys filled (its ib-order ran on); the
		# retry plans from what it holds then, and may top up what the
		# first plan left, never buy it again
		assert_equal "$(fx_orders | head -n 3)" "$ALL_ORDERS"
		assert_equal "$(fx_orders | tail -n +4 | grep -v ' BUY ')" ""
	else
		assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fi
	fx_final
	fx_not_above_target DU111111 AAA 0.5 100.02
	fx_not_above_target DU111111 BBB 0.5 20.01
	fx_no_lost e1
}

@test "SIGKILL of rebal-account at the first snapshot, then a restart" { row rebal-account snapshot; }
@test "SIGKILL of rebal-account at the gate, then a restart" { row rebal-account gate; }
@test "SIGKILL of rebal-account while it plans the sells, then a restart" { row rebal-account plan-sell; }
@test "SIGKILL of rebal-account while it plans the buys, then a restart" { row rebal-account plan-buy; }
@test "SIGKILL of rebal-account in the buy phase, then a restart" { row rebal-account buy; }
@test "SIGKILL of rebal-run at the gate, then a restart" { row rebal-run gate; }
@test "SIGKILL of rebal-run while it plans the sells, then a restart" { row rebal-run plan-sell; }
@test "SIGKILL of rebal-run in the sell phase, then a restart" { row rebal-run sell; }
@test "SIGKILL of rebal-run at the second snapshot, then a restart" { row rebal-run snapshot-2; }
@test "SIGKILL of rebal-run while it plans the buys, then a restart" { row rebal-run plan-buy; }
@test "SIGKILL of the spool worker at the first snapshot, then a restart" { row rebal-spool snapshot; }
@test "SIGKILL of the spool worker at the gate, then a restart" { row rebal-spool gate; }
@test "SIGKILL of the spool worker while it plans the sells, then a restart" { row rebal-spool plan-sell; }
@test "SIGKILL of the spool worker while it plans the buys, then a restart" { row rebal-spool plan-buy; }
@test "SIGKILL of the spool worker in the buy phase, then a restart" { row rebal-spool buy; }

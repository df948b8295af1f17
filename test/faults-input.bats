#!/usr/bin/env bats
# Fault matrix, inputs: the allocation API failing or answering nonsense,
# and broken configuration files. Each event goes through the spool worker
# (rebal-spool run -1 -- rebal-run); no order may reach ib-sim.
load helper
load faults

setup() {
	fx_setup
	fx_ib
}

teardown() {
	fx_teardown
}

# alloc_sim YAML...: alloc-sim serving strategy s1 with these extra lines
# (indented under s1) after its allocations.
alloc_sim() {
	{
		printf 'strategies:\n  s1:\n'
		printf '    allocations: [{symbol: AAA, allocation: 0.5}, {symbol: BBB, allocation: %s}]\n' "${BBB_WEIGHT:-0.5}"
		[ $# -eq 0 ] || printf '    %s\n' "$@"
	} >al.yaml
	fx_alloc al.yaml
}

# requests: how many requests alloc-sim got for s1
requests() {
	jq -s '[.[] | select(.strategy == "s1")] | length' alloc.ndjson
}

@test "allocation API 500: retried, then the account is deferred (69); done once the API answers" {
	# room for the four attempts (0.5 + 1 + 2 s of backoff)
	fx_deadlines 6 8 15
	alloc_sim 'fault: {status: 500}'
	fx_add e1
	fx_work
	assert_equal "$status" 75
	assert_equal "$(fx_item e1 | jq -c '[.state, .error.code, .error.tool]')" '["deferred",69,"alloc-fetch"]'
	fx_stderr_has "DU111111: failed: alloc-fetch: strategy s1: HTTP 500: simulated failure (69)"
	# alloc-fetch tried four times, once for the whole event
	assert_equal "$(requests)" 4
	r=$(fx_last_run)
	grep -q 'HTTP 500' "$r/log/run.log"
	fx_story DU111111 failed 69
	assert_equal "$(fx_orders)" ""
	stop_server AL
	alloc_sim
	fx_retry e1
	fx_work
	assert_success
	assert_equal "$(fx_state e1)" done
	fx_story DU111111 ok
	fx_final
	fx_no_lost e1
}

@test "allocation API timeout: deferred 75 at alloc-fetch's deadline, nothing traded" {
	alloc_sim 'fault: {hang: true}'
	fx_add e1
	fx_work
	assert_equal "$status" 75
	assert_equal "$(fx_item e1 | jq -c '[.state, .error.code, .error.tool]')" '["deferred",75,"alloc-fetch"]'
	fx_stderr_has "DU111111: failed: alloc-fetch: strategy s1: timed out after 4.0 s (1 attempt) (75)"
	grep -q 'alloc-fetch: DU111111: strategy s1: timed out' "$(fx_last_run)/log/run.log"
	fx_story DU111111 failed 75
	assert_equal "$(fx_orders)" ""
	fx_final
	fx_no_lost e1
}

@test "allocation API garbage: a protocol error (76), deferred, nothing traded" {
	alloc_sim 'fault: {malformed: true}'
	fx_add e1
	fx_work
	assert_equal "$status" 75
	assert_equal "$(fx_item e1 | jq -c '[.state, .error.code, .error.tool]')" '["deferred",76,"alloc-fetch"]'
	fx_stderr_has "DU111111: failed: alloc-fetch: strategy s1: response is not JSON"
	grep -q 'alloc-fetch: DU111111: strategy s1: response is not JSON' "$(fx_last_run)/log/run.log"
	fx_story DU111111 failed 76
	assert_equal "$(fx_orders)" ""
	fx_final
	fx_no_lost e1
}

@test "allocation weights summing above 1: failed for good (65), not retried" {
	BBB_WEIGHT=0.6 alloc_sim
	fx_add e1
	fx_work
	assert_equal "$status" 1
	assert_equal "$(fx_item e1 | jq -c '[.state, .error.code, .error.tool]')" '["failed",65,"alloc-fetch"]'
	fx_stderr_has "DU111111: failed: alloc-fetch: strategy s1: weights sum to 1.1, more than 1 (65)"
	grep -q 'alloc-fetch: DU111111: strategy s1: weights sum to 1.1' "$(fx_last_run)/log/run.log"
	fx_story DU111111 failed 65
	# not retried: the worker has nothing left to do
	run timeout 30 rebal-spool run -1 -- rebal-run
	assert_success
	assert_equal "$(fx_state e1)" failed
	assert_equal "$(fx_orders)" ""
	fx_final
	fx_no_lost e1
}

@test "accounts.yaml malformed: rebal-run exits 78 naming the line; the item is failed, nothing traded" {
	fx_alloc
	printf 'accounts:\n  - account_id: DU111111\n    type: paper\n    strategy_name: s1\n    cash_reserve_percent: 200\n' >accounts.yaml
	fx_add e1
	fx_work
	assert_equal "$status" 1
	assert_equal "$(fx_item e1 | jq -c '[.state, .error.code]')" '["failed",78]'
	fx_stderr_has "accounts.yaml:5:"
	r=$(fx_last_run)
	grep -q 'accounts.yaml:5:' "$r/log/run.log"
	[ -f "$r/event.json" ]
	assert_equal "$(fx_orders)" ""
	# fixed, and retried by hand: done
	printf 'accounts:\n  - {account_id: DU111111, type: paper, strategy_name: s1}\n' >accounts.yaml
	fx_retry e1
	fx_work
	assert_success
	assert_equal "$(fx_state e1)" done
	fx_story DU111111 ok
	fx_final
	fx_no_lost e1
}

@test "replacement-sets.yaml malformed: rebal-run exits 78 naming the line; the item is failed, nothing traded" {
	fx_alloc
	printf 'ira:\n  - {source: BBB, target: CCC, scale: -1}\n' >replacement-sets.yaml
	fx_add e1
	fx_work
	assert_equal "$status" 1
	assert_equal "$(fx_item e1 | jq -c '[.state, .error.code]')" '["failed",78]'
	fx_stderr_has "replacement-sets.yaml:2:"
	r=$(fx_last_run)
	grep -q 'replacement-sets.yaml:2:' "$r/log/run.log"
	[ -f "$r/event.json" ]
	assert_equal "$(fx_orders)" ""
	fx_final
	fx_no_lost e1
}

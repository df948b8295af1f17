#!/usr/bin/env bats
# rebal-account: one job through its pipeline, against ib-sim.
load helper
load e2e

setup() {
	cd "$BATS_TEST_TMPDIR"
	e2e_start
	rebal-accounts -f "$EX/accounts.yaml" -a DU1234567 >acct.json
	jq -c '{id: "ev1", event_id: "ev1", strategy: "etf-blend-200-35",
	    exec: "print-positions", account: .}' acct.json >job.json
}

teardown() {
	e2e_stop
}

@test "print-positions: the snapshot in out/, stamped log, one summary line" {
	run --separate-stderr rebal-account -d run job.json
	assert_success
	assert_equal "$(jq -c '[.account_id, .exec, .status, .planned, .filled]' <<<"$output")" \
	    '["DU1234567","print-positions","ok",0,0]'
	assert_equal "$(wc -l <run/out/DU1234567.ndjson)" 1
	assert_equal "$(jq -r '.snapshot.cash' run/out/DU1234567.ndjson)" 20000
	grep -q "^[0-9T:Z-]* DU1234567 etf-blend-200-35 stage snapshot: ib-snapshot$" run/log/DU1234567.log
	assert_equal "$(cat run/stage/DU1234567)" done
	grep -q "DU1234567" run/out/DU1234567.txt
}

@test "a stage that cannot reach the gateway fails the job with its status" {
	export IB_PORT=1
	run --separate-stderr rebal-account -d run job.json
	assert_equal "$status" 1
	assert_equal "$(jq -c '[.status, .error.code, .error.tool]' <<<"$output")" '["failed",69,"ib-snapshot"]'
	assert_equal "$(jq -r .status run/out/DU1234567.ndjson)" failed
}

@test "a job that already failed is recorded and not run" {
	jq -c '.status = "failed" | .error = {code: 69, message: "x", tool: "alloc-fetch"}' job.json >j2.json
	run --separate-stderr rebal-account -d run j2.json
	assert_equal "$status" 1
	assert_equal "$(jq -r .error.tool <<<"$output")" alloc-fetch
	run grep -c START_API ib.ndjson
	assert_output 0
}

@test "an unknown command fails the job" {
	jq -c '.exec = "sell-everything"' job.json >j2.json
	run --separate-stderr rebal-account -d run j2.json
	assert_equal "$status" 1
	assert_equal "$(jq -r .error.message <<<"$output")" "unknown exec: sell-everything"
}

@test "bad input and usage" {
	run --separate-stderr sh -c 'echo "{}" | rebal-account -d run'
	assert_equal "$status" 65
	run --separate-stderr sh -c 'printf "{}\n{}\n" | rebal-account -d run'
	assert_equal "$status" 65
	run --separate-stderr sh -c 'echo "{\"account\":{\"id\":\"../x\"}}" | rebal-account -d run'
	assert_equal "$status" 65
	run rebal-account -z
	assert_equal "$status" 64
	run rebal-account -h
	assert_success
}

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

@test "a disk full for the run directory's temporary files: 74 before any stage" {
	mkdir -p run/tmp
	run --separate-stderr env LD_PRELOAD="$TOP/test/faultfs.so" \
	    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
	    FAULTFS_PATH="$PWD/run/tmp" FAULTFS_OPS=stdio rebal-account -d run job.json
	assert_equal "$status" 74
	[[ "$stderr" == *"rebal-account: cannot write run/tmp/job."*".v"* ]]
	run grep -c START_API ib.ndjson
	assert_output 0
}

# A rebalance job for DU1234567 on the demo gateway (open, Friday 15:52 New
# York), published at $1 (sim time).
rebalance_job() {
	jq -c --arg t "$1" '.exec = "rebalance" | .published_at = $t |
	    .received_at = $t | .allocations = [{symbol: "SPY", weight: 0.5},
	    {symbol: "QQQ", weight: 0.3}, {symbol: "TLT", weight: 0.2}]' job.json
}

@test "rebalance: snapshot, gate, sells, a fresh snapshot, buys; every stage in out/" {
	rebalance_job 2026-11-20T20:51:00Z >r.json
	run --separate-stderr rebal-account -d run r.json
	assert_success
	assert_equal "$(jq -r .status <<<"$output")" ok
	assert_equal "$(wc -l <run/out/DU1234567.ndjson)" 7
	assert_equal "$(jq -r '.plan.phase // "-"' run/out/DU1234567.ndjson | tr '\n' ' ')" \
	    "- - sell sell sell buy buy "
	# the sells reached the broker before the buys
	assert_equal "$(placed | awk '{print $3}' | uniq | tr '\n' ' ')" "SELL BUY "
	assert_equal "$(grep -c ' stage ' run/log/DU1234567.log)" 7
	run grep -cv '^20[0-9-]*T[0-9:]*Z DU1234567 etf-blend-200-35 ' run/log/DU1234567.log
	assert_output 0
}

@test "a stale event is skipped at the gate and passes the later stages untouched" {
	rebalance_job 2026-11-19T12:00:00Z >r.json
	run --separate-stderr rebal-account -d run r.json
	assert_success
	assert_equal "$(jq -r .status <<<"$output")" skipped
	assert_equal "$(tail -n 1 run/out/DU1234567.ndjson | jq -r .status)" skipped
	assert_equal "$(grep -c START_API ib.ndjson)" 1
	assert_equal "$(placed)" ""
}

@test "a rebalance deferred at the gate ends the pipeline there: 75" {
	e2e_stop
	# Monday 08:00 New York: quotes (trading hours), no liquid session yet
	sed 's/^clock: .*/clock: {at: 2026-11-23T13:00:00Z}/' "$EX/demo/ib-sim.yaml" >closed.yaml
	e2e_start closed.yaml
	rebalance_job 2026-11-23T12:59:00Z >r.json
	run --separate-stderr rebal-account -d run r.json
	assert_equal "$status" 75
	assert_equal "$(jq -r .status <<<"$output")" deferred
	assert_equal "$(wc -l <run/out/DU1234567.ndjson)" 2
	assert_equal "$(placed)" ""
}

@test "a tool that exits non-zero with an ok job fails the job there" {
	mkdir fake
	# a stage keeps its record in the account's output itself (REBAL_TEE)
	printf '#!/bin/sh\ntee -a "$REBAL_TEE"\nexit 3\n' >fake/rebal-gate
	chmod +x fake/rebal-gate
	rebalance_job 2026-11-20T20:51:00Z >r.json
	PATH=$PWD/fake:$PATH run --separate-stderr rebal-account -d run r.json
	assert_equal "$status" 1
	assert_equal "$(jq -c '[.status, .error.code, .error.tool]' <<<"$output")" '["failed",3,"gate"]'
	assert_equal "$(wc -l <run/out/DU1234567.ndjson)" 3
	assert_equal "$(placed)" ""
}

@test "a stage killed in the middle of its record: the failure follows on a line of its own" {
	mkdir fake
	printf '#!/bin/sh\nprintf %%s "{\\"account_id\\":\\"DU1" >>"$REBAL_TEE"\nkill -KILL $$\n' >fake/ib-snapshot
	chmod +x fake/ib-snapshot
	PATH=$PWD/fake:$PATH run --separate-stderr rebal-account -d run job.json
	assert_equal "$status" 1
	assert_equal "$(jq -c '[.status, .error.code, .error.message]' <<<"$output")" \
	    '["failed",75,"ib-snapshot (stage snapshot) killed by signal 9"]'
	assert_equal "$(sed -n 1p run/out/DU1234567.ndjson)" '{"account_id":"DU1'
	assert_equal "$(sed -n 2p run/out/DU1234567.ndjson | jq -c '[.status, .error.tool]')" '["failed","ib-snapshot"]'
	assert_equal "$(wc -l <run/out/DU1234567.ndjson)" 2
}

@test "rebalance: a sell the broker rejects fails the job; no fresh snapshot, no buy phase" {
	e2e_stop
	sed '/^  - {symbol: IWM,/s/}$/, reject: "not allowed in this account"}/' "$EX/demo/ib-sim.yaml" >rej.yaml
	grep -q 'IWM.*reject' rej.yaml
	e2e_start rej.yaml
	rebalance_job 2026-11-20T20:51:00Z >r.json
	run --separate-stderr rebal-account -d run r.json
	assert_equal "$status" 1
	assert_equal "$(jq -c '[.status, .error.tool]' <<<"$output")" '["failed","ib-order"]'
	assert_equal "$(jq -r '.plan.phase // "-"' run/out/DU1234567.ndjson | tr '\n' ' ')" "- - sell sell "
	! grep -q 'stage snapshot-2\|stage plan-buy\|stage buy' run/log/DU1234567.log
	assert_equal "$(placed | awk '{ print $3 }' | sort -u)" SELL
	assert_equal "$(jq -c '[.[] | select(.dir == "in" and .msg == "PLACE_ORDER" and .action == "BUY")] | length' <(jq -s . ib.ndjson))" 0
}

@test "market-on-close: one phase of MOC orders, buys sized with the cash before the sells, accepted for the auction" {
	e2e_stop
	# Friday 15:45 New York: before the cut-off (10 minutes before 16:00)
	sed 's/^clock: .*/clock: {at: 2026-11-20T20:45:00Z}/' "$EX/demo/ib-sim.yaml" >moc.yaml
	e2e_start moc.yaml
	rebalance_job 2026-11-20T20:44:00Z | jq -c '.account.order_type = "moc"' >r.json
	run --separate-stderr rebal-account -d run r.json
	assert_success
	assert_equal "$(grep -o ' stage [a-z0-9-]*' run/log/DU1234567.log | tr '\n' ' ')" \
	    " stage snapshot  stage gate  stage plan-moc  stage moc "
	last=$(tail -n 1 run/out/DU1234567.ndjson)
	assert_equal "$(jq -c '[.plan.phase, ([.plan.orders[].type] | unique), ([.plan.orders[] | has("limit")] | unique)]' <<<"$last")" \
	    '["all",["MOC"],[false]]'
	# the buys cost no more than the cash the snapshot showed before the sells
	jq -e '.snapshot.cash as $c | .snapshot.quotes as $q |
	    [.plan.orders[] | select(.action == "BUY") | .qty * $q[.symbol].ask] | add <= $c' <<<"$last"
	# sells and buys reached the broker as MOC, left for the auction
	assert_equal "$(jq -r 'select(.dir == "in" and .msg == "PLACE_ORDER") | .type' ib.ndjson | sort -u)" MOC
	assert_equal "$(placed | awk '{ print $3 }' | sort -u | tr '\n' ' ')" "BUY SELL "
	assert_equal "$(jq -r '[.executions[].status] | unique | join(" ")' <<<"$last")" PreSubmitted
	# past the cut-off the gate defers it to the next open plus the delay
	rebalance_job 2026-11-20T20:44:00Z | jq -c '.id = "ev2" | .event_id = "ev2" | .account.order_type = "moc"' >r2.json
	REBAL_GATE_OPTS="-M 20" run --separate-stderr rebal-account -d run2 r2.json
	assert_equal "$status" 75
	assert_equal "$(jq -c '[.status, .defer_until]' <<<"$output")" '["deferred","2026-11-23T14:35:00Z"]'
}

@test "a progress FIFO nobody reads never holds up a stage" {
	mkfifo progress
	REBAL_PROGRESS=$PWD/progress run --separate-stderr timeout 60 rebal-account -d run job.json
	assert_success
	assert_equal "$(jq -r .status <<<"$output")" ok
}

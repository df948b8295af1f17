#!/usr/bin/env bats
# The tws client library (lib/tws, lib/twsm) against ib-sim: every request
# rebal's IB tools make, every reply decoded strictly (test/unit/tws_smoke.c),
# and the journal shows what the "broker" received.
load helper

teardown() {
	stop_server SIM
}

@test "tws library against ib-sim: account, contract, quote, orders, executions" {
	start_server SIM ib-sim -p 0 -j "$BATS_TEST_TMPDIR/journal"
	run "$TOP/test/unit/tws_smoke" "$SIM_PORT"
	echo "$output"
	assert_success
	refute_output --partial 'not ok'
	j=$BATS_TEST_TMPDIR/journal
	# The three orders arrived whole (115 fields at version 176).
	run jq -rs 'map(select(.dir == "in" and .msg == "PLACE_ORDER") |
	    "\(.type) \(.nfields) \(.action) \(.account) \(.ref) \(.tif)") | .[]' "$j"
	assert_output "MKT 115 BUY DU1234567 rebal:smoke:DU1234567 DAY
LMT 115 BUY DU1234567 rebal:smoke:DU1234567 DAY
MOC 115 BUY DU1234567 rebal:smoke:DU1234567 DAY"
	# No request was malformed (320/321) or over the pacing limit (100).
	run jq -s 'map(select(.dir == "out" and .msg == "ERR_MSG" and
	    ([.code] | inside([100, 320, 321])))) | length' "$j"
	assert_output 0
	# Every incoming request had no extra or missing fields.
	run jq -s 'map(select(.dir == "in" and (.error or .extra_fields))) | length' "$j"
	assert_output 0
}

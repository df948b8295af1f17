#!/usr/bin/env bats
# make demo: the whole mission offline, and nothing left behind.
load helper

@test "the demo rebalances the example accounts and stops everything" {
	cd "$BATS_TEST_TMPDIR"
	export TMPDIR=$BATS_TEST_TMPDIR
	run timeout 120 sh "$TOP/share/demo.sh"
	echo "$output"
	assert_success
	demo_out=$output
	d=$(ls -d "$BATS_TEST_TMPDIR"/rebal-demo.*)
	# every enabled paper account got a summary: three traded, the
	# market-on-close one deferred past its cut-off
	assert_equal "$(cat "$d"/state/runs/*/summary.ndjson | jq -r '"\(.account_id) \(.status)"' | sort | tr '\n' ' ')" \
	    "DU1234567 ok DU2345678 ok DU3456789 ok DU4567890 deferred "
	# the broker saw sells before buys for the account that holds IWM,
	# and never an order for the disabled or live accounts
	assert_equal "$(jq -r 'select(.dir == "in" and .msg == "PLACE_ORDER" and .account == "DU1234567") | .action' "$d/ib-journal.ndjson" | uniq | tr '\n' ' ')" "SELL BUY "
	run jq -r 'select(.dir == "in" and .msg == "PLACE_ORDER") | .account' "$d/ib-journal.ndjson"
	refute_output --partial DU5678901
	refute_output --partial U7654321
	assert_equal "$(jq -r '.accounts[] | select(.id == "DU1234567") | [.positions[].symbol] | sort | join(" ")' "$d/ib-final.json")" "DBC GLD QQQ SPY TLT"
	# no process of the demo is left running
	run pgrep -f "$d"
	assert_failure
	port=$(sed -n 's/.*ably-sim :\([0-9]*\).*/\1/p' <<<"$demo_out")
	[ -n "$port" ]
	run pgrep -f "ably-listen.*127.0.0.1:$port"
	assert_failure
}

#!/usr/bin/env bats
# valgrind memcheck over the pure tools on their fixtures, good input and
# error paths: no memory error, no definite leak (valgrind exits 99). Skips
# when valgrind is missing or bin/ is built with sanitizers (make check
# SANITIZE=1 checks leaks with LeakSanitizer instead). test/valgrind.sh runs
# the whole suite this way.
load helper
load faults

setup() {
	command -v valgrind >/dev/null || skip "valgrind is not installed"
	if grep -q fsanitize "$TOP/.build-flags" 2>/dev/null; then
		skip "sanitizer build"
	fi
	cd "$DATA"
}

teardown() {
	fx_teardown
	stop_server NT
}

# vg STATUS TOOL ARGS...: TOOL under valgrind exits STATUS (stdin as given);
# any valgrind report is printed and fails the test.
vg() {
	local want=$1 log=$BATS_TEST_TMPDIR/vg.log
	shift
	run valgrind -q --error-exitcode=99 --leak-check=full \
	    --errors-for-leak-kinds=definite --show-leak-kinds=definite \
	    --log-file="$log" "$TOP/bin/$1" "${@:2}"
	if [ -s "$log" ] || [ "$status" -ne "$want" ]; then
		cat "$log"
		echo "$1 ${*:2}: status $status, expected $want"
		return 1
	fi
}

@test "valgrind: rebal-accounts, records, -j fan-out, bad and colliding files" {
	vg 0 rebal-accounts -A -m all -f accounts-good.yaml </dev/null
	vg 0 rebal-accounts -j -f accounts-good.yaml accounts-events.ndjson
	vg 78 rebal-accounts -f accounts-bad.yaml </dev/null
	vg 78 rebal-accounts -f accounts-collide.yaml </dev/null
	vg 78 rebal-accounts -f "$TOP/test/fuzz/corpus/acct/regress-alias-bomb" </dev/null
}

@test "valgrind: alloc-replace, the sets, a bad sets file, malformed jobs" {
	vg 1 alloc-replace -f replace-sets.yaml replace-jobs.ndjson
	vg 78 alloc-replace -f replace-bad.yaml replace-jobs.ndjson
	vg 65 alloc-replace -f replace-sets.yaml \
	    "$TOP/test/fuzz/corpus/nd/regress-jq16-separator-leak"
}

@test "valgrind: rebal-calc, every phase of the worked example and the cases" {
	export REBAL_NOW=2026-03-02T15:01:00Z
	vg 0 rebal-calc -p all calc-example.ndjson
	vg 0 rebal-calc -p buy calc-example-postsell.ndjson
	vg 0 rebal-calc -q -p sell calc-cases.ndjson
	vg 0 rebal-calc -q -p buy calc-cases.ndjson
	REBAL_NOW=2027-01-04T15:00:00Z vg 1 rebal-calc -p all calc-example.ndjson
	vg 65 rebal-calc "$TOP/test/fuzz/corpus/nd/mixed"
}

@test "valgrind: rebal-fmt tables and summaries, rebal-gate" {
	vg 0 rebal-fmt fmt-jobs.ndjson
	vg 0 rebal-fmt -s fmt-jobs.ndjson
	vg 0 rebal-gate gate-job.json
	vg 65 rebal-gate "$TOP/test/fuzz/corpus/nd/mixed"
}

# vg_wrap TOOL [OPTIONS...]: TOOL (with OPTIONS first), wherever the tools
# start it from PATH, runs under valgrind, logging to vg/TOOL.PID.log.
vg_wrap() {
	local t=$1 d=$BATS_TEST_TMPDIR/shim
	shift
	mkdir -p "$d" "$BATS_TEST_TMPDIR/vg"
	cat >"$d/$t" <<-WRAP
	#!/bin/sh
	exec valgrind -q --error-exitcode=99 --leak-check=full \\
	    --errors-for-leak-kinds=definite --show-leak-kinds=definite \\
	    --log-file="$BATS_TEST_TMPDIR/vg/$t.%p.log" "$TOP/bin/$t" $* "\$@"
	WRAP
	chmod +x "$d/$t"
}

@test "valgrind: the network tools and the spool through a whole event: ably-listen, rebal-spool, rebal-run's tools, rebal-notify" {
	fx_setup
	# longer deadlines: everything is many times slower under valgrind
	vg_wrap ib-snapshot -r 0.5 -t 60
	vg_wrap ib-order -t 120
	vg_wrap alloc-fetch -t 60
	for t in ably-listen rebal-spool rebal-accounts alloc-replace rebal-sum \
	    rebal-gate rebal-calc rebal-notify rebal-fmt; do
		vg_wrap "$t"
	done
	fx_alloc
	fx_ib
	start_server NT alloc-sim -s -j "$BATS_TEST_TMPDIR/sink.ndjson"
	export NTFY_URL=http://127.0.0.1:$NT_PORT/topic
	fx_ably
	fx_listen
	fx_ably_wait attached
	fx_pub m1
	fx_wait 60 fx_in_spool m1
	fx_stop_listen
	assert_equal "$status" 0
	assert_equal "$add" 0
	run --separate-stderr timeout 600 rebal-spool run -1 -N rebal-notify -- rebal-run
	assert_success
	assert_equal "$(fx_state m1)" done
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_wait 30 test -s sink.ndjson
	run rebal-fmt -s "$(fx_last_run)/summary.ndjson"
	assert_success
	# a failing account too: a rejected order (77), and its notification
	stop_server IB
	FX_BBB=", reject: no permissions" fx_ib
	fx_add e2
	run --separate-stderr timeout 600 rebal-spool run -1 -N rebal-notify -- rebal-run
	assert_equal "$status" 1
	assert_equal "$(fx_item e2 | jq -c '[.state, .error.code]')" '["failed",77]'
	fx_teardown
	stop_server NT
	# every tool ran under valgrind, and none reported
	for t in ably-listen rebal-spool rebal-accounts alloc-fetch alloc-replace \
	    rebal-sum ib-snapshot rebal-gate rebal-calc ib-order rebal-notify rebal-fmt; do
		ls "$BATS_TEST_TMPDIR/vg/$t".*.log >/dev/null || {
			echo "$t never ran" >&2
			false
		}
	done
	bad=$(find "$BATS_TEST_TMPDIR/vg" -name '*.log' -size +0 | sort)
	if [ -n "$bad" ]; then
		for f in $bad; do echo "== $f"; head -n 40 "$f"; done
		false
	fi
}

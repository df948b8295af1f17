#!/usr/bin/env bats
# valgrind memcheck over the pure tools on their fixtures, good input and
# error paths: no memory error, no definite leak (valgrind exits 99). Skips
# when valgrind is missing or bin/ is built with sanitizers (make check
# SANITIZE=1 checks leaks with LeakSanitizer instead). test/valgrind.sh runs
# the whole suite this way.
load helper

setup() {
	command -v valgrind >/dev/null || skip "valgrind is not installed"
	if grep -q fsanitize "$TOP/.build-flags" 2>/dev/null; then
		skip "sanitizer build"
	fi
	cd "$DATA"
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

# End-to-end helpers: the demo's simulators for rebal-run, rebal-account and
# the fault tests. Load after helper.
EX=$TOP/examples

# e2e_start [ib-sim scenario] [alloc-sim scenario]: start ib-sim and alloc-sim
# on the demo scenarios (or the given ones); export what the tools need.
e2e_start() {
	local ib=${1:-$EX/demo/ib-sim.yaml} al=${2:-$EX/demo/alloc-sim.yaml}
	export ALLOCATIONS_API_KEY=test-alloc-key-5f2e
	start_server IB ib-sim -f "$ib" -j "$BATS_TEST_TMPDIR/ib.ndjson" \
	    -o "$BATS_TEST_TMPDIR/ib-final.json"
	start_server AL alloc-sim -f "$al" -j "$BATS_TEST_TMPDIR/alloc.ndjson"
	export IB_HOST=127.0.0.1 IB_PORT=$IB_PORT
	export ALLOCATIONS_BASE_URL=http://127.0.0.1:$AL_PORT
	export REBAL_ACCOUNTS=$EX/accounts.yaml
	export REBAL_REPLACEMENTS=$EX/replacement-sets.yaml
}

e2e_stop() {
	stop_server IB
	stop_server AL
}

# The run directory of the last run.
last_run() {
	ls -d "$REBAL_STATE"/runs/* | tail -n 1
}

# The orders the broker received, one line each: account symbol action qty.
placed() {
	jq -r 'select(.dir == "in" and .msg == "PLACE_ORDER") |
	    "\(.account) \(.symbol) \(.action) \(.qty)"' "$BATS_TEST_TMPDIR/ib.ndjson"
}

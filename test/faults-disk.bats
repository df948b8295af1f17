#!/usr/bin/env bats
# Fault matrix, disk full and crashes while writing: the spool (rebal-spool
# add, the worker claiming and filing an item), the run directory, and a
# SIGKILL of rebal-spool add at each step of storing an event. The disk is
# made full by test/faultfs.so (LD_PRELOAD; see its header): write, fsync,
# rename, file creation and mkdir under a path fail with ENOSPC while the
# file "full" exists, or the process is killed there. No event is lost or
# stored twice, a half-written item is never visible, and no account is
# traded twice.
load helper
load faults

# The tests that trade start ib-sim (fx_ib), each on its own scenario.
setup() {
	fx_setup
	fx_alloc
	FULL=$BATS_TEST_TMPDIR/full
	rm -f "$FULL"
}

teardown() {
	fx_teardown
}

# fault_env PATH [OPS [KILL]]: FX_ENV, the environment of a process whose
# disk is full under PATH while $FULL exists (OPS: what fails, faultfs.c;
# KILL=1: SIGKILL there instead). Sanitized tools accept the preloaded shim.
fault_env() {
	FX_ENV=(LD_PRELOAD="$TOP/test/faultfs.so" FAULTFS_PATH="$1"
	    FAULTFS_OPS="${2:-}" FAULTFS_KILL="${3:-}" FAULTFS_FULL="$FULL"
	    FAULTFS_LOG="$BATS_TEST_TMPDIR/faultfs.log"
	    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0")
}

full() { : >"$FULL"; }
space() { rm -f "$FULL"; }

# fired OP: the shim failed (or killed at) OP at least once.
fired() {
	grep -q " $1 " "$BATS_TEST_TMPDIR/faultfs.log" || {
		echo "the fault $1 did not fire" >&2
		return 1
	}
}

# files ID: how many state folders hold item ID.
files() {
	ls "$REBAL_STATE"/spool/{new,cur,deferred,done,failed}/"$1" 2>/dev/null | wc -l
}

# tmpfiles: files left in the spool's tmp/.
tmpfiles() {
	ls "$REBAL_STATE/spool/tmp" 2>/dev/null | wc -l
}

# logged_n TEXT N: ably-listen logged TEXT at least N times.
logged_n() {
	[ "$(grep -c -- "$1" listen.err)" -ge "$2" ]
}

stage_is() {
	[ "$(fx_stage DU111111)" = "$1" ]
}

@test "disk full while rebal-spool add stores an event: 74 and the error, nothing stored or acknowledged; with space again it is stored once" {
	fx_ib
	fx_event e1 >ev.json
	full
	# the spool's folders cannot be made, then each step of writing an
	# item fails in turn
	for ops in mkdir write fsync rename create; do
		fault_env "$REBAL_STATE" "$ops"
		run --separate-stderr env "${FX_ENV[@]}" rebal-spool add ev.json
		assert_equal "$status" 74
		# no summary line: the event is not acknowledged
		assert_equal "$output" ""
		[[ "$stderr" == "rebal-spool: "*": No space left on device" ]]
		fired "$ops"
		assert_equal "$(rebal-spool ls)" ""
		assert_equal "$(files e1)" 0
		# a failed write leaves no half-written temporary file
		assert_equal "$(tmpfiles)" 0
	done
	space
	run --separate-stderr env "${FX_ENV[@]}" rebal-spool add ev.json
	assert_success
	assert_equal "$(jq -r '"\(.id) \(.state)"' <<<"$output")" "e1 new"
	run --separate-stderr rebal-spool add ev.json
	assert_success
	assert_equal "$output" ""
	assert_equal "$stderr" "rebal-spool: e1: duplicate id, already new; dropped"
	assert_equal "$(files e1)" 1
	assert_equal "$(rebal-spool ls | jq -r .id)" e1
	# and it runs, once
	fx_work
	assert_success
	fx_story DU111111 ok
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_final
	fx_no_lost e1
}

@test "disk full at the dedup marker: the event is stored and add says 74; added again it is a duplicate, stored once" {
	fx_ib
	fx_event e1 >ev.json
	full
	fault_env "$REBAL_STATE/spool/seen" create
	run --separate-stderr env "${FX_ENV[@]}" rebal-spool add ev.json
	assert_equal "$status" 74
	assert_equal "$output" ""
	[[ "$stderr" == "rebal-spool: "*"/spool/seen/"*": No space left on device" ]]
	fired create
	assert_equal "$(files e1)" 1
	[ ! -e "$REBAL_STATE/spool/seen/e1" ]
	space
	run --separate-stderr rebal-spool add ev.json
	assert_success
	assert_equal "$stderr" "rebal-spool: e1: duplicate id, already new; dropped"
	# the marker is made now: removed, the event stays deduplicated
	[ -e "$REBAL_STATE/spool/seen/e1" ]
	assert_equal "$(files e1)" 1
	fx_work
	assert_success
	assert_equal "$(fx_state e1)" done
	fx_story DU111111 ok
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_final
	fx_no_lost e1
}

@test "SIGKILL of rebal-spool add at each step of storing an event: absent or there once; the listener writes it again at its restart; stored once" {
	fx_ib
	fx_ably
	full
	n=0 k=0
	# OP FOLDER ID WHERE: killed at OP under spool/FOLDER while storing
	# ID, which is then absent or present
	while read -r op dir id where; do
		fault_env "$REBAL_STATE/spool/$dir" "$op" 1
		fx_listen "${FX_ENV[@]}"
		n=$((n + 1)) k=$((k + 1))
		fx_wait 30 logged_n "s1: attached" "$n"
		fx_pub "$id"
		st=0
		wait "$ADD_PID" || st=$?
		assert_equal "$st" 137
		fired "$op"
		# the listener sees its reader gone and stops, keeping the mark
		# to write its last events again
		st=0
		wait "$LS_PID" || st=$?
		assert_equal "$st" 74
		logged_n "standard output: the reader went away" "$k"
		case $where in
		absent) assert_equal "$(files "$id")" 0 ;;
		present) assert_equal "$(files "$id")" 1 ;;
		esac
		# restarted (as rebal-daemon does): the event is there once
		fx_listen
		n=$((n + 1))
		fx_wait 30 logged_n "the last reader of standard output went away" "$k"
		fx_wait 30 fx_in_spool "$id"
		fx_wait 30 logged_n "s1: attached" "$n"
		fx_stop_listen
		assert_equal "$status" 0
		assert_equal "$add" 0
		assert_equal "$(files "$id")" 1
		[ -e "$REBAL_STATE/spool/seen/$id" ]
	done <<-'EOF'
	write tmp m1 absent
	rename new m2 absent
	create seen m3 present
	rename latest m4 present
	EOF
	# the half-written temporary file of the first kill is never an item;
	# the worker removes it
	[ "$(tmpfiles)" -ge 1 ]
	run --separate-stderr timeout 120 rebal-spool run -n 5 -- rebal-run
	assert_success
	assert_equal "$(tmpfiles)" 0
	assert_equal "$(rebal-spool ls | jq -r '"\(.id) \(.state) \(.outcome)"')" "m1 done superseded
m2 done superseded
m3 done superseded
m4 done ok"
	fx_ran m4 ably
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_final
	fx_no_lost m1 m2 m3 m4
}

@test "disk full under the listener and the spool: both stop with 74; with space again the restarted pair stores the event once" {
	fx_ib
	fx_ably
	fault_env "$REBAL_STATE"
	fx_listen "${FX_ENV[@]}"
	fx_ably_wait attached
	fx_wait 30 fx_listen_logged "s1: attached"
	full
	fx_pub m1
	st=0
	wait "$ADD_PID" || st=$?
	assert_equal "$st" 74
	st=0
	wait "$LS_PID" || st=$?
	assert_equal "$st" 74
	grep -q "rebal-spool: .*No space left on device" add.err
	fx_listen_logged "No space left on device"
	assert_equal "$(files m1)" 0
	space
	fx_listen
	fx_wait 30 fx_in_spool m1
	fx_stop_listen
	assert_equal "$status" 0
	assert_equal "$(files m1)" 1
	run --separate-stderr timeout 120 rebal-spool run -1 -- rebal-run
	assert_success
	assert_equal "$(fx_state m1)" done
	fx_ran m1 ably
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_final
	fx_no_lost m1
}

@test "disk full while the worker claims an item: 74, the item stays in new/ as it was; with space again it runs once" {
	fx_ib
	fx_add e1
	before=$(cat "$REBAL_STATE/spool/new/e1")
	full
	fault_env "$REBAL_STATE/spool" write
	run --separate-stderr env "${FX_ENV[@]}" timeout 120 rebal-spool run -1 -- rebal-run
	assert_equal "$status" 74
	[[ "$stderr" == *"rebal-spool: write "*"/spool/tmp/"*": No space left on device"* ]]
	fired write
	assert_equal "$(cat "$REBAL_STATE/spool/new/e1")" "$before"
	assert_equal "$(files e1)" 1
	assert_equal "$(tmpfiles)" 0
	assert_equal "$(fx_runs)" ""
	assert_equal "$(fx_orders)" ""
	space
	fx_work
	assert_success
	assert_equal "$(fx_item e1 | jq -c '[.state, .attempts]')" '["done",1]'
	fx_story DU111111 ok
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_final
	fx_no_lost e1
}

@test "disk full while the worker files an outcome: it stops (74), the item stays in cur/; restarted, it recovers the item and does not trade the account again" {
	FX_BBB=", fills: {delay_ms: 1500}" fx_ib
	fx_add e1
	fault_env "$REBAL_STATE/spool" write,fsync,rename
	env "${FX_ENV[@]}" rebal-spool run -1 -- rebal-run >w.out 2>w.err &
	W=$!
	FX_PIDS="$W"
	fx_wait 60 stage_is buy
	fx_wait 30 fx_journal_has '.msg == "PLACE_ORDER" and .symbol == "BBB"'
	FX_ORPHANS=$(fx_tree "$W" | awk '{ print $1 }' | tr '\n' ' ')
	full
	wrc=0
	wait "$W" || wrc=$?
	assert_equal "$wrc" 74
	fx_orphans_gone
	grep -q "rebal-spool: write .*/spool/tmp/.*: No space left on device" w.err
	fired write
	# the account's summary line could not be recorded: the item is in
	# cur/ as before, the account not done there; its run says it finished
	assert_equal "$(fx_item e1 | jq -c '[.state, .accounts_done]')" '["cur",[]]'
	assert_equal "$(tmpfiles)" 0
	assert_equal "$(jq -r .status "$(fx_last_run)/summary.ndjson")" ok
	space
	fx_work
	assert_success
	[[ "$stderr" == *"rebal-spool: e1: recovered from cur/ (attempt 1 was interrupted)"* ]]
	assert_equal "$(fx_state e1)" done
	fx_log_has DU111111 'already finished for this event'
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_final
	fx_no_lost e1
}

@test "disk full for the run directory: rebal-run stops before trading (74); the item fails and is notified; retried with space, it trades once" {
	fx_ib
	fx_add e1
	full
	fault_env "$REBAL_STATE/runs"
	run --separate-stderr env "${FX_ENV[@]}" timeout 120 \
	    rebal-spool run -1 -N 'cat >notified.json' -- rebal-run
	assert_equal "$status" 1
	fired mkdir
	[[ "$stderr" == *"rebal-run: cannot create $REBAL_STATE/runs/"* ]]
	[[ "$stderr" == *"rebal-spool: e1: CMD exited 74: failed"* ]]
	assert_equal "$(fx_item e1 | jq -c '[.state, .error.code]')" '["failed",74]'
	assert_equal "$(jq -r '"\(.id) \(.spool.state)"' notified.json)" "e1 failed"
	assert_equal "$(fx_orders)" ""
	space
	fx_retry e1
	fx_work
	assert_success
	assert_equal "$(fx_state e1)" done
	fx_story DU111111 ok
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_final
	fx_no_lost e1
}

@test "disk full for the run directory between the phases: the account is retried (75); the retry sells nothing again and buys" {
	FX_LATENCY='{default: 2, REQ_MKT_DATA: 800}' fx_ib
	fx_add e1
	# every write under runs/ fails, by whatever process, stdio included
	fault_env "$REBAL_STATE/runs" write,fsync,rename,create,mkdir,stdio
	env "${FX_ENV[@]}" rebal-spool run -1 -- rebal-run >w.out 2>w.err &
	W=$!
	FX_PIDS="$W"
	fx_wait 60 stage_is snapshot-2
	full
	wrc=0
	wait "$W" || wrc=$?
	assert_equal "$wrc" 75
	fired stdio
	assert_equal "$(fx_item e1 | jq -c '[.state, .error.code, .error.message]')" \
	    '["deferred",75,"rebal-account ended without a summary"]'
	grep -q "rebal-account: cannot write the summary" w.err
	# nothing was bought yet
	assert_equal "$(fx_orders)" "DU111111 SELL 100 OLD"
	space
	fx_retry e1
	fx_work
	assert_success
	assert_equal "$(jq -c 'select(.plan.phase == "sell") | .plan.orders' "$(fx_last_run)/out/DU111111.ndjson" | sort -u)" '[]'
	fx_story DU111111 ok
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_final
	fx_no_lost e1
}

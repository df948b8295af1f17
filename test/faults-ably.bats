#!/usr/bin/env bats
# Fault matrix, Ably: ably-sim -> ably-listen | rebal-spool add, then the
# spool worker (rebal-spool run -- rebal-run) against ib-sim and alloc-sim.
# Whatever happens to the socket or the listener, every published event
# ends in the spool exactly once and is done (a newer rebalance of the
# strategy supersedes an older pending one), and the account is traded once.
load helper
load faults

setup() {
	fx_setup
	fx_alloc
	fx_ib
}

teardown() {
	fx_teardown
}

# work_all: the worker runs what is due, then exits; bounded.
work_all() {
	run --separate-stderr timeout 120 rebal-spool run -n 5 -- rebal-run
}

# ids: the spool's items: "id state outcome source", sorted by id
ids() {
	rebal-spool ls | jq -r '"\(.id) \(.state) \(.outcome) \(.source)"' | sort
}

@test "Ably socket dropped: resumed, the outage's event spooled once; the newest event trades once" {
	fx_ably
	fx_listen
	fx_ably_wait attached
	fx_pub m1
	fx_wait 20 fx_in_spool m1
	fx_ably_fault '{"fault":"delay","what":"connected","ms":300}'
	fx_ably_fault '{"fault":"drop"}'
	fx_pub m2
	fx_wait 20 fx_in_spool m2
	fx_wait 20 fx_listen_logged "resumed"
	fx_pub m3
	fx_wait 20 fx_in_spool m3
	fx_stop_listen
	assert_equal "$status" 0
	assert_equal "$add" 0
	grep -q "attached resumed=1" listen.err
	work_all
	assert_success
	assert_equal "$(ids)" "m1 done superseded ably
m2 done superseded ably
m3 done ok ably"
	fx_ran m3 ably
	assert_equal "$(fx_orders)" "$(printf 'DU111111 SELL 100 OLD\nDU111111 BUY 68 AAA\nDU111111 BUY 390 BBB')"
	fx_final
	fx_no_lost m1 m2 m3
}

@test "Ably resume failing: the gap is read from history, the event spooled once as history" {
	fx_ably
	fx_listen
	fx_ably_wait attached
	fx_pub m1
	fx_wait 20 fx_in_spool m1
	fx_ably_fault '{"fault":"fail_resume"}'
	fx_ably_fault '{"fault":"delay","what":"connected","ms":300}'
	fx_ably_fault '{"fault":"drop"}'
	fx_pub m2
	fx_wait 20 fx_in_spool m2
	fx_wait 20 fx_listen_logged "was not resumed"
	fx_wait 20 fx_listen_logged "backfill"
	fx_stop_listen
	assert_equal "$status" 0
	work_all
	assert_success
	assert_equal "$(ids)" "m1 done superseded ably
m2 done ok history"
	fx_ran m2 history
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_final
	fx_no_lost m1 m2
}

@test "Ably silent: the listener drops the dead socket, resumes, and the event is spooled" {
	fx_ably -i 100
	fx_listen
	fx_ably_wait attached
	fx_ably_fault '{"fault":"silent"}'
	fx_pub m1
	fx_wait 40 fx_listen_logged "no activity for"
	fx_wait 20 fx_in_spool m1
	fx_stop_listen
	assert_equal "$status" 0
	work_all
	assert_success
	assert_equal "$(ids)" "m1 done ok ably"
	fx_ran m1 ably
	assert_equal "$(fx_orders)" "$ALL_ORDERS"
	fx_final
	fx_no_lost m1
}

@test "ably-listen killed and restarted: the event published meanwhile is spooled once" {
	fx_ably
	fx_listen
	fx_ably_wait attached
	fx_pub m1 print-positions
	fx_wait 20 fx_in_spool m1
	kill -KILL "$LS_PID"
	st=0
	wait "$LS_PID" || st=$?
	assert_equal "$st" 137
	# rebal-spool add ends with its input, having stored what it read
	wait "$ADD_PID"
	fx_pub m2
	fx_listen
	fx_wait 20 fx_in_spool m2
	fx_wait 20 fx_listen_logged "attached resumed="
	fx_stop_listen
	assert_equal "$status" 0
	assert_equal "$add" 0
	work_all
	assert_success
	assert_equal "$(ids)" "m1 done ok ably
m2 done ok ably"
	fx_ran m2 ably
	assert_equal "$(fx_orders)" "$(printf 'DU111111 SELL 100 OLD\nDU111111 BUY 68 AAA\nDU111111 BUY 390 BBB')"
	fx_final
	fx_no_lost m1 m2
}

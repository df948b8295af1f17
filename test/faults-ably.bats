#!/usr/bin/env bats
# Fault matrix, Ably: ably-sim -> ably-listen | rebal-spool add, then the
# spool worker (rebal-spool run -- rebal-run) against ib-sim and alloc-sim.
# Whatever happens to the socket or the listener, every published event
# ends in the spool exactly once and is done (a newer rebalance of the
# strategy supersedes an older pending one), and the account is traded once.
load helper
load faults

KEY=fxapp.fxkey:fx-ably-secret-3d9b

setup() {
	fx_setup
	fx_alloc
	fx_ib
	export ABLY_SIM_KEYS=$KEY
}

teardown() {
	fx_teardown
}

# sim [OPTIONS]: start ably-sim.
sim() {
	start_server AB ably-sim -j "$BATS_TEST_TMPDIR/ably.ndjson" "$@"
}

# listen: ably-listen on channel s1 feeding rebal-spool add through a fifo,
# so that each has its own pid.
listen() {
	rm -f ev.fifo
	mkfifo ev.fifo
	rebal-spool add <ev.fifo >>add.out 2>>add.err &
	ADD_PID=$!
	ABLY_API_KEY=$KEY ably-listen -T -H "127.0.0.1:$AB_PORT" s1 >ev.fifo 2>>listen.err &
	LS_PID=$!
	FX_PIDS="${FX_PIDS:-} $ADD_PID $LS_PID"
}

# stop_listen: SIGTERM to ably-listen; $status is its exit status, $add
# that of rebal-spool add (which sees the end of its input).
stop_listen() {
	kill -TERM "$LS_PID"
	status=0
	wait "$LS_PID" || status=$?
	add=0
	wait "$ADD_PID" || add=$?
}

sim_wait() {
	curl -sf "http://127.0.0.1:$AB_PORT/_sim/wait?event=$1&count=${2:-1}&timeout=30000" >/dev/null
}

fault() {
	curl -sf -X POST -d "$1" "http://127.0.0.1:$AB_PORT/_sim/fault" >/dev/null
}

# pub ID [EXEC]: publish a message with this id on s1.
pub() {
	curl -sf -u "$KEY" -H 'Content-Type: application/json' \
	    -d "{\"id\":\"$1\",\"name\":\"rebalance\",\"data\":{\"exec\":\"${2:-rebalance}\",\"eventId\":\"$1\"}}" \
	    "http://127.0.0.1:$AB_PORT/channels/s1/messages" >/dev/null
}

in_spool() {
	[ -n "$(fx_item "$1")" ]
}

logged() {
	grep -q -- "$1" listen.err
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
	sim
	listen
	sim_wait attached
	pub m1
	fx_wait 20 in_spool m1
	fault '{"fault":"delay","what":"connected","ms":300}'
	fault '{"fault":"drop"}'
	pub m2
	fx_wait 20 in_spool m2
	fx_wait 20 logged "resumed"
	pub m3
	fx_wait 20 in_spool m3
	stop_listen
	assert_equal "$status" 0
	assert_equal "$add" 0
	grep -q "attached resumed=1" listen.err
	work_all
	assert_success
	assert_equal "$(ids)" "m1 done superseded ably
m2 done superseded ably
m3 done ok ably"
	assert_equal "$(fx_orders)" "$(printf 'DU111111 SELL 100 OLD\nDU111111 BUY 68 AAA\nDU111111 BUY 390 BBB')"
	fx_final
	fx_no_lost m1 m2 m3
}

@test "Ably resume failing: the gap is read from history, the event spooled once as history" {
	sim
	listen
	sim_wait attached
	pub m1
	fx_wait 20 in_spool m1
	fault '{"fault":"fail_resume"}'
	fault '{"fault":"delay","what":"connected","ms":300}'
	fault '{"fault":"drop"}'
	pub m2
	fx_wait 20 in_spool m2
	fx_wait 20 logged "was not resumed"
	fx_wait 20 logged "backfill"
	stop_listen
	assert_equal "$status" 0
	work_all
	assert_success
	assert_equal "$(ids)" "m1 done superseded ably
m2 done ok history"
	fx_final
	fx_no_lost m1 m2
}

@test "Ably silent: the listener drops the dead socket, resumes, and the event is spooled" {
	sim -i 100
	listen
	sim_wait attached
	fault '{"fault":"silent"}'
	pub m1
	fx_wait 40 logged "no activity for"
	fx_wait 20 in_spool m1
	stop_listen
	assert_equal "$status" 0
	work_all
	assert_success
	assert_equal "$(ids)" "m1 done ok ably"
	fx_final
	fx_no_lost m1
}

@test "ably-listen killed and restarted: the event published meanwhile is spooled once" {
	sim
	listen
	sim_wait attached
	pub m1 print-positions
	fx_wait 20 in_spool m1
	kill -KILL "$LS_PID"
	wait "$LS_PID" || true
	# rebal-spool add ends with its input, having stored what it read
	wait "$ADD_PID"
	pub m2
	listen
	fx_wait 20 in_spool m2
	fx_wait 20 logged "attached resumed="
	stop_listen
	work_all
	assert_success
	assert_equal "$(ids)" "m1 done ok ably
m2 done ok ably"
	assert_equal "$(fx_orders)" "$(printf 'DU111111 SELL 100 OLD\nDU111111 BUY 68 AAA\nDU111111 BUY 390 BBB')"
	fx_final
	fx_no_lost m1 m2
}

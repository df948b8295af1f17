#!/usr/bin/env bats
# rebal-notify against alloc-sim's HTTP sink (-s): messages per outcome,
# pass-through, token handling, failures as warnings, batching.

load helper
bats_require_minimum_version 1.5.0

TOKEN=FAKETOKEN-n7fy-0123456789

setup() {
	export NTFY_TOKEN=$TOKEN REBAL_NOW=2026-11-23T15:30:00Z
	J=$BATS_TEST_TMPDIR/sink.ndjson
	IN=$BATS_TEST_TMPDIR/in.ndjson
}

teardown() {
	stop_server SINK
	if grep -rsF -- "$TOKEN" "$BATS_TEST_TMPDIR" --exclude=token; then
		echo "the token leaked" >&2
		return 1
	fi
}

sink() {	# sink [scenario]: start the sink, point NTFY_URL at it
	if [ -n "${1:-}" ]; then
		printf '%s\n' "$1" > "$BATS_TEST_TMPDIR/s.yaml"
		start_server SINK alloc-sim -s -f "$BATS_TEST_TMPDIR/s.yaml" -j "$J"
	else
		start_server SINK alloc-sim -s -j "$J"
	fi
	export NTFY_URL=http://127.0.0.1:$SINK_PORT/rebal-test
}

# title N: the decoded Title header of message N (0-based)
title() {
	local t
	t=$(jq -r --argjson n "$1" 'select(input_line_number == $n + 1) | .headers.title' "$J")
	if [[ $t == =\?UTF-8\?B\?*\?= ]]; then
		t=${t#=?UTF-8?B?}
		printf '%s\n' "${t%?=}" | base64 -d
		echo
	else
		printf '%s\n' "$t"
	fi
}

field() {	# field N JQ: a field of journal entry N
	jq -r --argjson n "$1" "select(input_line_number == \$n + 1) | $2" "$J"
}

@test "success: one message with title, tags, priority and body; input copied" {
	sink
	cat > "$IN" <<-'EOF'
	{"event_id":"e1","strategy":"etf-blend-200-35","exec":"rebalance"}
	{"account":{"id":"DU111","strategy":"etf-blend-200-35"},"strategy":"etf-blend-200-35","exec":"rebalance","status":"ok","snapshot":{"net_liquidation":123456.789,"cash":1200.5},"executions":[{"symbol":"SPY","filled":3},{"symbol":"TLT","filled":0},{"symbol":"GLD","filled":2.0}],"plan":{"warnings":[]}}
	EOF
	run --separate-stderr rebal-notify "$IN"
	assert_success
	[ "$output" = "$(cat "$IN")" ]
	[ "$(wc -l < "$J")" -eq 1 ]
	run title 0
	assert_output '✅ Rebalance Success'
	run field 0 '[.topic, .key, .status, .headers.tags, .headers.priority, .headers["content-type"], .headers.authorization] | @json'
	assert_output '["rebal-test","ok",200,"white_check_mark","default","text/plain; charset=utf-8",null]'
	run field 0 .body
	assert_output - <<-'EOF'
	Account: DU111
	Strategy: etf-blend-200-35
	Operation: rebalance
	Time: 2026-11-23 10:30:00 ET

	Trades Executed: 2
	Portfolio Value: $123,456.79
	Cash Balance: $1,200.50
	EOF
}

@test "print-rebalance, failure, PDT, deferral, skip and warnings" {
	sink
	cat > "$IN" <<-'EOF'
	{"account":{"id":"DU1"},"strategy":"s","exec":"print-rebalance","status":"ok","snapshot":{"net_liquidation":1000},"plan":{"orders":[{"symbol":"SPY"},{"symbol":"TLT"}],"warnings":["SPY: fractional position 0.5 not sold"]}}
	{"account":{"id":"DU2"},"strategy":"s","exec":"rebalance","status":"failed","error":{"code":75,"message":"ib-order: no fill within 300 s","tool":"ib-order"},"plan":{"warnings":["one","two"]}}
	{"account":{"id":"U3"},"strategy":"s","exec":"rebalance","status":"failed","error":{"code":77,"message":"PDT protection: already traded today","tool":"rebal-calc"}}
	{"account":{"id":"DU4"},"strategy":"s","exec":"rebalance","status":"deferred","plan":{"defer_until":"2026-11-24T14:30:00Z"},"error":{"code":75,"message":"market closed"}}
	{"account":{"id":"U5"},"strategy":"s","exec":"rebalance","status":"deferred","plan":{"defer_until":"2026-11-24T14:35:00Z"},"error":{"message":"PDT: one rebalance per day"}}
	{"account":{"id":"DU6"},"strategy":"s","exec":"rebalance","status":"skipped","error":{"message":"stale event"}}
	EOF
	run --separate-stderr rebal-notify "$IN"
	assert_success
	[ "$output" = "$(cat "$IN")" ]
	run jq -r '.headers.tags + " " + .headers.priority' "$J"
	assert_output - <<-'EOF'
	white_check_mark default
	warning default
	x high
	warning default
	shield,warning default
	alarm_clock default
	calendar,shield default
	next_track_button default
	EOF
	run title 0
	assert_output '✅ Print Rebalance Success'
	run field 0 .body
	assert_output - <<-'EOF'
	Account: DU1
	Strategy: s
	Operation: print-rebalance
	Time: 2026-11-23 10:30:00 ET

	Proposed Trades: 2
	Current Value: $1,000.00
	EOF
	run title 1
	assert_output '⚠️ Print Rebalance Warnings'
	run field 1 .body
	assert_line --index 4 'SPY: fractional position 0.5 not sold'
	run title 2
	assert_output '❌ Rebalance Failed'
	run field 2 .body
	assert_line --index 4 'Error: ib-order: no fill within 300 s'
	run field 3 .body
	assert_line --index 4 '1. one'
	assert_line --index 5 '2. two'
	run title 4
	assert_output '🛡️ PDT Protection Active'
	run field 4 .body
	assert_line --index 4 'Reason: PDT protection: already traded today'
	run title 5
	assert_output '⏰ Rebalance Deferred'
	run field 5 .body
	assert_line --index 4 'Deferred Until: 2026-11-24 09:30:00 ET'
	assert_line --index 5 'Reason: market closed'
	run title 6
	assert_output '🗓️ PDT - Auto-Scheduled'
	run title 7
	assert_output '⏭️ Rebalance Skipped'
	run field 7 .body
	assert_line --index 4 'Reason: stale event'
}

@test "rebal-account summary lines: account_id, orders, reason, defer_until" {
	sink
	cat > "$IN" <<-'EOF'
	{"account_id":"DU7","strategy":"s","exec":"rebalance","event":"e1","status":"ok","error":null,"defer_until":null,"reason":null,"orders":4,"run":"/r"}
	{"account_id":"DU8","strategy":"s","exec":"rebalance","event":"e1","status":"deferred","error":null,"defer_until":"2026-11-24T14:30:00Z","reason":"market closed","orders":0,"run":"/r"}
	EOF
	run --separate-stderr rebal-notify "$IN"
	assert_success
	run field 0 .body
	assert_line --index 0 'Account: DU7'
	assert_line --index 4 'Trades Executed: 4'
	run field 1 .body
	assert_line --index 0 'Account: DU8'
	assert_line --index 4 'Deferred Until: 2026-11-24 09:30:00 ET'
	assert_line --index 5 'Reason: market closed'
}

@test "the token can come from NTFY_TOKEN_FILE; no token, no header" {
	NTFY_TOKEN= sink
	printf '%s\n' '{"account":{"id":"DU1"},"status":"ok"}' > "$IN"
	printf '%s\n' "$TOKEN" > "$BATS_TEST_TMPDIR/token"
	NTFY_TOKEN= NTFY_TOKEN_FILE=$BATS_TEST_TMPDIR/token run rebal-notify "$IN"
	assert_success
	NTFY_TOKEN= run rebal-notify "$IN"
	assert_success
	run jq -r .key "$J"
	assert_output $'unchecked\nunchecked'
	stop_server SINK
	rm -f "$J"
	sink
	NTFY_TOKEN= NTFY_TOKEN_FILE=$BATS_TEST_TMPDIR/token run rebal-notify "$IN"
	NTFY_TOKEN=wrong run --separate-stderr rebal-notify "$IN"
	assert_success
	[[ $stderr == *"warning: notification for DU1 not sent: HTTP 401: invalid API key"* ]]
	run jq -r .key "$J"
	assert_output $'ok\nbad'
}

@test "a sink that fails is a warning, never a failing exit" {
	sink 'fault: {status: 500}'
	printf '%s\n' '{"account":{"id":"DU1"},"status":"ok"}' '{"account":{"id":"DU2"},"status":"failed"}' > "$IN"
	run --separate-stderr rebal-notify "$IN"
	assert_success
	[ "$output" = "$(cat "$IN")" ]
	[[ $stderr == *"warning: notification for DU1 not sent: HTTP 500: simulated failure"* ]]
	[[ $stderr == *"warning: notification for DU2 not sent"* ]]
	# 3 attempts for each message
	[ "$(wc -l < "$J")" -eq 6 ]
}

@test "a sink that never answers is a timeout warning; a closed port too" {
	sink 'fault: {hang: true}'
	printf '%s\n' '{"account":{"id":"DU1"},"status":"ok"}' > "$IN"
	run --separate-stderr rebal-notify -t 0.3 "$IN"
	assert_success
	[ "$output" = "$(cat "$IN")" ]
	[[ $stderr == *"notification for DU1 not sent: timed out"* ]]
	stop_server SINK
	run --separate-stderr rebal-notify -t 5 "$IN"
	assert_success
	[[ $stderr == *"notification for DU1 not sent: connection failed"* ]]
}

@test "without NTFY_URL it only copies its input" {
	printf '%s\n' '{"account":{"id":"DU1"},"status":"ok"}' > "$IN"
	NTFY_URL= run --separate-stderr rebal-notify "$IN"
	assert_success
	assert_output "$(cat "$IN")"
	[[ $stderr == *"NTFY_URL is not set"* ]]
}

@test "configuration errors: 78" {
	NTFY_URL=http://ntfy.example.org/t run rebal-notify </dev/null
	assert_failure 78
	assert_output --partial 'NTFY_URL: plain http is allowed only to a loopback address'
	NTFY_URL=https://ntfy.sh/t NTFY_TOKEN= NTFY_TOKEN_FILE=/nonexistent \
	    run rebal-notify </dev/null
	assert_failure 78
}

@test "bad lines are copied and reported: 65; records without account: no message" {
	sink
	printf '%s\n' '{"account":{"id":"DU1"},"status":"ok"}' 'not json' '{"alert":"gap"}' '[1]' > "$IN"
	run --separate-stderr rebal-notify "$IN"
	assert_failure 65
	[ "$output" = "$(cat "$IN")" ]
	[[ $stderr == *"$IN:2:"* ]]
	[ "$(wc -l < "$J")" -eq 1 ]
}

@test "-w: lines pass at once, messages wait, one grouped message per account" {
	sink
	fifo=$BATS_TEST_TMPDIR/in.fifo
	out=$BATS_TEST_TMPDIR/out
	mkfifo "$fifo"
	rebal-notify -w 3600 <"$fifo" >"$out" 2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	exec {w}>"$fifo"
	cat >&"$w" <<-'EOF'
	{"account":{"id":"DU1"},"strategy":"s","exec":"rebalance","status":"ok","plan":{"warnings":["w1"]}}
	{"account":{"id":"DU2"},"strategy":"s","exec":"rebalance","status":"failed","error":{"message":"boom"}}
	EOF
	for _ in $(seq 100); do
		[ "$(wc -l < "$out")" -eq 2 ] && break
		sleep 0.1
	done
	# both lines are through, no message yet: the window is an hour
	[ "$(wc -l < "$out")" -eq 2 ]
	[ ! -s "$J" ]
	exec {w}>&-
	wait "$pid"
	[ "$(wc -l < "$J")" -eq 2 ]
	run jq -r '.headers.title + " | " + .headers.tags + " | " + .headers.priority' "$J"
	assert_line --index 0 'DU1 Portfolio Rebalancing | white_check_mark,warning | default'
	assert_line --index 1 --partial ' | x | high'
	run field 0 .body
	assert_line --index 0 '✅ Rebalance Success'
	assert_line --index 6 '━━━━━━━━━━'
	assert_line --index 7 '⚠️ Rebalance Warnings'
	assert_line --index 12 'w1'
}

@test "-w: a batch is posted when its window ends, while the input stays open" {
	sink
	fifo=$BATS_TEST_TMPDIR/in.fifo
	mkfifo "$fifo"
	rebal-notify -w 0.2 <"$fifo" >/dev/null 2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	exec {w}>"$fifo"
	printf '%s\n' '{"account":{"id":"DU1"},"status":"ok"}' >&"$w"
	for _ in $(seq 100); do
		[ -s "$J" ] && break
		sleep 0.1
	done
	[ "$(wc -l < "$J")" -eq 1 ]
	kill -0 "$pid"	# still reading
	printf '%s\n' '{"account":{"id":"DU1"},"status":"failed"}' >&"$w"
	exec {w}>&-
	wait "$pid"
	[ "$(wc -l < "$J")" -eq 2 ]
	run title 1
	assert_output '❌ Rebalance Failed'
}

@test "usage" {
	run rebal-notify -h
	assert_success
	assert_output --partial 'usage: rebal-notify'
	run rebal-notify -q
	assert_failure 64
	run rebal-notify -w -1 </dev/null
	assert_failure 64
}

@test "a spool item that failed as a whole (rebal-spool run -N) is one message; other items without an account none" {
	sink
	export REBAL_SPOOL=$BATS_TEST_TMPDIR/spool
	echo '{"id":"ev-9","event_id":"ev-9","strategy":"etf-blend-200-35","exec":"rebalance"}' | rebal-spool add
	run --separate-stderr rebal-spool run -1 -N rebal-notify -- sh -c 'cat >/dev/null; exit 78'
	assert_failure 1
	[ "$(wc -l < "$J")" -eq 1 ]
	assert_equal "$(title 0)" "❌ Rebalance Event Failed"
	assert_equal "$(field 0 '.headers.tags + " " + .headers.priority')" "x high"
	run field 0 .body
	assert_line "Event: ev-9"
	assert_line "Strategy: etf-blend-200-35"
	assert_line "Attempts: 1"
	assert_line "Error: CMD exited 78"
	# an item that is not failed, and an item without the spool's fields
	printf '%s\n' '{"id":"ev-8","strategy":"s","spool":{"state":"done"}}' '{"id":"ev-7","strategy":"s"}' > "$IN"
	run --separate-stderr rebal-notify "$IN"
	assert_success
	[ "$(wc -l < "$J")" -eq 1 ]
}

@test "a market-on-close success says which orders still wait for the close" {
	sink
	cat > "$IN" <<-'EOF'
	{"account":{"id":"DU111"},"strategy":"s","exec":"rebalance","status":"ok","snapshot":{"net_liquidation":1000,"cash":10},"executions":[{"symbol":"SPY","qty":3,"filled":0,"status":"PreSubmitted"},{"symbol":"TLT","qty":2,"filled":2,"status":"Filled"},{"symbol":"GLD","qty":1,"filled":0,"status":"Submitted"}]}
	EOF
	run --separate-stderr rebal-notify "$IN"
	assert_success
	run field 0 .body
	assert_line --index 4 'Trades Executed: 1'
	assert_line --index 5 'Orders Still Working: 2 (not filled yet; market-on-close orders fill at the close)'
}

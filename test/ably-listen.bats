#!/usr/bin/env bats
# ably-listen against ably-sim on loopback: delivery, resume, backfill from
# history, restarts, alerts, dedup, errors. Every wait is on an event (a line,
# a log message, a simulator counter) with a bound, never on a timer.
load helper

KEY=app1.key1:s3cr3t-Value

setup() {
	export ABLY_SIM_KEYS=$KEY
	OUT=$BATS_TEST_TMPDIR/out.ndjson
	ERR=$BATS_TEST_TMPDIR/err.log
	: >"$OUT"
	: >"$ERR"
}

teardown() {
	if [ -n "${AL_PID:-}" ]; then
		kill -KILL "$AL_PID" 2>/dev/null || true
		wait "$AL_PID" 2>/dev/null || true
	fi
	stop_server SIM
}

sim() {
	start_server SIM ably-sim -j "$BATS_TEST_TMPDIR/journal.ndjson" "$@"
}

# listen [ARGS...]: start ably-listen on the simulator in the background.
listen() {
	ABLY_API_KEY=$KEY ably-listen -T -H "127.0.0.1:$SIM_PORT" "$@" \
	    >>"$OUT" 2>>"$ERR" &
	AL_PID=$!
}

# stop_listener: SIGTERM, wait; $status is its exit status.
stop_listener() {
	kill -TERM "$AL_PID"
	status=0
	wait "$AL_PID" || status=$?
	AL_PID=
}

# wait_until SECONDS COMMAND...: poll COMMAND until it succeeds; fail after
# SECONDS with the listener's log.
wait_until() {
	local limit=$(( SECONDS + $1 ))
	shift
	until "$@"; do
		if [ "$SECONDS" -ge "$limit" ]; then
			echo "timed out waiting for: $*" >&2
			echo "--- stdout"; cat "$OUT"; echo "--- stderr"; cat "$ERR"
			return 1
		fi
		sleep 0.02
	done
}

nlines() { [ "$(wc -l <"$OUT")" -ge "$1" ]; }
logged() { grep -q -- "$1" "$ERR"; }
logged_n() { [ "$(grep -c -- "$1" "$ERR")" -ge "$2" ]; }
wait_lines() { wait_until 20 nlines "$1"; }
wait_log() { wait_until "${2:-20}" logged "$1"; }

# sim_wait EVENT [COUNT]: block until the simulator counted EVENT COUNT times.
sim_wait() {
	curl -sf "http://127.0.0.1:$SIM_PORT/_sim/wait?event=$1&count=${2:-1}&timeout=20000" >/dev/null
}

fault() {
	curl -sf -X POST -d "$1" "http://127.0.0.1:$SIM_PORT/_sim/fault" >/dev/null
}

# pub CHANNEL JSON: publish through the simulator's REST API.
pub() {
	curl -sf -u "$KEY" -H 'Content-Type: application/json' -d "$2" \
	    "http://127.0.0.1:$SIM_PORT/channels/$1/messages" >/dev/null
}

# count_id EVENT_ID: lines of the output with that event id
count_ev() { jq -c "select(.event_id == \"$1\")" "$OUT" | wc -l; }

@test "ably-listen: unit tests of lib/ablm and lib/atom" {
	run "$TOP/test/unit/ablm_test" "$BATS_TEST_TMPDIR"
	echo "$output"
	assert_success
	refute_output --partial "not ok"
}

@test "ably-listen: usage errors are 64, -h is 0" {
	run ably-listen -h
	assert_success
	assert_output --partial "usage: ably-listen"
	run ably-listen
	assert_failure 64
	run ably-listen -m paper chan
	assert_failure 64
	run ably-listen -f x.yaml -m demo
	assert_failure 64
	run ably-listen -T -H example.com chan
	assert_failure 64
	assert_output --partial "loopback"
	run ably-listen -H 127.0.0.1:99999 chan
	assert_failure 64
}

@test "ably-listen: no key or a malformed key is 78, the key never printed" {
	run ably-listen -T -H 127.0.0.1:1 chan
	assert_failure 78
	assert_output --partial "ABLY_API_KEY"
	ABLY_API_KEY=not-a-key-at-all run ably-listen -T -H 127.0.0.1:1 chan
	assert_failure 78
	refute_output --partial "not-a-key-at-all"
	ABLY_API_KEY_FILE=$BATS_TEST_TMPDIR/missing run ably-listen chan
	assert_failure 78
}

@test "ably-listen: -f takes the distinct strategies of enabled accounts of the mode" {
	cat >"$BATS_TEST_TMPDIR/accounts.yaml" <<-'EOF'
	accounts:
	  - {account_id: DU1, type: paper, strategy_name: alpha}
	  - {account_id: DU2, type: paper, strategy_name: beta, enabled: true}
	  - {account_id: DU3, type: paper, strategy_name: alpha}
	  - {account_id: DU4, type: paper, strategy_name: off, enabled: false}
	  - {account_id: U5, type: live, strategy_name: gamma}
	EOF
	ABLY_API_KEY=$KEY run ably-listen -1 -T -H 127.0.0.1:1 \
	    -f "$BATS_TEST_TMPDIR/accounts.yaml" -m paper
	assert_failure 69
	assert_output --partial "channels: alpha, beta;"
	ABLY_API_KEY=$KEY TRADING_MODE=live run ably-listen -1 -T \
	    -H 127.0.0.1:1 -f "$BATS_TEST_TMPDIR/accounts.yaml"
	assert_failure 69
	assert_output --partial "channels: gamma;"
	printf 'accounts:\n  - {account_id: DU1, type: paper, enabled: yes, strategy_name: a}\n' \
	    >"$BATS_TEST_TMPDIR/bad.yaml"
	ABLY_API_KEY=$KEY run ably-listen -T -H 127.0.0.1:1 -f "$BATS_TEST_TMPDIR/bad.yaml"
	assert_failure 78
	assert_output --partial "bad.yaml:2: enabled"
	printf 'accounts:\n  - {account_id: DU1, type: live, strategy_name: a}\n' \
	    >"$BATS_TEST_TMPDIR/none.yaml"
	ABLY_API_KEY=$KEY run ably-listen -T -H 127.0.0.1:1 -f "$BATS_TEST_TMPDIR/none.yaml" -m paper
	assert_failure 78
	assert_output --partial "no enabled paper account"
}

@test "ably-listen: -1 gives up on an unreachable server with 69" {
	ABLY_API_KEY=$KEY run ably-listen -1 -T -H 127.0.0.1:1 chan
	assert_failure 69
	assert_output --partial "connection failed"
	refute_output --partial "s3cr3t"
}

@test "ably-listen: a corrupt state file stops it with 78" {
	mkdir -p "$REBAL_STATE/ably"
	echo 'garbage{' >"$REBAL_STATE/ably/strat.json"
	ABLY_API_KEY=$KEY run ably-listen -1 -T -H 127.0.0.1:1 strat
	assert_failure 78
	assert_output --partial "corrupt state file"
}

@test "ably-listen: frames that are not the Ably protocol are 76" {
	[ -d "$TOP/test/conformance/node_modules/ws" ] ||
	    fail "npm ci in test/conformance has not run"
	for mode in text array binary noconnkey; do
		start_server FAKE node "$TOP/test/conformance/ably-fake.mjs" "$mode"
		ABLY_API_KEY=$KEY run timeout 30 ably-listen -T \
		    -H "127.0.0.1:$FAKE_PORT" strat
		stop_server FAKE
		echo "$mode: $output"
		assert_failure 76
		assert_output --partial "protocol error"
	done
}

@test "ably-listen: TLS is verified: a trusted certificate connects, an unknown one does not" {
	[ -d "$TOP/test/conformance/node_modules/ws" ] ||
	    fail "npm ci in test/conformance has not run"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
	    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
	    -keyout "$BATS_TEST_TMPDIR/key.pem" -out "$BATS_TEST_TMPDIR/cert.pem" \
	    2>/dev/null
	start_server FAKE node "$TOP/test/conformance/ably-fake.mjs" ok \
	    "$BATS_TEST_TMPDIR/cert.pem" "$BATS_TEST_TMPDIR/key.pem"
	# not trusted: the handshake fails, -1 gives up
	ABLY_API_KEY=$KEY run timeout 30 ably-listen -1 -H "localhost:$FAKE_PORT" strat
	assert_failure 69
	assert_output --partial "connection failed"
	# trusted through SSL_CERT_FILE: connected and attached
	ABLY_API_KEY=$KEY SSL_CERT_FILE=$BATS_TEST_TMPDIR/cert.pem \
	    ably-listen -H "localhost:$FAKE_PORT" strat >>"$OUT" 2>>"$ERR" &
	AL_PID=$!
	wait_log "strat: attached resumed=0"
	stop_listener
	stop_server FAKE
	assert_equal "$status" 0
	logged "connected: id=fake1"
}

@test "ably-listen: three publishes give three event lines, payloads decoded" {
	sim
	printf '%s\n' "$KEY" >"$BATS_TEST_TMPDIR/key"
	ABLY_API_KEY_FILE=$BATS_TEST_TMPDIR/key ably-listen -T \
	    -H "127.0.0.1:$SIM_PORT" etf-blend-200-35 >>"$OUT" 2>>"$ERR" &
	AL_PID=$!
	sim_wait attached
	pub etf-blend-200-35 '{"name":"x","data":{"exec":"rebalance","eventId":"ev-1"}}'
	pub etf-blend-200-35 '{"data":"{\"exec\":\"print-rebalance\",\"eventId\":\"ev-2\"}"}'
	pub etf-blend-200-35 '{"data":"eyJleGVjIjoicmViYWxhbmNlIiwiZXZlbnRJZCI6ImV2LTMifQ==","encoding":"json/utf-8/base64"}'
	wait_lines 3
	run jq -r '[.strategy, .exec, .event_id, .source, (.data|type)] | @tsv' "$OUT"
	assert_output "$(printf 'etf-blend-200-35\trebalance\tev-1\tably\tobject\netf-blend-200-35\tprint-rebalance\tev-2\tably\tobject\netf-blend-200-35\trebalance\tev-3\tably\tobject')"
	run jq -r 'select(.published_at | test("^[0-9-]{10}T[0-9:.]+Z$") | not)' "$OUT"
	assert_output ""
	run jq -r '.id' "$OUT"
	assert_equal "$(printf '%s\n' "$output" | sort -u | wc -l)" 3
	# the connection asked for JSON, heartbeats and protocol 6
	run jq -r 'select(.event == "open") | .query | "\(.format) \(.heartbeats) \(.v)"' \
	    "$BATS_TEST_TMPDIR/journal.ndjson"
	assert_output "json true 6"
	stop_listener
	assert_equal "$status" 0
	sim_wait close
	grep -q "connected: id=" "$ERR"
	refute grep -q "s3cr3t" "$ERR"
	# the state file holds the position, the ids, never the key
	run cat "$REBAL_STATE/ably/etf-blend-200-35.json"
	assert_output --partial '"channel_serial":'
	refute_output --partial "s3cr3t"
	[ "$(wc -l <"$OUT")" -eq 3 ]
}

@test "ably-listen: a dropped socket is resumed and the outage's messages come once" {
	sim
	listen strat
	sim_wait attached
	pub strat '{"data":{"exec":"rebalance","eventId":"m1"}}'
	wait_lines 1
	fault '{"fault":"delay","what":"connected","ms":300}'
	fault '{"fault":"drop"}'
	pub strat '{"data":{"exec":"rebalance","eventId":"m2"}}'
	pub strat '{"data":{"exec":"rebalance","eventId":"m3"}}'
	wait_lines 3
	wait_log "resumed"
	pub strat '{"data":{"exec":"rebalance","eventId":"m4"}}'
	wait_lines 4
	run jq -r '"\(.event_id) \(.source)"' "$OUT"
	assert_output "$(printf 'm1 ably\nm2 ably\nm3 ably\nm4 ably')"
	run grep -c "attached resumed=1" "$ERR"
	assert_output 1
	refute logged "reading history"
}

@test "ably-listen: a failed resume is filled from history exactly once, marked history" {
	sim
	listen strat
	sim_wait attached
	pub strat '{"data":{"exec":"rebalance","eventId":"m1"}}'
	wait_lines 1
	fault '{"fault":"fail_resume"}'
	fault '{"fault":"delay","what":"connected","ms":300}'
	fault '{"fault":"drop"}'
	pub strat '{"data":{"exec":"rebalance","eventId":"m2"}}'
	wait_lines 2
	wait_log "backfill"
	pub strat '{"data":{"exec":"rebalance","eventId":"m3"}}'
	wait_lines 3
	run jq -r '"\(.event_id) \(.source)"' "$OUT"
	assert_output "$(printf 'm1 ably\nm2 history\nm3 ably')"
	logged "was not resumed"
	logged "attached resumed=0"
	# m1 was in the history too and was skipped
	logged "2 in history, 1 new"
	refute grep -q '"type":"alert"' "$OUT"
}

@test "ably-listen: stopped and restarted, the messages published meanwhile come from history" {
	sim
	listen strat
	sim_wait attached
	pub strat '{"data":{"exec":"rebalance","eventId":"m1"}}'
	wait_lines 1
	stop_listener
	assert_equal "$status" 0
	logged "closed"
	pub strat '{"data":{"exec":"rebalance","eventId":"m2"}}'
	pub strat '{"data":{"exec":"print-rebalance","eventId":"m3"}}'
	listen strat
	wait_lines 3
	wait_log "backfill"
	pub strat '{"data":{"exec":"rebalance","eventId":"m4"}}'
	wait_lines 4
	run jq -r '"\(.event_id) \(.source)"' "$OUT"
	assert_output "$(printf 'm1 ably\nm2 history\nm3 history\nm4 ably')"
}

@test "ably-listen: killed hard, the restart recovers the connection and loses nothing" {
	sim
	listen strat
	sim_wait attached
	pub strat '{"data":{"exec":"rebalance","eventId":"m1"}}'
	wait_lines 1
	kill -KILL "$AL_PID"
	wait "$AL_PID" || true
	AL_PID=
	pub strat '{"data":{"exec":"rebalance","eventId":"m2"}}'
	listen strat
	wait_lines 2
	wait_log "attached resumed="
	run jq -r '.event_id' "$OUT"
	assert_output "$(printf 'm1\nm2')"
	run jq -r 'select(.event == "open") | .query.recover // empty' \
	    "$BATS_TEST_TMPDIR/journal.ndjson"
	[ -n "$output" ]
}

@test "ably-listen: history unavailable for the gap gives an alert record" {
	sim
	listen strat
	sim_wait attached
	pub strat '{"data":{"exec":"rebalance","eventId":"m1"}}'
	wait_lines 1
	fault '{"fault":"history_unavailable","status":401,"code":40160}'
	fault '{"fault":"fail_resume"}'
	fault '{"fault":"drop"}'
	wait_until 20 grep -q '"type":"alert"' "$OUT"
	run jq -r 'select(.type == "alert") | "\(.strategy) \(.from != null) \(.to != null)"' "$OUT"
	assert_output "strat true true"
	run jq -r 'select(.type == "alert") | .reason' "$OUT"
	assert_output --partial "history unavailable"
	assert_output --partial "40160"
	logged "ALERT"
}

@test "ably-listen: a temporary history failure is retried" {
	sim
	listen strat
	sim_wait attached
	pub strat '{"data":{"exec":"rebalance","eventId":"m1"}}'
	wait_lines 1
	fault '{"fault":"history_unavailable","count":1,"status":503,"code":50000}'
	fault '{"fault":"fail_resume"}'
	fault '{"fault":"delay","what":"connected","ms":300}'
	fault '{"fault":"drop"}'
	pub strat '{"data":{"exec":"rebalance","eventId":"m2"}}'
	wait_lines 2
	run jq -r '"\(.event_id) \(.source)"' "$OUT"
	assert_output "$(printf 'm1 ably\nm2 history')"
	logged "history failed"
	refute grep -q '"type":"alert"' "$OUT"
}

@test "ably-listen: history that does not reach the gap's start past the retention gives an alert" {
	sim
	listen -r 0 strat
	sim_wait attached
	pub strat '{"data":{"exec":"rebalance","eventId":"m1"}}'
	wait_lines 1
	fault '{"fault":"history_truncate","age":0}'
	fault '{"fault":"fail_resume"}'
	fault '{"fault":"delay","what":"connected","ms":300}'
	fault '{"fault":"drop"}'
	pub strat '{"data":{"exec":"rebalance","eventId":"m2"}}'
	wait_until 20 grep -q '"type":"alert"' "$OUT"
	wait_lines 3
	run jq -r 'if .type == "alert" then "alert" else "\(.event_id) \(.source)" end' "$OUT"
	assert_output "$(printf 'm1 ably\nm2 history\nalert')"
	run jq -r 'select(.type == "alert") | .reason' "$OUT"
	assert_output --partial "does not reach back"
}

@test "ably-listen: from_serial refused falls back to a time window" {
	sim
	listen strat
	sim_wait attached
	pub strat '{"data":{"exec":"rebalance","eventId":"m1"}}'
	wait_lines 1
	fault '{"fault":"from_serial_reject"}'
	fault '{"fault":"fail_resume"}'
	fault '{"fault":"delay","what":"connected","ms":300}'
	fault '{"fault":"drop"}'
	pub strat '{"data":{"exec":"rebalance","eventId":"m2"}}'
	wait_lines 2
	wait_log "by start"
	run jq -r '"\(.event_id) \(.source)"' "$OUT"
	assert_output "$(printf 'm1 ably\nm2 history')"
	logged "refused from_serial"
}

@test "ably-listen: a message lost live is recovered after an unsolicited non-resumed ATTACHED; duplicates skipped" {
	sim
	listen strat
	sim_wait attached
	pub strat '{"data":{"exec":"rebalance","eventId":"m1"}}'
	wait_lines 1
	fault '{"fault":"lose","channel":"strat","count":1}'
	pub strat '{"data":{"exec":"rebalance","eventId":"m2"}}'
	pub strat '{"data":{"exec":"rebalance","eventId":"m3"}}'
	wait_lines 2
	fault '{"fault":"attached","channel":"strat"}'
	wait_lines 3
	wait_log "backfill"
	run jq -r '"\(.event_id) \(.source)"' "$OUT"
	assert_output "$(printf 'm1 ably\nm3 ably\nm2 history')"
	logged "(server update)"
	[ "$(count_ev m1)" -eq 1 ] && [ "$(count_ev m3)" -eq 1 ]
}

@test "ably-listen: the same message id twice gives one line" {
	sim
	listen strat
	sim_wait attached
	pub strat '{"id":"dup-1","data":{"exec":"rebalance","eventId":"d1"}}'
	pub strat '{"id":"dup-1","data":{"exec":"rebalance","eventId":"d1"}}'
	pub strat '{"data":{"exec":"rebalance","eventId":"after"}}'
	wait_lines 2
	# history now repeats all of them: still one line each
	fault '{"fault":"attached","channel":"strat"}'
	wait_log "backfill"
	pub strat '{"data":{"exec":"rebalance","eventId":"last"}}'
	wait_lines 3
	run jq -r '.event_id' "$OUT"
	assert_output "$(printf 'd1\nafter\nlast')"
}

@test "ably-listen: a bad key is refused with 77 and the server's message" {
	sim
	ABLY_API_KEY=app1.key1:wrong-secret run timeout 30 ably-listen -T \
	    -H "127.0.0.1:$SIM_PORT" strat
	assert_failure 77
	assert_output --partial "40101"
	assert_output --partial "Invalid credentials"
	refute_output --partial "wrong-secret"
}

@test "ably-listen: basic auth refused over plain ws is a configuration error (78)" {
	sim
	fault '{"fault":"require_tls"}'
	ABLY_API_KEY=$KEY run timeout 30 ably-listen -T -H "127.0.0.1:$SIM_PORT" strat
	assert_failure 78
	assert_output --partial "40103"
}

@test "ably-listen: a channel ERROR gives an alert, other channels go on" {
	sim
	listen one two
	sim_wait attached 2
	fault '{"fault":"channel_error","channel":"one"}'
	wait_until 20 grep -q '"type":"alert"' "$OUT"
	pub two '{"data":{"exec":"rebalance","eventId":"t1"}}'
	wait_lines 2
	run jq -r 'if .type == "alert" then "alert \(.strategy)" else "\(.strategy) \(.event_id)" end' "$OUT"
	assert_output "$(printf 'alert one\ntwo t1')"
	logged "one: failed"
}

@test "ably-listen: a server DETACHED is followed by a new ATTACH, nothing lost" {
	sim
	listen strat
	sim_wait attached
	fault '{"fault":"detached","channel":"strat"}'
	sim_wait attached 2
	pub strat '{"data":{"exec":"rebalance","eventId":"m1"}}'
	wait_lines 1
	logged "detached by the server"
}

@test "ably-listen: DISCONNECTED from the server is resumed at once" {
	sim
	listen strat
	sim_wait attached
	fault '{"fault":"disconnected"}'
	sim_wait resumed
	wait_log "attached resumed=1"
	pub strat '{"data":{"exec":"rebalance","eventId":"m1"}}'
	wait_lines 1
	logged "server DISCONNECTED"
}

@test "ably-listen: fragmented frames and messages without ids are put together" {
	sim
	listen strat
	sim_wait attached
	fault '{"fault":"fragment","size":7}'
	fault '{"fault":"omit_fields"}'
	pub strat '{"data":{"exec":"rebalance","eventId":"f1","pad":"0123456789012345678901234567890123456789"}}'
	wait_lines 1
	run jq -r '"\(.event_id) \(.id) \(.published_at != null)"' "$OUT"
	assert_output --regexp '^f1 [^ ]+:0:0 true$'
	# the derived id is the one history returns
	id=$(jq -r .id "$OUT")
	run curl -sf -u "$KEY" "http://127.0.0.1:$SIM_PORT/channels/strat/messages"
	assert_output --partial "\"id\":\"$id\""
}

@test "ably-listen: a silent server is dropped after maxIdleInterval + 10 s and resumed" {
	sim -i 100
	listen strat
	sim_wait attached
	fault '{"fault":"silent"}'
	wait_log "no activity for 10 s" 30
	sim_wait resumed
	wait_log "attached resumed=1"
	pub strat '{"data":{"exec":"rebalance","eventId":"m1"}}'
	wait_lines 1
}

@test "ably-listen: refused handshakes back off, then the connection is suspended" {
	sim -t 500
	listen strat
	sim_wait attached
	fault '{"fault":"refuse","count":-1}'
	fault '{"fault":"drop"}'
	wait_log "suspended: no connection"
	logged "retrying in"
	stop_listener
	assert_equal "$status" 0
}

@test "ably-listen: SIGHUP leaves without CLOSE and the restart recovers the connection" {
	sim
	listen strat
	sim_wait attached
	pub strat '{"data":{"exec":"rebalance","eventId":"m1"}}'
	wait_lines 1
	kill -HUP "$AL_PID"
	status=0
	wait "$AL_PID" || status=$?
	AL_PID=
	assert_equal "$status" 0
	id=$(sed -n 's/.*connected: id=\([^ ]*\) .*/\1/p' "$ERR" | head -n 1)
	pub strat '{"data":{"exec":"rebalance","eventId":"m2"}}'
	listen strat
	wait_lines 2
	wait_log "attached resumed=1"
	run jq -r '"\(.event_id) \(.source)"' "$OUT"
	assert_output "$(printf 'm1 ably\nm2 ably')"
	logged "connected: id=$id resumed"
	run jq -r 'select(.event == "open") | .query.recover // empty' \
	    "$BATS_TEST_TMPDIR/journal.ndjson"
	[ -n "$output" ]
}

@test "ably-listen: a new connection id reads history even when the attach says RESUMED" {
	sim
	listen strat
	sim_wait attached
	pub strat '{"data":{"exec":"rebalance","eventId":"m1"}}'
	wait_lines 1
	fault '{"fault":"fresh_resume"}'
	fault '{"fault":"fail_resume"}'
	fault '{"fault":"delay","what":"connected","ms":300}'
	fault '{"fault":"drop"}'
	pub strat '{"data":{"exec":"rebalance","eventId":"m2"}}'
	wait_lines 2
	wait_log "backfill"
	logged "resumed on a new connection"
	pub strat '{"data":{"exec":"rebalance","eventId":"m3"}}'
	wait_lines 3
	run jq -r '.event_id' "$OUT"
	assert_output "$(printf 'm1\nm2\nm3')"
}

@test "ably-listen: a failed write on stdout is 74, a closed stdout too" {
	sim
	ABLY_API_KEY=$KEY ably-listen -T -H "127.0.0.1:$SIM_PORT" strat \
	    >/dev/full 2>>"$ERR" &
	AL_PID=$!
	sim_wait attached
	pub strat '{"data":{"exec":"rebalance","eventId":"m1"}}'
	status=0
	wait "$AL_PID" || status=$?
	AL_PID=
	assert_equal "$status" 74
	logged "write error"
	ABLY_API_KEY=$KEY run timeout 30 sh -c \
	    'exec ably-listen -T -H "127.0.0.1:$1" strat >&-' sh "$SIM_PORT"
	assert_failure 74
	assert_output --partial "stdout"
}

@test "ably-listen: a reader of stdout that goes away is 74 at once; the restart writes the last events again" {
	sim
	mkfifo "$BATS_TEST_TMPDIR/out.fifo"
	head -n 1 "$BATS_TEST_TMPDIR/out.fifo" >"$BATS_TEST_TMPDIR/first" &
	reader=$!
	ABLY_API_KEY=$KEY ably-listen -T -H "127.0.0.1:$SIM_PORT" strat \
	    >"$BATS_TEST_TMPDIR/out.fifo" 2>>"$ERR" &
	AL_PID=$!
	sim_wait attached
	pub strat '{"id":"m1","data":{"exec":"rebalance","eventId":"m1"}}'
	wait "$reader"
	# no other event comes: the listener sees the closed pipe by itself
	status=0
	wait "$AL_PID" || status=$?
	AL_PID=
	assert_equal "$status" 74
	logged "standard output: the reader went away"
	assert_equal "$(jq -r .id "$BATS_TEST_TMPDIR/first")" m1
	listen strat
	wait_lines 1
	wait_log "attached"
	logged "strat: the last reader of standard output went away: the last 1 events written again"
	run jq -r '"\(.id) \(.source)"' "$OUT"
	assert_output "m1 ably"
	# written again once only: a later restart does not repeat it
	stop_listener
	listen strat
	wait_until 20 logged_n "attached resumed" 3
	stop_listener
	run jq -r .id "$OUT"
	assert_output m1
}

@test "ably-listen: an ATTACHED that does not come within 10 s suspends the channel, which is attached again" {
	sim
	fault '{"fault":"delay","what":"attached","ms":60000}'
	listen strat
	wait_log "strat: no ATTACHED within 10 s; suspended" 30
	wait_log "strat: attached resumed=0" 40
	pub strat '{"data":{"exec":"rebalance","eventId":"m1"}}'
	wait_lines 1
	[ "$(grep -c "strat: attaching" "$ERR")" -ge 2 ]
}

@test "ably-listen: -v logs the frames, never the key" {
	sim
	listen -v strat
	sim_wait attached
	pub strat '{"data":{"exec":"rebalance","eventId":"m1"}}'
	wait_lines 1
	stop_listener
	assert_equal "$status" 0
	logged '< {"action":4'
	logged '> {"action":10'
	refute logged "s3cr3t"
	refute logged "key1%3A"
}

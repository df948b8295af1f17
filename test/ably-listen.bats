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

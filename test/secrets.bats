#!/usr/bin/env bats
# Secrets (DESIGN section 3): the Ably key, the allocation API key and the
# ntfy token come from the environment or from *_FILE, and never appear in
# argv, standard output, standard error, a log, the run directory, the spool,
# the listener's state or a notification. The whole flow runs with
# recognisable fake secrets: ably-sim -> ably-listen -v -> rebal-spool add ->
# rebal-spool run -N rebal-notify -- rebal-run -> alloc-sim, ib-sim, and
# rebal-notify posting to alloc-sim's sink; then with wrong secrets, so that
# every service answers 401 and every tool says so. Every file the test
# made is searched, but the secrets' own files and the simulators' journals
# and logs (the test's doubles, not the product).
load helper
load faults

S_ABLY=secapp.seckey:SECRET-ABLY-7f3e9c0d
S_ALLOC=SECRET-ALLOC-41d2a8b6
S_NTFY=tk_SECRETNTFY5b7e21
W_ABLY=secapp.seckey:WRONG-ABLY-c4d1e2f3
W_ALLOC=WRONG-ALLOC-93f0aa17
W_NTFY=tk_WRONGNTFY0d9c4a5

setup() {
	fx_setup
	unset ALLOCATIONS_API_KEY
	mkdir secrets
	printf '%s\n' "$S_ABLY" >secrets/ably.key
	printf '%s\n' "$S_ALLOC" >secrets/alloc.key
	printf '%s\n' "$S_NTFY" >secrets/ntfy.token
	# publishing takes the key from a file too, out of curl's argv
	printf 'user = "%s"\n' "$S_ABLY" >secrets/curl.cfg
	export ABLY_SIM_KEYS_FILE=$BATS_TEST_TMPDIR/secrets/ably.key
	export ABLY_API_KEY_FILE=$BATS_TEST_TMPDIR/secrets/ably.key
	export ALLOCATIONS_API_KEY_FILE=$BATS_TEST_TMPDIR/secrets/alloc.key
	export NTFY_TOKEN_FILE=$BATS_TEST_TMPDIR/secrets/ntfy.token
	fx_ib
	fx_alloc
	start_server NT alloc-sim -s -j "$BATS_TEST_TMPDIR/sink.ndjson"
	export NTFY_URL=http://127.0.0.1:$NT_PORT/rebal-topic
	start_server AB ably-sim -v -j "$BATS_TEST_TMPDIR/ably.ndjson"
}

teardown() {
	fx_teardown
	stop_server NT
}

# listen [VAR=VALUE...]: ably-listen -v on s1 into rebal-spool add.
listen() {
	rm -f ev.fifo
	mkfifo ev.fifo
	rebal-spool add <ev.fifo >>add.out 2>>add.err &
	ADD_PID=$!
	env "$@" ably-listen -v -T -H "127.0.0.1:$AB_PORT" s1 >ev.fifo 2>>listen.err &
	LS_PID=$!
	FX_PIDS="${FX_PIDS:-} $ADD_PID $LS_PID"
}

pub() {
	curl -sf -K secrets/curl.cfg -H 'Content-Type: application/json' \
	    -d "{\"id\":\"$1\",\"name\":\"rebalance\",\"data\":{\"exec\":\"rebalance\",\"eventId\":\"$1\"}}" \
	    "http://127.0.0.1:$AB_PORT/channels/s1/messages" >/dev/null
}

# forms SECRET...: each secret, its part after the colon (the Ably key's
# secret) and its base64 (HTTP basic authentication).
forms() {
	local s
	for s in "$@"; do
		printf '%s\n' "$s" "${s#*:}"
		printf '%s' "$s" | base64 -w 0
		echo
	done | sort -u
}

# no_leak SECRET...: no file of the test holds a secret in any form, but
# the secrets' files and the simulators' journals and logs; the sink's
# journal is searched for what rebal-notify sent (body, headers but the
# authorization, which alloc-sim never journals, and the path).
no_leak() {
	local f hits
	forms "$@" >forms.txt
	[ "$(wc -l <forms.txt)" -ge 6 ]
	hits=$(grep -rlF -f forms.txt . --exclude-dir=secrets \
	    --exclude=forms.txt --exclude='*.stderr' --exclude=ably.ndjson \
	    --exclude=alloc.ndjson --exclude=ib.ndjson --exclude=ib-final.json \
	    --exclude='*.fifo' || true)
	if [ -n "$hits" ]; then
		for f in $hits; do
			echo "a secret in $f:" >&2
			grep -nF -f forms.txt "$f" >&2
		done
		return 1
	fi
}

# argv_clean SECRET...: no running process has a secret in its argv.
argv_clean() {
	local p
	forms "$@" >forms.txt
	for p in /proc/[0-9]*; do
		if { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF -f forms.txt; then
			echo "a secret in the argv of ${p#/proc/}" >&2
			return 1
		fi
	done
}

@test "secrets from *_FILE through the whole flow, verbose: used, and never written anywhere" {
	listen
	fx_ably_wait attached || { cat listen.err AB.stderr >&2; false; }
	pub e1
	fx_wait 30 fx_in_spool e1
	argv_clean "$S_ABLY" "$S_ALLOC" "$S_NTFY"
	kill -TERM "$LS_PID"
	wait "$LS_PID"
	wait "$ADD_PID"
	grep -q '< {"action":4' listen.err
	rebal-spool run -1 -N rebal-notify -- rebal-run >w.out 2>w.err &
	W=$!
	FX_PIDS="$W"
	# and while the account trades
	fx_wait 60 fx_journal_has '.msg == "PLACE_ORDER"'
	argv_clean "$S_ABLY" "$S_ALLOC" "$S_NTFY"
	wait "$W"
	assert_equal "$(fx_state e1)" done
	assert_equal "$(fx_orders)" "$(printf 'DU111111 SELL 100 OLD\nDU111111 BUY 68 AAA\nDU111111 BUY 390 BBB')"
	# each secret was used: the key was accepted, the notification was
	# authorized
	assert_equal "$(jq -r 'select(.strategy == "s1") | .key' alloc.ndjson | sort -u)" ok
	assert_equal "$(jq -r .key sink.ndjson)" ok
	jq -e -r .body sink.ndjson | grep -q DU111111
	no_leak "$S_ABLY" "$S_ALLOC" "$S_NTFY"
}

@test "wrong secrets from the environment: every service says 401, every tool says so, never with a secret" {
	# the listener: refused (77) with the server's message
	run --separate-stderr env ABLY_API_KEY="$W_ABLY" timeout 60 \
	    ably-listen -v -T -H "127.0.0.1:$AB_PORT" s1
	assert_equal "$status" 77
	printf '%s\n' "$stderr" >listen.err
	grep -q "server refused: code 40101 status 401" listen.err
	# an event stored by hand, run with the wrong allocation key and token:
	# alloc-fetch is refused, the account fails, the spool notifies, and
	# rebal-notify is refused in turn
	fx_add e1
	run --separate-stderr env -u ALLOCATIONS_API_KEY_FILE -u NTFY_TOKEN_FILE \
	    ALLOCATIONS_API_KEY="$W_ALLOC" NTFY_TOKEN="$W_NTFY" \
	    timeout 120 rebal-spool run -1 -N rebal-notify -- rebal-run
	printf '%s\n' "$output" >w.out
	printf '%s\n' "$stderr" >w.err
	assert_equal "$status" 1
	assert_equal "$(fx_item e1 | jq -c '[.state, .error.code, .error.tool]')" '["failed",77,"alloc-fetch"]'
	grep -q "rebal-run: DU111111: failed: alloc-fetch: strategy s1: HTTP 401" w.err
	grep -q "alloc-fetch: DU111111: strategy s1: HTTP 401" "$(fx_last_run)/log/run.log"
	grep -q "rebal-notify: warning: notification for DU111111 not sent: HTTP 401" \
	    "$(fx_last_run)/log/run.log"
	assert_equal "$(jq -r 'select(.strategy == "s1") | .key' alloc.ndjson | sort -u)" bad
	assert_equal "$(jq -r .key sink.ndjson | sort -u)" bad
	assert_equal "$(fx_orders)" ""
	no_leak "$S_ABLY" "$S_ALLOC" "$S_NTFY" "$W_ABLY" "$W_ALLOC" "$W_NTFY"
}

@test "secrets from rebal-daemon's environment file, the Ably key as REALTIME_API_KEY: used, never in argv, the daemon's log, the state" {
	unset ABLY_API_KEY_FILE ALLOCATIONS_API_KEY_FILE NTFY_TOKEN_FILE
	cat >secrets/rebal.env <<-EOF2
	REALTIME_API_KEY=$S_ABLY
	ALLOCATIONS_API_KEY=$S_ALLOC
	NTFY_TOKEN=$S_NTFY
	REBAL_LISTEN_OPTS="-v -T -H 127.0.0.1:$AB_PORT"
	EOF2
	rebal-daemon -e secrets/rebal.env >daemon.out 2>daemon.err &
	D=$!
	FX_PIDS="$D"
	fx_ably_wait attached:s1 || { cat daemon.err >&2; false; }
	argv_clean "$S_ABLY" "$S_ALLOC" "$S_NTFY"
	pub e1
	fx_wait 60 fx_journal_has '.msg == "PLACE_ORDER"'
	argv_clean "$S_ABLY" "$S_ALLOC" "$S_NTFY"
	is_done() { [ "$(fx_state e1)" = done ]; }
	fx_wait 90 is_done
	kill -TERM "$D"
	wait "$D"
	grep -q "rebal-daemon: stopped" daemon.err
	assert_equal "$(fx_orders)" "$(printf 'DU111111 SELL 100 OLD\nDU111111 BUY 68 AAA\nDU111111 BUY 390 BBB')"
	# each secret was used
	assert_equal "$(jq -r 'select(.strategy == "s1") | .key' alloc.ndjson | sort -u)" ok
	fx_wait 30 test -s sink.ndjson
	assert_equal "$(jq -r .key sink.ndjson | sort -u)" ok
	no_leak "$S_ABLY" "$S_ALLOC" "$S_NTFY"
}

#!/usr/bin/env bats
# rebal-daemon: the supervisor of the listener and the worker. The whole
# flow through it is in faults-flow.bats ("an event published while
# rebal-daemon is down") and demo.bats; here its own duties: configuration
# errors, restarts with backoff, a clean stop, and the notification of
# items that fail as a whole. ably-listen is replaced by a stand-in where
# only the supervision is under test.
load helper

setup() {
	cd "$BATS_TEST_TMPDIR"
	export REBAL_STATE=$BATS_TEST_TMPDIR/state REBAL_SPOOL=$BATS_TEST_TMPDIR/state/spool
	export REBAL_ACCOUNTS=$BATS_TEST_TMPDIR/accounts.yaml
	cat >accounts.yaml <<-'YAML'
	accounts:
	  - {account_id: DU111111, type: paper, strategy_name: s1}
	YAML
	mkdir fake
	PATH=$BATS_TEST_TMPDIR/fake:$PATH
	D=
}

teardown() {
	if [ -n "$D" ] && kill -0 "$D" 2>/dev/null; then
		kill -TERM "$D"
		wait "$D" || true
	fi
	stop_server SINK
}

# listener_stub BODY: ably-listen replaced by a sh script running BODY.
listener_stub() {
	printf '#!/bin/sh\n%s\n' "$1" >fake/ably-listen
	chmod +x fake/ably-listen
}

logged() { grep -q -- "$1" daemon.err; }

@test "usage and configuration errors" {
	run rebal-daemon -h
	assert_success
	assert_output "usage: rebal-daemon [-h] [-e envfile]"
	run rebal-daemon -z
	assert_failure 64
	run rebal-daemon extra
	assert_failure 64
	run --separate-stderr rebal-daemon -e nonexistent.env
	assert_failure 78
	assert_equal "$stderr" "rebal-daemon: nonexistent.env: cannot read"
	printf 'X=1\nfoo bar baz(\n' >bad.env
	run --separate-stderr rebal-daemon -e bad.env
	assert_failure 78
	assert_equal "${stderr_lines[-1]}" "rebal-daemon: ./bad.env: bad environment file"
	printf 'X=1\nfalse\n' >bad.env
	run --separate-stderr rebal-daemon -e bad.env
	assert_failure 78
	run --separate-stderr env REBAL_ACCOUNTS=nowhere.yaml rebal-daemon
	assert_failure 78
	assert_equal "$stderr" "rebal-daemon: nowhere.yaml: cannot read"
}

@test "a listener that dies is restarted, with a backoff that doubles; SIGTERM stops everything" {
	listener_stub 'echo "ably-listen: stand-in exits" >&2; exit 69'
	printf 'REBAL_RUN_OPTS="-P 2"\n' >rebal.env
	rebal-daemon -e rebal.env 2>daemon.err &
	D=$!
	wait_for 30 logged "listener restarts in 2s"
	# the pipeline's status is rebal-spool add's; ably-listen's is logged
	assert_equal "$(grep -c 'rebal-daemon: ably-listen exited 69' daemon.err)" "$(grep -c 'listener exited 0' daemon.err)"
	grep -q "listener restarts in 1s" daemon.err
	grep -q "worker started" daemon.err
	# the worker runs with the options of the environment file, in its
	# own process group
	w=$(sed -n 's/.*worker started (pid \([0-9]*\)).*/\1/p' daemon.err)
	[[ $(ps -o args= -g "$w") == *"rebal-spool run -- rebal-run -P 2"* ]]
	kill -TERM "$D"
	wait "$D"
	D=
	grep -q "rebal-daemon: stopped" daemon.err
	# nothing of it is left running: the worker's session empties (a
	# zombie waits for init to reap it; a process of the session that
	# the TERM reached last may take a moment to end)
	gone() { ! ps -o stat= -g "$w" | grep -qv '^Z'; }
	wait_for 20 gone
}

@test "with NTFY_URL, an item that fails as a whole is notified by the worker" {
	listener_stub 'exec tail -f /dev/null'
	start_server SINK alloc-sim -s -j "$BATS_TEST_TMPDIR/sink.ndjson"
	export NTFY_URL=http://127.0.0.1:$SINK_PORT/rebal-test
	echo 'accounts: [' >>accounts.yaml	# rebal-run: 78, the item fails
	echo '{"id":"ev-1","event_id":"ev-1","strategy":"s1","exec":"rebalance"}' | rebal-spool add >/dev/null
	rebal-daemon 2>daemon.err &
	D=$!
	failed() { [ -n "$(ls "$REBAL_SPOOL"/failed 2>/dev/null)" ]; }
	sunk() { [ -s sink.ndjson ]; }
	wait_for 60 failed
	wait_for 30 sunk
	run jq -r .body sink.ndjson
	assert_line "Event: ev-1"
	assert_line --partial "Error: "
	kill -TERM "$D"
	wait "$D"
	D=
	# the item's record is not copied into the daemon's log
	run grep -c '"spool":' daemon.err
	assert_output 0
}

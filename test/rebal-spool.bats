#!/usr/bin/env bats
# rebal-spool: the durable queue. A fake CMD stands in for rebal-run: it
# records what it was given, prints the result lines in $FAKE_DIR/out and
# exits with $FAKE_DIR/rc; with $FAKE_DIR/block (a fifo) it prints out,
# then blocks until the test writes to the fifo, then prints out2.
load helper

SP=

setup() {
	cd "$BATS_TEST_TMPDIR"
	SP=$REBAL_STATE/spool
	export FAKE_DIR=$BATS_TEST_TMPDIR/fake.d
	mkdir -p "$FAKE_DIR"
	FAKE=$BATS_TEST_TMPDIR/fake
	cat >"$FAKE" <<-'EOF'
	#!/bin/sh
	d=$FAKE_DIR
	n=$(cat "$d/n" 2>/dev/null || echo 0)
	n=$((n + 1))
	echo "$n" >"$d/n"
	cat >"$d/given.$n"
	echo "start $REBAL_SPOOL_ID $REBAL_SPOOL_ATTEMPT" >>"$d/log"
	[ -f "$d/out" ] && cat "$d/out"
	if [ -p "$d/block" ]; then
		echo $$ >"$d/pid"
		read -r x <"$d/block"
		[ -f "$d/out2" ] && cat "$d/out2"
	fi
	echo "end $REBAL_SPOOL_ID $REBAL_SPOOL_ATTEMPT" >>"$d/log"
	exit "$(cat "$d/rc" 2>/dev/null || echo 0)"
	EOF
	chmod +x "$FAKE"
	export REBAL_NOW=2026-03-02T15:00:00Z
	unset REBAL_NOTIFY_CMD
}

teardown() {
	local p
	for p in ${WORKER:-} $(cat "$FAKE_DIR/pid" 2>/dev/null); do
		kill -KILL "$p" 2>/dev/null || true
	done
}

# ev ID STRATEGY [EXEC [PUBLISHED_AT]]: one event line
ev() {
	printf '{"id":"%s","event_id":"e-%s","strategy":"%s","exec":"%s","source":"ably","published_at":"%s"}\n' \
	    "$1" "$1" "$2" "${3:-rebalance}" "${4:-2026-03-02T14:00:00Z}"
}

# result lines for the fake CMD
out() { printf '%s\n' "$@" >"$FAKE_DIR/out"; }
rc() { echo "$1" >"$FAKE_DIR/rc"; }

# wait_for CMD...: until CMD succeeds, bounded (about 10 s)
wait_for() {
	local i
	for i in $(seq 200); do
		"$@" && return 0
		sleep 0.05
	done
	echo "wait_for: gave up on: $*" >&2
	return 1
}

given() { cat "$FAKE_DIR/given.$1"; }
count() { find "$SP/$1" -type f | wc -l; }

@test "usage: -h, no command, unknown command, run without CMD or with a missing one" {
	run rebal-spool -h
	assert_success
	assert_output --partial "usage: rebal-spool add"
	run rebal-spool
	assert_failure 64
	run rebal-spool frob
	assert_failure 64
	run rebal-spool run
	assert_failure 64
	run rebal-spool run -- /nonexistent/cmd
	assert_failure 78
	run rebal-spool ls bogus
	assert_failure 64
}

@test "add: stores one file per event, prints one line each, drops duplicates with a note" {
	run rebal-spool add < <(ev m1 s1; ev m2 s2 print-rebalance; ev m1 s1)
	assert_success
	assert_equal "$(grep -c '^{' <<<"$output")" 2
	assert_output --partial 'rebal-spool: m1: duplicate id, already new; dropped'
	assert_equal "$(count new)" 2
	run jq -r '[.id,.strategy,.exec,.spool.state,.spool.attempt,.spool.first_seen] | @tsv' "$SP/new/m1"
	assert_output "$(printf 'm1\ts1\trebalance\tnew\t0\t2026-03-02T15:00:00Z')"
	# seen in any state: also after it finished, and after rm
	mv "$SP/new/m1" "$SP/done/m1"
	run rebal-spool add < <(ev m1 s1)
	assert_success
	assert_output --partial 'duplicate id, already done'
	rebal-spool rm m1
	run rebal-spool add < <(ev m1 s1)
	assert_success
	assert_output --partial 'duplicate id, already seen'
	assert_equal "$(count new)" 1
}

@test "add: the payload event id is the key when there is no message id; none at all gets one" {
	printf '%s\n' '{"event_id":"E9","strategy":"s1","exec":"print-positions"}' \
	    '{"event_id":"E9","strategy":"s1","exec":"print-positions"}' \
	    '{"strategy":"s1","exec":"print-equity"}' |
	    rebal-spool add >"$BATS_TEST_TMPDIR/out.json" 2>"$BATS_TEST_TMPDIR/err"
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/out.json")" 2
	run jq -r .id "$BATS_TEST_TMPDIR/out.json"
	assert_line --index 0 E9
	assert_line --index 1 --regexp '^local-'
	grep -q 'E9: duplicate' "$BATS_TEST_TMPDIR/err"
}

@test "add: malformed lines and events without strategy or exec are 65, the others are stored" {
	run rebal-spool add < <(ev a1 s1; echo 'not json'; echo '[1]'; echo '{"id":"x","exec":"rebalance"}';
	    echo '{"id":"y","strategy":"s","exec":""}'; ev a2 s2)
	assert_failure 65
	assert_output --partial '<stdin>:2:'
	assert_output --partial '<stdin>:3: expected a JSON object'
	assert_output --partial '<stdin>:4: no "strategy" string'
	assert_output --partial '<stdin>:5: no "exec" string'
	assert_equal "$(count new)" 2
	run rebal-spool add "$BATS_TEST_TMPDIR/missing.ndjson"
	assert_failure
}

@test "add: ids with ':', '/' and other bytes get safe file names; ls, retry and rm take the id" {
	ev 'abc:0:1' s1 | rebal-spool add >/dev/null
	ev '../x y/é' s2 | rebal-spool add >/dev/null
	ev "$(printf 'L%.0s' $(seq 300))" s3 | rebal-spool add >/dev/null
	run ls "$SP/new"
	assert_line '%2E.%2Fx%20y%2F%C3%A9'
	assert_line 'abc%3A0%3A1'
	assert_line --regexp '^L{100,}~[0-9a-f]{16}$'
	run rebal-spool ls new
	assert_line --partial '"id":"../x y/é"'
	run rebal-spool rm '../x y/é'
	assert_success
	run rebal-spool rm 'abc%3A0%3A1'
	assert_success
	assert_equal "$(count new)" 1
}

@test "supersede: a newer rebalance moves older pending ones of its strategy to done/; print-* never" {
	ev old1 s1 rebalance 2026-03-02T13:00:00Z | rebal-spool add >/dev/null
	ev oldp s1 print-rebalance 2026-03-02T13:00:00Z | rebal-spool add >/dev/null
	ev other s2 rebalance 2026-03-02T13:00:00Z | rebal-spool add >/dev/null
	# a deferred one and a running one of the same strategy
	ev def sx rebalance 2026-03-02T13:40:00Z | rebal-spool add >/dev/null
	ev run sy rebalance 2026-03-02T13:45:00Z | rebal-spool add >/dev/null
	jq -c '.strategy="s1" | .spool.state="deferred"' "$SP/new/def" >"$SP/deferred/def"
	jq -c '.strategy="s1" | .spool.state="cur"' "$SP/new/run" >"$SP/cur/run"
	rm "$SP/new/def" "$SP/new/run"
	run rebal-spool add < <(ev newp s1 print-rebalance 2026-03-02T14:10:00Z; ev new s1 rebalance 2026-03-02T14:00:00Z)
	assert_success
	run rebal-spool ls
	refute_line --partial '"id":"old1","name":"old1","state":"new"'
	assert_line --partial '"id":"old1","name":"old1","state":"done"'
	assert_line --partial '"id":"def","name":"def","state":"done"'
	assert_line --partial '"id":"run","name":"run","state":"cur"'
	assert_line --partial '"id":"oldp","name":"oldp","state":"new"'
	assert_line --partial '"id":"newp","name":"newp","state":"new"'
	assert_line --partial '"id":"other","name":"other","state":"new"'
	assert_line --partial '"id":"new","name":"new","state":"new"'
	run jq -r '[.spool.outcome,.spool.superseded_by,.spool.state] | @tsv' "$SP/done/old1" "$SP/done/def"
	assert_line --index 0 "$(printf 'superseded\tnew\tdone')"
	assert_line --index 1 "$(printf 'superseded\tnew\tdone')"
	# an event published before the newest one arrives late: never run
	run rebal-spool add < <(ev late s1 rebalance 2026-03-02T13:59:00Z)
	assert_success
	assert_output --partial '"state":"done"'
	assert_output --partial 'published before new of the same strategy'
	[ -f "$SP/done/late" ]
	# a manual run for one account and a whole-strategy event never
	# supersede each other; a later manual run for the same account does
	printf '%s\n' '{"id":"man1","strategy":"s1","exec":"rebalance","source":"manual","account_id":"U1"}' \
	    '{"id":"man2","strategy":"s1","exec":"rebalance","source":"manual","account_id":"U2"}' |
	    rebal-spool add >/dev/null
	ev whole s1 rebalance 2026-03-02T14:20:00Z | rebal-spool add >/dev/null
	[ -f "$SP/new/man1" ] && [ -f "$SP/new/man2" ] && [ -f "$SP/done/new" ]
	echo '{"id":"man3","strategy":"s1","exec":"rebalance","source":"manual","account":{"id":"U1"}}' |
	    rebal-spool add >/dev/null
	[ -f "$SP/done/man1" ] && [ -f "$SP/new/man2" ] && [ -f "$SP/new/whole" ]
}

@test "run -1: CMD gets the item on stdin; all ok goes to done/ and prints the item" {
	ev m1 s1 | rebal-spool add >/dev/null
	out '{"account":{"id":"U1"},"status":"ok"}' '{"account_id":"U2","status":"skipped"}'
	rc 0
	run rebal-spool run -1 -- "$FAKE"
	assert_success
	assert_output --partial '"id":"m1","name":"m1","state":"done"'
	assert_output --partial '"outcome":"ok"'
	run jq -r '[.id,.strategy,.spool.attempt,.spool.state,(.spool.accounts_done|length)] | @tsv' <(given 1)
	assert_output "$(printf 'm1\ts1\t1\tcur\t0')"
	grep -qx 'start m1 1' "$FAKE_DIR/log"
	run jq -c '[.spool.accounts_done,.spool.accounts_pending,.spool.outcome,.spool.exit]' "$SP/done/m1"
	assert_output '[["U1","U2"],[],"ok",0]'
	# nothing due: -1 exits 0 at once and runs nothing
	run rebal-spool run -1 -- "$FAKE"
	assert_success
	assert_output ''
	assert_equal "$(cat "$FAKE_DIR/n")" 1
}

@test "run -1: a deferred account defers the item to its defer_until; finished accounts are not handed again" {
	ev m1 s1 | rebal-spool add >/dev/null
	out '{"account":{"id":"U1"},"status":"ok"}' \
	    '{"account":{"id":"U2"},"status":"deferred","plan":{"defer_until":"2026-03-03T14:35:00Z"}}' \
	    '{"account":{"id":"U3"},"status":"deferred","defer_until":"2026-03-03T14:40:00Z","reason":"market closed"}'
	rc 75
	run rebal-spool run -1 -- "$FAKE"
	assert_failure 75
	assert_output --partial '"state":"deferred"'
	run jq -c '[.spool.due,.spool.accounts_done,.spool.accounts_pending]' "$SP/deferred/m1"
	assert_output '["2026-03-03T14:35:00Z",["U1"],["U2","U3"]]'
	# why it waits: the reasons CMD gave
	assert_equal "$(jq -r .spool.results.U3.reason "$SP/deferred/m1")" "market closed"
	assert_equal "$(rebal-spool ls deferred | jq -r .reason)" "U3: market closed"
	# not due yet: left alone
	run rebal-spool run -1 -- "$FAKE"
	assert_success
	assert_equal "$(cat "$FAKE_DIR/n")" 1
	# due: handed over again, with U1 as done and the rest pending
	out '{"account":{"id":"U2"},"status":"ok"}' '{"account":{"id":"U3"},"status":"ok"}'
	rc 0
	REBAL_NOW=2026-03-03T14:35:00Z run rebal-spool run -1 -- "$FAKE"
	assert_success
	run jq -c '[.spool.attempt,.spool.accounts_done,.spool.accounts_pending]' <(given 2)
	assert_output '[2,["U1"],["U2","U3"]]'
	run jq -c '[.spool.accounts_done,.spool.outcome,.spool.results.U1.attempt,.spool.results.U2.attempt]' "$SP/done/m1"
	assert_output '[["U1","U2","U3"],"ok",1,2]'
}

@test "run -1: a finished account is never redone, even if CMD reports it again" {
	ev m1 s1 | rebal-spool add >/dev/null
	out '{"account":"U1","status":"ok"}' '{"account":"U2","status":"failed","error":{"code":76,"message":"protocol"}}'
	rc 1
	run rebal-spool run -1 -- "$FAKE"
	assert_failure 75
	out '{"account":"U1","status":"failed","error":{"code":75}}' '{"account":"U2","status":"ok"}'
	rc 1
	REBAL_NOW=2026-03-02T15:01:00Z run rebal-spool run -1 -- "$FAKE"
	assert_success
	run jq -c '[.spool.results.U1.status,.spool.results.U1.attempt,.spool.outcome]' "$SP/done/m1"
	assert_output '["ok",1,"ok"]'
}

@test "run -1: a non-retryable failure goes to failed/ and runs the notify hook with the item" {
	ev m1 s1 | rebal-spool add >/dev/null
	ev m2 s2 | rebal-spool add >/dev/null
	out '{"account":"U1","status":"ok"}' '{"account":"U2","status":"failed","error":{"code":1,"message":"order rejected"}}'
	rc 1
	run sh -c 'rebal-spool run -1 -N "cat >$1/notified; echo hook-out" -- "$0" 2>/dev/null' "$FAKE" "$BATS_TEST_TMPDIR"
	assert_failure 1
	assert_output --partial '"state":"failed"'
	refute_output --partial hook-out
	run jq -c '[.id,.spool.state,.spool.outcome,.spool.error.message,.spool.accounts_done]' "$BATS_TEST_TMPDIR/notified"
	assert_output '["m1","failed","failed","order rejected",["U1","U2"]]'
	# REBAL_NOTIFY_CMD; exit status 70 of CMD fails the whole item
	: >"$FAKE_DIR/out"
	rc 70
	REBAL_NOTIFY_CMD="cat >$BATS_TEST_TMPDIR/notified2" run rebal-spool run -1 -- "$FAKE"
	assert_failure 1
	run jq -c '[.id,.spool.outcome,.spool.error.code,.spool.error.message]' "$BATS_TEST_TMPDIR/notified2"
	assert_output '["m2","failed",70,"CMD exited 70"]'
	# a hook that fails is only a warning
	rebal-spool retry m2 >/dev/null
	run rebal-spool run -1 -N 'exit 3' -- "$FAKE"
	assert_failure 1
	assert_output --partial 'notify: exit 3: failed (status 3)'
}

@test "run -1: exit 1 without a failed account fails the item; 75, 69, a signal and 127 are retried" {
	ev m1 s1 | rebal-spool add >/dev/null
	rc 1
	run rebal-spool run -1 -- "$FAKE"
	assert_failure 1
	run jq -r .spool.error.message "$SP/failed/m1"
	assert_output 'CMD exited 1 and reported no failed account'
	for code in 75 69 127; do
		ev "r$code" "s$code" | rebal-spool add >/dev/null
		rc "$code"
		run rebal-spool run -1 -- "$FAKE"
		assert_failure 75
		run jq -r '[.spool.error.code,.spool.due] | @tsv' "$SP/deferred/r$code"
		assert_output "$(printf '%s\t2026-03-02T15:01:00Z' "$code")"
	done
	ev sig s9 | rebal-spool add >/dev/null
	cat >"$BATS_TEST_TMPDIR/killer" <<-'EOF'
	#!/bin/sh
	kill -KILL $$
	EOF
	chmod +x "$BATS_TEST_TMPDIR/killer"
	run --separate-stderr rebal-spool run -1 -- "$BATS_TEST_TMPDIR/killer"
	assert_failure 75
	# the worker's log says what happened and when it is tried again
	assert_equal "$stderr" "rebal-spool: sig: CMD killed by signal 9 (Killed): retried at 2026-03-02T15:01:00Z"
	run jq -r '.spool.error.message' "$SP/deferred/sig"
	assert_output --partial 'CMD killed by signal 9'
}

@test "backoff: retryable failures wait 1, 2, 4 minutes ...; after the maximum age the item fails" {
	ev m1 s1 | rebal-spool add >/dev/null
	out '{"account":"U1","status":"failed","error":{"code":75,"message":"gateway timeout"}}'
	rc 1
	now=2026-03-02T15:00:00Z
	for want in 2026-03-02T15:01:00Z 2026-03-02T15:03:00Z 2026-03-02T15:07:00Z 2026-03-02T15:15:00Z; do
		REBAL_NOW=$now run rebal-spool run -1 -- "$FAKE"
		assert_failure 75
		run jq -r .spool.due "$SP/deferred/m1"
		assert_output "$want"
		now=$want
	done
	# capped at one hour
	for i in 1 2 3 4 5 6 7; do
		now=$(jq -r .spool.due "$SP/deferred/m1")
		REBAL_NOW=$now rebal-spool run -1 -- "$FAKE" >/dev/null 2>&1 || true
	done
	run jq -r '[.spool.failures,.spool.due] | @tsv' "$SP/deferred/m1"
	assert_output "$(printf '11\t2026-03-02T21:03:00Z')"
	# seven days after it was first seen it is given up
	REBAL_NOW=2026-03-09T15:00:00Z run rebal-spool run -1 -- "$FAKE"
	assert_failure 1
	run jq -r '[.spool.outcome,.spool.error.code] | @tsv' "$SP/failed/m1"
	assert_output "$(printf 'expired\t75')"
	# -M: a deferral past the maximum age is cut to it
	ev m2 s2 | rebal-spool add >/dev/null
	out '{"account":"U1","status":"deferred","defer_until":"2026-03-05T14:30:00Z"}'
	rc 75
	run rebal-spool run -1 -M 2h -- "$FAKE"
	assert_failure 75
	run jq -r .spool.due "$SP/deferred/m2"
	assert_output 2026-03-02T17:00:00Z
	REBAL_NOW=2026-03-02T17:00:00Z run rebal-spool run -1 -M 2h -- "$FAKE"
	assert_failure 1
	[ -f "$SP/failed/m2" ]
}

@test "retry: a failed item goes back to new/ and its failed accounts get another chance; rm removes" {
	ev m1 s1 | rebal-spool add >/dev/null
	out '{"account":"U1","status":"ok"}' '{"account":"U2","status":"failed","error":{"code":1,"message":"no permission"}}'
	rc 1
	run rebal-spool run -1 -- "$FAKE"
	assert_failure 1
	run rebal-spool retry m1
	assert_success
	assert_output --partial '"state":"new"'
	run jq -c '[.spool.accounts_done,.spool.accounts_pending,.spool.outcome,.spool.due]' "$SP/new/m1"
	assert_output '[["U1"],["U2"],null,"2026-03-02T15:00:00Z"]'
	out '{"account":"U2","status":"ok"}'
	rc 0
	run rebal-spool run -1 -- "$FAKE"
	assert_success
	run jq -c '[.spool.accounts_done,.spool.accounts_pending]' <(given 2)
	assert_output '[["U1"],["U2"]]'
	# retry only from failed/ or deferred/; rm and retry of unknown ids
	run rebal-spool retry m1
	assert_failure 1
	assert_output --partial 'is in done/'
	run rebal-spool retry nope
	assert_failure 1
	assert_output --partial 'nope: no such item'
	run rebal-spool rm m1 nope
	assert_failure 1
	assert_line --partial '"id":"m1","name":"m1","state":"done"'
	[ ! -e "$SP/done/m1" ]
}

@test "ls and stat: NDJSON per item, counts, oldest pending age; stat fails on failed or overdue items" {
	run rebal-spool stat
	assert_success
	assert_output '{"new":0,"cur":0,"deferred":0,"done":0,"failed":0,"oldest_pending_age":null,"oldest_pending":null,"overdue":0,"threshold":3600,"worker":false,"healthy":true}'
	ev m1 s1 | REBAL_NOW=2026-03-02T14:00:00Z rebal-spool add >/dev/null
	ev m2 s2 | rebal-spool add >/dev/null
	run rebal-spool stat
	assert_success
	run jq -c '[.new,.oldest_pending_age,.oldest_pending,.overdue,.healthy]' <<<"$output"
	assert_output '[2,3600,"m1",3600,true]'
	run rebal-spool stat -o 30m
	assert_failure 1
	assert_output --partial '"healthy":false'
	run rebal-spool ls new
	assert_equal "${#lines[@]}" 2
	run jq -r '[.id,.state,.age,.attempts] | @tsv' <<<"$output"
	assert_line --index 0 "$(printf 'm1\tnew\t3600\t0')"
	run rebal-spool ls -l done
	assert_output ''
	rc 1
	rebal-spool run -1 -- "$FAKE" >/dev/null 2>&1 || true
	run rebal-spool stat
	assert_failure 1
	assert_output --partial '"failed":1'
	run rebal-spool ls -l failed
	run jq -r '.spool.state' <<<"$output"
	assert_output failed
}

@test "crash: a worker killed during CMD leaves the item in cur/; the next start recovers it and it runs once" {
	ev m1 s1 | rebal-spool add >/dev/null
	mkfifo "$FAKE_DIR/block"
	out '{"account":"U1","status":"ok"}'
	printf '%s\n' '{"account":"U2","status":"ok"}' >"$FAKE_DIR/out2"
	rebal-spool run -1 -- "$FAKE" >/dev/null 2>&1 &
	WORKER=$!
	wait_for test -s "$FAKE_DIR/pid"
	# U1's line is on record before CMD finishes
	wait_for jq -e '.spool.accounts_done == ["U1"]' "$SP/cur/m1"
	run rebal-spool run -1 -- "$FAKE"
	assert_failure 75
	assert_output --partial 'busy'
	run rebal-spool stat
	assert_output --partial '"worker":true'
	kill -KILL "$WORKER"
	wait "$WORKER" || true
	cmdpid=$(cat "$FAKE_DIR/pid")
	# the worker's death stops CMD (SIGTERM), which releases the spool
	wait_for eval '! kill -0 '"$cmdpid"' 2>/dev/null'
	[ -f "$SP/cur/m1" ]
	rm "$FAKE_DIR/block" "$FAKE_DIR/pid"
	out '{"account":"U2","status":"ok"}'
	run rebal-spool run -1 -- "$FAKE"
	assert_success
	assert_output --partial 'recovered from cur/'
	run jq -c '[.spool.attempt,.spool.accounts_done]' <(given 2)
	assert_output '[2,["U1"]]'
	run jq -c '[.spool.outcome,.spool.accounts_done,.spool.recovered]' "$SP/done/m1"
	assert_output '["ok",["U1","U2"],1]'
	assert_equal "$(grep -c '^end m1' "$FAKE_DIR/log")" 1
	assert_equal "$(count cur)" 0
}

@test "SIGTERM: the worker stops CMD, puts the item back in new/ keeping finished accounts, exits 0" {
	ev m1 s1 | rebal-spool add >/dev/null
	mkfifo "$FAKE_DIR/block"
	out '{"account":"U1","status":"ok"}' '{"account":"U3","status":"failed","error":{"code":1,"message":"killed"}}'
	rebal-spool run -- "$FAKE" >"$BATS_TEST_TMPDIR/w.out" 2>"$BATS_TEST_TMPDIR/w.err" &
	WORKER=$!
	wait_for test -s "$FAKE_DIR/pid"
	wait_for jq -e '.spool.accounts_done == ["U1","U3"]' "$SP/cur/m1"
	kill -TERM "$WORKER"
	st=0
	wait "$WORKER" || st=$?
	assert_equal "$st" 0
	WORKER=
	[ -f "$SP/new/m1" ]
	# U3 failed before the signal: it stays finished; the item is due now
	run jq -c '[.spool.state,.spool.accounts_done,.spool.error.code]' "$SP/new/m1"
	assert_output '["new",["U1","U3"],75]'
	grep -q 'signal 15: stopping; SIGTERM sent to CMD' "$BATS_TEST_TMPDIR/w.err"
}

@test "worker: waits for new items without polling, runs them, refuses a second worker, stops on SIGTERM" {
	rc 0
	out '{"account":"U1","status":"ok"}'
	unset REBAL_NOW
	rebal-spool run -- "$FAKE" >"$BATS_TEST_TMPDIR/w.out" 2>"$BATS_TEST_TMPDIR/w.err" &
	WORKER=$!
	wait_for eval 'rebal-spool stat | grep -q "\"worker\":true"'
	run rebal-spool run -- "$FAKE"
	assert_failure 75
	ev m1 s1 | rebal-spool add >/dev/null
	wait_for test -f "$SP/done/m1"
	ev m2 s1 print-rebalance | rebal-spool add >/dev/null
	wait_for test -f "$SP/done/m2"
	kill -TERM "$WORKER"
	st=0
	wait "$WORKER" || st=$?
	assert_equal "$st" 0
	WORKER=
	assert_equal "$(grep -c '"state":"done"' "$BATS_TEST_TMPDIR/w.out")" 2
	run rebal-spool stat
	assert_output --partial '"worker":false'
}

@test "run -j 2: different strategies run side by side, never two items of one strategy" {
	ev a1 s1 print-rebalance | rebal-spool add >/dev/null
	ev a2 s1 print-rebalance | rebal-spool add >/dev/null
	ev b1 s2 print-rebalance | rebal-spool add >/dev/null
	cat >"$BATS_TEST_TMPDIR/cmd2" <<-'EOF'
	#!/bin/sh
	echo "start $REBAL_SPOOL_ID" >>"$FAKE_DIR/log"
	s=$(jq -r .strategy)
	# a1 and b1 must run at the same time: b1 ends only after a1 has
	# started, a1 only after b1 has ended
	case $REBAL_SPOOL_ID in
	a1)	while ! grep -q 'end b1' "$FAKE_DIR/log"; do sleep 0.05; done ;;
	b1)	while ! grep -q 'start a1' "$FAKE_DIR/log"; do sleep 0.05; done ;;
	esac
	echo "end $REBAL_SPOOL_ID" >>"$FAKE_DIR/log"
	echo '{"account":"U-'"$s"'","status":"ok"}'
	EOF
	chmod +x "$BATS_TEST_TMPDIR/cmd2"
	run timeout 20 rebal-spool run -j 2 -n 3 -- "$BATS_TEST_TMPDIR/cmd2"
	assert_success
	assert_equal "$(sed -n 1,2p "$FAKE_DIR/log" | sort)" "$(printf 'start a1\nstart b1')"
	assert_equal "$(sed -n '3,$p' "$FAKE_DIR/log")" "$(printf 'end b1\nend a1\nstart a2\nend a2')"
	assert_equal "$(count done)" 3
}

@test "atomicity: SIGKILL during add never leaves a partial item; dead writers' tmp files are cleaned" {
	for i in $(seq 3000); do ev "k$i" "s$i" print-positions; done >"$BATS_TEST_TMPDIR/many"
	rebal-spool add "$BATS_TEST_TMPDIR/many" >/dev/null 2>&1 &
	pid=$!
	wait_for eval '[ "$(find "$SP/new" -type f 2>/dev/null | wc -l)" -ge 20 ]'
	kill -KILL "$pid"
	wait "$pid" || true
	n=$(count new)
	[ "$n" -ge 20 ] && [ "$n" -lt 3000 ]
	for f in "$SP"/new/*; do
		jq -e '.spool.state == "new"' "$f" >/dev/null
		[ "$(tail -c1 "$f" | od -An -c | tr -d ' ')" = '\n' ]
	done
	# a leftover of a dead writer
	echo '{"partial' >"$SP/tmp/999999.0.x"
	rebal-spool run -1 -- true >/dev/null
	[ ! -e "$SP/tmp/999999.0.x" ]
}

@test "write errors: stdout on /dev/full is 74" {
	run sh -c 'printf "%s\n" "{\"id\":\"a\",\"strategy\":\"s\",\"exec\":\"rebalance\"}" | rebal-spool add >/dev/full'
	assert_failure 74
	run sh -c 'rebal-spool ls >/dev/full'
	assert_failure 74
	run sh -c 'rebal-spool stat >/dev/full'
	assert_failure 74
	out '{"account":"U1","status":"ok"}'
	run sh -c 'rebal-spool run -1 -- "$0" >/dev/full' "$FAKE"
	assert_failure 74
	[ -f "$SP/done/a" ]
}

@test "the example crontab's scheduled rebalance: one schedule event per strategy and day into the spool" {
	# the command of the line, as cron runs it (sh -c)
	cmd=$(grep '^[0-9].*source: "schedule"' "$TOP/examples/rebal.cron" | sed 's/^\([^ ]* *\)\{5\}//')
	[ -n "$cmd" ]
	run sh -c "$cmd"
	assert_success
	day=$(date -u +%F)
	assert_equal "$(rebal-spool ls new | jq -c '[.id, .source, .strategy, .exec]')" \
	    "[\"schedule-$day-etf-blend-200-35\",\"schedule\",\"etf-blend-200-35\",\"rebalance\"]"
	# the worker hands it on as an event with its publication time
	echo 0 >"$FAKE_DIR/rc"
	run rebal-spool run -1 -- "$FAKE"
	assert_success
	assert_equal "$(jq -r '.published_at | fromdateiso8601 | strftime("%F")' "$FAKE_DIR/given.1")" "$day"
	# cron firing twice the same day adds nothing
	run --separate-stderr sh -c "$cmd"
	assert_success
	[[ $stderr == *"schedule-$day-etf-blend-200-35: duplicate id"* ]]
	assert_equal "$(rebal-spool ls | wc -l)" 1
}

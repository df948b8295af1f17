#!/usr/bin/env bats
# Hostile gateway: ib-sim's hostile faults (random bytes, truncated frames,
# huge length prefixes, short fields, unknown message ids, NUL-less fields,
# a frame that stops with the socket open) against the IB clients:
# ib-snapshot, ib-order and the tws library (test/unit/tws_client.c). Each
# must end with 76 (protocol error) or 75 (deadline): never a signal, never
# a sanitizer report (make check SANITIZE=1), never a hang (each run is
# bounded by timeout(1), far beyond its own deadline, so that a hang fails
# the test instead of blocking the suite). ib-snapshot and the driver exit
# with that status; ib-order exits 1 (jobs failed) with it as the job's
# error.code, as ib-order(1) documents.
load helper

setup() {
	cd "$BATS_TEST_TMPDIR"
	J=$BATS_TEST_TMPDIR/journal.ndjson
	export REBAL_NOW=2026-03-02T15:00:00Z
	unset TRADING_MODE IB_HOST IB_PORT
}

teardown() {
	local rc=0
	if [ -n "${SIM_PID:-}" ]; then
		kill -TERM "$SIM_PID"
		wait "$SIM_PID" || rc=$?
		SIM_PID=
	fi
	# the sim survived its own garbage, and so did the sanitizers
	! grep -E 'Sanitizer|runtime error' SIM.stderr 2>/dev/null
	[ "$rc" -eq 0 ]
}

# hostile_sim RULE...: ib-sim on ib-order's worked example (account
# DU1234567 holding SPY, TLT, GLD); the Nth RULE (jq object keys, e.g.
# "hostile: stall, hostile_after: 2") is the fault of connection N.
hostile_sim() {
	local r rules=
	for r; do
		r=$(sed -E 's/hostile: ([a-z_]+)/hostile: "\1"/' <<<"$r")
		rules="$rules${rules:+,}{$r}"
	done
	jq "[$rules] as \$r | .faults = [\$r | to_entries[] |
	    .value + {connection: (.key + 1)}]" "$DATA/ib-order/sim.json" >sc.yaml
	start_server SIM ib-sim -f sc.yaml -j "$J"
}

# The clients' deadline: 2 s where a slow (sanitizer) build must still see
# the protocol error first; 1 s where the deadline is an accepted end.
DL=2

# Each runner uses one connection.
# snap: ib-snapshot of the account
snap() {
	TOOL=ib-snapshot
	run --separate-stderr timeout 60 ib-snapshot -a DU1234567 \
	    -H "127.0.0.1:$SIM_PORT" -t "$DL" </dev/null
}

# order: ib-order selling 10 SPY of the worked example's job
order() {
	TOOL=ib-order
	jq -c --arg r rebal:ev-1:DU1234567 '.plan = {phase: "sell", orders:
	    [{symbol: "SPY", action: "SELL", qty: 10, type: "MKT", tif: "DAY",
	    ref: $r}], drift: [], warnings: []}' "$DATA/ib-order/job.json" \
	    >job.json
	run --separate-stderr timeout 60 ib-order -x -H "127.0.0.1:$SIM_PORT" \
	    -t "$DL" job.json
}

# lib: the library driver
lib() {
	TOOL=lib
	run --separate-stderr timeout 60 "$TOP/test/unit/tws_client" \
	    "$SIM_PORT" "$DL"
}

# ended CODE...: the last run ended with one of CODE, said why on stderr,
# and no sanitizer spoke; the tools also wrote the failed job with it.
ended() {
	local c code=$status ok=
	! grep -E 'Sanitizer|runtime error' <<<"$stderr" ||
	    fail "sanitizer: $stderr"
	[ -n "$stderr" ] || fail "$TOOL exit $status, nothing on stderr"
	if [ "$TOOL" != lib ]; then
		code=$(jq -r 'select(.status == "failed") | .error.code' \
		    <<<"$output")
		if [ "$TOOL" = ib-order ]; then
			[ "$status" -eq 1 ] || fail "ib-order exit $status"
		else
			[ "$status" -eq "$code" ] || fail "exit $status, job $code"
		fi
	fi
	for c; do
		[ "$code" = "$c" ] && ok=1
	done
	[ -n "$ok" ] || fail "$TOOL ended $code (exit $status), want $*: $stderr"
}

@test "hostile faults: the scenario names a kind; seed and hostile_after need one" {
	printf '%s\n' 'accounts: [{id: DU1, cash: 1}]' 'faults:' \
	    '  - {hostile: garbage}' >bad1.yaml
	run ib-sim -f bad1.yaml
	assert_failure 78
	assert_output --partial 'bad1.yaml:3: hostile: expected random'
	printf '%s\n' 'accounts: [{id: DU1, cash: 1}]' 'faults:' \
	    '  - {seed: 3}' >bad2.yaml
	run ib-sim -f bad2.yaml
	assert_failure 78
	assert_output --partial 'bad2.yaml:3: hostile_after and seed need hostile'
	printf '%s\n' 'accounts: [{id: DU1, cash: 1}]' 'faults:' \
	    '  - {client_id: 4, hostile: stall}' >bad3.yaml
	run ib-sim -f bad3.yaml
	assert_failure 78
	assert_output --partial 'hostile_after 0 acts before the client id is known'
}

@test "random bytes: 76 or 75 for every seed; a seed sends the same bytes again" {
	DL=1
	rules=()
	for i in $(seq 10); do
		rules+=("hostile: random, seed: $i, hostile_after: $((i % 6))")
	done
	# 1-10 ib-snapshot, 11-16 ib-order, 17-20 the library
	hostile_sim "${rules[@]}" "${rules[@]:0:6}" "${rules[@]:0:4}"
	for i in $(seq 10); do
		snap
		ended 75 76
	done
	for i in $(seq 6); do
		order
		ended 75 76
	done
	for i in $(seq 4); do
		lib
		ended 75 76
	done
	# connections N, N + 10 and N + 16 had the same rule: the same first
	# burst of random bytes, whatever reply it replaced
	first() {
		jq -c "select(.conn == $1 and .msg == \"HOSTILE\") | .bytes" \
		    "$J" | head -1
	}
	for i in 1 2 3 4; do
		assert_equal "$(first $((i + 10)))" "$(first $i)"
		assert_equal "$(first $((i + 16)))" "$(first $i)"
	done
	# ... and other seeds other bytes
	run jq -s '[.[] | select(.msg == "HOSTILE" and .conn <= 10)] |
	    group_by(.conn) | map(.[0].bytes) | unique | length' "$J"
	[ "$output" -gt 4 ]
}

# placed_once N: connection N placed exactly one order
placed_once() {
	assert_equal "$(jq -s "map(select(.conn == $1 and
	    .msg == \"PLACE_ORDER\")) | length" "$J")" 1
}

@test "truncated frames, then the close: 76" {
	hostile_sim 'hostile: truncated' 'hostile: truncated, hostile_after: 1' \
	    'hostile: truncated, hostile_after: 3' \
	    'hostile: truncated, hostile_after: 2' \
	    'hostile: truncated, hostile_after: 5' \
	    'hostile: truncated, hostile_after: 1' \
	    'hostile: truncated, hostile_after: 4'
	for i in 1 2 3; do
		snap
		ended 76
		assert_equal "$(jq -r .error.message <<<"$output")" \
		    'gateway closed the connection inside a frame: stream corrupt'
	done
	for i in 4 5; do
		order
		ended 76
	done
	# the order went out before the garbage: one order, said to be working
	placed_once 5
	assert_equal "$(jq -r .error.message <<<"$output")" \
	    'gateway closed the connection inside a frame: stream corrupt; SELL 10 SPY still working after the deadline of 2 s, filled 0'
	for i in 6 7; do
		lib
		ended 76
	done
	run jq -r 'select(.msg == "CLOSE") | .reason' "$J"
	assert_line 'hostile: truncated'
}

@test "huge length prefixes (16 MiB, 16 MiB + 1, 2 GiB - 1, 2 GiB, 4 GiB - 1, random): 76 at once" {
	hostile_sim 'hostile: huge_length' \
	    'hostile: huge_length, hostile_after: 1, seed: 19' \
	    'hostile: huge_length, hostile_after: 2, seed: 5' \
	    'hostile: huge_length, hostile_after: 4, seed: 3' \
	    'hostile: huge_length, hostile_after: 6, seed: 2' \
	    'hostile: huge_length, hostile_after: 3, seed: 1' \
	    'hostile: huge_length, hostile_after: 2' \
	    'hostile: huge_length, hostile_after: 5, seed: 2' \
	    'hostile: huge_length' 'hostile: huge_length, hostile_after: 2'
	for i in 1 2 3 4 5 6; do
		snap
		ended 76
		assert_equal "$(jq -r .error.message <<<"$output")" \
		    'frame longer than 16 MiB: stream corrupt'
	done
	for i in 7 8; do
		order
		ended 76
	done
	placed_once 8
	for i in 9 10; do
		lib
		ended 76
	done
	run jq 'select(.msg == "HOSTILE" and .conn <= 5) | .length' "$J"
	assert_output '16777216
16777217
2147483647
2147483648
4294967295'
	run jq 'select(.conn == 6 and .msg == "HOSTILE") |
	    .length >= 16777216 and .length < 4294967296' "$J"
	assert_output true
}

@test "too few fields: 76 (a version reply cut to one field is no reply: 75)" {
	hostile_sim 'hostile: short_fields' \
	    'hostile: short_fields, hostile_after: 1' \
	    'hostile: short_fields, hostile_after: 2' \
	    'hostile: short_fields, hostile_after: 4' \
	    'hostile: short_fields, hostile_after: 7' \
	    'hostile: short_fields, hostile_after: 1' \
	    'hostile: short_fields, hostile_after: 3' \
	    'hostile: short_fields, hostile_after: 5' \
	    'hostile: short_fields, hostile_after: 1' \
	    'hostile: short_fields, hostile_after: 3'
	snap
	ended 75
	assert_output --partial 'no handshake reply'
	for i in 2 3 4 5; do
		snap
		ended 76
		assert_output --partial '"message":"malformed '
	done
	for i in 6 7 8; do
		order
		ended 76
		assert_output --partial 'malformed '
	done
	placed_once 8
	for i in 9 10; do
		lib
		ended 76
	done
}

@test "unknown message ids are skipped: 75 at the deadline (as a server version: 76)" {
	hostile_sim 'hostile: unknown_ids' \
	    'hostile: unknown_ids, hostile_after: 1' \
	    'hostile: unknown_ids, hostile_after: 2' \
	    'hostile: unknown_ids, hostile_after: 5' \
	    'hostile: unknown_ids, hostile_after: 2' \
	    'hostile: unknown_ids, hostile_after: 5' \
	    'hostile: unknown_ids, hostile_after: 1' \
	    'hostile: unknown_ids, hostile_after: 3'
	DL=1
	snap
	ended 76
	assert_output --partial 'gateway speaks server version'
	for i in 2 3 4; do
		snap
		ended 75
	done
	for i in 5 6; do
		order
		ended 75
	done
	# the order went out; its cancel too, but nothing came back
	placed_once 6
	assert_output --partial 'SELL 10 SPY still working (cancel not confirmed)'
	for i in 7 8; do
		lib
		ended 75
	done
	# the replies all went out, under ids no TWS message has
	run jq -s 'map(select(.conn == 3 and .msg == "HOSTILE")) | length' "$J"
	[ "$output" -gt 3 ]
}

@test "fields without their NULs: 76" {
	hostile_sim 'hostile: no_nul' 'hostile: no_nul, hostile_after: 2' \
	    'hostile: no_nul, hostile_after: 4' \
	    'hostile: no_nul, hostile_after: 7' \
	    'hostile: no_nul, hostile_after: 2' \
	    'hostile: no_nul, hostile_after: 5' \
	    'hostile: no_nul, hostile_after: 1' \
	    'hostile: no_nul, hostile_after: 3'
	for i in 1 2 3 4; do
		snap
		ended 76
		assert_output --partial '"message":"malformed '
	done
	for i in 5 6; do
		order
		ended 76
	done
	placed_once 6
	for i in 7 8; do
		lib
		ended 76
	done
}

@test "a frame that stops mid-way on an open socket: 75 at the deadline" {
	hostile_sim 'hostile: stall' 'hostile: stall, hostile_after: 1' \
	    'hostile: stall, hostile_after: 2' \
	    'hostile: stall, hostile_after: 7' \
	    'hostile: stall, hostile_after: 2' \
	    'hostile: stall, hostile_after: 5' \
	    'hostile: stall, hostile_after: 1' \
	    'hostile: stall, hostile_after: 4'
	DL=1
	for i in 1 2 3 4; do
		snap
		ended 75
	done
	for i in 5 6; do
		order
		ended 75
	done
	placed_once 6
	for i in 7 8; do
		lib
		ended 75
	done
	# the socket stayed open: the sim closed nothing before the clients did
	run jq -r 'select(.msg == "CLOSE") | .reason' "$J"
	refute_output --partial hostile
	assert_line 'closed by the client'
}

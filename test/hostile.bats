#!/usr/bin/env bats
# Hostile gateway: ib-sim's hostile faults (random bytes, truncated frames,
# huge length prefixes, short fields, unknown message ids, NUL-less fields,
# a frame that stops with the socket open) against the IB clients:
# ib-snapshot and the tws library (test/unit/tws_client.c, the requests
# ib-snapshot and ib-order make). Each must end with 76 (protocol error) or
# 75 (deadline): never a signal, never a sanitizer report (make check
# SANITIZE=1), never a hang (each run is bounded by timeout(1), far beyond
# its own deadline, so a hang fails the test instead of blocking the suite).
load helper

setup() {
	cd "$BATS_TEST_TMPDIR"
	J=$BATS_TEST_TMPDIR/journal.ndjson
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

# hostile_sim RULE...: ib-sim with account DU1234567 holding SPY; the Nth
# RULE (YAML mapping keys) is the fault of connection N.
hostile_sim() {
	local i=0
	{
		echo 'accounts: [{id: DU1234567, cash: 100000,'
		echo '  positions: [{symbol: SPY, qty: 10, avg_cost: 400}]}]'
		echo 'symbols: [{symbol: SPY, con_id: 756733, bid: 500, ask: 500.05,'
		echo '  last: 500.02, close: 499.5, primary_exchange: ARCA}]'
		echo 'faults:'
		for r; do
			i=$((i + 1))
			echo "  - {connection: $i, $r}"
		done
	} >sc.yaml
	start_server SIM ib-sim -f sc.yaml -j "$J"
}

# The clients' deadline: 2 s where a slow (sanitizer) build must still see
# the protocol error first; 1 s where the deadline is an accepted end.
DL=2

# snap: ib-snapshot of the account (one connection)
snap() {
	run --separate-stderr timeout 60 ib-snapshot -a DU1234567 \
	    -H "127.0.0.1:$SIM_PORT" -t "$DL" </dev/null
}

# lib: the library driver (one connection)
lib() {
	run --separate-stderr timeout 60 "$TOP/test/unit/tws_client" \
	    "$SIM_PORT" "$DL"
}

# ended STATUS...: the last run exited with one of STATUS, said why on
# stderr, and no sanitizer spoke; an ib-snapshot run also wrote the failed
# job with that code
ended() {
	local s ok=
	for s; do
		[ "$status" -eq "$s" ] && ok=1
	done
	[ -n "$ok" ] || fail "exit $status, want $*: $stderr"
	! grep -E 'Sanitizer|runtime error' <<<"$stderr" ||
	    fail "sanitizer: $stderr"
	[ -n "$stderr" ] || fail "nothing on stderr"
	if [ -n "$output" ]; then
		assert_equal "$(jq -c '[.status, .error.code]' <<<"$output")" \
		    "[\"failed\",$status]"
	fi
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
	hostile_sim "${rules[@]}" "${rules[@]:0:4}"
	for i in $(seq 10); do
		snap
		ended 75 76
	done
	for i in $(seq 4); do
		lib
		ended 75 76
	done
	# connections N and N + 10 had the same rule: the same first burst
	first() {
		jq -c "select(.conn == $1 and .msg == \"HOSTILE\") | .bytes" \
		    "$J" | head -1
	}
	for i in 1 2 3 4; do
		assert_equal "$(first $((i + 10)))" "$(first $i)"
	done
	# ... and other seeds other bytes
	run jq -s '[.[] | select(.msg == "HOSTILE" and .conn <= 10)] |
	    group_by(.conn) | map(.[0].bytes) | unique | length' "$J"
	[ "$output" -gt 4 ]
}

@test "truncated frames, then the close: 76 (not 69, a clean close)" {
	hostile_sim 'hostile: truncated' 'hostile: truncated, hostile_after: 1' \
	    'hostile: truncated, hostile_after: 3' \
	    'hostile: truncated' 'hostile: truncated, hostile_after: 1' \
	    'hostile: truncated, hostile_after: 5'
	for i in 1 2 3; do
		snap
		ended 76
		assert_equal "$(jq -r .error.message <<<"$output")" \
		    'gateway closed the connection inside a frame: stream corrupt'
	done
	for i in 1 2 3; do
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
	    'hostile: huge_length' 'hostile: huge_length, hostile_after: 2, seed: 2'
	for i in 1 2 3 4 5 6; do
		snap
		ended 76
		assert_equal "$(jq -r .error.message <<<"$output")" \
		    'frame longer than 16 MiB: stream corrupt'
	done
	for i in 7 8; do
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
	    'hostile: short_fields, hostile_after: 3'
	snap
	ended 75
	assert_output --partial 'no handshake reply'
	for i in 2 3 4 5; do
		snap
		ended 76
		assert_output --partial '"message":"malformed '
	done
	for i in 6 7; do
		lib
		ended 76
	done
}

@test "unknown message ids are skipped: 75 at the deadline (as a server version: 76)" {
	hostile_sim 'hostile: unknown_ids' \
	    'hostile: unknown_ids, hostile_after: 1' \
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
		lib
		ended 75
	done
	# the replies all went out, under ids no TWS message has
	run jq -s 'map(select(.conn == 3 and .msg == "HOSTILE")) | length' "$J"
	[ "$output" -gt 3 ]
}

@test "fields without their NULs: 76" {
	hostile_sim 'hostile: no_nul' 'hostile: no_nul, hostile_after: 2' \
	    'hostile: no_nul, hostile_after: 4' 'hostile: no_nul, hostile_after: 7' \
	    'hostile: no_nul, hostile_after: 1' 'hostile: no_nul, hostile_after: 3'
	for i in 1 2 3 4; do
		snap
		ended 76
		assert_output --partial '"message":"malformed '
	done
	for i in 5 6; do
		lib
		ended 76
	done
}

@test "a frame that stops mid-way on an open socket: 75 at the deadline" {
	hostile_sim 'hostile: stall' 'hostile: stall, hostile_after: 1' \
	    'hostile: stall, hostile_after: 2' 'hostile: stall, hostile_after: 7' \
	    'hostile: stall, hostile_after: 1' 'hostile: stall, hostile_after: 4'
	DL=1
	for i in 1 2 3 4; do
		snap
		ended 75
	done
	for i in 5 6; do
		lib
		ended 75
	done
	# the socket stayed open: the sim closed nothing before the clients did
	run jq -r 'select(.msg == "CLOSE") | .reason' "$J"
	refute_output --partial hostile
	assert_line 'closed by the client'
}

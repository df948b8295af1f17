#!/usr/bin/env bats
# Hostile peers. The gateway: ib-sim's hostile faults (random bytes, truncated frames,
# huge length prefixes, short fields, unknown message ids, NUL-less fields,
# a frame that stops with the socket open) against the IB clients:
# ib-snapshot, ib-order and the tws library (test/unit/tws_client.c). Each
# must end with 76 (protocol error) or 75 (deadline): never a signal, never
# a sanitizer report (make check SANITIZE=1), never a hang (each run is
# bounded by timeout(1), far beyond its own deadline, so that a hang fails
# the test instead of blocking the suite). ib-snapshot and the driver exit
# with that status; ib-order exits 1 (jobs failed) with it as the job's
# error.code, as ib-order(1) documents.
# Ably: ably-sim's hostile faults (text that is not JSON, JSON that is not
# an object, fields of the wrong types, bytes that are not UTF-8, a binary
# frame, a message over 16 MiB, a frame begun and never finished, history
# that is not a page of messages) against ably-listen: 76, or 75 at its
# deadline, with the reason on stderr, the key nowhere on its output; a
# bad history page is an alert record.
load helper

setup() {
	cd "$BATS_TEST_TMPDIR"
	J=$BATS_TEST_TMPDIR/journal.ndjson
	export REBAL_NOW=2026-03-02T15:00:00Z
	unset TRADING_MODE IB_HOST IB_PORT
}

teardown() {
	local rc=0
	if [ -n "${AL_PID:-}" ]; then
		kill -KILL "$AL_PID" 2>/dev/null || true
		wait "$AL_PID" 2>/dev/null || true
	fi
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
	jq -c --arg r rebal:ev-1:DU1234567 '.plan = {phase: "sell",
	    as_of: .snapshot.at, orders:
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

# ---- Ably: ably-sim's hostile faults against ably-listen -------------------

AKEY=app1.key1:s3cr3t-Value

# asim: ably-sim with the key; maxIdleInterval 1 s, so that ably-listen's
# deadline for a transport that goes quiet is 11 s.
asim() {
	export ABLY_SIM_KEYS=$AKEY
	NATT=0
	start_server SIM ably-sim -i 1000 -j "$J"
}

# alisten [ARGS...]: a fresh ably-listen (no state) on channel strat in the
# background, bounded by timeout(1) far beyond its own deadlines (a hang
# fails the test instead of blocking the suite); returns once attached.
alisten() {
	rm -rf "$REBAL_STATE"
	ABLY_API_KEY=$AKEY timeout 60 ably-listen -T -H "127.0.0.1:$SIM_PORT" \
	    "$@" strat >out.ndjson 2>err.log &
	AL_PID=$!
	NATT=$((NATT + 1))
	curl -sf "http://127.0.0.1:$SIM_PORT/_sim/wait?event=attached:strat&count=$NATT&timeout=30000" >/dev/null ||
	    fail "ably-listen did not attach: $(cat err.log)"
}

afault() {
	curl -sf -d "$1" "http://127.0.0.1:$SIM_PORT/_sim/fault" >/dev/null ||
	    fail "fault $1 refused"
}

# aended CODE MESSAGE: the listener ended with CODE, no sanitizer spoke, its
# last word is "ably-listen: MESSAGE", and the key's secret is on neither
# stdout nor stderr.
aended() {
	local st=0
	wait "$AL_PID" || st=$?
	AL_PID=
	! grep -E 'Sanitizer|runtime error' err.log || fail "sanitizer: $(cat err.log)"
	[ "$st" -eq "$1" ] || fail "ably-listen exit $st, want $1: $(cat err.log)"
	assert_equal "$(tail -n 1 err.log)" "ably-listen: $2"
	! grep -e s3cr3t out.ndjson err.log || fail "the key was printed"
}

# hostile FAULT_JSON CODE MESSAGE [ARGS...]: a listener hit by the fault
hostile() {
	local f=$1 code=$2 msg=$3
	shift 3
	alisten "$@"
	afault "$f"
	aended "$code" "$msg"
}

# wait_alerts N: out.ndjson holds N alert records (bounded poll)
wait_alerts() {
	local limit=$((SECONDS + 30))
	until [ "$(grep -c '"type":"alert"' out.ndjson)" -ge "$1" ]; do
		[ "$SECONDS" -lt "$limit" ] || fail "no alert $1: $(cat err.log)"
		sleep 0.05
	done
}

@test "ably: text that is not JSON is 76 at once, libjq's leaking texts included" {
	asim
	hostile '{"fault":"malformed_json"}' 76 \
	    'protocol error: a frame that is not JSON'
	for t in '{\"action\":0 \"x\":[1 2]}' '' '   ' \
	    '{\"action\":0}{\"action\":0}' '{\"action\":0}}' 'nul' \
	    '{\"action\":15,\"channel\":\"strat\",\"messages\":[{\"id\":\"a\"'; do
		hostile "{\"fault\":\"malformed_json\",\"text\":\"$t\"}" 76 \
		    'protocol error: a frame that is not JSON'
	done
	[ ! -s out.ndjson ]
	run jq -s 'map(select(.fault == "malformed_json")) | length' "$J"
	assert_output 8
}

@test "ably: JSON that is not an object is 76" {
	asim
	hostile '{"fault":"not_object"}' 76 \
	    'protocol error: bad frame: not a JSON object'
	for v in 42 '"x"' true null '[]'; do
		hostile "{\"fault\":\"not_object\",\"value\":$v}" 76 \
		    'protocol error: bad frame: not a JSON object'
	done
	# an object is not hostile: refused
	run curl -s -d '{"fault":"not_object","value":{}}' \
	    "http://127.0.0.1:$SIM_PORT/_sim/fault"
	assert_output --partial 'bad fault parameter'
}

@test "ably: protocol messages with fields of the wrong types are 76, never a crash" {
	asim
	hostile '{"fault":"wrong_types"}' 76 \
	    'protocol error: bad frame: messages is not an array'
	while IFS='|' read -r msg why; do
		hostile "{\"fault\":\"send\",\"msg\":$msg}" 76 \
		    "protocol error: bad frame: $why"
	done <<-'EOF'
	{"action":"15","channel":"strat","messages":[]}|action is not an integer from 0 to 255
	{"action":1e300}|action is not an integer from 0 to 255
	{"action":-1}|action is not an integer from 0 to 255
	{"action":4.5}|action is not an integer from 0 to 255
	{"action":15,"channel":["strat"],"messages":[]}|channel is not a string
	{"action":15,"channel":"strat","id":7,"messages":[]}|id is not a string
	{"action":15,"channel":"strat","channelSerial":1,"messages":[]}|channelSerial is not a string
	{"action":15,"channel":"strat","messages":[{"id":"m","data":"{}"},7]}|messages[1]: a message that is not an object
	{"action":15,"channel":"strat","messages":[{"id":7,"data":"{}"}]}|messages[0]: id is not a string
	{"action":15,"channel":"strat","messages":[{"data":"e30=","encoding":["base64"]}]}|messages[0]: encoding is not a string
	{"action":15,"channel":"strat","messages":[{"timestamp":"yesterday"}]}|messages[0]: timestamp is not a number
	{"action":15,"channel":"strat","timestamp":"now","messages":[]}|timestamp is not a number
	{"action":11,"channel":"strat","flags":-4}|flags is not a non-negative integer
	{"action":11,"channel":"strat","flags":1e300}|flags is not a non-negative integer
	{"action":9,"error":"boom"}|error is not an object
	{"action":9,"error":{"code":1e300,"statusCode":401}}|error.code is not an integer from 0 to 999999999
	{"action":6,"error":{"code":80003,"statusCode":"503"}}|error.statusCode is not an integer from 0 to 999999999
	{"action":9,"channel":"strat","error":{"code":40160,"message":{}}}|error.message is not a string
	{"action":4,"connectionId":"x","connectionDetails":[]}|connectionDetails is not an object
	{"action":4,"connectionId":"x","connectionDetails":{"connectionKey":"k","maxIdleInterval":"15000"}}|connectionDetails.maxIdleInterval is not a number
	EOF
	[ ! -s out.ndjson ]
}

@test "ably: a text frame that is not UTF-8 is 76, no event with mangled data" {
	asim
	hostile '{"fault":"invalid_utf8"}' 76 \
	    'protocol error: a text frame that is not UTF-8'
	[ ! -s out.ndjson ]
	run jq -s 'map(select(.fault == "invalid_utf8")) | length' "$J"
	assert_output 1
}

@test "ably: a binary frame is 76" {
	asim
	hostile '{"fault":"binary_frame"}' 76 \
	    'protocol error: a binary frame (only format=json is spoken)'
	hostile '{"fault":"binary_frame","text":"not JSON at all"}' 76 \
	    'protocol error: a binary frame (only format=json is spoken)'
}

@test "ably: a message of 16 MiB is taken, one byte more is 76" {
	asim
	alisten
	# a MESSAGE padded to exactly 16 MiB, its event written
	afault '{"fault":"oversized_frame","size":16777216,"msg":{"action":15,
	    "channel":"strat","id":"big:1","timestamp":1795400000000,
	    "messages":[{"id":"big:1:0","name":"rebalance",
	    "data":"{\"exec\":\"rebalance\",\"eventId\":\"big\"}"}]}}'
	afault '{"fault":"oversized_frame"}'
	aended 76 'protocol error: a message larger than 16 MiB'
	run jq -r '"\(.id) \(.event_id) \(.exec)"' out.ndjson
	assert_output 'big:1:0 big rebalance'
	run jq -c 'select(.fault == "oversized_frame") | .bytes' "$J"
	assert_output "$(printf '16777216\n16777217')"
	# ... the same over a fresh connection, in 64 KiB fragments
	afault '{"fault":"fragment","size":65536}'
	hostile '{"fault":"oversized_frame"}' 76 \
	    'protocol error: a message larger than 16 MiB'
}

@test "ably: a frame begun and never finished is 75 at the idle deadline (-1)" {
	asim
	hostile '{"fault":"partial_frame"}' 75 \
	    'no activity for 11 s; giving up (-1)' -1
	run jq -c 'select(.fault == "partial_frame") | .bytes' "$J"
	assert_output 12
	# the transport stayed open until the deadline
	! grep -q 'connection closed' err.log
}

@test "ably: a maxIdleInterval beyond 120 s is not honoured (a silent server cannot hold it)" {
	asim
	alisten
	afault '{"fault":"send","msg":{"action":4,"connectionId":"x",
	    "connectionDetails":{"connectionKey":"k!x","maxIdleInterval":1e300}}}'
	local limit=$((SECONDS + 30))
	until grep -q 'waiting at most' err.log; do
		[ "$SECONDS" -lt "$limit" ] || fail "no word: $(cat err.log)"
		sleep 0.05
	done
	kill -TERM "$AL_PID"
	aended 0 closed
	run grep 'maxIdleInterval' err.log
	assert_line 'ably-listen: maxIdleInterval 1e+300 ms from the server: waiting at most 120000 ms'
}

@test "ably: history that is not a page of messages gives an alert record, never a crash" {
	asim
	alisten
	n=0
	while IFS='|' read -r text why; do
		afault "{\"fault\":\"history_malformed\",\"count\":1${text:+,\"text\":\"$text\"}}"
		# an unsolicited non-resumed ATTACHED: a gap, read from history
		afault '{"fault":"attached"}'
		n=$((n + 1))
		wait_alerts "$n"
		run jq -r "select(.type == \"alert\") | .reason" out.ndjson
		assert_line --index $((n - 1)) "history unavailable for the gap: $why"
	done <<-'EOF'
	|history response is not a JSON array
	[{\"id\":\"h:0\" \"timestamp\":1}]|history response is not a JSON array
	{\"id\":\"h:0\"}|history response is not a JSON array
	[{\"id\":\"h:0\",\"data\":\"{}\"}]|history item 0: no timestamp
	[{\"id\":\"h:0\",\"timestamp\":1},{\"id\":7,\"timestamp\":2}]|history item 1: id is not a string
	[7]|history item 0: a message that is not an object
	EOF
	kill -TERM "$AL_PID"
	aended 0 closed
	run jq -s 'map(select(.type != "alert")) | length' out.ndjson
	assert_output 0
}

@test "ably: the key, sent back by the server, is never printed" {
	asim
	# in a frame that -v logs, then finds not JSON
	hostile "{\"fault\":\"malformed_json\",\"text\":\"{\\\"action\\\":0 \\\"key\\\":\\\"$AKEY\\\"}\"}" \
	    76 'protocol error: a frame that is not JSON' -v
	grep -q '^ably-listen: < {"action":0 "key":"\*\*\*"}$' err.log
	# URL-encoded, in a long error message, masked before the message is
	# cut (cut first, it would end inside the secret)
	long=$(printf '%0350d' 0)
	hostile "{\"fault\":\"send\",\"msg\":{\"action\":6,\"error\":{\"code\":80003,
	    \"statusCode\":503,\"message\":\"$long key=app1.key1%3As3cr3t-Value\"}}}" \
	    69 "server DISCONNECTED: code 80003 status 503: $long key=***; giving up (-1)" -1
	# in a channel ERROR: the alert record on stdout has it masked too
	alisten
	afault "{\"fault\":\"send\",\"msg\":{\"action\":9,\"channel\":\"strat\",
	    \"error\":{\"code\":40160,\"statusCode\":401,\"message\":\"denied to $AKEY\"}}}"
	wait_alerts 1
	kill -TERM "$AL_PID"
	aended 0 closed
	run jq -r .reason out.ndjson
	assert_output 'channel failed, no events until it attaches again: code 40160 status 401: denied to ***'
}

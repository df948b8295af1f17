#!/usr/bin/env bats
# ably-sim: REST with curl, the realtime protocol and every fault at frame
# level with a raw WebSocket client (test/conformance/wsraw.mjs), and the
# official SDK against it (test/conformance/ably.mjs).
load helper

KEY=app.key:secret
CONF=$TOP/test/conformance

setup() {
	printf '%s\n' "$KEY" 'app.ro:other etf-*' > "$BATS_TEST_TMPDIR/keys"
	export ABLY_KEY=$KEY
}

teardown() {
	stop_server SIM
	# under make check SANITIZE=1 the sim's own findings fail the test
	! grep -E 'Sanitizer|runtime error' "$BATS_TEST_TMPDIR/SIM.stderr" 2>/dev/null
}

sim() {
	start_server SIM ably-sim -k "$BATS_TEST_TMPDIR/keys" \
	    -j "$BATS_TEST_TMPDIR/journal" "$@"
	URL=http://127.0.0.1:$SIM_PORT
}

# ws STEP...: the raw client against the sim; its output stays in $WS
ws() {
	run node "$CONF/wsraw.mjs" "$SIM_PORT" "$@"
	WS=$output
}

# wsq FILTER: jq -r FILTER over the lines of the last ws run
wsq() {
	printf '%s\n' "$WS" | jq -r "$1"
}

# nconn: how many distinct connection ids the CONNECTEDs of the last run had
nconn() {
	wsq 'select(.frame.action == 4) | .frame.connectionId' | sort -u | wc -l
}

pub() {	# pub CHANNEL JSON
	curl -sS -f -u "$KEY" -H 'Content-Type: application/json' -d "$2" \
	    "$URL/channels/$1/messages"
}

fault() {
	curl -sS -f -d "$1" "$URL/_sim/fault"
}

# frames ACTION: the frames of that action of the last ws run, one per line
frames() {
	printf '%s\n' "$WS" | jq -c "select(.frame.action == $1) | .frame"
}

C='connect:key={key}&format=json&v=6&heartbeats=true'
ATT='send:{"action":10,"channel":"etf-blend"}'

@test "ably-sim: -h prints the usage and exits 0, bad usage 64" {
	run ably-sim -h
	assert_success
	assert_output --partial 'usage: ably-sim'
	run ably-sim -x
	assert_failure 64
	run ably-sim -p 70000
	assert_failure 64
	run ably-sim extra
	assert_failure 64
}

@test "ably-sim: the port is the only line on stdout; SIGTERM exits 0" {
	start_server SIM ably-sim -p 0
	[[ $SIM_PORT =~ ^[0-9]+$ ]]
	curl -sS -f "http://127.0.0.1:$SIM_PORT/time" > /dev/null
	kill -TERM "$SIM_PID"
	wait "$SIM_PID"
	SIM_PID=
	run cat <&"$SIM_FD"
	assert_output ''
}

@test "ably-sim: bad key file and bad scenario exit 78" {
	run ably-sim -k "$BATS_TEST_TMPDIR/nonexistent"
	assert_failure 78
	printf 'keys: {a: 1}\n' > "$BATS_TEST_TMPDIR/s.yaml"
	run ably-sim -f "$BATS_TEST_TMPDIR/s.yaml"
	assert_failure 78
	assert_output --partial 's.yaml:1:'
}

@test "ably-sim: GET /time answers [ms]" {
	sim
	run curl -sS -f "$URL/time"
	assert_success
	assert_output --regexp '^\[[0-9]{13}\]$'
}

@test "ably-sim: REST with a bad key or none is 401 with 40101, never echoing the key" {
	sim
	run curl -sS -D - -u app.key:wrong "$URL/channels/x/messages"
	assert_output --partial '401'
	assert_output --partial 'x-ably-errorcode: 40101'
	assert_output --partial '"code":40101'
	refute_output --partial wrong
	run curl -sS -o /dev/null -w '%{http_code}' "$URL/channels/x/messages"
	assert_output 401
	run curl -sS -o /dev/null -w '%{http_code}' "$URL/channels/x/messages?key=$KEY"
	assert_output 200
}

@test "ably-sim: a key limited to channels gets 40160 elsewhere" {
	sim
	run curl -sS -u app.ro:other "$URL/channels/etf-a/messages"
	assert_output '[]'
	run curl -sS -u app.ro:other "$URL/channels/other/messages"
	assert_output --partial '"code":40160'
	ABLY_KEY=app.ro:other ws "$C" expect:4 'send:{"action":10,"channel":"other"}' expect:9
	assert_success
	run frames 9
	assert_output --partial '"channel":"other"'
	assert_output --partial '"code":40160'
}

@test "ably-sim: REST publish and history paging with curl" {
	sim
	for i in 1 2 3 4 5; do
		run pub etf%20blend%2F1 "{\"name\":\"n$i\",\"data\":{\"i\":$i}}"
		assert_success
		assert_output --partial '"serials":["'
	done
	# newest first, two per page, Link rel=next until the end
	curl -sS -D "$BATS_TEST_TMPDIR/h" -u "$KEY" \
	    "$URL/channels/etf%20blend%2F1/messages?limit=2" > "$BATS_TEST_TMPDIR/p1"
	run jq -r '.[].name' "$BATS_TEST_TMPDIR/p1"
	assert_output $'n5\nn4'
	run jq -r '.[0] | .data, .encoding, (.id|type), (.timestamp|type), (.connectionId|type)' "$BATS_TEST_TMPDIR/p1"
	assert_output $'{"i":5}\njson\nstring\nnumber\nstring'
	next=$(sed -n 's/^link:.*<\.\/messages?\([^>]*\)>; rel="next".*/\1/p' "$BATS_TEST_TMPDIR/h" | tr -d '\r')
	[ -n "$next" ]
	curl -sS -D "$BATS_TEST_TMPDIR/h" -u "$KEY" \
	    "$URL/channels/etf%20blend%2F1/messages?$next" > "$BATS_TEST_TMPDIR/p2"
	run jq -r '.[].name' "$BATS_TEST_TMPDIR/p2"
	assert_output $'n3\nn2'
	next=$(sed -n 's/^link:.*<\.\/messages?\([^>]*\)>; rel="next".*/\1/p' "$BATS_TEST_TMPDIR/h" | tr -d '\r')
	pub etf%20blend%2F1 '{"name":"later"}'	# after the first page: not in this window
	curl -sS -D "$BATS_TEST_TMPDIR/h" -u "$KEY" \
	    "$URL/channels/etf%20blend%2F1/messages?$next" > "$BATS_TEST_TMPDIR/p3"
	run jq -r '.[].name' "$BATS_TEST_TMPDIR/p3"
	assert_output n1
	run grep -c 'rel="next"' "$BATS_TEST_TMPDIR/h"
	assert_output 0
	# forwards
	run sh -c "curl -sS -u '$KEY' '$URL/channels/etf%20blend%2F1/messages?direction=forwards&limit=3' | jq -r '.[].name'"
	assert_output $'n1\nn2\nn3'
	# a window by time
	t=$(jq '.[1].timestamp' "$BATS_TEST_TMPDIR/p2")
	run sh -c "curl -sS -u '$KEY' '$URL/channels/etf%20blend%2F1/messages?end=$t' | jq length"
	[ "$output" -ge 2 ]
	t3=$(jq '.[0].timestamp' "$BATS_TEST_TMPDIR/p2")
	want=$(curl -sS -u "$KEY" "$URL/channels/etf%20blend%2F1/messages" | jq "map(select(.timestamp >= $t3)) | length")
	run sh -c "curl -sS -u '$KEY' '$URL/channels/etf%20blend%2F1/messages?start=$t3' | jq length"
	assert_output "$want"
	[ "$want" -ge 4 ]
	# bad parameters
	run curl -sS -u "$KEY" "$URL/channels/x/messages?limit=1001"
	assert_output --partial '"code":40003'
	run curl -sS -u "$KEY" "$URL/channels/x/messages?direction=sideways"
	assert_output --partial '"code":40003'
	run curl -sS -u "$KEY" "$URL/channels/x/messages?start=2&end=1"
	assert_output --partial '"code":40003'
	run curl -sS -u "$KEY" "$URL/channels/etf%20blend%2F1/messages?from_serial=junk"
	assert_output --partial '"code":40000'
	# the key is in no journal line
	run grep -c secret "$BATS_TEST_TMPDIR/journal"
	assert_output 0
}

@test "ably-sim: publishing with ids is idempotent; bad bodies are 400" {
	sim
	pub c '[{"id":"fixed:0","name":"a"},{"id":"fixed:1","name":"b"}]'
	pub c '{"id":"fixed:1","name":"b"}'
	run sh -c "curl -sS -u '$KEY' '$URL/channels/c/messages' | jq -c '[.[].id]'"
	assert_output '["fixed:1","fixed:0"]'
	run curl -sS -u "$KEY" -d 'not json' "$URL/channels/c/messages"
	assert_output --partial '"code":40000'
	run curl -sS -u "$KEY" -d '{"data":12}' "$URL/channels/c/messages"
	assert_output --partial '"code":40013'
}

@test "ably-sim: from_serial returns what came before the attach point" {
	sim
	pub etf-blend '{"name":"before1"}'
	pub etf-blend '{"name":"before2"}'
	ws "$C" expect:4 "$ATT" expect:11
	assert_success
	serial=$(frames 11 | jq -r .channelSerial)
	pub etf-blend '{"name":"after"}'
	run sh -c "curl -sS -u '$KEY' '$URL/channels/etf-blend/messages?from_serial=$serial' | jq -r '.[].name'"
	assert_output $'before2\nbefore1'
	run curl -sS -u "$KEY" "$URL/channels/etf-blend/messages?from_serial=$serial&direction=forwards"
	assert_output --partial '"code":40003'
}

@test "ably-sim: realtime bad key, missing key, bad version, msgpack get ERROR and a close" {
	sim
	ws 'connect:key=app.key%3Awrong&format=json&v=6' expect:9 closed
	assert_success
	run frames 9
	assert_output --partial '"code":40101'
	assert_output --partial '"statusCode":401'
	refute_output --partial wrong
	ws 'connect:format=json&v=6' expect:9 closed
	assert_output --partial '"code":40101'
	ws 'connect:key={key}&v=1.2' expect:9 closed
	assert_output --partial '"code":80024'
	ws 'connect:key={key}&v=9' expect:9 closed
	assert_output --partial '"code":40017'
	ws 'connect:key={key}&format=msgpack' expect:9 closed
	assert_output --partial '"code":40000'
}

@test "ably-sim: CONNECTED, ATTACHED with serial and modes, MESSAGE, HEARTBEAT echo, DETACH, CLOSE" {
	sim -i 5000
	ws "$C" expect:4 "$ATT" expect:11 'publish:etf-blend:{"name":"rebalance","data":{"exec":"rebalance"}}' \
	    expect:15 'send:{"action":0,"id":"ping-1"}' expect:0 \
	    'send:{"action":12,"channel":"etf-blend"}' expect:13 'send:{"action":7}' expect:8 closed
	assert_success
	run frames 4
	assert_output --regexp '"connectionId":"[A-Za-z0-9]{10}"'
	assert_output --partial '"maxIdleInterval":5000'
	assert_output --partial '"connectionStateTtl":120000'
	assert_output --partial '"connectionKey":"'
	run frames 11
	assert_output --regexp '"channelSerial":"[^"]+"'
	assert_output --partial '"flags":983040'
	run frames 15
	assert_output --regexp '"id":"([A-Za-z0-9]+):0"'
	assert_output --partial '"channel":"etf-blend"'
	assert_output --regexp '"messages":\[\{[^]]*"id":"[A-Za-z0-9]+:0:0"'
	assert_output --partial '"encoding":"json"'
	assert_output --partial '"serial":"'
	rid=$(frames 15 | jq -r '.messages[0].id')
	run frames 0
	assert_output --partial '"id":"ping-1"'
	# the message id from realtime is the id history gives
	run sh -c "curl -sS -u '$KEY' '$URL/channels/etf-blend/messages' | jq -r '.[0].id'"
	assert_output "$rid"
}

@test "ably-sim: heartbeats=true sends HEARTBEAT frames, otherwise pings" {
	sim
	ws 'connect:key={key}&heartbeats=true&heartbeatInterval=100' expect:4 expect:0 expect:0
	assert_success
	ws 'connect:key={key}&heartbeats=false&heartbeatInterval=100' expect:4 ping ping
	assert_success
}

@test "ably-sim: resume keeps the connection id and replays missed messages after ATTACHED" {
	sim
	ws "$C" expect:4 "$ATT" expect:11 'publish:etf-blend:{"name":"m1"}' expect:15 \
	    'fault:{"fault":"drop"}' closed \
	    'publish:etf-blend:{"name":"m2"}' 'publish:etf-blend:{"name":"m3"}' \
	    "connect:key={key}&heartbeats=true&resume={ckey}" expect:4 \
	    'send:{"action":10,"channel":"etf-blend","channelSerial":"{serial}"}' expect:11 expect:15 expect:15
	assert_success
	assert_output --partial '{"end":true}'
	run nconn
	assert_output 1
	run wsq 'select(.frame.action == 4) | .frame | has("error")'
	assert_output $'false\nfalse'
	# second ATTACHED: RESUMED (4) and HAS_BACKLOG (2) on top of the modes
	run wsq 'select(.frame.action == 11) | .frame.flags'
	assert_output $'983040\n983046'
	run wsq 'select(.frame.action == 15) | .frame.messages[].name'
	assert_output $'m1\nm2\nm3'
}

@test "ably-sim: recover from another process and the connection-state TTL" {
	sim -t 0
	ws "$C" expect:4 'fault:{"fault":"drop"}' closed "connect:key={key}&recover={ckey}" expect:4
	assert_success
	run frames 4
	assert_output --partial '"code":80008'
	run nconn
	assert_output 2
	ws "connect:key={key}&resume=garbage" expect:4
	assert_output --partial '"code":80018'
}

@test "ably-sim: rewind sends the last messages after ATTACHED with HAS_BACKLOG" {
	sim
	pub etf-blend '[{"name":"a"},{"name":"b"}]'
	pub etf-blend '{"name":"c"}'
	ws "$C" expect:4 'send:{"action":10,"channel":"etf-blend","params":{"rewind":"2"}}' expect:11 expect:15 expect:15
	assert_success
	run wsq 'select(.frame.action == 15) | .frame.messages[] | .name + " " + .id'
	assert_output --regexp $'^b [A-Za-z0-9]+:0:1\nc '
	run frames 11
	assert_output --partial '"flags":983042'
	assert_output --partial '"params":{"rewind":"2"}'
	ws "$C" expect:4 'send:{"action":10,"channel":"[?rewind=1]etf-blend"}' expect:11 expect:15
	assert_success
	run frames 15
	assert_output --partial '"channel":"[?rewind=1]etf-blend"'
	assert_output --partial '"name":"c"'
}

@test "ably-sim fault drop: the socket ends without a close frame" {
	sim
	ws "$C" expect:4 "$ATT" expect:11 'fault:{"fault":"drop"}' closed
	assert_success
	assert_output --partial '"applied":1'
	assert_output --partial '{"end":true}'
	refute_output --partial '"close"'
}

@test "ably-sim fault close: a close frame with the code" {
	sim
	ws "$C" expect:4 'fault:{"fault":"close","code":1011}' closed
	assert_success
	assert_output --partial '{"close":1011}'
}

@test "ably-sim fault disconnected: DISCONNECTED with the error, close, still resumable" {
	sim
	ws "$C" expect:4 'fault:{"fault":"disconnected","code":80003,"status":503}' expect:6 closed \
	    "connect:key={key}&resume={ckey}" expect:4
	assert_success
	run frames 6
	assert_output --partial '"code":80003'
	assert_output --partial '"statusCode":503'
	[[ $WS == *'{"close":1000}'* ]]
	run frames 4
	refute_output --partial '"error"'
}

@test "ably-sim fault error: connection ERROR, close, not resumable" {
	sim
	ws "$C" expect:4 'fault:{"fault":"error","code":40142,"status":401}' expect:9 closed \
	    "connect:key={key}&resume={ckey}" expect:4
	assert_success
	run frames 9
	assert_output --partial '"code":40142'
	refute_output --partial '"channel"'
	run frames 4
	assert_output --partial '"code":80008'
}

@test "ably-sim fault silent: no heartbeats, no replies, no messages" {
	sim
	ws 'connect:key={key}&heartbeats=true&heartbeatInterval=100' expect:4 "$ATT" expect:11 expect:0 \
	    'fault:{"fault":"silent"}' 'send:{"action":0,"id":"p"}' \
	    'publish:etf-blend:{"name":"x"}' quiet:1000
	assert_success
	refute_output --partial '"action":15'
	refute_output --partial '"id":"p"'
}

@test "ably-sim fault fail_resume: new connection id and 80008; next resume works again" {
	sim
	ws "$C" expect:4 'fault:{"fault":"fail_resume"}' 'fault:{"fault":"drop"}' closed \
	    "connect:key={key}&resume={ckey}" expect:4 'fault:{"fault":"drop"}' closed \
	    "connect:key={key}&resume={ckey}" expect:4
	assert_success
	run wsq 'select(.frame.action == 4) | .frame | .connectionId + " " + (.error.code|tostring)'
	[ "${lines[0]% *}" != "${lines[1]% *}" ]
	[ "${lines[1]% *}" = "${lines[2]% *}" ]
	assert_equal "${lines[0]#* }" null
	assert_equal "${lines[1]#* }" 80008
	assert_equal "${lines[2]#* }" null
}

@test "ably-sim fault expire: connection state and channel continuity are gone" {
	sim
	ws "$C" expect:4 "$ATT" expect:11 'fault:{"fault":"drop"}' closed 'fault:{"fault":"expire"}' \
	    "connect:key={key}&resume={ckey}" expect:4 \
	    'send:{"action":10,"channel":"etf-blend","channelSerial":"{serial}"}' expect:11
	assert_success
	run frames 4
	assert_output --partial '"code":80008'
	run wsq 'select(.frame.action == 11) | .frame.flags'
	assert_output $'983040\n983040'
}

@test "ably-sim faults detached, attached, channel_error: unsolicited channel frames" {
	sim
	ws "$C" expect:4 "$ATT" expect:11 'fault:{"fault":"attached"}' expect:11 \
	    'fault:{"fault":"detached","channel":"etf-blend"}' expect:13 \
	    'publish:etf-blend:{"name":"not delivered while detached"}' "$ATT" expect:11 \
	    'fault:{"fault":"channel_error"}' expect:9
	assert_success
	run frames 11
	assert_line --index 1 --partial '"code":90003'
	assert_line --index 1 --partial '"flags":983040'
	run frames 13
	assert_output --partial '"code":90001'
	run frames 9
	assert_output --partial '"channel":"etf-blend"'
	assert_output --partial '"code":40160'
	refute_output --partial 'not delivered'
}

@test "ably-sim fault update: CONNECTED again on the same connection" {
	sim
	ws "$C" expect:4 'fault:{"fault":"update"}' expect:4
	assert_success
	run nconn
	assert_output 1
}

@test "ably-sim fault refuse: HTTP 503 or a hang-up, then clear" {
	sim
	ws 'fault:{"fault":"refuse","count":-1}' "$C" refused "$C" refused \
	    'fault:{"fault":"refuse","status":0}' "$C" refused 'fault:{"fault":"clear"}' "$C" expect:4
	assert_success
	run wsq 'select(has("http") or has("end")) | tojson'
	assert_line --index 0 '{"http":503}'
	assert_line --index 1 '{"http":503}'
	assert_line --index 2 '{"end":true}'
	assert_line --index 3 '{"http":101}'
}

@test "ably-sim fault fragment: frames arrive in WebSocket fragments" {
	sim
	ws 'fault:{"fault":"fragment","size":16}' "$C" expect:4 'fault:{"fault":"fragment","size":0}' "$ATT" expect:11
	assert_success
	run wsq 'select(.frame) | .fragments'
	[ "${lines[0]}" -gt 5 ]
	assert_equal "${lines[1]}" 1
}

@test "ably-sim fault delay: CONNECTED or ATTACHED held back" {
	sim
	ws 'fault:{"fault":"delay","what":"connected","ms":800}' "$C" quiet:300 expect:4
	assert_success
	ws 'fault:{"fault":"delay","what":"attached","ms":800}' "$C" expect:4 "$ATT" quiet:300 expect:11
	assert_success
}

@test "ably-sim fault lose: a publish is stored but not delivered" {
	sim
	ws "$C" expect:4 "$ATT" expect:11 'fault:{"fault":"lose","channel":"etf-blend"}' \
	    'publish:etf-blend:{"name":"lost"}' 'publish:etf-blend:{"name":"kept"}' expect:15
	assert_success
	refute_output --partial '"name":"lost"'
	assert_output --partial '"name":"kept"'
	run sh -c "curl -sS -u '$KEY' '$URL/channels/etf-blend/messages' | jq -r '.[].name'"
	assert_output $'kept\nlost'
}

@test "ably-sim fault omit_fields: ids, connectionId and timestamp left to the parent" {
	sim
	ws 'fault:{"fault":"omit_fields"}' "$C" expect:4 "$ATT" expect:11 'publish:etf-blend:[{"name":"a"},{"name":"b"}]' expect:15
	assert_success
	run wsq 'select(.frame.action == 15) | [.frame.messages[] | has("id"), has("connectionId"), has("timestamp")] | unique | tojson'
	assert_output '[false]'
}

@test "ably-sim fault require_tls: key auth rejected with 40103" {
	sim
	fault '{"fault":"require_tls"}'
	ws "$C" expect:9 closed
	assert_output --partial '"code":40103'
	run curl -sS -u "$KEY" "$URL/channels/x/messages"
	assert_output --partial '"code":40103'
}

@test "ably-sim fault fresh_resume: an attach with a serial resumes on a new connection" {
	sim
	ws "$C" expect:4 "$ATT" expect:11 'fault:{"fault":"fresh_resume"}' 'publish:etf-blend:{"name":"m"}' expect:15 \
	    'fault:{"fault":"drop"}' closed 'publish:etf-blend:{"name":"missed"}' \
	    "$C" expect:4 'send:{"action":10,"channel":"etf-blend","channelSerial":"{serial}"}' expect:11 expect:15
	assert_success
	run wsq 'select(.frame.action == 11) | .frame.flags'
	assert_line --index 1 983046
	[[ $WS == *'"name":"missed"'* ]]
}

@test "ably-sim history faults: unavailable, truncated, from_serial rejected" {
	sim
	pub h '{"name":"old"}'
	fault '{"fault":"history_unavailable","count":1,"status":401,"code":40160}'
	run curl -sS -w ' %{http_code}' -u "$KEY" "$URL/channels/h/messages"
	assert_output --partial '"code":40160'
	assert_output --partial ' 401'
	run curl -sS -u "$KEY" "$URL/channels/h/messages"
	assert_output --partial '"name":"old"'
	fault '{"fault":"history_truncate"}'
	pub h '{"name":"new"}'
	run sh -c "curl -sS -u '$KEY' '$URL/channels/h/messages' | jq -r '.[].name'"
	assert_output new
	fault '{"fault":"from_serial_reject"}'
	run curl -sS -w ' %{http_code}' -u "$KEY" "$URL/channels/h/messages?from_serial=x"
	assert_output --partial '"code":90008'
	assert_output --partial ' 400'
	run curl -sS -w ' %{http_code}' -d '{"fault":"nonsense"}' "$URL/_sim/fault"
	assert_output --partial ' 404'
}

# hex TEXT: the bytes of TEXT in hex, as wsraw.mjs prints them
hex() {
	printf '%s' "$1" | od -An -tx1 | tr -d ' \n'
}

@test "ably-sim hostile faults: the bytes the man page says, bad parameters refused" {
	sim
	ws "$C" expect:4 "$ATT" expect:11 \
	    'fault:{"fault":"malformed_json"}' expect:-1 \
	    'fault:{"fault":"malformed_json","text":"{\"a\":1 \"b\":2}"}' expect:-1 \
	    'fault:{"fault":"not_object","value":42}' expect:-3 \
	    'fault:{"fault":"not_object"}' 'send:{"action":0,"id":"after"}' expect:0 \
	    'fault:{"fault":"wrong_types"}' expect:15 \
	    'fault:{"fault":"invalid_utf8","channel":"etf-blend"}' expect:-1 \
	    'fault:{"fault":"binary_frame"}' expect:-2 \
	    'fault:{"fault":"oversized_frame","size":100}' expect:0 \
	    'fault:{"fault":"oversized_frame","size":64,"msg":{"action":15,"channel":"c","messages":[]}}' expect:15 \
	    'fault:{"fault":"send","msg":{"action":9,"error":"boom"}}' expect:9 \
	    'fault:{"fault":"partial_frame","size":5}' unfinished
	assert_success
	run wsq 'select(.text) | "\(.bytes) \(.text)"'
	assert_line --index 0 "24 $(hex '{"action":15,"channel":"')"
	assert_line --index 1 "13 $(hex '{"a":1 "b":2}')"
	# a message whose data holds C3 28: well-formed JSON but for the bytes
	assert_line --index 2 --regexp "^[0-9]+ $(hex '{"action":15,"channel":"etf-blend","id":"hostile:')"
	assert_line --index 2 --partial "$(hex '"data":"{\"exec\":\"rebalance\",\"eventId\":\"')c328$(hex '\"}"}]}')"
	run wsq 'select(has("json")) | .json | tojson'
	assert_output "$(printf '42\n[{"action":0}]')"
	run frames 15
	assert_line --index 0 --partial '"messages":{"id":"hostile:1:0","name":"rebalance"'
	assert_line --index 1 '{"action":15,"channel":"c","messages":[],"pad":"xxxxxxxxxxxxxx"}'
	[ "$(frames 15 | sed -n 2p | tr -d '\n' | wc -c)" -eq 64 ]
	run wsq 'select(.binary) | "\(.bytes) \(.binary)"'
	assert_output "12 $(hex '{"action":0}')"
	run wsq 'select(.frame.pad and .frame.action == 0) | .frame | tojson | length'
	assert_output 100
	run frames 9
	assert_output '{"action":9,"error":"boom"}'
	run wsq 'select(.unfinished) | "\(.bytes) \(.unfinished)"'
	assert_output "5 $(hex '{"act')"
	# journalled by name and size, never as a message
	run jq -r 'select(.fault) | "\(.fault) \(.bytes)"' "$BATS_TEST_TMPDIR/journal"
	assert_line --index 0 'malformed_json 24'
	assert_line --index 7 'oversized_frame 100'
	assert_line --index 10 'partial_frame 12'
	# parameters that would not be hostile, or cannot be, are refused
	for f in '{"fault":"not_object","value":{}}' '{"fault":"send"}' \
	    '{"fault":"oversized_frame","size":10}' \
	    '{"fault":"oversized_frame","size":20,"msg":{"action":15,"channel":"long"}}' \
	    '{"fault":"oversized_frame","msg":[1]}' \
	    '{"fault":"partial_frame","size":12}' \
	    '{"fault":"partial_frame","size":"x"}'; do
		run curl -s -w ' %{http_code}' -d "$f" "$URL/_sim/fault"
		assert_output --partial 'bad fault parameter'
		assert_output --partial ' 400'
	done
}

@test "ably-sim fault history_malformed: history answers garbage, count times" {
	sim
	fault '{"fault":"history_malformed","count":1}'
	run curl -sS -f -u "$KEY" "$URL/channels/etf-blend/messages"
	assert_success
	assert_output '[{"id":"hostile:0:0","name":"rebalance","data":"{\"exec\":'
	run curl -sS -f -u "$KEY" "$URL/channels/etf-blend/messages"
	assert_output '[]'
	fault '{"fault":"history_malformed","text":"not json"}'
	for i in 1 2; do
		run curl -sS -f -u "$KEY" "$URL/channels/etf-blend/messages"
		assert_output 'not json'
	done
	fault '{"fault":"clear"}'
	run curl -sS -f -u "$KEY" "$URL/channels/etf-blend/messages"
	assert_output '[]'
}

@test "ably-sim: /_sim/wait answers when a counter is reached, 408 on timeout; /_sim/state" {
	sim
	run curl -sS -w ' %{http_code}' "$URL/_sim/wait?event=attached:etf-blend&timeout=100"
	assert_output --partial ' 408'
	curl -sS "$URL/_sim/wait?event=attached:etf-blend&timeout=10000" > "$BATS_TEST_TMPDIR/w" &
	wpid=$!
	ws "$C" expect:4 "$ATT" expect:11
	wait "$wpid"
	run cat "$BATS_TEST_TMPDIR/w"
	assert_output '{"event":"attached:etf-blend","count":1}'
	run sh -c "curl -sS '$URL/_sim/state' | jq -c '[(.connections | length), .events.connected, .events.closed]'"
	assert_output '[1,1,1]'
}

@test "ably-sim: scenario file seeds keys and history" {
	cat > "$BATS_TEST_TMPDIR/s.yaml" <<-EOF
	keys:
	  - {key: "sc.key:pw", channels: ["etf-*"]}
	max_idle_interval: 7000
	channels:
	  etf-blend:
	    - {name: rebalance, data: {exec: rebalance, eventId: e1}, age: 600000}
	    - {name: rebalance, data: {exec: rebalance, eventId: e2}, age: 1000}
	EOF
	start_server SIM ably-sim -f "$BATS_TEST_TMPDIR/s.yaml"
	URL=http://127.0.0.1:$SIM_PORT
	run sh -c "curl -sS -u sc.key:pw '$URL/channels/etf-blend/messages' | jq -r '.[].data'"
	assert_output $'{"exec":"rebalance","eventId":"e2"}\n{"exec":"rebalance","eventId":"e1"}'
	now=$(curl -sS "$URL/time" | jq '.[0]')
	run sh -c "curl -sS -u sc.key:pw '$URL/channels/etf-blend/messages?start=$((now - 60000))' | jq length"
	assert_output 1
	ABLY_KEY=sc.key:pw ws "$C" expect:4
	assert_output --partial '"maxIdleInterval":7000'
}

@test "ably-sim: the ably SDK reacts to each fault as the protocol says" {
	sim
	for f in disconnected silent detached attached channel_error error update close drop expire; do
		run timeout 60 node "$CONF/ably-faults.mjs" "$SIM_PORT" "$f"
		echo "$output"
		assert_success
		assert_output --regexp "^ok - $f: "
	done
}

@test "ably-sim: the official ably SDK (npm ably 2.28.0) conforms" {
	sim
	run timeout 120 node "$CONF/ably.mjs" "$SIM_PORT"
	echo "$output"
	assert_success
	assert_output --partial 'expectations held'
	refute_output --partial 'not ok'
}

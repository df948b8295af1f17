#!/usr/bin/env bats
# alloc-sim on its own, driven with curl: port line, directory and scenario
# serving, key check, faults, journal, sink mode, scenario errors, SIGTERM.

load helper
bats_require_minimum_version 1.5.0

KEY=FAKEKEY-51m-0123456789

setup() {
	export ALLOCATIONS_API_KEY=$KEY
	J=$BATS_TEST_TMPDIR/journal.ndjson
	D=$BATS_TEST_TMPDIR/dir
	mkdir -p "$D"
}

teardown() {
	stop_server SIM
	if grep -rsF -- "$KEY" "$J" "$BATS_TEST_TMPDIR"/SIM.stderr; then
		echo "the key leaked" >&2
		return 1
	fi
}

get() {	# get PATH [curl options...]: body, then the status on its own line
	local p=$1
	shift
	curl -sS -w '\n%{http_code}\n' "$@" "http://127.0.0.1:$SIM_PORT$p"
}

@test "prints only the port on stdout and serves a directory" {
	printf '{"status":"success","data":{"allocations":[{"symbol":"SPY","allocation":1}]}}' > "$D/etf.json"
	start_server SIM alloc-sim -d "$D" -j "$J"
	[[ $SIM_PORT =~ ^[0-9]+$ ]]
	run get /api/v1/strategies/etf/allocations -H "x-api-key: $KEY"
	assert_success
	assert_output $'{"status":"success","data":{"allocations":[{"symbol":"SPY","allocation":1}]}}\n200'
	# the file is read on every request
	printf '{"status":"success","data":{"allocations":[]}}' > "$D/etf.json"
	run get /etf/allocations -H "x-api-key: $KEY"
	assert_line --index 1 200
	assert_line --index 0 '{"status":"success","data":{"allocations":[]}}'
	run get /nope/allocations -H "x-api-key: $KEY"
	assert_output $'{"status":"error","message":"strategy not found: nope"}\n404'
	run get /etf -H "x-api-key: $KEY"
	assert_line --index 1 404
	run get /etf/allocations -H "x-api-key: $KEY" -X POST
	assert_line --index 1 405
	stop_server SIM
	# nothing but the port line was written to stdout
	run cat <&"$SIM_FD"
	assert_output ''
}

@test "the key is checked: missing or wrong is 401, and never journaled" {
	printf '{}' > "$D/etf.json"
	start_server SIM alloc-sim -d "$D" -j "$J"
	run get /etf/allocations
	assert_output $'{"status":"error","message":"missing API key"}\n401'
	run get /etf/allocations -H 'x-api-key: nope'
	assert_output $'{"status":"error","message":"invalid API key"}\n401'
	run get /etf/allocations -H "x-api-key: $KEY"
	assert_line --index 1 200
	run jq -c '[.method, .path, .strategy, .key, .status, .fault]' "$J"
	assert_output $'["GET","/etf/allocations","etf","none",401,null]\n["GET","/etf/allocations","etf","bad",401,null]\n["GET","/etf/allocations","etf","ok",200,null]'
}

@test "without a configured key every request is accepted" {
	printf '{}' > "$D/etf.json"
	ALLOCATIONS_API_KEY= start_server SIM alloc-sim -d "$D" -j "$J"
	run get /etf/allocations
	assert_line --index 1 200
	run jq -r .key "$J"
	assert_output unchecked
}

@test "scenario: allocations, response, body; per-strategy and global faults" {
	cat > "$BATS_TEST_TMPDIR/s.yaml" <<-'EOF'
	fault: {status: 503, times: 1}
	strategies:
	  a:
	    allocations:
	      - {symbol: SPY, allocation: 0.5}
	      - {ticker: TLT, allocation: 0.5}
	  b:
	    response: {weights: {SPY: 1}}
	    fault: {status: 429, times: 2, body: slow down}
	  c:
	    body: 'not json'
	  m:
	    allocations: [{symbol: SPY, allocation: 1}]
	    fault: {malformed: true}
	  w:
	    allocations: [{symbol: SPY, allocation: 1}]
	    fault: {wrong_schema: true}
	EOF
	start_server SIM alloc-sim -f "$BATS_TEST_TMPDIR/s.yaml" -j "$J"
	H=(-H "x-api-key: $KEY")
	run get /a/allocations "${H[@]}"
	assert_output $'{"status":"error","message":"simulated failure"}\n503'
	run get /a/allocations "${H[@]}"
	assert_output $'{"status":"success","data":{"name":"a","allocations":[{"symbol":"SPY","allocation":0.5},{"ticker":"TLT","allocation":0.5}]}}\n200'
	run get /b/allocations "${H[@]}"
	assert_output $'slow down\n429'
	run get /b/allocations "${H[@]}"
	assert_line --index 1 429
	run get /b/allocations "${H[@]}"
	assert_output $'{"weights":{"SPY":1}}\n200'
	run get /c/allocations "${H[@]}"
	assert_output $'not json\n200'
	run get /m/allocations "${H[@]}"
	assert_line --index 1 200
	run jq . <<<"${lines[0]}"
	assert_failure
	run get /w/allocations "${H[@]}"
	assert_output $'{"status":"success","data":{"weights":{"SPY":0.6,"TLT":0.4}}}\n200'
	run jq -c '[.strategy, .status, .fault]' "$J"
	assert_output - <<-'EOF'
	["a",503,"status"]
	["a",200,null]
	["b",429,"status"]
	["b",429,"status"]
	["b",200,null]
	["c",200,null]
	["m",200,"malformed"]
	["w",200,"wrong_schema"]
	EOF
}

@test "hang: the request is journaled and never answered; others are served" {
	cat > "$BATS_TEST_TMPDIR/s.yaml" <<-'EOF'
	strategies:
	  h:
	    allocations: [{symbol: SPY, allocation: 1}]
	    fault: {hang: true}
	  d:
	    allocations: [{symbol: SPY, allocation: 1}]
	    fault: {delay_ms: 100}
	  ok:
	    allocations: [{symbol: SPY, allocation: 1}]
	EOF
	start_server SIM alloc-sim -f "$BATS_TEST_TMPDIR/s.yaml" -j "$J"
	curl -s -H "x-api-key: $KEY" "http://127.0.0.1:$SIM_PORT/h/allocations" \
	    >/dev/null &
	hung=$!
	# wait for the journal to show the hanging request (bounded)
	wait_for 10 grep -q '"fault":"hang"' "$J"
	run jq -c '[.strategy, .status, .fault]' "$J"
	assert_output '["h",null,"hang"]'
	# meanwhile the sim still answers
	run get /ok/allocations -H "x-api-key: $KEY"
	assert_line --index 1 200
	run get /d/allocations -H "x-api-key: $KEY"
	assert_line --index 1 200
	run jq -c 'select(.strategy == "d") | [.fault, .delay_ms]' "$J"
	assert_output '["delay",100]'
	# the hanging client is still waiting
	kill -0 "$hung"
	run get /h/allocations -H "x-api-key: $KEY" --max-time 0.5
	assert_failure 28
	kill "$hung"
	wait "$hung" || true
}

@test "sink mode journals posts, checks the bearer token, hides it" {
	NTFY_TOKEN=$KEY start_server SIM alloc-sim -s -j "$J"
	run curl -sS -H "Authorization: Bearer $KEY" -H 'Title: hello' \
	    -H 'Tags: a,b' --data-binary $'line 1\nline 2' \
	    "http://127.0.0.1:$SIM_PORT/my-topic"
	assert_success
	assert_output '{"id":"sim1","event":"message","topic":"my-topic"}'
	run curl -sS -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer x' \
	    -d x "http://127.0.0.1:$SIM_PORT/my-topic"
	assert_output 401
	run jq -c '[.method, .topic, .key, .status, .headers.title, .headers.tags, .headers.authorization, .body]' "$J"
	assert_output $'["POST","my-topic","ok",200,"hello","a,b",null,"line 1\\nline 2"]\n["POST","my-topic","bad",401,null,null,null,"x"]'
}

@test "sink mode applies the global fault" {
	printf 'fault: {status: 500, times: 1}\n' > "$BATS_TEST_TMPDIR/s.yaml"
	start_server SIM alloc-sim -s -f "$BATS_TEST_TMPDIR/s.yaml" -j "$J"
	run curl -s -o /dev/null -w '%{http_code}' -d a "http://127.0.0.1:$SIM_PORT/t"
	assert_output 500
	run curl -s -o /dev/null -w '%{http_code}' -d b "http://127.0.0.1:$SIM_PORT/t"
	assert_output 200
}

@test "scenario errors name the file and line: 78" {
	f=$BATS_TEST_TMPDIR/bad.yaml
	printf 'strategies:\n  a:\n    allocations: []\n    fault: {stauts: 500}\n' > "$f"
	run alloc-sim -f "$f"
	assert_failure 78
	assert_output "alloc-sim: $f:4: unknown fault key \"stauts\""
	printf 'strategies:\n  a:\n    fault:\n      status: 99\n' > "$f"
	run alloc-sim -f "$f"
	assert_failure 78
	assert_output --partial "$f:4: status: expected a whole number"
	printf 'strategies:\n  a:\n    allocations: x\n' > "$f"
	run alloc-sim -f "$f"
	assert_failure 78
	assert_output --partial "$f:3: allocations: expected a list"
	printf 'stratgies: {}\n' > "$f"
	run alloc-sim -f "$f"
	assert_failure 78
	assert_output --partial "$f:1: unknown key"
	printf 'strategies: [\n' > "$f"
	run alloc-sim -f "$f"
	assert_failure 78
	run alloc-sim -f /nonexistent.yaml
	assert_failure 78
}

@test "SIGTERM ends it cleanly with status 0" {
	start_server SIM alloc-sim -d "$D"
	kill -TERM "$SIM_PID"
	st=0
	wait "$SIM_PID" || st=$?
	SIM_PID=
	[ "$st" -eq 0 ]
}

@test "a TLS handshake gets a plain 400" {
	start_server SIM alloc-sim -d "$D" -j "$J"
	run curl -sS "https://127.0.0.1:$SIM_PORT/x/allocations"
	assert_failure 35
	[ ! -s "$J" ]
}

@test "usage" {
	run alloc-sim -h
	assert_success
	assert_output --partial 'usage: alloc-sim'
	run alloc-sim
	assert_failure 64
	run alloc-sim -d . -p 70000
	assert_failure 64
	run alloc-sim -d . extra
	assert_failure 64
}

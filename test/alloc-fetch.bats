#!/usr/bin/env bats
# alloc-fetch against alloc-sim: success, caching, every fault, validation,
# configuration, TLS, and the key never leaking.

load helper
bats_require_minimum_version 1.5.0

KEY=FAKEKEY-7e57-c0ffee-0123456789

setup() {
	export ALLOCATIONS_API_KEY=$KEY
	J=$BATS_TEST_TMPDIR/journal.ndjson
	S=$BATS_TEST_TMPDIR/scenario.yaml
}

teardown() {
	stop_server SIM
	[ -z "${TLS_PID:-}" ] || kill "$TLS_PID" 2>/dev/null || true
	# the key is never journaled nor printed by the sim
	if grep -rsF -- "$KEY" "$BATS_TEST_TMPDIR" --exclude=key \
	    --exclude=scenario.yaml; then
		echo "the key leaked" >&2
		return 1
	fi
}

# sim: start alloc-sim on the scenario in $S (written by the caller).
sim() {
	start_server SIM alloc-sim -f "$S" -j "$J"
	export ALLOCATIONS_BASE_URL=http://127.0.0.1:$SIM_PORT/api/v1/strategies
}

# one: a scenario with strategy s whose allocations are $1 and fault $2.
one() {
	printf 'strategies:\n  s:\n    allocations: %s\n' "$1" > "$S"
	[ -z "${2:-}" ] || printf '    fault: %s\n' "$2" >> "$S"
	sim
}

requests() {
	if [ -f "$J" ]; then wc -l < "$J"; else echo 0; fi
}

@test "adds allocations, one fetch per strategy, ticker accepted, fields kept" {
	cat > "$S" <<-'EOF'
	strategies:
	  etf-blend-200-35:
	    allocations:
	      - {symbol: SPY, allocation: 0.6}
	      - {ticker: TLT, allocation: 0.4}
	  other:
	    allocations: [{symbol: BRK.B, allocation: 1}]
	EOF
	sim
	printf '%s\n' \
	    '{"id":"m1","strategy":"etf-blend-200-35","exec":"rebalance","data":{"x":1}}' \
	    '{"id":"m2","strategy":"other"}' \
	    '{"id":"m3","strategy":"etf-blend-200-35","allocations":"old"}' \
	    > "$BATS_TEST_TMPDIR/in.ndjson"
	run --separate-stderr alloc-fetch "$BATS_TEST_TMPDIR/in.ndjson"
	assert_success
	[ "${#lines[@]}" -eq 3 ]
	run jq -c . <<<"${lines[0]}"
	assert_output '{"id":"m1","strategy":"etf-blend-200-35","exec":"rebalance","data":{"x":1},"allocations":[{"symbol":"SPY","weight":0.6},{"symbol":"TLT","weight":0.4}]}'
	run alloc-fetch "$BATS_TEST_TMPDIR/in.ndjson"
	run jq -sc 'map(.allocations)' <<<"$output"
	assert_output '[[{"symbol":"SPY","weight":0.6},{"symbol":"TLT","weight":0.4}],[{"symbol":"BRK.B","weight":1}],[{"symbol":"SPY","weight":0.6},{"symbol":"TLT","weight":0.4}]]'
	# two runs, two strategies each: four requests, all with the right key
	run jq -sc 'map([.strategy, .key, .status])' "$J"
	assert_output '[["etf-blend-200-35","ok",200],["other","ok",200],["etf-blend-200-35","ok",200],["other","ok",200]]'
	run jq -r .path "$J"
	assert_line --index 0 /api/v1/strategies/etf-blend-200-35/allocations
}

@test "-s fetches one strategy without input" {
	one '[{symbol: SPY, allocation: 1}]'
	run --separate-stderr alloc-fetch -s s </dev/null
	assert_success
	assert_output '{"strategy":"s","allocations":[{"symbol":"SPY","weight":1}]}'
	run alloc-fetch -s s extra-operand
	assert_failure 64
}

@test "a 500 then success within the retries" {
	one '[{symbol: SPY, allocation: 1}]' '{status: 500, times: 2}'
	run --separate-stderr alloc-fetch -s s
	assert_success
	assert_output '{"strategy":"s","allocations":[{"symbol":"SPY","weight":1}]}'
	[ "$(requests)" -eq 3 ]
	[[ $stderr == *"attempt 1 of 4: HTTP 500: simulated failure; retrying"* ]]
	[[ $stderr == *"attempt 2 of 4"* ]]
}

@test "500 forever: failed with 69 after 4 attempts, exit 1, others go on" {
	cat > "$S" <<-'EOF'
	strategies:
	  bad:
	    allocations: [{symbol: SPY, allocation: 1}]
	    fault: {status: 503}
	  good:
	    allocations: [{symbol: TLT, allocation: 1}]
	EOF
	sim
	run --separate-stderr alloc-fetch <<-'EOF'
	{"strategy":"bad","account":{"id":"DU1"}}
	{"strategy":"good"}
	{"strategy":"bad","account":{"id":"DU2"}}
	EOF
	assert_failure 1
	[[ $stderr == *"DU1: strategy bad: HTTP 503: simulated failure"* ]]
	run jq -c '[.status, .error.code, .error.tool, .allocations]' <<<"$output"
	assert_output $'["failed",69,"alloc-fetch",null]\n[null,null,null,[{"symbol":"TLT","weight":1}]]\n["failed",69,"alloc-fetch",null]'
	# 4 attempts then 1: bounded, and the failure is remembered within a run
	run jq -r .strategy "$J"
	[ "$(grep -c bad <<<"$output")" -eq 4 ]
	[ "$(grep -c good <<<"$output")" -eq 1 ]
}

@test "a server that never answers is a timeout: 75" {
	one '[{symbol: SPY, allocation: 1}]' '{hang: true}'
	run --separate-stderr alloc-fetch -t 0.5 <<<'{"strategy":"s"}'
	assert_failure 1
	run jq -c '[.status, .error.code]' <<<"$output"
	assert_output '["failed",75]'
	[[ $stderr == *"timed out"* ]]
	run jq -c '[.fault, .status]' "$J"
	assert_output '["hang",null]'
	run alloc-fetch -t 0.5 -s s
	assert_failure 75
}

@test "a delay longer than the deadline is a timeout; a shorter one is fine" {
	one '[{symbol: SPY, allocation: 1}]' '{delay_ms: 300}'
	run --separate-stderr alloc-fetch -t 0.1 -s s
	assert_failure 75
	run --separate-stderr alloc-fetch -t 30 -s s
	assert_success
	assert_output '{"strategy":"s","allocations":[{"symbol":"SPY","weight":1}]}'
	run jq -c '[.fault, .delay_ms, .status]' "$J"
	assert_output $'["delay",300,200]\n["delay",300,200]'
}

@test "malformed body and wrong schema are protocol errors: 76" {
	cat > "$S" <<-'EOF'
	strategies:
	  trunc:
	    allocations: [{symbol: SPY, allocation: 1}]
	    fault: {malformed: true}
	  schema:
	    allocations: [{symbol: SPY, allocation: 1}]
	    fault: {wrong_schema: true}
	  html:
	    body: '<html><body>Bad gateway</body></html>'
	  leaky:
	    body: '{"data": {"allocations": [1 "x"]}}'
	  noalloc:
	    allocations: [{symbol: SPY}]
	  nosym:
	    allocations: [{name: SPY, allocation: 1}]
	  strweight:
	    allocations: [{symbol: SPY, allocation: "0.5"}]
	  notsuccess:
	    response: {status: error, message: strategy suspended}
	EOF
	sim
	run --separate-stderr alloc-fetch <<-'EOF'
	{"strategy":"trunc"}
	{"strategy":"schema"}
	{"strategy":"html"}
	{"strategy":"noalloc"}
	{"strategy":"nosym"}
	{"strategy":"strweight"}
	{"strategy":"notsuccess"}
	{"strategy":"leaky"}
	EOF
	assert_failure 1
	run jq -r '"\(.strategy) \(.status) \(.error.code) \(.error.message)"' <<<"$output"
	assert_line --index 0 --partial 'trunc failed 76 strategy trunc: response is not JSON'
	assert_line --index 1 'schema failed 76 strategy schema: response has no list "data.allocations"'
	assert_line --index 2 --partial 'html failed 76 strategy html: response is not JSON'
	assert_line --index 3 'noalloc failed 76 strategy noalloc: data.allocations[0] (SPY) has no numeric "allocation"'
	assert_line --index 4 'nosym failed 76 strategy nosym: data.allocations[0] has no "symbol"'
	assert_line --index 5 --partial 'strweight failed 76'
	assert_line --index 6 'notsuccess failed 69 strategy notsuccess: response status "error": strategy suspended'
	# text libjq 1.6 leaks on (SANITIZE=1 would report the leak)
	assert_line --index 7 --partial 'leaky failed 76 strategy leaky: response is not JSON (Expected separator between values'
}

@test "weights outside 0..1 or summing over 1 fail the job: 65" {
	cat > "$S" <<-'EOF'
	strategies:
	  big:
	    allocations: [{symbol: SPY, allocation: 1.5}]
	  neg:
	    allocations: [{symbol: SPY, allocation: -0.1}, {symbol: TLT, allocation: 0.5}]
	  sum:
	    allocations: [{symbol: SPY, allocation: 0.7}, {symbol: TLT, allocation: 0.4}]
	  edge:
	    allocations: [{symbol: SPY, allocation: 0.3333333}, {symbol: TLT, allocation: 0.3333333}, {symbol: GLD, allocation: 0.3333334}]
	  percent:
	    allocations: [{symbol: SPY, allocation: 60}, {symbol: TLT, allocation: 40}]
	EOF
	sim
	run --separate-stderr alloc-fetch <<-'EOF'
	{"strategy":"big"}
	{"strategy":"neg"}
	{"strategy":"sum"}
	{"strategy":"edge"}
	{"strategy":"percent"}
	EOF
	assert_failure 1
	run jq -r '"\(.strategy) \(.status) \(.error.code) \(.error.message)"' <<<"$output"
	assert_line --index 0 'big failed 65 strategy big: data.allocations[0] (SPY): weight 1.5 outside 0..1'
	assert_line --index 1 'neg failed 65 strategy neg: data.allocations[0] (SPY): weight -0.1 outside 0..1'
	assert_line --index 2 'sum failed 65 strategy sum: weights sum to 1.1, more than 1'
	assert_line --index 3 'edge null null null'
	assert_line --index 4 --partial 'percent failed 65'
}

@test "duplicate, malformed and missing symbols, empty list: 65" {
	cat > "$S" <<-'EOF'
	strategies:
	  dup:
	    allocations: [{symbol: SPY, allocation: 0.5}, {ticker: SPY, allocation: 0.5}]
	  lower:
	    allocations: [{symbol: spy, allocation: 1}]
	  long:
	    allocations: [{symbol: ABCDEFGHIJKLM, allocation: 1}]
	  space:
	    allocations: [{symbol: "BRK B", allocation: 1}]
	  empty:
	    allocations: []
	EOF
	sim
	run --separate-stderr alloc-fetch <<-'EOF'
	{"strategy":"dup"}
	{"strategy":"lower"}
	{"strategy":"long"}
	{"strategy":"space"}
	{"strategy":"empty"}
	EOF
	assert_failure 1
	run jq -r '"\(.strategy) \(.error.code) \(.error.message)"' <<<"$output"
	assert_line --index 0 'dup 65 strategy dup: data.allocations[1]: duplicate symbol SPY'
	assert_line --index 1 --partial 'lower 65 strategy lower: data.allocations[0]: bad symbol "spy"'
	assert_line --index 2 --partial 'long 65'
	assert_line --index 3 --partial 'space 65'
	assert_line --index 4 'empty 65 strategy empty: empty allocation list'
}

@test "ticker wins over symbol when both are given" {
	one '[{symbol: BRK B, ticker: BRK.B, allocation: 1}]'
	run alloc-fetch -s s
	assert_success
	assert_output '{"strategy":"s","allocations":[{"symbol":"BRK.B","weight":1}]}'
}

@test "a bad key is 77 with the server's message and no retry" {
	one '[{symbol: SPY, allocation: 1}]'
	ALLOCATIONS_API_KEY=wrong-key run --separate-stderr alloc-fetch -s s
	assert_failure 77
	run jq -r .error.message <<<"$output"
	assert_output 'strategy s: HTTP 401: invalid API key'
	run jq -c '[.key, .status]' "$J"
	assert_output '["bad",401]'
}

@test "a 403 whose body echoes the key: the key is masked everywhere" {
	cat > "$S" <<-EOF
	strategies:
	  s:
	    allocations: [{symbol: SPY, allocation: 1}]
	    fault: {status: 403, body: '{"message":"key $KEY is revoked"}'}
	  t:
	    allocations: [{symbol: SPY, allocation: 1}]
	    fault: {status: 502, times: 1, body: 'upstream said $KEY'}
	EOF
	sim
	run alloc-fetch -s s
	assert_failure 77
	refute_output --partial "$KEY"
	assert_output --partial 'is revoked'
	assert_output --partial 'key ****'
	run alloc-fetch -s t
	assert_success
	refute_output --partial "$KEY"
	assert_output --partial 'upstream said ****'
}

@test "unknown strategy: 404 is 69; bad strategy name makes no request" {
	one '[{symbol: SPY, allocation: 1}]'
	run --separate-stderr alloc-fetch <<-'EOF'
	{"strategy":"nope"}
	{"strategy":"../etc/passwd"}
	{"strategy":42}
	{"strategy":"s","status":"failed","error":{"code":1}}
	{"strategy":"s","status":"skipped"}
	EOF
	assert_failure 1
	run jq -c '[.status, .error.code]' <<<"$output"
	assert_output $'["failed",69]\n["failed",65]\n["failed",65]\n["failed",1]\n["skipped",null]'
	run jq -r .strategy "$J"
	assert_output nope
}

@test "connection refused: retried, then 69" {
	one '[{symbol: SPY, allocation: 1}]'
	stop_server SIM
	run --separate-stderr alloc-fetch -s s
	assert_failure 69
	run jq -r .error.message <<<"$output"
	assert_output --partial 'strategy s: connection failed:'
	[[ $stderr == *"attempt 3 of 4"* ]]
}

@test "-f reshapes another provider's answer with jq" {
	cat > "$S" <<-'EOF'
	strategies:
	  s:
	    response: {weights: {SPY: 60, TLT: 40}}
	  t:
	    response: {weights: 7}
	EOF
	sim
	f='{status: "success", data: {allocations: (.weights | to_entries |
	    map({ticker: .key, allocation: (.value / 100)}))}}'
	run --separate-stderr alloc-fetch -f "$f" -s s
	assert_success
	assert_output '{"strategy":"s","allocations":[{"symbol":"SPY","weight":0.6},{"symbol":"TLT","weight":0.4}]}'
	run --separate-stderr alloc-fetch -f "$f" -s t
	assert_failure 76
	run jq -r .error.message <<<"$output"
	assert_output --partial 'strategy t: -f filter: '
	run --separate-stderr alloc-fetch -f '.weights[]' -s s
	assert_failure 76
	run jq -r .error.message <<<"$output"
	assert_output 'strategy s: -f filter gave 2 results, not one'
	run --separate-stderr alloc-fetch -f 'empty' -s s
	assert_failure 76
	run alloc-fetch -f '{' -s s
	assert_failure 64
}

@test "the key can come from ALLOCATIONS_API_KEY_FILE" {
	one '[{symbol: SPY, allocation: 1}]'
	printf '%s\n' "$KEY" > "$BATS_TEST_TMPDIR/key"
	ALLOCATIONS_API_KEY= ALLOCATIONS_API_KEY_FILE=$BATS_TEST_TMPDIR/key \
	    run alloc-fetch -s s
	assert_success
	run jq -r .key "$J"
	assert_output ok
}

@test "configuration errors: 78" {
	ALLOCATIONS_API_KEY= run alloc-fetch -s s
	assert_failure 78
	assert_output --partial 'ALLOCATIONS_API_KEY'
	ALLOCATIONS_API_KEY= ALLOCATIONS_API_KEY_FILE=/nonexistent run alloc-fetch -s s
	assert_failure 78
	ALLOCATIONS_BASE_URL=http://example.com/api run alloc-fetch -s s
	assert_failure 78
	assert_output --partial 'plain http is allowed only to a loopback address'
	ALLOCATIONS_BASE_URL=ftp://127.0.0.1/x run alloc-fetch -s s
	assert_failure 78
	ALLOCATIONS_BASE_URL='not a url' run alloc-fetch -s s
	assert_failure 78
}

@test "TLS: a self-signed certificate is refused, not retried: 69" {
	command -v openssl >/dev/null || skip "openssl not installed"
	cd "$BATS_TEST_TMPDIR"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout tls.key -out tls.crt \
	    -days 1 -subj /CN=localhost \
	    -addext subjectAltName=IP:127.0.0.1,DNS:localhost 2>/dev/null
	openssl s_server -accept 127.0.0.1:0 -cert tls.crt -key tls.key -www \
	    -naccept 1 >tls.out 2>&1 &
	TLS_PID=$!
	wait_for 10 grep -q '^ACCEPT' tls.out
	port=$(sed -n 's/^ACCEPT .*://p' tls.out)
	[ -n "$port" ]
	ALLOCATIONS_BASE_URL=https://127.0.0.1:$port run --separate-stderr alloc-fetch -s s
	assert_failure 69
	run jq -r .error.message <<<"$output"
	assert_output --partial 'TLS failure: SSL certificate problem: self-signed certificate'
	[[ $stderr != *attempt* ]]
}

@test "TLS: https to a plain http server fails at once: 69" {
	one '[{symbol: SPY, allocation: 1}]'
	ALLOCATIONS_BASE_URL=https://127.0.0.1:$SIM_PORT run alloc-fetch -s s
	assert_failure 69
	assert_output --partial 'TLS failure'
}

@test "bad input lines are reported and skipped: 65" {
	one '[{symbol: SPY, allocation: 1}]'
	run --separate-stderr alloc-fetch <<-'EOF'
	{"strategy":"s"}
	not json
	[1,2]
	{"strategy":"s"}
	EOF
	assert_failure 65
	[ "${#lines[@]}" -eq 2 ]
	[[ $stderr == *"<stdin>:2:"* ]]
	[[ $stderr == *"<stdin>:3: expected a JSON object"* ]]
}

@test "usage" {
	run alloc-fetch -h
	assert_success
	assert_output --partial 'usage: alloc-fetch'
	run alloc-fetch -x
	assert_failure 64
	run alloc-fetch -t 0 -s s
	assert_failure 64
}

@test "a write error on stdout is 74" {
	one '[{symbol: SPY, allocation: 1}]'
	[ -w /dev/full ] || skip "no /dev/full"
	run sh -c 'alloc-fetch -s s > /dev/full'
	assert_failure 74
}

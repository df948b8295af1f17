#!/usr/bin/env bats
# alloc-replace: replacement sets applied to a job's allocations (upstream.md
# section 1.4), validation of replacement-sets.yaml, bad input.

load helper
bats_require_minimum_version 1.5.0

setup() {
	cd "$DATA"
}

# job ID SET ALLOCATIONS-JSON: one job line
job() {
	printf '{"id":"%s","account":{"id":"DU3456789","replacement_set":"%s"},"allocations":%s}\n' "$1" "$2" "$3"
}

# replace [OPTIONS]: alloc-replace with the fixture sets, allocations only
allocs() {
	alloc-replace -f replace-sets.yaml "$@" | jq -c .allocations
}

@test "golden: every case of the fixture, exit 1 for the failed jobs" {
	run --separate-stderr alloc-replace -f replace-sets.yaml replace-jobs.ndjson
	[ "$status" -eq 1 ]
	assert_output "$(cat replace-jobs.expected)"
	[ "$stderr" = "alloc-replace: DU3456789: replacement set 'ira' adds 0.45 of weight but the other symbols hold only 0.1; they keep 0.1 of their weight and the list is renormalised
alloc-replace: DU3456789: weights sum to 1.36 after replacement set 'ira'; renormalised to 1
alloc-replace: DU3456789: weights sum to 0.7 after replacement set 'lever'; renormalised to 1
alloc-replace: DU1234567: replacement set 'roth' is not in replace-sets.yaml
alloc-replace: DU3456789: allocations: missing
alloc-replace: DU3456789: allocations[0]: expected {\"symbol\", \"weight\" >= 0}
alloc-replace: DU3456789: replacement set 'ira' adds 0.5 of weight and no other symbol can give it up; the list is renormalised
alloc-replace: DU3456789: weights sum to 1.5 after replacement set 'ira'; renormalised to 1" ]
}

@test "UVXY at scale 1.5: 0.2 becomes 0.3 VXX, the others give up 0.1 pro rata" {
	run --separate-stderr allocs <<<"$(job a ira '[{"symbol":"SPY","weight":0.5},{"symbol":"UVXY","weight":0.2},{"symbol":"TLT","weight":0.3}]')"
	assert_success
	assert_output '[{"symbol":"SPY","weight":0.4375},{"symbol":"VXX","weight":0.3},{"symbol":"TLT","weight":0.2625}]'
}

@test "the original list is kept, the rest of the job untouched" {
	in=$(job a ira '[{"symbol":"SPY","weight":0.5},{"symbol":"UVXY","weight":0.2},{"symbol":"TLT","weight":0.3}]' | jq -c '.x = {"n":[1,{"m":null}]}')
	run --separate-stderr alloc-replace -f replace-sets.yaml <<<"$in"
	assert_success
	[ "$(jq -c .allocations_original <<<"$output")" = "$(jq -c .allocations <<<"$in")" ]
	[ "$(jq -c 'del(.allocations, .allocations_original)' <<<"$output")" = "$(jq -c 'del(.allocations)' <<<"$in")" ]
	[ -z "$stderr" ]
	[ "$(jq -c .warnings <<<"$output")" = null ]
}

@test "two sources to one target are merged, at the first's place" {
	run --separate-stderr allocs <<<"$(job a ira '[{"symbol":"TLT","weight":0.6},{"symbol":"VIXY","weight":0.2},{"symbol":"UVXY","weight":0.2}]')"
	assert_success
	assert_output '[{"symbol":"TLT","weight":0.5},{"symbol":"VXX","weight":0.5}]'
}

@test "a target the strategy already holds is merged and counts as replaced" {
	run --separate-stderr allocs <<<"$(job a ira '[{"symbol":"VXX","weight":0.1},{"symbol":"UVXY","weight":0.2},{"symbol":"GLD","weight":0.3},{"symbol":"TLT","weight":0.4}]')"
	assert_success
	# excess 0.1 comes out of GLD and TLT (0.7 -> 0.6), not out of VXX
	assert_output '[{"symbol":"VXX","weight":0.4},{"symbol":"GLD","weight":0.2571428571},{"symbol":"TLT","weight":0.3428571429}]'
}

@test "excess larger than the non-replaced weight: floor, warning, renormalised" {
	run --separate-stderr alloc-replace -f replace-sets.yaml <<<"$(job f ira '[{"symbol":"UVXY","weight":0.9},{"symbol":"TLT","weight":0.1}]')"
	assert_success
	# TLT keeps 0.1 of 0.1; 1.35 VXX + 0.01 TLT = 1.36 is scaled back to 1
	[ "$(jq -c .allocations <<<"$output")" = '[{"symbol":"VXX","weight":0.9926470588},{"symbol":"TLT","weight":0.0073529412}]' ]
	[ "$(jq '.warnings | length' <<<"$output")" -eq 2 ]
	[[ $(jq -r '.warnings[0]' <<<"$output") == "replacement set 'ira' adds 0.45 of weight but the other symbols hold only 0.1; they keep 0.1 of their weight"* ]]
	[ "${#stderr_lines[@]}" -eq 2 ]
	[[ ${stderr_lines[0]} == "alloc-replace: DU3456789: replacement set 'ira' adds 0.45"* ]]
}

@test "-l sets the floor of the non-replaced symbols" {
	run --separate-stderr allocs -l 0.5 <<<"$(job f ira '[{"symbol":"UVXY","weight":0.9},{"symbol":"TLT","weight":0.1}]')"
	assert_success
	# TLT keeps 0.05: 1.35 / 1.4 and 0.05 / 1.4
	assert_output '[{"symbol":"VXX","weight":0.9642857143},{"symbol":"TLT","weight":0.0357142857}]'
}

@test "renormalisation: -t decides when, -T when it is worth a warning" {
	in=$(job f ira '[{"symbol":"UVXY","weight":0.9},{"symbol":"TLT","weight":0.1}]')
	run --separate-stderr allocs -t 0.5 <<<"$in"
	assert_success
	assert_output '[{"symbol":"VXX","weight":1.35},{"symbol":"TLT","weight":0.01}]'
	run --separate-stderr alloc-replace -f replace-sets.yaml -T 0.5 <<<"$in"
	assert_success
	[ "$(jq '.warnings | length' <<<"$output")" -eq 1 ]
	[ "$(jq '[.allocations[].weight] | add' <<<"$output")" = 1 ]
}

@test "a strategy that holds cash keeps it; -U renormalises to 1 like upstream" {
	in=$(job c ira '[{"symbol":"SPY","weight":0.45},{"symbol":"DBC","weight":0.45}]')
	run --separate-stderr allocs <<<"$in"
	assert_success
	assert_output '[{"symbol":"SPY","weight":0.45},{"symbol":"PDBC","weight":0.45}]'
	[ -z "$stderr" ]
	run --separate-stderr alloc-replace -f replace-sets.yaml -U <<<"$in"
	assert_success
	[ "$(jq -c .allocations <<<"$output")" = '[{"symbol":"SPY","weight":0.5},{"symbol":"PDBC","weight":0.5}]' ]
	[ "$stderr" = "alloc-replace: DU3456789: weights sum to 0.9 after replacement set 'ira'; renormalised to 1" ]
}

@test "a cash-holding strategy with a scaled source keeps its invested share" {
	run --separate-stderr allocs <<<"$(job c ira '[{"symbol":"SPY","weight":0.5},{"symbol":"UVXY","weight":0.2},{"symbol":"TLT","weight":0.2}]')"
	assert_success
	# excess 0.1 from SPY and TLT (0.7 -> 0.6); the sum stays 0.9
	assert_output '[{"symbol":"SPY","weight":0.4285714286},{"symbol":"VXX","weight":0.3},{"symbol":"TLT","weight":0.1714285714}]'
}

@test "a scale below 1 frees weight, which renormalisation spreads" {
	run --separate-stderr allocs <<<"$(job s lever '[{"symbol":"SPY","weight":0.6},{"symbol":"TLT","weight":0.4}]')"
	assert_success
	assert_output '[{"symbol":"SSO","weight":0.4285714286},{"symbol":"TLT","weight":0.5714285714}]'
}

@test "rules apply once: a target is not replaced again; symbols match exactly" {
	cat >"$BATS_TEST_TMPDIR/chain.yaml" <<-'EOF'
	chain:
	  - {source: AAA, target: BBB}
	  - {source: BBB, target: CCC}
	EOF
	run --separate-stderr alloc-replace -f "$BATS_TEST_TMPDIR/chain.yaml" <<<"$(job x chain '[{"symbol":"AAA","weight":0.5},{"symbol":"bbb","weight":0.5}]')"
	assert_success
	[ "$(jq -c .allocations <<<"$output")" = '[{"symbol":"BBB","weight":0.5},{"symbol":"bbb","weight":0.5}]' ]
}

@test "running twice changes nothing; allocations fetched again are new input" {
	run --separate-stderr alloc-replace -f replace-sets.yaml replace-jobs.ndjson
	once=$output
	run --separate-stderr alloc-replace -f replace-sets.yaml <<<"$once"
	[ "$status" -eq 0 ]	# the failed jobs now pass through
	[ -z "$stderr" ]	# and no warning is repeated
	assert_output "$once"
	# the "rerun" line of the fixture is such a job; "refetched" has new
	# allocations beside an old original
	[ "$(grep '"id":"rerun"' replace-jobs.ndjson)" = "$(grep '"id":"rerun"' replace-jobs.expected)" ]
	[ "$(jq -c 'select(.id=="refetched") | [.allocations, .allocations_original]' <<<"$once")" = '[[{"symbol":"PDBC","weight":1}],[{"symbol":"DBC","weight":1}]]' ]
}

@test "no set, a failed or deferred job: passed through byte for byte" {
	in='{"id":"n","account":{"id":"DU1","replacement_set":null},"allocations":[{"symbol":"UVXY","weight":1.0}],"z":1}
{"id":"e","account":{"id":"DU1","replacement_set":""},"allocations":[{"symbol":"UVXY","weight":1}]}
{"id":"m","allocations":[{"symbol":"UVXY","weight":1}]}
{"id":"d","account":{"id":"DU1","replacement_set":"nope"},"status":"deferred","defer_until":"2026-01-05T14:30:00Z"}
{"id":"f","account":{"id":"DU1","replacement_set":"nope"},"status":"failed","error":{"code":69,"message":"x","tool":"y"}}'
	run --separate-stderr alloc-replace -f replace-sets.yaml <<<"$in"
	assert_success
	[ -z "$stderr" ]
	[ "$(jq -c . <<<"$output")" = "$(jq -c . <<<"$in")" ]
}

@test "an unknown set fails the job with 78 instead of trading the originals" {
	run --separate-stderr alloc-replace -f replace-sets.yaml <<<"$(job u roth '[{"symbol":"UVXY","weight":1}]')"
	[ "$status" -eq 1 ]
	[ "$(jq -c '[.status, .error.code, .error.tool, .allocations]' <<<"$output")" = '["failed",78,"alloc-replace",[{"symbol":"UVXY","weight":1}]]' ]
	[ "$stderr" = "alloc-replace: DU3456789: replacement set 'roth' is not in replace-sets.yaml" ]
}

@test "bad allocations fail the job with 65; the next job goes on" {
	run --separate-stderr alloc-replace -f replace-sets.yaml <<-EOF
	$(job a ira '[{"symbol":"SPY"}]')
	$(job b ira '[{"symbol":"","weight":1}]')
	$(job c ira '{"SPY":1}')
	{"id":"d","account":{"id":"DU3456789","replacement_set":7},"allocations":[]}
	$(job e ira '[{"symbol":"DBC","weight":1}]')
	EOF
	[ "$status" -eq 1 ]
	[ "$(jq -c '[.id, .status, .error.code]' <<<"$output" | paste -sd' ')" = '["a","failed",65] ["b","failed",65] ["c","failed",65] ["d","failed",65] ["e",null,null]' ]
	[ "$(jq -c 'select(.id=="e") | .allocations' <<<"$output")" = '[{"symbol":"PDBC","weight":1}]' ]
}

@test "the default file is ./replacement-sets.yaml; when it is missing no set exists" {
	cd "$BATS_TEST_TMPDIR"
	in=$(job a ira '[{"symbol":"DBC","weight":1}]')
	run --separate-stderr alloc-replace <<<"$in"
	[ "$status" -eq 1 ]
	[ "$stderr" = "alloc-replace: DU3456789: replacement set 'ira' is not in replacement-sets.yaml (no such file)" ]
	run --separate-stderr alloc-replace <<<'{"id":"n","allocations":[]}'
	assert_success
	cp "$TOP/examples/replacement-sets.yaml" .
	run --separate-stderr alloc-replace <<<"$in"
	assert_success
	[ "$(jq -c .allocations <<<"$output")" = '[{"symbol":"PDBC","weight":1}]' ]
}

@test "a file given with -f must exist: 78" {
	run --separate-stderr alloc-replace -f "$BATS_TEST_TMPDIR/none.yaml" </dev/null
	[ "$status" -eq 78 ]
	[ "$stderr" = "alloc-replace: $BATS_TEST_TMPDIR/none.yaml: No such file or directory" ]
}

@test "validation: every problem with file:line, 78 before any job is read" {
	run --separate-stderr alloc-replace -f replace-bad.yaml <<<"$(job a ira '[{"symbol":"DBC","weight":1}]')"
	[ "$status" -eq 78 ]
	[ -z "$output" ]
	[ "$stderr" = "alloc-replace: replace-bad.yaml:2: unknown key 'note' ignored
alloc-replace: replace-bad.yaml:3: scale: expected a number above 0 and at most 10, got 0
alloc-replace: replace-bad.yaml:4: source: missing
alloc-replace: replace-bad.yaml:5: target: expected a symbol, got \"V X X\"
alloc-replace: replace-bad.yaml:6: source: 'DBC' is also replaced at line 2
alloc-replace: replace-bad.yaml:9: scale: expected a number above 0 and at most 10, got \"fifteen\"
alloc-replace: replace-bad.yaml:10: roth: expected a list of rules, got \"PDBC\"" ]
}

@test "validation: unknown keys alone are warnings; the top level must be a mapping" {
	printf 'ira:\n  - {source: DBC, target: PDBC, scael: 2}\n' >"$BATS_TEST_TMPDIR/w.yaml"
	run --separate-stderr alloc-replace -f "$BATS_TEST_TMPDIR/w.yaml" <<<"$(job a ira '[{"symbol":"DBC","weight":1}]')"
	assert_success
	[ "$stderr" = "alloc-replace: $BATS_TEST_TMPDIR/w.yaml:2: unknown key 'scael' ignored" ]
	[ "$(jq -c .allocations <<<"$output")" = '[{"symbol":"PDBC","weight":1}]' ]
	printf -- '- {source: DBC, target: PDBC}\n' >"$BATS_TEST_TMPDIR/l.yaml"
	run --separate-stderr alloc-replace -f "$BATS_TEST_TMPDIR/l.yaml" </dev/null
	[ "$status" -eq 78 ]
	[ "$stderr" = "alloc-replace: $BATS_TEST_TMPDIR/l.yaml:1: expected a mapping of set names to lists of rules, got [{\"source\":\"DBC\",\"target\":\"PDBC\"}]" ]
}

@test "malformed YAML: 78 with file:line" {
	printf 'ira:\n  - {source: DBC, target: PDBC\n' >"$BATS_TEST_TMPDIR/broken.yaml"
	run --separate-stderr alloc-replace -f "$BATS_TEST_TMPDIR/broken.yaml" </dev/null
	[ "$status" -eq 78 ]
	[[ $stderr == "alloc-replace: $BATS_TEST_TMPDIR/broken.yaml:3: "* ]]
}

@test "malformed NDJSON: 65 with <stdin>:N:, the other lines go on" {
	run --separate-stderr alloc-replace -f replace-sets.yaml <<-EOF
	$(job a ira '[{"symbol":"DBC","weight":1}]')
	{"id":
	$(job c ira '[{"symbol":"UUP","weight":1}]')
	EOF
	[ "$status" -eq 65 ]
	[ "$(jq -r .id <<<"$output" | paste -sd,)" = a,c ]
	[[ $stderr == "alloc-replace: <stdin>:2: "* ]]
}

@test "usage: -h to stdout, bad options and values 64" {
	run --separate-stderr alloc-replace -h
	assert_success
	[[ $output == "usage: alloc-replace "* ]]
	run alloc-replace -q
	[ "$status" -eq 64 ]
	run --separate-stderr alloc-replace -l 2 </dev/null
	[ "$status" -eq 64 ]
	[[ $stderr == "alloc-replace: -l: invalid number '2'"* ]]
	run alloc-replace -t x </dev/null
	[ "$status" -eq 64 ]
}

@test "stdout to /dev/full is 74" {
	run sh -c 'alloc-replace -f replace-sets.yaml replace-jobs.ndjson >/dev/full'
	[ "$status" -eq 74 ]
}

@test "examples: rebal-accounts -j | alloc-replace replaces for the IRA only" {
	ev='{"id":"e1","strategy":"etf-blend-101-15","exec":"print-rebalance","allocations":[{"symbol":"SPY","weight":0.5},{"symbol":"UVXY","weight":0.2},{"symbol":"DBC","weight":0.3}]}'
	run --separate-stderr sh -c "rebal-accounts -j -m paper -f '$TOP/examples/accounts.yaml' | alloc-replace -f '$TOP/examples/replacement-sets.yaml'" <<<"$ev"
	assert_success
	[ "${#lines[@]}" -eq 2 ]
	[ "$(jq -c 'select(.account.replacement_set == "ira") | .allocations' <<<"$output")" = '[{"symbol":"SPY","weight":0.4},{"symbol":"VXX","weight":0.3},{"symbol":"PDBC","weight":0.3}]' ]
	[ "$(jq -c 'select(.account.replacement_set == null) | [.allocations == ($e | .allocations), has("allocations_original")]' --argjson e "$ev" <<<"$output")" = '[true,false]' ]
}

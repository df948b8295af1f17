#!/usr/bin/env bats
# rebal-sum: summary lines of jobs, and -s for scripts.
load helper

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# the summary as rebal-account made it with jq before rebal-sum
JQ='(.status // "ok") as $s
    | (if $s == "ok" or $s == "deferred" or $s == "skipped" then $s
       else "failed" end) as $st
    | {account_id: (.account.id // .account_id), strategy, exec,
       event: (.id // .event_id), status: $st, error, defer_until, reason,
       planned: ([.plan.orders[]?] | length),
       filled: ([.executions[]? | select((.filled // 0) > 0)] | length),
       run: $r}'

@test "one line per job, the same as jq makes it" {
	cat > in <<-'EOF'
	{"id":"m1","event_id":"e1","strategy":"s","exec":"rebalance","account":{"id":"DU1"},"plan":{"orders":[{"symbol":"A"},{"symbol":"B"}]},"executions":[{"filled":3},{"filled":0},{"status":"Cancelled"}]}
	{"event_id":"e2","exec":"rebalance","account_id":"DU2","status":"deferred","defer_until":"2026-11-24T14:35:00Z","reason":"market closed (GLD)"}
	{"id":"m3","account":{"id":"DU3"},"status":"failed","error":{"code":75,"message":"it's \"late\"\n","tool":"ib-order"},"plan":{"orders":{"a":1}}}
	{"id":"m4","account":{"id":"DU4"},"status":"weird"}
	{"id":7,"account":{"id":1234},"status":false,"strategy":{"x":[1.5,1e300]}}
	{}
	EOF
	run rebal-sum -r /state/runs/r1 in
	assert_success
	assert_output "$(jq -c --arg r /state/runs/r1 "$JQ" in)"
	assert_equal "$(sed -n 1p <<<"$output")" \
	    '{"account_id":"DU1","strategy":"s","exec":"rebalance","event":"m1","status":"ok","error":null,"defer_until":null,"reason":null,"planned":2,"filled":1,"run":"/state/runs/r1"}'
	# without -r, run is null
	run rebal-sum in
	assert_equal "$(jq -s -c 'map(.run) | unique' <<<"$output")" '[null]'
}

@test "-s: sh assignments of one job, null unset, quotes kept" {
	printf '%s\n' '{"id":"m'"'"'1","strategy":"it'"'"'s","exec":"rebalance","account":{"id":"DU1","order_type":"moc"},"status":"failed","error":{"code":1,"message":"a\nb"}}' > job.json
	run rebal-sum -s -r /r job.json
	assert_success
	assert_equal "$(sed -n 1,6p <<<"$output")" "account_id='DU1'
strategy='it'\\''s'
exec='rebalance'
event='m'\\''1'
status='failed'
order_type='moc'"
	account_id=x order_type=y event=z
	eval "$output"
	assert_equal "$strategy" "it's"
	assert_equal "$summary" "$(rebal-sum -r /r job.json)"
	# a field the job lacks is unset, not left as it was
	printf '%s\n' '{"account":{"id":"DU2"}}' > j2.json
	eval "$(rebal-sum -s j2.json)"
	assert_equal "${order_type-unset} ${event-unset} ${exec-unset} $status" "unset unset unset ok"
}

@test "-s wants exactly one job: none, two or a bad line print nothing and exit 65" {
	printf '{"account":{"id":"DU1"}}\n{"account":{"id":"DU2"}}\n' > two
	run --separate-stderr rebal-sum -s two
	assert_equal "$status" 65
	assert_output ""
	assert_equal "$stderr" "rebal-sum: -s: expected exactly one job, got 2"
	run --separate-stderr rebal-sum -s /dev/null
	assert_equal "$status" 65
	assert_output ""
	printf '[1]\n' > bad
	run --separate-stderr rebal-sum -s bad
	assert_equal "$status" 65
	assert_output ""
	assert_equal "$stderr" "rebal-sum: bad:1: expected a JSON object, got array"
}

@test "bad input is skipped with its line, write errors and usage" {
	printf '{"account":{"id":"DU1"}}\nnope\n{"account":{"id":"DU2"}}\n' > in
	run --separate-stderr rebal-sum in
	assert_equal "$status" 65
	assert_equal "$(jq -r .account_id <<<"$output" | tr '\n' ' ')" "DU1 DU2 "
	[[ "$stderr" == "rebal-sum: in:2: "* ]]
	run rebal-sum missing
	assert_equal "$status" 66
	run sh -c 'echo "{}" | rebal-sum >/dev/full'
	assert_equal "$status" 74
	run sh -c 'echo "{}" | rebal-sum -s >/dev/full'
	assert_equal "$status" 74
	run rebal-sum -h
	assert_success
	assert_output --partial "usage: rebal-sum"
	run rebal-sum -x
	assert_equal "$status" 64
}

@test "-w keeps the line of a finished job, atomically, and only of one" {
	echo '{"id":"e1","account":{"id":"DU1"},"status":"skipped"}' > ok
	run --separate-stderr rebal-sum -s -r /r -w fin/e1/DU1.json ok
	assert_success
	assert_equal "$(cat fin/e1/DU1.json)" "$(rebal-sum -r /r ok)"
	assert_equal "$(stat -c %a fin/e1 fin/e1/DU1.json | tr '\n' ' ')" "700 600 "
	assert_equal "$(ls -A fin/e1)" "DU1.json"
	# deferred and failed jobs are not finished: nothing written
	for s in deferred failed; do
		echo '{"account":{"id":"DU2"},"status":"'$s'"}' > j
		run rebal-sum -s -w fin/x/DU2.json j
		assert_success
		[ ! -e fin/x/DU2.json ]
	done
	# a file that cannot be written is a warning; the assignments still come
	run --separate-stderr rebal-sum -s -w /dev/null/x/DU1.json ok
	assert_success
	assert_line "status='skipped'"
	assert_equal "$stderr" "rebal-sum: /dev/null/x/DU1.json: cannot record the finished job: Not a directory"
	# bad input writes nothing; -w without -s is a usage error
	run rebal-sum -s -w fin/y.json missing
	assert_equal "$status" 66
	[ ! -e fin/y.json ]
	run rebal-sum -w fin/z.json ok
	assert_equal "$status" 64
}

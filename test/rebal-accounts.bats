#!/usr/bin/env bats
# rebal-accounts: accounts.yaml to account records, filters, client ids,
# validation with file:line, and the -j fan-out of events to jobs.

load helper
bats_require_minimum_version 1.5.0

setup() {
	unset TRADING_MODE
	cd "$DATA"
}

# yaml FILE: write the heredoc on stdin to $BATS_TEST_TMPDIR/FILE
yaml() {
	cat >"$BATS_TEST_TMPDIR/$1"
}

@test "golden: enabled paper accounts by default, in file order" {
	run --separate-stderr rebal-accounts -f accounts-good.yaml
	assert_success
	assert_output "$(cat accounts-good.expected)"
	[ -z "$stderr" ]
}

@test "golden: -A -m all lists every account with its defaults" {
	run --separate-stderr rebal-accounts -A -m all -f accounts-good.yaml
	assert_success
	assert_output "$(cat accounts-good-all.expected)"
}

@test "defaults: enabled, reserve 0, no set, no PDT, market orders" {
	run rebal-accounts -f accounts-good.yaml -a DU1234567
	assert_success
	assert_output '{"id":"DU1234567","type":"paper","strategy":"etf-blend-200-35","enabled":true,"cash_reserve_percent":0,"replacement_set":null,"pdt_protection":false,"order_type":"market","client_id":1234567}'
}

@test "mode: TRADING_MODE selects the type, -m overrides it" {
	TRADING_MODE=live run rebal-accounts -f accounts-good.yaml
	assert_success
	assert_output "$(grep U21240574 accounts-good-all.expected)"
	TRADING_MODE=live run rebal-accounts -f accounts-good.yaml -m paper
	assert_success
	assert_output "$(cat accounts-good.expected)"
	TRADING_MODE= run rebal-accounts -f accounts-good.yaml
	assert_output "$(cat accounts-good.expected)"
	run rebal-accounts -f accounts-good.yaml -m all
	assert_success
	[ "${#lines[@]}" -eq 5 ]
}

@test "mode: a bad TRADING_MODE is a configuration error, a bad -m a usage error" {
	TRADING_MODE=Live run --separate-stderr rebal-accounts -f accounts-good.yaml
	[ "$status" -eq 78 ]
	[ -z "$output" ]
	[ "$stderr" = "rebal-accounts: TRADING_MODE: expected paper or live, got 'Live'" ]
	run --separate-stderr rebal-accounts -f accounts-good.yaml -m demo
	[ "$status" -eq 64 ]
	[ "$stderr" = "rebal-accounts: -m: expected paper, live or all, got 'demo'" ]
}

@test "filters: -s strategy, -a account (repeatable, any case)" {
	run rebal-accounts -f accounts-good.yaml -s etf-blend-101-15
	assert_success
	[ "$(jq -r .id <<<"$output" | paste -sd,)" = DU3456789,DUM959247 ]
	run rebal-accounts -f accounts-good.yaml -a du2345678 -a DUM959247
	assert_success
	[ "$(jq -r .id <<<"$output" | paste -sd,)" = DU2345678,DUM959247 ]
	run rebal-accounts -f accounts-good.yaml -s etf-blend-200-35 -s etf-blend-101-15 -m all
	[ "$(jq -r .id <<<"$output" | paste -sd,)" = DU1234567,DU2345678,DU3456789,DUM959247,U21240574 ]
}

@test "filters: an account named by -a that is not selected says why, exit 1" {
	run --separate-stderr rebal-accounts -f accounts-good.yaml -a DU4567890 -a DU9999999 -a U21240574 -a DU1234567
	[ "$status" -eq 1 ]
	assert_output "$(grep DU1234567 accounts-good.expected)"
	[ "$stderr" = "rebal-accounts: DU4567890: is disabled
rebal-accounts: DU9999999: no such account in accounts-good.yaml
rebal-accounts: U21240574: is a live account; the mode is paper" ]
	run rebal-accounts -f accounts-good.yaml -A -a DU4567890
	assert_success
	[ "$(jq -r .enabled <<<"$output")" = false ]
}

@test "client ids: digits of the account id, explicit client_id wins" {
	run rebal-accounts -A -m all -f accounts-good.yaml
	[ "$(jq -r 'select(.id=="U21240574").client_id' <<<"$output")" = 21240574 ]
	[ "$(jq -r 'select(.id=="DU1234567").client_id' <<<"$output")" = 1234567 ]
	[ "$(jq -r 'select(.id=="DUM959247").client_id' <<<"$output")" = 42 ]
	[ "$(jq -s 'map(.client_id) | unique | length' <<<"$output")" = 7 ]
}

@test "client ids: reduced into 1..2147483647, never 0, stable" {
	yaml big.yaml <<-'EOF'
	accounts:
	  - {account_id: U99999999999, type: paper, strategy_name: s}
	  - {account_id: U2147483647, type: paper, strategy_name: s}
	  - {account_id: U2147483648, type: paper, strategy_name: s}
	  - {account_id: DU0000000, type: paper, strategy_name: s}
	  - {account_id: DEMO, type: paper, strategy_name: s}
	  - {account_id: U4294967294, type: paper, strategy_name: s}
	EOF
	run rebal-accounts -f "$BATS_TEST_TMPDIR/big.yaml"
	assert_success
	ids=$(jq -r .client_id <<<"$output" | paste -sd,)
	# 99999999999 mod 2147483647 = 1215752237; 2147483648 mod it = 1;
	# 4294967294 = 2 * 2147483647 reduces to 0, so it is hashed like the rest
	case $ids in
	1215752237,2147483647,1,*,*,*) ;;
	*) echo "$ids"; false ;;
	esac
	[ -z "$(jq -c 'select(.client_id < 1 or .client_id > 2147483647)' <<<"$output")" ]
	run rebal-accounts -f "$BATS_TEST_TMPDIR/big.yaml"
	[ "$(jq -r .client_id <<<"$output" | paste -sd,)" = "$ids" ]
	[ "$(jq -r .client_id <<<"$output" | sort -u | wc -l)" -eq 6 ]
}

@test "client ids: collisions after derivation or explicit ids are 78, naming both lines" {
	run --separate-stderr rebal-accounts -f accounts-collide.yaml
	[ "$status" -eq 78 ]
	[ -z "$output" ]
	[ "$stderr" = "rebal-accounts: accounts-collide.yaml:5: client_id 1234567 of U1234567 collides with DU1234567 at line 2; set a distinct client_id
rebal-accounts: accounts-collide.yaml:15: client_id 2000000 of DU3000000 collides with DU2000000 at line 8; set a distinct client_id
rebal-accounts: accounts-collide.yaml:16: account_id: 'du2000000' is also at line 8" ]
}

@test "client ids: an explicit id resolves a collision" {
	yaml ok.yaml <<-'EOF'
	accounts:
	  - {account_id: DU1234567, type: paper, strategy_name: s1}
	  - {account_id: U1234567, type: live, strategy_name: s1, client_id: 1234568}
	EOF
	run rebal-accounts -m all -f "$BATS_TEST_TMPDIR/ok.yaml"
	assert_success
	[ "$(jq -r .client_id <<<"$output" | paste -sd,)" = 1234567,1234568 ]
}

@test "validation: every problem with file:line, exit 78, nothing written" {
	run --separate-stderr rebal-accounts -f accounts-bad.yaml
	[ "$status" -eq 78 ]
	[ -z "$output" ]
	[ "$stderr" = "rebal-accounts: accounts-bad.yaml:3: type: expected paper or live, got \"demo\"
rebal-accounts: accounts-bad.yaml:7: enabled: expected true or false, got \"yes\"
rebal-accounts: accounts-bad.yaml:8: strategy_name: 'etf blend' is not letters, digits, '.', '_' and '-'
rebal-accounts: accounts-bad.yaml:9: cash_reserve_percent: expected a number 0..100, got 150
rebal-accounts: accounts-bad.yaml:10: unknown key 'colour' ignored
rebal-accounts: accounts-bad.yaml:11: account_id: 'DU 1000003' is not letters and digits
rebal-accounts: accounts-bad.yaml:14: client_id: 0 is reserved (IB gives it a special role); use 1..2147483647
rebal-accounts: accounts-bad.yaml:15: type: missing (paper or live)
rebal-accounts: accounts-bad.yaml:17: order_type: expected market or moc, got \"limit\"
rebal-accounts: accounts-bad.yaml:18: pdt_protection_enabled: expected true or false, got 1
rebal-accounts: accounts-bad.yaml:19: account_id: missing
rebal-accounts: accounts-bad.yaml:24: client_id: expected an integer 1..2147483647, got 12.5
rebal-accounts: accounts-bad.yaml:25: expected an account (a mapping with account_id, type, strategy_name), got \"just a string\"" ]
}

@test "validation: unknown keys are warnings with file:line; the file still loads" {
	yaml warn.yaml <<-'EOF'
	accounts:
	  - account_id: DU1234567
	    type: paper
	    strategy_name: s1
	    cash_reserve: 5
	version: 2
	EOF
	run --separate-stderr rebal-accounts -f "$BATS_TEST_TMPDIR/warn.yaml"
	assert_success
	[ "$(jq -r .id <<<"$output")" = DU1234567 ]
	[ "$stderr" = "rebal-accounts: $BATS_TEST_TMPDIR/warn.yaml:5: unknown key 'cash_reserve' ignored
rebal-accounts: $BATS_TEST_TMPDIR/warn.yaml:6: unknown key 'version' ignored" ]
}

@test "validation: duplicate account id, missing strategy, bad broker" {
	yaml dup.yaml <<-'EOF'
	accounts:
	  - {account_id: DU1234567, type: paper, strategy_name: s1}
	  - {account_id: DU7654321, type: paper, broker: schwab, strategy_name: s1}
	  - {account_id: DU1234567, type: paper, strategy_name: s2}
	  - {account_id: DU5555555, type: paper}
	  - {account_id: DU6666666, type: paper, enabled: false}
	EOF
	run --separate-stderr rebal-accounts -f "$BATS_TEST_TMPDIR/dup.yaml"
	[ "$status" -eq 78 ]
	[ "$stderr" = "rebal-accounts: $BATS_TEST_TMPDIR/dup.yaml:3: broker: only ibkr is supported, got \"schwab\"
rebal-accounts: $BATS_TEST_TMPDIR/dup.yaml:4: account_id: 'DU1234567' is also at line 2
rebal-accounts: $BATS_TEST_TMPDIR/dup.yaml:5: strategy_name: missing" ]
}

@test "validation: a disabled account may omit its strategy" {
	yaml parked.yaml <<-'EOF'
	accounts:
	  - {account_id: DU6666666, type: paper, enabled: false}
	EOF
	run rebal-accounts -A -f "$BATS_TEST_TMPDIR/parked.yaml"
	assert_success
	[ "$(jq -c '[.strategy, .enabled]' <<<"$output")" = '[null,false]' ]
}

@test "validation: the file's shape" {
	printf 'accounts:\n' >"$BATS_TEST_TMPDIR/empty.yaml"
	run rebal-accounts -f "$BATS_TEST_TMPDIR/empty.yaml"
	assert_success
	assert_output ''
	printf 'acounts: []\n' >"$BATS_TEST_TMPDIR/typo.yaml"
	run --separate-stderr rebal-accounts -f "$BATS_TEST_TMPDIR/typo.yaml"
	[ "$status" -eq 78 ]
	[ "$stderr" = "rebal-accounts: $BATS_TEST_TMPDIR/typo.yaml:1: unknown key 'acounts' ignored
rebal-accounts: $BATS_TEST_TMPDIR/typo.yaml:1: missing 'accounts' list" ]
	printf -- '- DU1234567\n' >"$BATS_TEST_TMPDIR/list.yaml"
	run --separate-stderr rebal-accounts -f "$BATS_TEST_TMPDIR/list.yaml"
	[ "$status" -eq 78 ]
	[ "$stderr" = "rebal-accounts: $BATS_TEST_TMPDIR/list.yaml:1: expected a mapping with an 'accounts' list" ]
	printf 'accounts: DU1234567\n' >"$BATS_TEST_TMPDIR/scalar.yaml"
	run --separate-stderr rebal-accounts -f "$BATS_TEST_TMPDIR/scalar.yaml"
	[ "$status" -eq 78 ]
	[ "$stderr" = "rebal-accounts: $BATS_TEST_TMPDIR/scalar.yaml:1: accounts: expected a list, got \"DU1234567\"" ]
}

@test "malformed YAML: 78 with file:line" {
	printf 'accounts:\n  - account_id: DU1234567\n    type: [paper\n' >"$BATS_TEST_TMPDIR/broken.yaml"
	run --separate-stderr rebal-accounts -f "$BATS_TEST_TMPDIR/broken.yaml"
	[ "$status" -eq 78 ]
	[ -z "$output" ]
	[[ $stderr == "rebal-accounts: $BATS_TEST_TMPDIR/broken.yaml:4: "* ]]
}

@test "a missing accounts file is 78; the default is ./accounts.yaml" {
	run --separate-stderr rebal-accounts -f "$BATS_TEST_TMPDIR/none.yaml"
	[ "$status" -eq 78 ]
	[ "$stderr" = "rebal-accounts: $BATS_TEST_TMPDIR/none.yaml: No such file or directory" ]
	cp accounts-good.yaml "$BATS_TEST_TMPDIR/accounts.yaml"
	cd "$BATS_TEST_TMPDIR"
	run rebal-accounts
	assert_success
	assert_output "$(cat "$DATA/accounts-good.expected")"
}

@test "usage: -h to stdout, bad options and stray operands 64" {
	run --separate-stderr rebal-accounts -h
	assert_success
	[[ $output == "usage: rebal-accounts "* ]]
	run rebal-accounts -x
	[ "$status" -eq 64 ]
	run rebal-accounts -f accounts-good.yaml events.ndjson
	[ "$status" -eq 64 ]
	run --separate-stderr rebal-accounts -j -A -f accounts-good.yaml </dev/null
	[ "$status" -eq 64 ]
	[ "$stderr" = "rebal-accounts: -A: disabled accounts are never joined to events" ]
}

@test "-j golden: one job per account, every event field passed through" {
	run --separate-stderr rebal-accounts -j -f accounts-good.yaml accounts-events.ndjson
	assert_success
	assert_output "$(cat accounts-jobs.expected)"
	[ "$stderr" = "rebal-accounts: accounts-events.ndjson:3: no enabled paper account follows strategy 'nobody-follows'" ]
}

@test "-j: pass-through keeps unknown and nested fields exactly" {
	run --separate-stderr rebal-accounts -j -f accounts-good.yaml <accounts-events.ndjson
	assert_success
	# removing the added account gives back the event line, byte for byte
	[ "$(jq -c 'select(.id=="ably-1") | del(.account)' <<<"$output" | uniq)" = "$(sed -n 1p accounts-events.ndjson)" ]
	[ "$(jq -c 'select(.id=="ably-2") | .x_unknown' <<<"$output" | uniq)" = '{"deep":true}' ]
	# a manual event by account gets the account's strategy
	[ "$(jq -r 'select(.source=="manual") | [.strategy, .account.id, .account_id] | @tsv' <<<"$output")" = "$(printf 'etf-blend-101-15\tDU3456789\tDU3456789')" ]
}

@test "-j: live mode joins live accounts only" {
	run rebal-accounts -j -m live -f accounts-good.yaml <<<'{"id":"e","strategy":"etf-blend-200-35","exec":"rebalance"}'
	assert_success
	[ "$(jq -r .account.id <<<"$output")" = U21240574 ]
}

@test "-j: an unknown or unselectable account is a warning and exit 1; the rest go on" {
	run --separate-stderr rebal-accounts -j -f accounts-good.yaml <<-'EOF'
	{"id":"a","account_id":"DU0000001","exec":"print-rebalance"}
	{"id":"b","account_id":"DU4567890","exec":"rebalance"}
	{"id":"c","account_id":"DU1234567","strategy":"etf-blend-101-15","exec":"rebalance"}
	{"id":"d","account_id":"U21240574","exec":"rebalance"}
	{"id":"e","account_id":"DU1234567","exec":"print-rebalance"}
	EOF
	[ "$status" -eq 1 ]
	[ "$(jq -r '[.id, .account.id] | @tsv' <<<"$output")" = "$(printf 'e\tDU1234567')" ]
	[ "$stderr" = "rebal-accounts: <stdin>:1: DU0000001: no such account in accounts-good.yaml
rebal-accounts: <stdin>:2: DU4567890: is disabled
rebal-accounts: <stdin>:3: DU1234567: follows strategy 'etf-blend-200-35', not the event's 'etf-blend-101-15'
rebal-accounts: <stdin>:4: U21240574: is a live account; the mode is paper" ]
}

@test "-j: -a restricts the fan-out and reports accounts the event does not reach" {
	run --separate-stderr rebal-accounts -j -a DU2345678 -f accounts-good.yaml <<-'EOF'
	{"id":"a","strategy":"etf-blend-200-35","exec":"rebalance"}
	EOF
	assert_success
	[ "$(jq -r .account.id <<<"$output")" = DU2345678 ]
	[ -z "$stderr" ]
	run --separate-stderr rebal-accounts -j -a DU2345678 -f accounts-good.yaml <<-'EOF'
	{"id":"b","strategy":"etf-blend-101-15","exec":"rebalance"}
	{"id":"c","account_id":"DU1234567","exec":"rebalance"}
	EOF
	[ "$status" -eq 1 ]
	assert_output ''
	[ "$stderr" = "rebal-accounts: <stdin>:1: DU2345678: follows strategy 'etf-blend-200-35', not the event's 'etf-blend-101-15'
rebal-accounts: <stdin>:2: DU1234567: is not selected by -a" ]
}

@test "-j: -s skips events of other strategies silently" {
	run --separate-stderr rebal-accounts -j -s etf-blend-101-15 -f accounts-good.yaml accounts-events.ndjson
	assert_success
	[ "$(jq -r '.id // .source' <<<"$output" | paste -sd,)" = ably-2,ably-2,manual,schedule ]
	[ -z "$stderr" ]
}

@test "-j: malformed NDJSON is 65 with <stdin>:N:, the other lines go on" {
	run --separate-stderr rebal-accounts -j -f accounts-good.yaml <<-'EOF'
	{"id":"a","strategy":"etf-blend-101-15"}
	{"id":"b","strategy":
	[1,2]
	{"id":"c","exec":"rebalance"}
	{"id":"d","strategy":7}
	{"id":"e","account_id":["DU1234567"]}
	{"id":"f","strategy":"etf-blend-200-35"}
	EOF
	[ "$status" -eq 65 ]
	[ "$(jq -r .id <<<"$output" | paste -sd,)" = a,a,f,f ]
	[ "${#stderr_lines[@]}" -eq 5 ]
	[[ ${stderr_lines[0]} == "rebal-accounts: <stdin>:2: "* ]]
	[ "${stderr_lines[1]}" = "rebal-accounts: <stdin>:3: expected a JSON object, got array" ]
	[ "${stderr_lines[2]}" = "rebal-accounts: <stdin>:4: event has neither strategy nor account_id" ]
	[ "${stderr_lines[3]}" = "rebal-accounts: <stdin>:5: strategy: expected a string" ]
	[ "${stderr_lines[4]}" = "rebal-accounts: <stdin>:6: account: expected an account id" ]
}

@test "-j: an unreadable operand is 66, the others are read" {
	run --separate-stderr rebal-accounts -j -f accounts-good.yaml "$BATS_TEST_TMPDIR/nope" accounts-events.ndjson
	[ "$status" -eq 66 ]
	[ "${#lines[@]}" -eq 6 ]
}

@test "-j: a job fed back in is joined again to its account" {
	run --separate-stderr rebal-accounts -j -f accounts-good.yaml accounts-events.ndjson
	first=$output
	run --separate-stderr rebal-accounts -j -f accounts-good.yaml <<<"$first"
	assert_success
	assert_output "$first"
}

@test "stdout to /dev/full is 74" {
	run rebal-accounts -f accounts-good.yaml
	assert_success
	run sh -c 'rebal-accounts -f accounts-good.yaml >/dev/full'
	[ "$status" -eq 74 ]
	run sh -c 'rebal-accounts -j -f accounts-good.yaml accounts-events.ndjson >/dev/full'
	[ "$status" -eq 74 ]
}

@test "examples/accounts.yaml: several paper accounts on two strategies" {
	run --separate-stderr rebal-accounts -f "$TOP/examples/accounts.yaml"
	assert_success
	[ -z "$stderr" ]
	[ "${#lines[@]}" -ge 3 ]
	[ "$(jq -r .strategy <<<"$output" | sort -u | wc -l)" -eq 2 ]
	[ -z "$(jq -c 'select(.type != "paper" or .enabled != true)' <<<"$output")" ]
	[ "$(jq -r 'select(.replacement_set) | .replacement_set' <<<"$output")" = ira ]
	run rebal-accounts -A -m all -f "$TOP/examples/accounts.yaml"
	assert_success
}

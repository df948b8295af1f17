#!/usr/bin/env bats
# rebal-fmt: golden tables and summaries, colour only on a terminal.

load helper

@test "golden: full tables for planned, failed, executed, deferred jobs and an account record" {
	run rebal-fmt "$DATA/fmt-jobs.ndjson"
	assert_success
	assert_output "$(cat "$DATA/fmt-jobs.out")"
}

@test "golden: -s prints one summary line per job" {
	run rebal-fmt -s <"$DATA/fmt-jobs.ndjson"
	assert_success
	assert_output "$(cat "$DATA/fmt-jobs.summary.out")"
	run wc -l <<<"$output"
	assert_output 7
}

@test "the worked example as tables: weights, drift bars, orders and values" {
	run sh -c 'REBAL_NOW=2026-03-02T15:01:00Z rebal-calc "$1" | rebal-fmt' \
	    sh "$DATA/calc-example.ndjson"
	assert_success
	assert_line "  GLD                50       200.10        10,005.00   10.01%"
	assert_line "  cash                                      22,000.00   22.00%"
	assert_line "  TLT        30.00%   18.00%   -12.00  [<#########|          ]"
	assert_line "  GLD         0.00%   10.01%   +10.01  [          |##########]"
	assert_line "  BUY  QQQ              33 LMT       402.20 DAY         13,272.60"
	assert_line "DU1234567 etf-blend-200-35 rebalance ok: nlv 100,000.00, cash 22,000.00; plan all: 1 sell ~10,000.00, 2 buys 21,324.43; max drift 20.00 pp"
}

@test "colour on a terminal only, and never with NO_COLOR" {
	command -v script >/dev/null || skip "script(1) not installed"
	run rebal-fmt -s "$DATA/fmt-jobs.ndjson"
	refute_output --partial $'\033['
	run script -qec "rebal-fmt -s '$DATA/fmt-jobs.ndjson'" /dev/null
	assert_success
	assert_output --partial $'\033[31mfailed\033[0m'
	assert_output --partial $'\033[32mok\033[0m'
	NO_COLOR=1 run script -qec "rebal-fmt -s '$DATA/fmt-jobs.ndjson'" /dev/null
	assert_success
	refute_output --partial $'\033['
	assert_output --partial "rebalance failed: ib-snapshot 75"
}

@test "malformed NDJSON: 65 with <stdin>:N:, the other lines formatted" {
	run sh -c '{ head -1 "$1"; echo "nope"; } | rebal-fmt -s' sh \
	    "$DATA/fmt-jobs.ndjson"
	assert_failure 65
	assert_line --partial "rebal-fmt: <stdin>:2: "
	assert_line --partial "DU1234567 etf-blend-200-35 rebalance ok:"
}

@test "a write error on stdout exits 74" {
	run sh -c 'rebal-fmt "$1" >/dev/full' sh "$DATA/fmt-jobs.ndjson"
	assert_failure 74
	assert_output --partial "write error"
}

@test "usage: -h to stdout exits 0, bad options exit 64" {
	run rebal-fmt -h
	assert_success
	assert_output "usage: rebal-fmt [-hs] [file ...]"
	run rebal-fmt -x </dev/null
	assert_failure 64
}

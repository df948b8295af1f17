#!/usr/bin/env bats
# rebal-gate: market hours, stale events, PDT protection, MOC cut-off.
load helper

setup() {
	cd "$BATS_TEST_TMPDIR"
}

job() { # job JQ-EXPR: the fixture job changed by a jq expression
	jq -c "$1" "$DATA/gate-job.json"
}

@test "an open market passes the job through, with the time of the close" {
	job . > in
	run rebal-gate in
	assert_success
	assert_output "$(jq -c '.market_close = "2026-11-20T21:00:00Z"' in)"
}

@test "a closed market defers to the next open plus the delay" {
	job '.published_at = "2026-11-20T21:30:00Z" | .snapshot.server_time = "2026-11-21T15:00:00Z"' > in
	run --separate-stderr rebal-gate -d 60 in
	assert_equal "$status" 75
	assert_equal "$(jq -r .status <<<"$output")" deferred
	assert_equal "$(jq -r .defer_until <<<"$output")" 2026-11-23T14:31:00Z
	assert_equal "$(jq -r .reason <<<"$output")" "market closed (GLD)"
	assert_equal "$stderr" "rebal-gate: DU1: deferred until 2026-11-23T14:31:00Z: market closed (GLD)"
}

@test "an event published after the close runs at the next open" {
	job '.published_at = "2026-11-20T21:05:00Z" | .snapshot.server_time = "2026-11-23T14:36:00Z"' > in
	run rebal-gate in
	assert_success
	assert_equal "$(jq -r .status <<<"$output")" null
}

@test "an event published before the last close is stale and skipped" {
	job '.snapshot.server_time = "2026-11-23T14:36:00Z"' > in
	run --separate-stderr rebal-gate in
	assert_success
	assert_equal "$(jq -r .status <<<"$output")" skipped
	assert_equal "$(jq -r .reason <<<"$output")" "stale event: published 2026-11-20T20:30:00Z, before the market close of 2026-11-20T21:00:00Z"
}

@test "-A sets a maximum age instead" {
	job '.snapshot.server_time = "2026-11-23T14:36:00Z"' > in
	run rebal-gate -A 604800 in
	assert_success
	assert_equal "$(jq -r .status <<<"$output")" null
	job . > in
	run --separate-stderr rebal-gate -A 600 in
	assert_equal "$(jq -r .status <<<"$output")" skipped
}

@test "PDT protection defers a second rebalance of the day to the next session" {
	job '.snapshot.executions_today = [{"ref":"rebal:e0:DU1","symbol":"SPY"}]' > in
	run --separate-stderr rebal-gate -d 0 in
	assert_equal "$status" 75
	assert_equal "$(jq -r .defer_until <<<"$output")" 2026-11-23T14:30:00Z
	assert_equal "$(jq -r .reason <<<"$output")" "PDT protection: already rebalanced today"
}

@test "PDT protection ignores this event's own and foreign executions" {
	job '.snapshot.executions_today = [{"ref":"rebal:e1:DU1"},{"ref":"manual"},{"symbol":"X"}]' > in
	run rebal-gate in
	assert_success
	job '.account.pdt_protection = false | .snapshot.executions_today = [{"ref":"rebal:e0:DU1"}]' > in
	run rebal-gate in
	assert_success
}

@test "market-on-close accounts defer past the cut-off" {
	job '.account.order_type = "moc" | .snapshot.server_time = "2026-11-20T20:55:00Z"' > in
	run --separate-stderr rebal-gate -d 0 in
	assert_equal "$status" 75
	assert_equal "$(jq -r .defer_until <<<"$output")" 2026-11-23T14:30:00Z
	job '.account.order_type = "moc" | .snapshot.server_time = "2026-11-20T20:49:00Z"' > in
	run --separate-stderr rebal-gate in
	assert_success
}

@test "other commands and finished jobs pass untouched" {
	job '.exec = "print-positions" | .snapshot.server_time = "2026-11-21T15:00:00Z"' > in
	job '.status = "failed" | .snapshot.server_time = "2026-11-21T15:00:00Z"' >> in
	run rebal-gate in
	assert_success
	assert_output "$(cat in)"
}

@test "missing or malformed hours fail the job naming the symbol" {
	job 'del(.snapshot.quotes.TLT.liquid_hours)' > in
	job '.snapshot.quotes.SPY.liquid_hours = "nonsense"' >> in
	job '.snapshot.quotes.SPY.time_zone = "Mars/Olympus"' >> in
	run --separate-stderr rebal-gate in
	assert_equal "$status" 1
	assert_equal "$(jq -r .error.message <<<"$output" | head -1)" "TLT: no liquid hours in the snapshot"
	assert_equal "$(jq -r .error.message <<<"$output" | sed -n 2p)" "SPY: malformed liquid hours or time zone"
	assert_equal "$(jq -r .error.code <<<"$output" | sort -u)" 65
	assert_equal "$(jq -s length <<<"$output")" 3
}

@test "malformed input is 65 with its position; the rest goes on" {
	{ job .; echo '{"bad"'; job .; } > in
	run --separate-stderr rebal-gate in
	assert_equal "$status" 65
	assert_equal "$(jq -s length <<<"$output")" 2
	assert_equal "$stderr" "rebal-gate: in:2: Unfinished JSON term at EOF at line 1, column 6 (while parsing '{\"bad\"')"
}

@test "a write error on stdout is 74" {
	job . > in
	run sh -c 'rebal-gate in >/dev/full'
	assert_equal "$status" 74
	assert_output --partial "write error"
}

@test "usage" {
	run rebal-gate -h
	assert_success
	assert_output "usage: rebal-gate [-h] [-A seconds] [-d seconds] [-M minutes] [file ...]"
	run rebal-gate -z
	assert_equal "$status" 64
	run rebal-gate -d x
	assert_equal "$status" 64
}

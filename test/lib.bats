#!/usr/bin/env bats
# Library unit tests: the C programs in test/unit (built by make) print TAP
# and exit non-zero when a check fails.
load helper

unit() {
	[ -x "$TOP/test/unit/$1" ] || fail "test/unit/$1 is not built"
	run "$TOP/test/unit/$1"
	assert_success
	refute_output --partial 'not ok'
	assert_output --regexp '1\.\.[1-9]'
}

@test "twsf: framing, split and coalesced frames, fields and sentinels" {
	unit twsf_test
}

@test "twsm: every decoder on spec frames, truncations, encoder layouts" {
	unit twsm_test
}

@test "tws: handshake, refusals, deadlines, 326, decode errors, pacing (loopback)" {
	unit tws_test
}

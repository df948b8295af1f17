#!/usr/bin/env bats
# The core lib modules (tm, jvx, yml, nd) through their unit test program.
load helper

@test "core lib unit tests pass" {
	run "$TOP/test/unit/core_test" "$BATS_TEST_TMPDIR"
	echo "$output"
	assert_success
	refute_output --partial "not ok"
}

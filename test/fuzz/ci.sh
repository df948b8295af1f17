#!/bin/sh
# ci.sh: the CI's short fuzz pass (.ci/run calls it): build the harnesses,
# replay every seed corpus, fuzz each for FUZZ_SECONDS (default 30). Fails
# on a crash, leak, timeout or sanitizer report; the reproducer stays in
# test/fuzz/out/run/NAME/. make fuzz is the same with 60 s by default.
set -eu
cd "$(dirname "$0")/../.."
exec make fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-30}"

#!/bin/sh
# san-run.sh CMD...: run CMD (make check SANITIZE=1 runs bats through this)
# with AddressSanitizer and LeakSanitizer reports written to files instead
# of stderr, then fail when any report was written. A tool with a report
# exits 86 (lib/diag.c), which fails the test that checks its status; this
# also catches the tools whose status no test looks at (the first stages
# of a pipeline, servers in the background). A test may still set its own
# ASAN_OPTIONS; that run then reports on stderr as usual.
set -u
dir=$(mktemp -d "${TMPDIR:-/tmp}/rebal-san.XXXXXX")
ASAN_OPTIONS="log_path=$dir/asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export ASAN_OPTIONS
"$@"
st=$?
n=0
for f in "$dir"/asan.*; do
	[ -e "$f" ] || continue
	n=$((n + 1))
	echo "== sanitizer report $(basename "$f"):" >&2
	cat "$f" >&2
done
rm -rf "$dir"
if [ "$n" -gt 0 ]; then
	echo "san-run.sh: $n sanitizer reports" >&2
	exit 1
fi
exit $st

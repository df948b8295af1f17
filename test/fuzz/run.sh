#!/bin/sh
# run.sh SECONDS FUZZER...: replay each fuzzer's seed corpus, then fuzz it
# for SECONDS. New inputs go to test/fuzz/out/corpus/NAME (the committed
# seeds in test/fuzz/corpus/NAME are only read); a crash, leak or timeout
# leaves its reproducer as test/fuzz/out/run/NAME/crash-* (leak-*, timeout-*,
# oom-*) and makes this script fail after the others have run.
# FUZZ_JOBS (default 1) fuzzers run at once; FUZZ_NICE (default 10);
# FUZZ_MAX_LEN (default 8192) bytes at most per generated input (seeds are
# replayed whole).
# Reproduce with: test/fuzz/out/NAME test/fuzz/out/run/NAME/crash-...
# (for a leak inside libjq, ASAN_OPTIONS=fast_unwind_on_malloc=0 shows the
# whole allocation stack).
set -u
secs=$1
shift
dir=$(dirname "$0")
jobs=${FUZZ_JOBS:-1}
nice=${FUZZ_NICE:-10}
fail=0

one() {
	bin=$1
	name=$(basename "$bin")
	seeds=$dir/corpus/$name
	out=$dir/out/run/$name
	mkdir -p "$out" "$dir/out/corpus/$name"
	log=$out/fuzz.log
	# Replay: every seed once (a regression input that crashes again
	# fails here, whatever the fuzzing finds).
	if ! nice -n "$nice" "$bin" -close_fd_mask=2 \
	    "$seeds"/* >"$out/replay.log" 2>&1; then
		echo "fuzz: $name: a seed fails; see $out/replay.log" >&2
		tail -n 40 "$out/replay.log" >&2
		return 1
	fi
	echo "fuzz: $name: $(ls "$seeds" | wc -l) seeds replayed," \
	    "fuzzing ${secs}s" >&2
	if ! nice -n "$nice" "$bin" -max_total_time="$secs" -timeout=10 \
	    -max_len="${FUZZ_MAX_LEN:-8192}" \
	    -rss_limit_mb=2048 -close_fd_mask=2 -print_final_stats=1 \
	    -artifact_prefix="$out/" "$dir/out/corpus/$name" "$seeds" \
	    >"$log" 2>&1; then
		echo "fuzz: $name: FAILED; reproducer:" \
		    "$(ls -t "$out"/crash-* "$out"/leak-* "$out"/timeout-* \
		    "$out"/oom-* 2>/dev/null | head -n 1)" >&2
		grep -A 30 '^==[0-9]*==ERROR\|runtime error\|^SUMMARY' "$log" |
		    head -n 60 >&2
		return 1
	fi
	echo "fuzz: $name: ok, $(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\).*/\1 runs in \2 s/p' \
	    "$log"), $(sed -n 's/^stat::new_units_added: *//p' "$log") new units," \
	    "corpus $(ls "$dir/out/corpus/$name" | wc -l) files" >&2
}

pids=
n=0
for bin in "$@"; do
	one "$bin" &
	pids="$pids $!"
	n=$((n + 1))
	if [ "$n" -ge "$jobs" ]; then
		for p in $pids; do wait "$p" || fail=1; done
		pids= n=0
	fi
done
for p in $pids; do wait "$p" || fail=1; done
exit $fail

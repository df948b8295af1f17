#!/bin/sh
# make bench: the parallel speed-up and the distance to the physical limit.
#
#   sh test/bench/run.sh [-F fill_ms] [-L latency_ms] [-N "1 10 30"] [-r repeats]
#
# For each N it generates N accounts on one strategy (test/bench/gen.sh),
# starts ib-sim (reply latency L, fill delay F) and alloc-sim, and runs the
# same rebalance event through rebal-run with -P N and with -P 1 (one run
# for N = 1, where they are the same), each run on a fresh gateway, R times
# (median). From the gateway's journal
# (test/bench/journal.jq) it takes the messages and connections of every
# account, the dependent request->reply waits on an account's path (the
# critical-path limit: waits x L + fill waits x F) and the longest pause
# between a reply and the next request (a tool sleeping on a fixed timer
# shows there; one more run under strace counts sleep calls). One more run
# of the largest N with a probe preloaded into every process
# (test/bench/rss.c) gives the peak RSS of each process: the C tools, the
# sh tools (dash running rebal-run and rebal-account, their own memory, not
# their children's) and the helpers they start (jq, awk, cat, ...). Then
# rebal-calc on a stream of 1000 generated jobs, in records per second.
#
# Results: a markdown table on stdout, NDJSON in bench-results/ (one record
# per run and per figure; test/bench/report.jq makes the table from it).
# The tools come from PATH (make bench puts bin/ first).
set -u
prog=bench
top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/test/bench

die() { echo "$prog: $*" >&2; exit 1; }
say() { echo "$prog: $*" >&2; }

L=20 F=200 NS="1 10 30" R=3
while getopts F:L:N:r: c; do
	case $c in
	F) F=$OPTARG ;;
	L) L=$OPTARG ;;
	N) NS=$OPTARG ;;
	r) R=$OPTARG ;;
	*) echo "usage: run.sh [-F fill_ms] [-L latency_ms] [-N list] [-r repeats]" >&2
	   exit 64 ;;
	esac
done
for v in "$F" "$L" "$R" $NS; do
	case $v in '' | *[!0-9]*) die "not a whole number: '$v'" ;; esac
done
[ "$R" -ge 1 ] || die "-r: at least 1"

for t in ib-sim alloc-sim rebal-run rebal-account rebal-accounts alloc-fetch \
    alloc-replace ib-snapshot rebal-gate rebal-calc ib-order rebal-fmt jq bash; do
	command -v "$t" >/dev/null || die "$t not found (make bench builds bin/)"
done
[ -x /usr/bin/time ] || sh "$top/share/deps.sh" time ||
	die "/usr/bin/time is needed for the CPU time of rebal-calc (Debian package time)"

mkdir -p "$top/bench-results" || die "cannot create bench-results/"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
began=$(date +%s)
res=$top/bench-results/$stamp.ndjson
work=$(mktemp -d "${TMPDIR:-/tmp}/rebal-bench.XXXXXX") || die "mktemp failed"
ibpid= alpid= trace= keep=
cleanup() {
	[ -n "$ibpid" ] && kill -TERM "$ibpid" 2>/dev/null
	[ -n "$alpid" ] && kill -TERM "$alpid" 2>/dev/null
	wait
	if [ -n "$keep" ]; then
		say "the failed run is kept in $keep"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The machine.
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
read -r load1 load5 load15 rest </proc/loadavg
jq -nc --arg cpu "$cpu" --argjson nproc "$(nproc)" --arg kernel "$(uname -r)" \
    --arg at "$stamp" --arg commit "$(git -C "$top" rev-parse --short HEAD 2>/dev/null)" \
    --argjson L "$L" --argjson F "$F" --argjson R "$R" --arg ns "$NS" \
    --argjson load "$load1" \
    '{type: "machine", at: $at, commit: $commit, nproc: $nproc, cpu: $cpu,
      kernel: $kernel, load_before: $load, latency_ms: $L, fill_ms: $F,
      repeats: $R, accounts: ($ns | split(" ") | map(select(. != "") | tonumber))}' >"$res"
say "$(nproc) cores, $cpu; L=$L ms, F=$F ms, $R repeats; results in $res"

# The cost of starting a process here (fork and exec of /bin/true, 50
# times), for reading the figures.
bash -c 's=$EPOCHREALTIME; for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 \
    21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50; do
	/bin/true; done; e=$EPOCHREALTIME
	echo "{\"type\":\"spawn\",\"ms\":$(( (${e/./} - ${s/./}) / 50 ))e-3}"' >>"$res"

# serve NAME CMD...: start a simulator, read its port from its first line.
serve() {
	name=$1
	shift
	rm -f "$work/$name.fifo"
	mkfifo "$work/$name.fifo" || die "mkfifo failed"
	"$@" >"$work/$name.fifo" 2>>"$work/$name.log" &
	eval "${name}pid=$!"
	exec 3<"$work/$name.fifo"
	IFS= read -r port <&3 || die "$name did not start: $(tail -n 3 "$work/$name.log")"
	exec 3<&-
	eval "${name}port=$port"
}
stop_ib() {
	kill -TERM "$ibpid" 2>/dev/null
	wait "$ibpid" 2>/dev/null
	ibpid=
}

hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
export ALLOCATIONS_API_KEY=bench-key-7f3a
unset ALLOCATIONS_API_KEY_FILE NTFY_URL REBAL_NOW
export TRADING_MODE=paper
for n in $NS; do
	sh "$here/gen.sh" "$n" "$work/n$n" "$L" "$F" || die "gen.sh $n failed"
done
first=$(echo $NS | cut -d' ' -f1)
serve al alloc-sim -f "$work/n$first/alloc-sim.yaml"
export ALLOCATIONS_BASE_URL=http://127.0.0.1:$alport IB_HOST=127.0.0.1

# run N MODE REPEAT [PRELOAD]: one rebal-run of the event on a fresh
# gateway (PRELOAD: a library preloaded into it and every process it
# starts); appends a run record.
run() {
	n=$1 mode=$2 rep=$3 preload=${4:-}
	d=$work/n$n
	rd=$d/$mode-$rep
	mkdir -p "$rd"
	[ "$mode" = seq ] && procs=1 || procs=$n
	serve ib ib-sim -f "$d/ib-sim.yaml" -j "$rd/journal.ndjson"
	# a fresh event id: nothing remembers an earlier run
	sed "s/\"bench-$n\"/\"bench-$n-$mode-$rep\"/g" "$d/event.json" >"$rd/event.json"
	IB_PORT=$ibport REBAL_STATE=$rd/state \
	    bash -c 's=$EPOCHREALTIME; "$@" >"$0/summary.ndjson" 2>"$0/stderr"; rc=$?
		e=$EPOCHREALTIME; echo "${s/./} ${e/./} $rc" >"$0/time"; times >"$0/cpu"' "$rd" \
	    ${trace:+strace -f -qq -e trace=nanosleep,clock_nanosleep,poll,ppoll,select,pselect6 -o "$trace"} \
	    ${preload:+env LD_PRELOAD="$preload"} rebal-run -e rebalance -P "$procs" -f "$d/accounts.yaml" \
	    -r "$d/replacement-sets.yaml" "$rd/event.json"
	# the simulator's CPU time (it is not part of rebal, but shares the cores)
	simcpu=$(awk -v hz="$hz" '{ print int(($14 + $15) * 1000 / hz) }' \
	    "/proc/$ibpid/stat" 2>/dev/null)
	stop_ib
	read -r t0 t1 rc <"$rd/time"
	# user + system time of rebal-run and every process it waited for
	cpu=$(awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) {
		split($i, p, /[ms]/); t += p[1] * 60 + p[2] }
		print int(t * 1000 + 0.5) }' "$rd/cpu")
	ok=$(grep -c '"status":"ok"' "$rd/summary.ndjson")
	if [ "$rc" -ne 0 ] || [ "$ok" -ne "$n" ]; then
		say "N=$n $mode #$rep: rebal-run exited $rc, $ok of $n accounts ok:"
		grep -v '"status":"ok"' "$rd/summary.ndjson" | head -n 5 | sed 's/^/  /' >&2
		sed 's/^/  /' "$rd/stderr" | tail -n 10 >&2
		for a in $(grep -v '"status":"ok"' "$rd/summary.ndjson" |
		    sed -n 's/^{"account_id":"\([A-Za-z0-9]*\)".*/\1/p' | head -n 2); do
			tail -n 15 "$rd"/state/runs/*/log/"$a".log >&2
		done
		keep=$work
		exit 1
	fi
	[ -n "$preload$trace" ] && return 0
	read -r load1 rest </proc/loadavg
	jq -sc -f "$here/journal.jq" --argjson L "$L" --argjson F "$F" \
	    "$rd/journal.ndjson" |
	    jq -c --argjson n "$n" --arg mode "$mode" --argjson r "$rep" \
	    --argjson procs "$procs" --argjson t0 "$t0" --argjson t1 "$t1" \
	    --argjson load "$load1" --argjson cpu "${cpu:-null}" \
	    --argjson simcpu "${simcpu:-null}" \
	    '{type: "run", n: $n, mode: $mode, procs: $procs, repeat: $r,
	      wall_ms: (($t1 - $t0) / 1000 | round), load: $load,
	      cpu_ms: $cpu, sim_cpu_ms: $simcpu,
	      setup_ms: (.first_connect - $t0 / 1000 | round),
	      teardown_ms: ($t1 / 1000 - .last_close | round),
	      gateway: .}' >>"$res"
	jq -r 'select(.type == "run") | "\(.n) \(.mode) #\(.repeat): \(.wall_ms) ms"' \
	    "$res" | tail -n 1 | sed "s/^/$prog: N=/" >&2
}

# Timed runs: for each N, R repeats of parallel and sequential in turn.
for n in $NS; do
	r=1
	while [ "$r" -le "$R" ]; do
		run "$n" par "$r"
		# -P 1 is -P N for one account: the same runs count for both
		[ "$n" -gt 1 ] && run "$n" seq "$r"
		r=$((r + 1))
	done
done

# Sleeps: one more run of the smallest N under strace (when there is one),
# counting the calls of every process that wait on a timer alone: the
# nanosleep family, and poll or select on no file descriptor.
trace=
if command -v strace >/dev/null; then
	trace=$work/sleeps.txt
	run "$first" par strace
	calls=$(grep -c -E 'nanosleep\(|[^a-z_]p?poll\(NULL, 0,|p?select6?\(0,' "$trace")
	jq -nc --argjson n "$first" --argjson calls "$calls" \
	    '{type: "sleeps", n: $n, calls: $calls}' >>"$res"
	trace=
fi

# Memory: one more run of the largest N with the probe of rss.c in every
# process (/usr/bin/time would give a shell the peak of its whole tree).
# Each process's line says its name; the C tools are the bin/*.c, the sh
# tools the scripts dash ran, the rest are helpers.
${CC:-cc} -shared -fPIC -O2 -o "$work/rss.so" "$here/rss.c" -ldl ||
	die "cannot build the memory probe (test/bench/rss.c)"
ctools=$(for c in "$top"/bin/*.c; do t=${c%.c}; printf '%s ' "${t##*/}"; done)
last=$(echo $NS | tr ' ' '\n' | sort -n | tail -n 1)
rss=$work/rss.txt
: >"$rss"
BENCH_RSS=$rss
export BENCH_RSS
run "$last" par rss "$work/rss.so"
unset BENCH_RSS
cp "$rss" "$top/bench-results/$stamp.procs"
awk -v n="$last" -v c=" $ctools" '
	{ kib = $NF; anon = $(NF - 1); us = $(NF - 2)
	  $NF = ""; $(NF - 1) = ""; $(NF - 2) = ""; sub(/ +$/, ""); t = $0
	  if (!(t in max) || kib > max[t]) max[t] = kib
	  if (!(t in amax) || anon > amax[t]) amax[t] = anon
	  cnt[t]++; cpu[t] += us }
	END { for (t in max) {
		k = index(c, " " t " ") ? "c" : t ~ / \((sh|dash|bash)\)$/ ? "sh" : "helper"
		printf "{\"type\":\"rss\",\"n\":%d,\"tool\":\"%s\",\"kind\":\"%s\",\"max_kib\":%d,\"anon_kib\":%d,\"processes\":%d,\"cpu_ms\":%d}\n", n, t, k, max[t], amax[t], cnt[t], cpu[t] / 1000 } }' \
    "$rss" >>"$res"
stop_al() { kill -TERM "$alpid" 2>/dev/null; wait "$alpid" 2>/dev/null; alpid=; }
stop_al

# rebal-calc on 1000 generated jobs, each phase, R times.
awk -v n=1000 -v at="$(date -u +%Y-%m-%dT%H:%M:%SZ)" -f "$here/calc-jobs.awk" \
    >"$work/calc.ndjson"
for p in sell buy all; do
	r=1
	while [ "$r" -le "$R" ]; do
		bash -c 's=$EPOCHREALTIME
		    /usr/bin/time -f "%U %S" -o "$3.cpu" rebal-calc -p "$1" "$2" >"$3"
		    rc=$?; e=$EPOCHREALTIME; echo "${s/./} ${e/./} $rc" >"$3.time"' \
		    calc "$p" "$work/calc.ndjson" "$work/calc.out"
		read -r t0 t1 rc <"$work/calc.out.time"
		read -r cu cs <"$work/calc.out.cpu"
		good=$(grep -c '"phase":"'"$p"'"' "$work/calc.out")
		[ "$rc" -eq 0 ] && [ "$good" -eq 1000 ] ||
			die "rebal-calc -p $p exited $rc with $good plans of 1000"
		jq -nc --arg p "$p" --argjson r "$r" --argjson ms $(( (t1 - t0) / 1000 )) \
		    --argjson cu "$cu" --argjson cs "$cs" '{type: "calc", phase: $p,
		    repeat: $r, records: 1000, ms: $ms,
		    cpu_ms: (($cu + $cs) * 1000 | round)}' >>"$res"
		r=$((r + 1))
	done
done

read -r load1 rest </proc/loadavg
echo "{\"type\":\"end\",\"load_after\":$load1,\"seconds\":$(( $(date +%s) - began ))}" >>"$res"
jq -s -f "$here/report.jq" "$res" >"$work/summary.ndjson" || die "report.jq failed"
cat "$work/summary.ndjson" >>"$res"
jq -r -s -f "$here/table.jq" "$res" | tee "$top/bench-results/$stamp.md"
cp "$res" "$top/bench-results/latest.ndjson"
cp "$top/bench-results/$stamp.md" "$top/bench-results/latest.md"
say "results: bench-results/$stamp.ndjson (and latest.ndjson, latest.md)"

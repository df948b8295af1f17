#!/bin/sh
# make demo: the whole mission offline. Starts ib-sim, ably-sim and alloc-sim
# on loopback, runs rebal-daemon on examples/accounts.yaml, publishes one
# rebalance event per strategy through ably-sim's REST API, waits for the
# runs, shows the report, and stops everything.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
ex=$top/examples
d=$(mktemp -d "${TMPDIR:-/tmp}/rebal-demo.XXXXXX") || exit 74
pids=
say() { printf '\n== %s\n' "$*"; }
fail() { echo "demo: $*" >&2; stop; exit 1; }
stop() {
	for p in $pids; do kill -TERM "$p" 2>/dev/null; done
	for p in $pids; do wait "$p" 2>/dev/null; done
	pids=
}
trap 'stop; exit 130' INT TERM

# until SECONDS CMD...: run CMD until it succeeds, for at most SECONDS.
until_ok() {
	n=$(($1 * 10))
	shift
	while ! "$@" >/dev/null 2>&1; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.1
	done
}

# serve NAME CMD...: start a simulator, read its port from its first line.
serve() {
	name=$1
	shift
	mkfifo "$d/$name.fifo"
	"$@" >"$d/$name.fifo" 2>"$d/$name.log" &
	pids="$pids $!"
	exec 3<"$d/$name.fifo"
	IFS= read -r port <&3 || fail "$name did not start (see $d/$name.log)"
	exec 3<&-
	eval "${name}_port=$port"
}

say "simulators on loopback (state and logs in $d)"
echo "demo.app:demosecret" >"$d/ably.keys"
ALLOCATIONS_API_KEY=demo-allocations-key
export ALLOCATIONS_API_KEY
serve ib ib-sim -f "$ex/demo/ib-sim.yaml" -j "$d/ib-journal.ndjson" -o "$d/ib-final.json"
serve alloc alloc-sim -f "$ex/demo/alloc-sim.yaml"
serve ably ably-sim -k "$d/ably.keys" -j "$d/ably-journal.ndjson"
echo "ib-sim :$ib_port   alloc-sim :$alloc_port   ably-sim :$ably_port"

cat >"$d/rebal.env" <<EOT
REBAL_STATE=$d/state
REBAL_ACCOUNTS=$ex/accounts.yaml
REBAL_REPLACEMENTS=$ex/replacement-sets.yaml
TRADING_MODE=paper
IB_HOST=127.0.0.1
IB_PORT=$ib_port
ALLOCATIONS_BASE_URL=http://127.0.0.1:$alloc_port
ALLOCATIONS_API_KEY=$ALLOCATIONS_API_KEY
ABLY_API_KEY=demo.app:demosecret
REBAL_LISTEN_OPTS="-T -H 127.0.0.1:$ably_port"
EOT

say "rebal-daemon -e rebal.env"
rebal-daemon -e "$d/rebal.env" >"$d/daemon.out" 2>"$d/daemon.log" &
pids="$pids $!"
attached() { [ "$(grep -c '"action":11' "$d/ably-journal.ndjson")" -ge 2 ]; }
until_ok 20 attached || fail "ably-listen did not attach (see $d/daemon.log)"
echo "listening on etf-blend-200-35 and etf-blend-101-15"

say "publish a rebalance event on each strategy's channel"
for s in etf-blend-200-35 etf-blend-101-15; do
	curl -sf -u demo.app:demosecret -H 'Content-Type: application/json' \
	    -d "{\"name\":\"rebalance\",\"data\":{\"exec\":\"rebalance\",\"eventId\":\"demo-$s\"}}" \
	    "http://127.0.0.1:$ably_port/channels/$s/messages" >/dev/null ||
	    fail "publish to $s failed"
	echo "published to $s"
done

say "waiting for the runs"
runs_done() {
	[ "$(REBAL_STATE=$d/state rebal-spool ls 2>/dev/null |
	    jq -s '[.[] | select(.state == "done" or .state == "deferred" or .state == "failed")] | length')" -ge 2 ]
}
until_ok 60 runs_done || fail "the runs did not finish in 60 s (see $d/daemon.log)"

say "summary (one line per account)"
cat "$d"/state/runs/*/summary.ndjson | jq -sr 'sort_by(.account_id)[] | [.account_id, .strategy, .status,
    "\(.filled) orders filled", (.reason // .error.message // "")] | @tsv'

say "report"
for f in "$d"/state/runs/*/out/*.ndjson; do
	tail -n 1 "$f"
done | jq -sc 'sort_by(.account.id)[]' | rebal-fmt

say "what the broker ended with"
stop
jq -r '.accounts[] | "\(.id)  cash \(.cash)  " +
    ([.positions[] | "\(.symbol) \(.qty)"] | join(", "))' "$d/ib-final.json"
echo
echo "demo: run directories under $d/state/runs, gateway journal $d/ib-journal.ndjson"

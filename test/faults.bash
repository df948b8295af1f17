# Helpers of the fault matrix (test/faults-*.bats): small scenarios for
# ib-sim and alloc-sim, the spool worker running rebal-run, and the checks
# every row makes. Load after helper.
#
# The base scenario: account DU111111 (client id 111111) follows strategy s1
# (AAA 50 %, BBB 50 %). It holds 100 OLD, which is not a target and is sold
# in the sell phase, and 10 AAA; the buy phase buys AAA and BBB.

FX_EV=0

# the orders of the base scenario, each placed once
ALL_ORDERS='DU111111 SELL 100 OLD
DU111111 BUY 68 AAA
DU111111 BUY 390 BBB'

# fx_setup: the files of the base scenario in $BATS_TEST_TMPDIR; deadlines
# shortened for the tests (see fx_deadlines).
fx_setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	export ALLOCATIONS_API_KEY=fx-alloc-key
	export REBAL_ACCOUNTS=$BATS_TEST_TMPDIR/accounts.yaml
	export REBAL_REPLACEMENTS=$BATS_TEST_TMPDIR/replacement-sets.yaml
	unset REBAL_NOW NTFY_URL REBAL_NOTIFY_CMD TRADING_MODE
	cat >accounts.yaml <<-'EOF'
	accounts:
	  - {account_id: DU111111, type: paper, strategy_name: s1}
	EOF
	cat >replacement-sets.yaml <<-'EOF'
	ira:
	  - {source: BBB, target: CCC, scale: 1.0}
	EOF
	cat >alloc.yaml <<-'EOF'
	strategies:
	  s1:
	    allocations:
	      - {symbol: AAA, allocation: 0.5}
	      - {symbol: BBB, allocation: 0.5}
	EOF
	fx_deadlines
}

# fx_deadlines [SNAPSHOT ORDER ALLOC]: rebal-account runs ib-snapshot (30 s),
# ib-order (300 s) and rebal-run alloc-fetch (30 s) with their default
# deadlines; the rows that wait for a deadline would take minutes. Wrappers
# first on PATH give them shorter ones; everything else is the real tool.
fx_deadlines() {
	local d=$BATS_TEST_TMPDIR/shim
	mkdir -p "$d"
	printf '#!/bin/sh\nexec "%s/bin/ib-snapshot" -r 0.2 -t %s "$@"\n' "$TOP" "${1:-6}" >"$d/ib-snapshot"
	printf '#!/bin/sh\nexec "%s/bin/ib-order" -t %s "$@"\n' "$TOP" "${2:-8}" >"$d/ib-order"
	printf '#!/bin/sh\nexec "%s/bin/alloc-fetch" -t %s "$@"\n' "$TOP" "${3:-4}" >"$d/alloc-fetch"
	chmod +x "$d"/*
	case :$PATH: in *":$d:"*) ;; *) PATH=$d:$PATH ;; esac
	export PATH
}

# fx_ib_yaml [YAML...]: the base ib-sim scenario, with the YAML lines given
# appended (faults:, events:, ...). Per-symbol keys come from FX_AAA, FX_BBB,
# FX_OLD, FX_CCC (", key: value" text added to the symbol's mapping); the
# clock from FX_CLOCK, the latency from FX_LATENCY.
fx_ib_yaml() {
	local hours='liquid_hours: "09:30-16:00", trading_hours: "04:00-20:00"'
	cat <<-EOF
	clock: ${FX_CLOCK:-{at: 2026-03-02T15:00:00Z, speed: 1\}}
	latency_ms: ${FX_LATENCY:-2}
	accounts:
	  - id: DU111111
	    cash: 10000
	    positions:
	      - {symbol: OLD, qty: 100, avg_cost: 40}
	      - {symbol: AAA, qty: 10, avg_cost: 90}
	${FX_ACCOUNTS:-}
	symbols:
	  - {symbol: OLD, con_id: 1001, bid: 50.00, ask: 50.02, last: 50.01, close: 50.00, $hours${FX_OLD:-}}
	  - {symbol: AAA, con_id: 1002, bid: 100.00, ask: 100.04, last: 100.02, close: 100.00, $hours${FX_AAA:-}}
	  - {symbol: BBB, con_id: 1003, bid: 20.00, ask: 20.02, last: 20.01, close: 20.00, $hours${FX_BBB:-}}
	  - {symbol: CCC, con_id: 1004, bid: 30.00, ask: 30.02, last: 30.01, close: 30.00, $hours${FX_CCC:-}}
	EOF
	[ $# -eq 0 ] || printf '%s\n' "$@"
}

# fx_ib [YAML...]: start ib-sim on the base scenario plus YAML (-j ib.ndjson,
# -o ib-final.json; a restarted ib-sim starts them afresh), on port
# FX_IB_PORT if set.
fx_ib() {
	fx_ib_yaml "$@" >ib.yaml
	start_server IB ib-sim -f ib.yaml ${FX_IB_PORT:+-p "$FX_IB_PORT"} \
	    -j "$BATS_TEST_TMPDIR/ib.ndjson" -o "$BATS_TEST_TMPDIR/ib-final.json"
	export IB_HOST=127.0.0.1 IB_PORT=$IB_PORT
}

# fx_alloc [SCENARIO]: start alloc-sim (default alloc.yaml).
fx_alloc() {
	start_server AL alloc-sim -f "${1:-alloc.yaml}" -j "$BATS_TEST_TMPDIR/alloc.ndjson"
	export ALLOCATIONS_BASE_URL=http://127.0.0.1:$AL_PORT
}

# fx_teardown: stop the simulators, and whatever the test started in the
# background (FX_PIDS and their descendants) and left running.
fx_teardown() {
	local p
	for p in $(for p in ${FX_PIDS:-}; do fx_tree "$p"; done | awk '{ print $1 }'); do
		kill -KILL "$p" 2>/dev/null || true
	done
	stop_server IB
	stop_server AL
	stop_server AB
}

# fx_event [ID [EXEC [STRATEGY]]]: one event line, published now (or at
# FX_PUBLISHED).
fx_event() {
	FX_EV=$((FX_EV + 1))
	printf '{"id":"%s","event_id":"%s","strategy":"%s","exec":"%s","source":"ably","published_at":"%s"}\n' \
	    "${1:-ev$FX_EV}" "${1:-ev$FX_EV}" "${3:-s1}" "${2:-rebalance}" \
	    "${FX_PUBLISHED:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}"
}

# fx_add [ID [EXEC [STRATEGY]]]: store an event in the spool.
fx_add() {
	fx_event "$@" | rebal-spool add >/dev/null
}

# fx_work: the spool worker runs one item with rebal-run, bounded; sets
# $status, $output (the filed item's summary line) and $stderr.
fx_work() {
	run --separate-stderr timeout 120 rebal-spool run -1 -- rebal-run
}

# fx_item ID: the spool's summary line of item ID.
fx_item() {
	rebal-spool ls | jq -c --arg id "$1" 'select(.id == $id)'
}

# fx_state ID: the folder item ID is in.
fx_state() {
	fx_item "$1" | jq -r .state
}

# fx_retry ID: due now (skip the backoff), as an operator would.
fx_retry() {
	rebal-spool retry "$1" >/dev/null
}

# fx_runs: the run directories, oldest first.
fx_runs() {
	ls -d "$REBAL_STATE"/runs/* 2>/dev/null
}

# fx_last_run: the newest run directory.
fx_last_run() {
	fx_runs | tail -n 1
}

# fx_wait SECONDS CMD...: until CMD succeeds, at most SECONDS.
fx_wait() { wait_for "$@"; }

# fx_journal_has JQ: some journal line matches the jq condition.
fx_journal_has() {
	[ -f ib.ndjson ] && jq -e -n "[inputs | select($1)] | length > 0" ib.ndjson >/dev/null
}

# fx_no_lost ID...: every event ID ends in the spool as done, deferred or
# failed, a failed or deferred one with a reason (an error, or the reason
# its pending accounts wait).
fx_no_lost() {
	local id item
	for id in "$@"; do
		item=$(fx_item "$id")
		if [ -z "$item" ]; then
			echo "event $id is not in the spool" >&2
			return 1
		fi
		jq -e '(.state | IN("done", "deferred", "failed")) and
		    (if .state == "done" then true
		     else (.reason // .error.message // "") != "" end)' <<<"$item" >/dev/null || {
			echo "event $id: $item" >&2
			return 1
		}
	done
}

# fx_no_dup: the broker never held two live orders for the same account,
# symbol and side. An order is live from its PLACE_ORDER until the gateway
# says it is over (ORDER_STATUS or OPEN_ORDER with a final status, an
# execution that completes it, an error that refuses it) or an open-order
# listing of its client no longer holds it.
fx_no_dup() {
	jq -n -r '
	def key($c; $o): "\($c):\($o)";
	def over: IN("Filled", "Cancelled", "ApiCancelled", "Inactive");
	reduce inputs as $l ({live: {}, list: {}, bad: []};
	  ($l.client // $l.client_id) as $c |
	  if $l.dropped then .
	  elif $l.dir == "in" and $l.msg == "PLACE_ORDER" then
	    key($c; $l.order_id) as $k |
	    if .live[$k] then . else
	      ([.live | to_entries[] | select(.value.account == $l.account and
	         .value.symbol == $l.symbol and .value.action == $l.action) | .key]) as $o |
	      (if ($o | length) > 0 then .bad += ["\($l.t) \($l.account) \($l.action) \($l.symbol): order \($k) placed while \($o | join(",")) live"] else . end) |
	      .live[$k] = {account: $l.account, symbol: $l.symbol, action: $l.action, qty: $l.qty}
	    end
	  elif $l.dir == "in" and ($l.msg | IN("REQ_OPEN_ORDERS", "REQ_ALL_OPEN_ORDERS")) then
	    .list["\($l.conn)"] = {all: ($l.msg == "REQ_ALL_OPEN_ORDERS"), client: $l.client_id, seen: []}
	  elif $l.dir == "out" and $l.msg == "OPEN_ORDER" then
	    (if .list["\($l.conn)"] then .list["\($l.conn)"].seen += [key($c; $l.order_id)] else . end) |
	    if ($l.status // "" | over) then del(.live[key($c; $l.order_id)]) else . end
	  elif $l.dir == "out" and $l.msg == "OPEN_ORDER_END" and .list["\($l.conn)"] then
	    .list["\($l.conn)"] as $s |
	    .live |= with_entries(select((.key | IN($s.seen[])) or
	        ($s.all | not) and (.key | startswith("\($s.client):") | not))) |
	    del(.list["\($l.conn)"])
	  elif $l.dir == "out" and $l.msg == "ORDER_STATUS" and ($l.status | over) then
	    del(.live[key($c; $l.order_id)])
	  elif $l.dir == "out" and $l.msg == "EXECUTION_DATA" and
	      .live[key($c; $l.order_id)] and $l.cum_qty >= .live[key($c; $l.order_id)].qty then
	    del(.live[key($c; $l.order_id)])
	  elif $l.dir == "out" and $l.msg == "ERR_MSG" and ($l.id // 0) > 0 and
	      ($l.code | IN(103, 110, 113, 200, 201, 321, 387, 434, 435)) then
	    del(.live[key($l.client_id; $l.id)])
	  else . end)
	| .bad[]' ib.ndjson >dup.txt || return 1
	if [ -s dup.txt ]; then
		cat dup.txt >&2
		return 1
	fi
}

# fx_within_plan: per account, symbol and side, the shares the broker
# executed (ib-final.json, written when ib-sim stops) never exceed what the
# plans asked for: each run's plan of each phase counted once, summed over
# the runs (a retry plans again from a fresh snapshot what is left to do).
fx_within_plan() {
	local r f plans
	plans=$(for r in $(fx_runs); do
		for f in "$r"/out/*.ndjson; do
			[ -f "$f" ] || continue
			jq -c 'select(.exec == "rebalance" and .plan.orders) |
			    {account: .account.id, plan}' "$f" |
			    jq -s -c 'unique_by(.plan.phase)[] | .account as $a |
			        .plan.orders[] | {account: $a, symbol, action, qty}'
		done
	done | jq -s -c .)
	jq -e -r --argjson p "${plans:-[]}" '
	  [.executions | group_by([.account, .symbol, .action])[] |
	    {account: .[0].account, symbol: .[0].symbol, action: .[0].action,
	     qty: (map(.qty) | add)}] |
	  map(. as $x | ([$p[] | select(.account == $x.account and
	      .symbol == $x.symbol and .action == $x.action) | .qty] | add // 0) as $m |
	      select($x.qty > $m) |
	      "\($x.account) \($x.action) \($x.symbol): traded \($x.qty), planned \($m)") |
	  if length > 0 then (.[] | stderr | empty), false else true end' \
	    ib-final.json >/dev/null
}

# fx_orders: the orders the broker received: "account action qty symbol".
fx_orders() {
	jq -r 'select(.dir == "in" and .msg == "PLACE_ORDER" and (.dropped | not)) |
	    "\(.account) \(.action) \(.qty) \(.symbol)"' ib.ndjson
}

# fx_final: stop ib-sim (writing ib-final.json), then check that no order
# was duplicated and nothing traded beyond a plan.
fx_final() {
	stop_server IB
	fx_no_dup
	fx_within_plan
}

# fx_position ACCOUNT SYMBOL: the final quantity (0 when none).
fx_position() {
	jq -r --arg a "$1" --arg s "$2" \
	    '[.accounts[] | select(.id == $a) | .positions[] | select(.symbol == $s) | .qty] | add // 0' \
	    ib-final.json
}

# fx_stderr_has TEXT: the worker's standard error (of fx_work) holds TEXT.
fx_stderr_has() {
	[[ "$stderr" == *"$1"* ]] || {
		echo "stderr lacks: $1" >&2
		echo "stderr: $stderr" >&2
		return 1
	}
}

# fx_log_has ACCOUNT REGEX: the account's log of the last run matches.
fx_log_has() {
	grep -Eq -- "$2" "$(fx_last_run)/log/$1.log" || {
		echo "log/$1.log does not match: $2" >&2
		cat "$(fx_last_run)/log/$1.log" >&2
		return 1
	}
}

# fx_tree PID: PID and its descendants, one "pid ppid comm" line each.
fx_tree() {
	ps -e -o pid= -o ppid= -o comm= | awk -v root="$1" '
	    { pid[NR] = $1; ppid[NR] = $2; comm[NR] = $3 }
	    END {
		keep[root] = 1
		do {
			n = 0
			for (i = 1; i <= NR; i++)
				if (!(pid[i] in keep) && (ppid[i] in keep)) {
					keep[pid[i]] = 1; n++
				}
		} while (n > 0)
		for (i = 1; i <= NR; i++)
			if (pid[i] in keep)
				print pid[i], ppid[i], comm[i]
	    }'
}

# fx_crash ROOT NAME: SIGKILL the topmost process called NAME in the tree
# of ROOT (the process the test started); FX_ORPHANS gets every pid of the
# tree, so that fx_orphans_gone can wait for what survives it.
fx_crash() {
	local tree victim
	tree=$(fx_tree "$1")
	victim=$(awk -v n="$2" '$3 == n { p[$1] = $2; c[$1] = 1 }
	    END { for (i in c) if (!(p[i] in c)) print i }' <<<"$tree")
	if [ -z "$victim" ] || [ "$(wc -w <<<"$victim")" -ne 1 ]; then
		echo "fx_crash: no single $2 in: $tree" >&2
		return 1
	fi
	FX_ORPHANS=$(awk '{ print $1 }' <<<"$tree" | tr '\n' ' ')
	kill -KILL "$victim"
}

# fx_orphans_gone: every process of the crashed tree has ended (bounded).
fx_orphans_gone() {
	local p
	for p in $FX_ORPHANS; do
		fx_wait 60 eval "! kill -0 $p" || return 1
	done
}

# fx_stage ACCOUNT: the stage the account is at in the newest run.
fx_stage() {
	cat "$(fx_last_run)/stage/$1" 2>/dev/null
}

# fx_not_above_target ACCOUNT SYMBOL WEIGHT PRICE: the final holding is
# worth at most its target share of the net liquidation, plus the drift
# threshold (0.5 %) and one share: a retry never overshoots the target.
fx_not_above_target() {
	jq -e --arg a "$1" --arg s "$2" --argjson w "$3" --argjson p "$4" '
	  .accounts[] | select(.id == $a) | .net_liquidation as $v |
	  ([.positions[] | select(.symbol == $s) | .qty] | add // 0) as $q |
	  if $q * $p <= ($w + 0.005) * $v + $p then true
	  else "\($a) \($s): \($q) shares worth \($q * $p) above \($w) of \($v)" | stderr | false end' \
	    ib-final.json >/dev/null
}

# --- Ably: ably-sim, and ably-listen feeding rebal-spool add -------------

FX_KEY=fxapp.fxkey:fx-ably-secret-3d9b

# fx_ably [OPTIONS]: start ably-sim (journal ably.ndjson), key FX_KEY.
fx_ably() {
	export ABLY_SIM_KEYS=$FX_KEY
	start_server AB ably-sim -j "$BATS_TEST_TMPDIR/ably.ndjson" "$@"
}

# fx_listen [VAR=VALUE...]: ably-listen on channel s1 feeding rebal-spool
# add through a fifo, so that each has its own pid (LS_PID, ADD_PID), both
# with VAR=VALUE in their environment; their outputs are appended to
# add.out, add.err and listen.err.
fx_listen() {
	rm -f ev.fifo
	mkfifo ev.fifo
	env "$@" rebal-spool add <ev.fifo >>add.out 2>>add.err &
	ADD_PID=$!
	env ABLY_API_KEY="$FX_KEY" "$@" ably-listen -T -H "127.0.0.1:$AB_PORT" s1 \
	    >ev.fifo 2>>listen.err &
	LS_PID=$!
	FX_PIDS="${FX_PIDS:-} $ADD_PID $LS_PID"
}

# fx_stop_listen: SIGTERM to ably-listen; $status is its exit status, $add
# that of rebal-spool add (which sees the end of its input).
fx_stop_listen() {
	kill -TERM "$LS_PID"
	status=0
	wait "$LS_PID" || status=$?
	add=0
	wait "$ADD_PID" || add=$?
}

# fx_ably_wait EVENT [COUNT]: until ably-sim counted EVENT COUNT times.
fx_ably_wait() {
	curl -sf "http://127.0.0.1:$AB_PORT/_sim/wait?event=$1&count=${2:-1}&timeout=30000" >/dev/null
}

# fx_ably_fault JSON: inject a fault into ably-sim.
fx_ably_fault() {
	curl -sf -X POST -d "$1" "http://127.0.0.1:$AB_PORT/_sim/fault" >/dev/null
}

# fx_pub ID [EXEC]: publish a message with this id on s1.
fx_pub() {
	curl -sf -u "$FX_KEY" -H 'Content-Type: application/json' \
	    -d "{\"id\":\"$1\",\"name\":\"rebalance\",\"data\":{\"exec\":\"${2:-rebalance}\",\"eventId\":\"$1\"}}" \
	    "http://127.0.0.1:$AB_PORT/channels/s1/messages" >/dev/null
}

# fx_in_spool ID: the spool holds item ID.
fx_in_spool() {
	[ -n "$(fx_item "$1")" ]
}

# fx_listen_logged TEXT: ably-listen logged TEXT.
fx_listen_logged() {
	grep -q -- "$1" listen.err
}

# --- shared checks of a row's run directory and a held stage -------------

# fx_story ACCOUNT STATUS [CODE [RUN]]: the run directory (default the
# newest) tells the account's story: summary.ndjson has its line with
# STATUS (and error.code CODE); its log exists (or, for an account that
# failed before its pipeline, as when the allocations could not be had,
# log/run.log names it); its last record ends in the same status.
fx_story() {
	local r=${4:-$(fx_last_run)} got
	got=$(jq -r --arg a "$1" 'select(.account_id == $a) |
	    "\(.status)\(if .error then " \(.error.code)" else "" end)"' \
	    "$r/summary.ndjson")
	if [ "$got" != "$2${3:+ $3}" ]; then
		echo "$r/summary.ndjson: $1 is '$got', not '$2${3:+ $3}'" >&2
		return 1
	fi
	[ -s "$r/event.json" ] && { [ -s "$r/log/$1.log" ] ||
	    grep -q -- ": $1: " "$r/log/run.log"; } || {
		echo "$r: no event.json, or nothing in log/ about $1" >&2
		return 1
	}
	# an account killed before it could record its end has no last
	# record of that status (rebal-run wrote its summary line)
	[ -s "$r/out/$1.ndjson" ] || return 0
	[ "$(tail -n 1 "$r/out/$1.ndjson" | jq -r .status)" = "$2" ] ||
	    [ "$(jq -r 'select(.account_id == $a) | .error.tool // ""' --arg a "$1" \
	        "$r/summary.ndjson")" = rebal-run ] || {
		echo "$r/out/$1.ndjson ends in: $(tail -n 1 "$r/out/$1.ndjson")" >&2
		return 1
	}
}

# fx_hold STAGE: the tool of STAGE (rebal-gate or rebal-calc: stages too
# short to be caught at otherwise) waits before it starts, until
# fx_release, while the test holds a lock; a wrapper first on PATH (as in
# fx_deadlines) does it. fx_held: one waits.
fx_hold() {
	local d=$BATS_TEST_TMPDIR/shim t
	mkdir -p "$d"
	rm -f "$BATS_TEST_TMPDIR/held" "$BATS_TEST_TMPDIR/hold.fifo"
	mkfifo "$BATS_TEST_TMPDIR/hold.fifo"
	flock "$BATS_TEST_TMPDIR/hold.lock" \
	    sh -c 'echo locked; read x <"$1"' sh "$BATS_TEST_TMPDIR/hold.fifo" \
	    >"$BATS_TEST_TMPDIR/hold.out" &
	FX_PIDS="${FX_PIDS:-} $!"
	fx_wait 10 grep -q locked "$BATS_TEST_TMPDIR/hold.out" || return 1
	for t in rebal-gate rebal-calc; do
		cat >"$d/$t" <<-WRAP
		#!/bin/sh
		# the test holds stage $1 (of the account whose output is REBAL_TEE)
		o=\${REBAL_TEE:-}
		a=\${o##*/}
		if [ -n "\$o" ] &&
		    [ "\$(cat "\${o%/out/*}/stage/\${a%.ndjson}" 2>/dev/null)" = "$1" ]; then
			echo \$\$ >>"$BATS_TEST_TMPDIR/held"
			flock "$BATS_TEST_TMPDIR/hold.lock" true
		fi
		exec "$TOP/bin/$t" "\$@"
		WRAP
		chmod +x "$d/$t"
	done
	case :$PATH: in *":$d:"*) ;; *) PATH=$d:$PATH ;; esac
	export PATH
}

fx_held() {
	[ -s "$BATS_TEST_TMPDIR/held" ]
}

# fx_release: the held stage goes on.
fx_release() {
	echo go >"$BATS_TEST_TMPDIR/hold.fifo"
}

# fx_ran ID SOURCE: the newest run directory is event ID's (from SOURCE),
# and its one account ended ok there.
fx_ran() {
	local r
	r=$(fx_last_run)
	assert_equal "$(jq -r '"\(.id) \(.source)"' "$r/event.json")" "$1 $2"
	fx_story DU111111 ok "" "$r"
}

#!/usr/bin/env bats
# rebal-calc: the upstream worked example, golden fixtures, generated
# scenarios with invariants, and bad input.

load helper
bats_require_minimum_version 1.5.0

setup() {
	# the fixtures' quotes are stamped 2026-03-02T15:00:00Z
	export REBAL_NOW=2026-03-02T15:01:00Z
}

orders() {
	jq -r '.plan.orders[] | "\(.action) \(.symbol) \(.qty) \(.type)" +
	    (if .limit then " \(.limit)" else "" end)'
}

# reference/upstream.md 3.2: V 100 000, cash 22 000, reserve 1 %; SPY 100
# (500.00/500.10), TLT 200 (90.00/90.02), GLD 50 (200.00/200.20); targets
# SPY 0.5, TLT 0.3, QQQ 0.2 (400.00/400.20).
@test "worked example: phase-all preview is SELL GLD 50, BUY TLT 89 @90.47, BUY QQQ 33 @402.20" {
	run rebal-calc -p all "$DATA/calc-example.ndjson"
	assert_success
	run orders <<<"$output"
	assert_output "SELL GLD 50 MKT
BUY TLT 89 LMT 90.47
BUY QQQ 33 LMT 402.2"
	run rebal-calc "$DATA/calc-example.ndjson"
	assert_output "$(cat "$DATA/calc-example.all.out")"
}

# After the sell: GLD 50 sold at the 200.00 bid, no commission: cash 22 000
# + 10 000 = 32 000; net liquidation 99 995 (GLD was marked at the 200.10
# mid); SPY 100 and TLT 200 held, same quotes. A = 31 900 / 1.01 =
# 31 584.16, f = 1.00656 -> TLT 129, QQQ 49, cost 31 378.43.
@test "worked example: post-sell buy phase is BUY TLT 129 LMT 90.47, BUY QQQ 49 LMT 402.20" {
	run rebal-calc -p buy "$DATA/calc-example-postsell.ndjson"
	assert_success
	run orders <<<"$output"
	assert_output "BUY TLT 129 LMT 90.47
BUY QQQ 49 LMT 402.2"
	run rebal-calc -p buy "$DATA/calc-example-postsell.ndjson"
	assert_output "$(cat "$DATA/calc-example-postsell.buy.out")"
	run jq -r '.plan.orders[] | "\(.tif) \(.ref)"' <<<"$output"
	assert_output "DAY rebal:ev-1:DU1234567
DAY rebal:ev-1:DU1234567"
}

@test "worked example: the sell phase emits only the sell" {
	run rebal-calc -p sell "$DATA/calc-example.ndjson"
	assert_success
	run orders <<<"$output"
	assert_output "SELL GLD 50 MKT"
}

@test "golden fixtures, each phase" {
	for p in sell buy all; do
		run rebal-calc -q -p $p "$DATA/calc-cases.ndjson"
		assert_success
		assert_output "$(cat "$DATA/calc-cases.$p.out")"
	done
}

@test "only plan is added: every other field passes through unchanged" {
	run sh -c 'rebal-calc -q "$1" | jq -c "del(.plan)"' sh \
	    "$DATA/calc-cases.ndjson"
	assert_output "$(jq -c 'del(.plan)' "$DATA/calc-cases.ndjson")"
}

@test "a print-rebalance job gets phase all whatever -p says" {
	run sh -c 'jq -c "select(.id == \"preview\")" "$1" |
	    rebal-calc -p buy | jq -r .plan.phase' sh "$DATA/calc-cases.ndjson"
	assert_output all
}

@test "failed jobs and other commands pass through untouched" {
	in=$(jq -c 'select(.id == "upstream-failed" or .id == "positions-only")' \
	    "$DATA/calc-cases.ndjson")
	run rebal-calc <<<"$in"
	assert_success
	assert_output "$in"
}

@test "account order_type moc: MOC orders without a limit" {
	run sh -c 'jq -c "select(.id == \"moc\")" "$1" | rebal-calc |
	    jq -c "[.plan.orders[] | [.type, has(\"limit\")]] | unique"' sh \
	    "$DATA/calc-cases.ndjson"
	assert_output '[["MOC",false]]'
	run sh -c 'rebal-calc -M "$1" | jq -r ".plan.orders[].type" | sort -u' sh \
	    "$DATA/calc-example.ndjson"
	assert_output MOC
}

@test "-o LMT: sells are limit orders at the bid less the slippage, on the tick" {
	run sh -c 'rebal-calc -o LMT -p sell "$1" | jq -c ".plan.orders"' sh \
	    "$DATA/calc-example.ndjson"
	# 200.00 x 0.995 = 199.00
	assert_output '[{"symbol":"GLD","action":"SELL","qty":50,"type":"LMT","limit":199,"tif":"DAY","ref":"rebal:ev-1:DU1234567"}]'
}

@test "limits are rounded to the quote's minimum tick" {
	# QQQ ask 401.00, tick 0.05: 401 x 1.005 = 403.005 -> 403.00
	run sh -c 'jq -c "select(.id == \"tick\")" "$1" | rebal-calc -p buy |
	    jq -r ".plan.orders[] | select(.symbol == \"QQQ\") | .limit"' sh \
	    "$DATA/calc-cases.ndjson"
	assert_output 403
}

@test "sells never exceed the whole shares held" {
	# GLD weight 0, bid 190 / ask 210: 10 000 / 190 -> 53, 50 held
	run sh -c 'jq -c "select(.id == \"clamp\")" "$1" | rebal-calc -q -p sell' \
	    sh "$DATA/calc-cases.ndjson"
	run orders <<<"$output"
	assert_output "SELL GLD 50 MKT"
}

@test "fractional and short holdings are warned about, never traded" {
	run sh -c 'jq -c "select(.id == \"odd-holdings\")" "$1" |
	    rebal-calc -p sell 2>"$2"' sh "$DATA/calc-cases.ndjson" \
	    "$BATS_TEST_TMPDIR/err"
	assert_success
	run orders <<<"$output"
	assert_output "SELL GLD 50 MKT
SELL IWM 12 MKT"
	run cat "$BATS_TEST_TMPDIR/err"
	assert_line --partial "DU1234567: Position XLE (0.4 shares, \$36.02) cannot be liquidated"
	assert_line --partial "DU1234567: Short position VXX (-10 shares) is not in the target"
	run sh -c 'jq -c "select(.id == \"odd-holdings\")" "$1" |
	    rebal-calc -q -p sell 2>&1 >/dev/null' sh "$DATA/calc-cases.ndjson"
	assert_output ""
}

@test "cash: missing symbol and insufficient funds warnings, one budget" {
	run sh -c 'jq -c "select(.id == \"missing\" or .id == \"insufficient\")" \
	    "$1" | rebal-calc -q -p buy | jq -r ".plan.warnings[]"' sh \
	    "$DATA/calc-cases.ndjson"
	assert_output "Missing symbol XYZ (1.00% target allocation) could not be purchased. Shortfall: \$404.98
Insufficient funds to optimize portfolio: QQQ (50.00% target allocation, shortfall \$10.98)"
}

@test "the reserve stays cash: no scale-up into it" {
	# all cash 100 000, reserve 10 %, SPY 0.6, TLT 0.3: buys stay at
	# the targets (90 000 x weight), they do not grow to the whole cash
	run sh -c 'jq -c "select(.id == \"reserve\")" "$1" | rebal-calc -p buy' \
	    sh "$DATA/calc-cases.ndjson"
	run orders <<<"$output"
	assert_output "BUY SPY 107 LMT 502.6
BUY TLT 298 LMT 90.47"
}

@test "-m: orders below the minimum value are dropped with a warning" {
	run sh -c 'rebal-calc -q -m 10000 "$1" |
	    jq -r ".plan.orders[].symbol, .plan.warnings[]"' sh \
	    "$DATA/calc-example.ndjson"
	assert_output "GLD
QQQ
BUY 89 TLT (\$8051.83) is below the minimum order value of \$10000.00; not placed"
}

@test "order refs fall back to the job id, then to manual" {
	run sh -c 'jq -c "select(.event_id == null and .exec == \"rebalance\")" \
	    "$1" | rebal-calc -p buy | jq -r ".plan.orders[0].ref"' sh \
	    "$DATA/calc-cases.ndjson"
	assert_output "rebal:ref-id:DU1234567
rebal:manual:DU1234567"
}

@test "generated scenarios hold the invariants in every phase" {
	awk -v seed=20260302 -v n=400 -v at=2026-03-02T15:00:00Z \
	    -f "$TOP/test/calc-gen.awk" >"$BATS_TEST_TMPDIR/gen.ndjson"
	run wc -l <"$BATS_TEST_TMPDIR/gen.ndjson"
	assert_output 400
	for p in sell buy all; do
		rebal-calc -q -p $p "$BATS_TEST_TMPDIR/gen.ndjson" \
		    >"$BATS_TEST_TMPDIR/$p.out"
		run wc -l <"$BATS_TEST_TMPDIR/$p.out"
		assert_output 400
		run jq -r --arg phase $p -f "$TOP/test/calc-check.jq" \
		    "$BATS_TEST_TMPDIR/$p.out"
		assert_success
		assert_output ""
	done
	# the scenarios do trade: sells, buys and zero-drift cases all occur
	run jq -s '[.[] | .plan.orders[] | select(.action == "BUY")] | length' \
	    "$BATS_TEST_TMPDIR/all.out"
	(( output > 100 ))
	run jq -s '[.[] | .plan.orders[] | select(.action == "SELL")] | length' \
	    "$BATS_TEST_TMPDIR/all.out"
	(( output > 100 ))
	run jq -s '[.[] | select(.gen.zero)] | length' "$BATS_TEST_TMPDIR/all.out"
	assert_output 80
}

@test "identical input gives byte-identical output" {
	awk -v seed=7 -v n=200 -v at=2026-03-02T15:00:00Z \
	    -f "$TOP/test/calc-gen.awk" >"$BATS_TEST_TMPDIR/gen.ndjson"
	rebal-calc -q "$BATS_TEST_TMPDIR/gen.ndjson" >"$BATS_TEST_TMPDIR/a"
	REBAL_NOW=2026-03-02T15:04:00Z rebal-calc -q \
	    <"$BATS_TEST_TMPDIR/gen.ndjson" >"$BATS_TEST_TMPDIR/b"
	cmp "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
	[ -s "$BATS_TEST_TMPDIR/a" ]
}

bad_quote() {
	jq -c "$1" "$DATA/calc-example.ndjson" |
	    sed 's/"NAN"/nan/' >"$BATS_TEST_TMPDIR/in"
	run rebal-calc "$BATS_TEST_TMPDIR/in"
	assert_failure 1
	run jq -r '"\(.status) \(.error.code) \(.error.tool) \(.error.message)"' \
	    <<<"$(rebal-calc -q "$BATS_TEST_TMPDIR/in" 2>/dev/null)"
}

@test "a missing quote fails the job naming the symbol" {
	bad_quote 'del(.snapshot.quotes.QQQ)'
	assert_output "failed 65 rebal-calc refusing to trade on bad quotes: QQQ: no quote"
}

@test "null, NaN, zero and negative prices fail the job naming the symbols" {
	bad_quote '.snapshot.quotes.TLT.bid = null'
	assert_output --partial "TLT: invalid bid null"
	bad_quote '.snapshot.quotes.TLT.ask = "NAN"'
	assert_output --partial "TLT: invalid ask NaN"
	bad_quote '.snapshot.quotes.SPY.ask = 0 | .snapshot.quotes.GLD.bid = -1'
	assert_output "failed 65 rebal-calc refusing to trade on bad quotes: SPY: invalid ask 0; GLD: invalid bid -1"
}

@test "a stale quote fails the job; -S sets the limit, -S 0 turns it off" {
	export REBAL_NOW=2026-03-02T15:05:01Z
	bad_quote '.'
	assert_output --partial "SPY: stale quote, 301 s old (limit 300 s)"
	run sh -c 'rebal-calc -S 400 "$1" | jq -r ".status // \"ok\""' sh \
	    "$DATA/calc-example.ndjson"
	assert_output ok
	run sh -c 'REBAL_NOW=2027-01-01T00:00:00Z rebal-calc -S 0 "$1" |
	    jq -r ".plan.orders | length"' sh "$DATA/calc-example.ndjson"
	assert_output 3
	# a quote's own time wins over the snapshot's, which is the fallback
	export REBAL_NOW=2026-03-02T15:05:30Z
	bad_quote '.snapshot.quotes.QQQ.at = "2026-03-02T14:00:00Z" | .snapshot.at = "2026-03-02T15:05:00Z" | del(.snapshot.quotes[] | select(.at != "2026-03-02T14:00:00Z") | .at)'
	assert_output "failed 65 rebal-calc refusing to trade on bad quotes: QQQ: stale quote, 3930 s old (limit 300 s)"
}

@test "the other jobs go on after one fails" {
	{ jq -c 'del(.snapshot.quotes.QQQ)' "$DATA/calc-example.ndjson"
	  cat "$DATA/calc-example.ndjson"; } >"$BATS_TEST_TMPDIR/in"
	run sh -c 'rebal-calc -q "$1" 2>/dev/null | jq -r ".status // .plan.phase"' \
	    sh "$BATS_TEST_TMPDIR/in"
	assert_output "failed
all"
}

@test "allocations outside [0,1], summing above 1, empty or duplicated fail" {
	for f in '.allocations[0].weight = 1.2' '.allocations[0].weight = -0.1' \
	    '.allocations[0].weight = 0.51' '.allocations = []' \
	    '.allocations[1].symbol = "SPY"' '.allocations[0].weight = "0.5"'; do
		jq -c "$f" "$DATA/calc-example.ndjson" >"$BATS_TEST_TMPDIR/in"
		run --separate-stderr rebal-calc -q "$BATS_TEST_TMPDIR/in"
		assert_failure 1
		run jq -r '"\(.status) \(.error.code)"' <<<"$output"
		assert_output "failed 65"
	done
	jq -c '.allocations[0].weight = 0.5000000001' "$DATA/calc-example.ndjson" |
	    rebal-calc -q | jq -e '.plan'
}

@test "bad snapshot and account fields fail the job" {
	for f in '.snapshot.net_liquidation = 0' '.snapshot.cash = null' \
	    'del(.snapshot)' '.account.cash_reserve_percent = 120' \
	    'del(.account.id)' '.snapshot.positions += [{"symbol":"SPY","qty":1}]'; do
		jq -c "$f" "$DATA/calc-example.ndjson" >"$BATS_TEST_TMPDIR/in"
		run --separate-stderr rebal-calc -q "$BATS_TEST_TMPDIR/in"
		assert_failure 1
		run jq -r '"\(.status) \(.error.code)"' <<<"$output"
		assert_output "failed 65"
	done
}

@test "malformed NDJSON: 65 with <stdin>:N:, the good lines still processed" {
	run sh -c '{ cat "$1"; echo "{bad"; cat "$1"; } | rebal-calc -q' sh \
	    "$DATA/calc-example.ndjson"
	assert_failure 65
	assert_line --partial "rebal-calc: <stdin>:2: "
	run sh -c '{ cat "$1"; echo "[1]"; } | rebal-calc -q 2>/dev/null |
	    jq -r .plan.phase' sh "$DATA/calc-example.ndjson"
	assert_output all
}

@test "a write error on stdout exits 74" {
	run sh -c 'rebal-calc "$1" >/dev/full' sh "$DATA/calc-example.ndjson"
	assert_failure 74
	assert_output --partial "write error"
}

@test "REBAL_TEE: every record also appended to the file, and its errors are 74" {
	cd "$BATS_TEST_TMPDIR"
	echo '{"earlier":1}' > kept
	REBAL_TEE=kept rebal-calc "$DATA/calc-example.ndjson" > out
	[ -s out ]
	assert_equal "$(cat kept)" "$(printf '{"earlier":1}\n'; cat out)"
	REBAL_TEE= rebal-calc "$DATA/calc-example.ndjson" > out2
	cmp out out2
	run env REBAL_TEE=/dev/full rebal-calc "$DATA/calc-example.ndjson"
	assert_failure 74
	assert_output --partial "rebal-calc: write error: REBAL_TEE: No space left on device"
	run env REBAL_TEE=nodir/kept rebal-calc "$DATA/calc-example.ndjson"
	assert_failure 74
	assert_output --partial "rebal-calc: REBAL_TEE: nodir/kept: No such file or directory"
}

@test "usage: -h to stdout exits 0, bad options exit 64" {
	run rebal-calc -h
	assert_success
	assert_output --partial "usage: rebal-calc [-hMq]"
	for o in "-p foo" "-z" "-d x" "-b -1" "-o STP" "-u 101"; do
		run rebal-calc $o </dev/null
		assert_failure 64
	done
	# getopt's own message names the tool, not the path it was run by
	run --separate-stderr "$TOP/bin/rebal-calc" -z </dev/null
	assert_failure 64
	assert_equal "${stderr_lines[0]}" "rebal-calc: invalid option -- 'z'"
}

@test "rebal-calc opens no socket" {
	command -v strace >/dev/null || skip "strace not installed"
	# LeakSanitizer cannot run under ptrace (make check SANITIZE=1)
	ASAN_OPTIONS=detect_leaks=0 run strace -f -e trace=execve,socket,connect \
	    -o "$BATS_TEST_TMPDIR/trace" rebal-calc -q "$DATA/calc-cases.ndjson"
	assert_success
	grep -q execve "$BATS_TEST_TMPDIR/trace"
	run grep -c -E 'socket\(|connect\(' "$BATS_TEST_TMPDIR/trace"
	assert_output 0
}

# audit: a position that is not the stock (an option, a future) is not a
# holding of the stock: selling "its" shares would sell stock never held.
@test "an option position on a target symbol is never sold as the stock" {
	jq -c '.allocations[0].weight = 0.01 | .snapshot.positions[0] =
	    {symbol: "SPY", con_id: 999, sec_type: "OPT", currency: "USD",
	     qty: 10, avg_cost: 1500}' "$DATA/calc-example.ndjson" >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr rebal-calc -p sell "$BATS_TEST_TMPDIR/in"
	assert_success
	run orders <<<"$output"
	assert_output "SELL GLD 50 MKT"
	[[ $stderr == *"DU1234567: Position SPY (OPT, 10) is not a stock: not valued or traded"* ]]
	# the stock and an option on it together are no duplicate
	jq -c '.snapshot.positions += [{symbol: "SPY", con_id: 999,
	    sec_type: "OPT", qty: -1, avg_cost: 300}]' "$DATA/calc-example.ndjson" |
	    rebal-calc -q -p all >"$BATS_TEST_TMPDIR/out"
	run orders <"$BATS_TEST_TMPDIR/out"
	assert_output "SELL GLD 50 MKT
BUY TLT 89 LMT 90.47
BUY QQQ 33 LMT 402.2"
}

# audit: delayed data is 15-20 minutes old when it arrives, whatever "at"
# (its arrival) says.
@test "a delayed quote is stale; -S 0 accepts it" {
	bad_quote '.snapshot.quotes.TLT.delayed = true'
	assert_output "failed 65 rebal-calc refusing to trade on bad quotes: TLT: delayed quote (its age is unknown; -S 0 accepts it)"
	run sh -c 'jq -c ".snapshot.quotes.TLT.delayed = true" "$1" |
	    rebal-calc -q -S 0 | jq -r ".plan.orders | length"' sh "$DATA/calc-example.ndjson"
	assert_output 3
	jq -c '.snapshot.quotes.TLT.delayed = false' "$DATA/calc-example.ndjson" |
	    rebal-calc -q | jq -e '.plan'
}

# audit: frozen data (market data types 2 and 4) is the last value before the
# close, however recently it arrived.
@test "a frozen quote is stale like a delayed one; -S 0 accepts it" {
	bad_quote '.snapshot.quotes.QQQ.frozen = true'
	assert_output "failed 65 rebal-calc refusing to trade on bad quotes: QQQ: frozen quote (the last value before the close, its age is unknown; -S 0 accepts it)"
	bad_quote '.snapshot.quotes.SPY.frozen = true | .snapshot.quotes.SPY.delayed = true'
	assert_output "failed 65 rebal-calc refusing to trade on bad quotes: SPY: delayed quote (its age is unknown; -S 0 accepts it)"
	run sh -c 'jq -c ".snapshot.quotes.QQQ.frozen = true" "$1" |
	    rebal-calc -q -S 0 | jq -r ".plan.orders | length"' sh "$DATA/calc-example.ndjson"
	assert_output 3
	jq -c '.snapshot.quotes[].frozen = false' "$DATA/calc-example.ndjson" |
	    rebal-calc -q | jq -e '.plan.orders | length == 3'
}

# audit: ib-order(1) -E refuses old plans by this time.
@test "the plan is as of its snapshot's time; null when the snapshot has none" {
	run sh -c 'jq -c ".snapshot.at = \"2026-03-02T16:00:30+01:00\"" "$1" |
	    rebal-calc -q | jq -r ".plan.as_of"' sh "$DATA/calc-example.ndjson"
	assert_output 2026-03-02T15:00:30Z
	run sh -c 'jq -c "del(.snapshot.at)" "$1" | rebal-calc -q |
	    jq -c "[.status, .plan.as_of, (.plan.orders | length)]"' sh "$DATA/calc-example.ndjson"
	assert_output '[null,null,3]'
}

# audit: a plan must be computed from the job's own account.
@test "a snapshot of another account fails the job" {
	jq -c '.snapshot.account = "DU7777777"' "$DATA/calc-example.ndjson" >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr rebal-calc -q "$BATS_TEST_TMPDIR/in"
	assert_failure 1
	run jq -r '"\(.status) \(.error.code) \(.error.message)"' <<<"$output"
	assert_output "failed 65 the snapshot is of account DU7777777, not DU1234567"
}

# audit: all weights 0 sells everything, as an empty list would.
@test "allocations whose weights are all 0 fail like an empty list" {
	jq -c '.allocations[].weight = 0' "$DATA/calc-example.ndjson" >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr rebal-calc -q "$BATS_TEST_TMPDIR/in"
	assert_failure 1
	run jq -r '"\(.status) \(.error.code) \(.error.message)"' <<<"$output"
	assert_output "failed 65 allocations weigh 0 in all (refusing to treat that as an all-cash target)"
}

#!/usr/bin/env bats
# ib-snapshot against ib-sim: what it reads, and how it fails.
load helper

setup() {
	cd "$BATS_TEST_TMPDIR"
	cp "$DATA/sim-example.yaml" sc.yaml
	jq -nc '{id: "m1", event_id: "e1", strategy: "s", exec: "rebalance",
	    account: {id: "DU1234567", type: "paper", client_id: 7},
	    allocations: [{symbol: "SPY", weight: 0.5}, {symbol: "TLT", weight: 0.3},
	                  {symbol: "QQQ", weight: 0.2}]}' > job.json
}

teardown() {
	stop_server SIM
}

sim() { # sim [yaml lines to append]
	[ $# -eq 0 ] || printf '%s\n' "$@" >> sc.yaml
	start_server SIM ib-sim -f sc.yaml -j journal.ndjson
}

@test "reads positions, balances, contracts, quotes and the gateway's clock" {
	sim
	run --separate-stderr ib-snapshot -H 127.0.0.1:$SIM_PORT job.json
	assert_success
	echo "$output" > out.json
	# the job passes through, the snapshot is added
	assert_equal "$(jq -c 'del(.snapshot)' out.json)" "$(jq -c . job.json)"
	assert_equal "$(jq -r .snapshot.server_time out.json)" 2026-11-20T19:00:00Z
	assert_equal "$(jq -r .snapshot.account out.json)" DU1234567
	assert_equal "$(jq -r .snapshot.cash out.json)" 22000
	assert_equal "$(jq -r .snapshot.net_liquidation out.json)" 100012
	assert_equal "$(jq -c '[.snapshot.positions[] | [.symbol, .qty, .con_id]]' out.json)" \
	    '[["SPY",100,756733],["TLT",200,15547841],["GLD",50,51529211]]'
	# every held and target symbol is quoted, with its contract details
	assert_equal "$(jq -c '.snapshot.quotes | keys' out.json)" '["GLD","QQQ","SPY","TLT"]'
	assert_equal "$(jq -c '.snapshot.quotes.QQQ | [.bid, .ask, .last, .close, .con_id, .min_tick, .time_zone, .delayed]' out.json)" \
	    '[400,400.2,400.1,400,320227571,0.01,"US/Eastern",false]'
	assert_equal "$(jq -r '.snapshot.quotes.SPY.liquid_hours | split(";")[1]' out.json)" 20261120:0930-20261120:1600
	# one connection, with the job's client id, and no order
	assert_equal "$(jq -r 'select(.msg == "START_API") | .client_id' journal.ndjson)" 7
	run grep -c PLACE_ORDER journal.ndjson
	assert_output 0
}

@test "a job's own client_id outside 1..2147483647 fails the job (65), no connection" {
	sim
	for c in 0 -3 1.5 '"7"' 2147483648 true; do
		jq -c ".account.client_id = $c" job.json > bad.json
		run --separate-stderr ib-snapshot -H 127.0.0.1:$SIM_PORT bad.json
		assert_equal "$status" 65
		assert_equal "$(jq -c '[.status, .error.code, .error.message]' <<<"$output")" \
		    '["failed",65,"account.client_id: not a client id (1..2147483647)"]'
	done
	run grep -c CONNECT journal.ndjson
	assert_output 0
}

@test "open orders of every client and today's executions of the account" {
	sim 'orders:' \
	    '  - {account: DU1234567, symbol: SPY, action: BUY, qty: 5, type: LMT, limit: 400, client_id: 99, ref: "manual"}' \
	    '  - {account: DU1234567, symbol: TLT, action: SELL, qty: 10, type: LMT, limit: 120, client_id: 7, ref: "rebal:e0:DU1234567"}' \
	    'executions:' \
	    '  - {account: DU1234567, symbol: GLD, action: SELL, qty: 3, price: 199.5, ref: "rebal:e0:DU1234567", client_id: 7}'
	run --separate-stderr ib-snapshot -H 127.0.0.1:$SIM_PORT job.json
	assert_success
	assert_equal "$(jq -c '[.snapshot.open_orders[] | [.client_id, .symbol, .action, .qty, .type, .limit, .ref]] | sort' <<<"$output")" \
	    '[[7,"TLT","SELL",10,"LMT",120,"rebal:e0:DU1234567"],[99,"SPY","BUY",5,"LMT",400,"manual"]]'
	assert_equal "$(jq -c '[.snapshot.executions_today[] | [.symbol, .action, .qty, .price, .ref]]' <<<"$output")" \
	    '[["GLD","SELL",3,199.5,"rebal:e0:DU1234567"]]'
}

@test "a second snapshot takes the contract details of a recent first one and asks the quotes at once" {
	sim
	ib-snapshot -H 127.0.0.1:$SIM_PORT job.json > s1.json
	run --separate-stderr ib-snapshot -H 127.0.0.1:$SIM_PORT s1.json
	assert_success
	echo "$output" > s2.json
	# the second connection asks no contract details, every quote by con_id
	assert_equal "$(jq -r 'select(.conn == 2 and .msg == "REQ_CONTRACT_DATA") | .symbol' journal.ndjson)" ""
	assert_equal "$(jq -sc '[.[] | select(.conn == 2 and .msg == "REQ_MKT_DATA") | [.symbol, .con_id]] | sort' journal.ndjson)" \
	    '[["GLD",51529211],["QQQ",320227571],["SPY",756733],["TLT",15547841]]'
	# and the quotes carry the same details
	assert_equal "$(jq -c '.snapshot.quotes | map_values(del(.at))' s2.json)" \
	    "$(jq -c '.snapshot.quotes | map_values(del(.at))' s1.json)"
	# an hour-old snapshot, or another account's, is asked again
	jq -c '.snapshot.at = "2000-01-01T00:00:00Z"' s1.json > old.json
	ib-snapshot -H 127.0.0.1:$SIM_PORT old.json > /dev/null
	assert_equal "$(jq -r 'select(.conn == 3 and .msg == "REQ_CONTRACT_DATA") | .symbol' journal.ndjson | sort | tr '\n' ' ')" "GLD QQQ SPY TLT "
	jq -c '.snapshot.account = "DU7654321"' s1.json > other.json
	ib-snapshot -H 127.0.0.1:$SIM_PORT other.json > /dev/null
	assert_equal "$(jq -r 'select(.conn == 4 and .msg == "REQ_CONTRACT_DATA") | .symbol' journal.ndjson | sort | tr '\n' ' ')" "GLD QQQ SPY TLT "
}

@test "a held stock outside the targets is quoted by its con_id beside its contract details" {
	sim 'latency_ms: {default: 1, REQ_CONTRACT_DATA: 300}'
	run --separate-stderr ib-snapshot -H 127.0.0.1:$SIM_PORT job.json
	assert_success
	assert_equal "$(jq -c '.snapshot.quotes.GLD | [.bid, .ask, .con_id, .time_zone]' <<<"$output")" \
	    '[200,200.2,51529211,"US/Eastern"]'
	# GLD's quote is asked before its contract details come back
	cd_gld=$(jq -r 'select(.msg == "REQ_CONTRACT_DATA" and .symbol == "GLD") | .req_id' journal.ndjson)
	assert_equal "$(jq -r --argjson r "$cd_gld" 'select((.msg == "REQ_MKT_DATA" and .symbol == "GLD") or
	    (.msg == "CONTRACT_DATA_END" and .req_id == $r)) | .msg' journal.ndjson | tr '\n' ' ')" \
	    "REQ_MKT_DATA CONTRACT_DATA_END "
}

@test "an unknown symbol fails the job naming it" {
	sim
	jq -c '.allocations += [{symbol: "NOPE", weight: 0}]' job.json > j2.json
	run --separate-stderr ib-snapshot -H 127.0.0.1:$SIM_PORT j2.json
	assert_equal "$status" 65
	assert_equal "$(jq -r .status <<<"$output")" failed
	assert_equal "$(jq -r .error.code <<<"$output")" 65
	assert_equal "$(jq -r .error.tool <<<"$output")" ib-snapshot
	assert_output --partial 'unknown symbol NOPE'
	[[ "$stderr" == "ib-snapshot: DU1234567: unknown symbol NOPE"* ]]
}

@test "a missing bid is asked again until the deadline, then the job fails" {
	sed -i 's/{symbol: QQQ, con_id: 320227571, bid: 400.00/{symbol: QQQ, con_id: 320227571, bid: null/' sc.yaml
	sim
	run --separate-stderr ib-snapshot -r 0.2 -t 2 -H 127.0.0.1:$SIM_PORT job.json
	assert_equal "$status" 75
	assert_output --partial 'no valid bid/ask for QQQ'
	n=$(jq -r 'select(.msg == "REQ_MKT_DATA" and .symbol == "QQQ") | .msg' journal.ndjson | wc -l)
	[ "$n" -ge 3 ]
}

@test "a quote that arrives late is waited for" {
	sed -i 's/{symbol: QQQ, con_id: 320227571, bid: 400.00/{symbol: QQQ, con_id: 320227571, bid: null/' sc.yaml
	sim 'events:' '  - {on: REQ_MKT_DATA, count: 5, symbol: QQQ, bid: 399.9}'
	run --separate-stderr ib-snapshot -r 0.1 -t 10 -H 127.0.0.1:$SIM_PORT job.json
	assert_success
	assert_equal "$(jq -r .snapshot.quotes.QQQ.bid <<<"$output")" 399.9
}

@test "without live permission it falls back to delayed data with a warning" {
	sim 'market_data: delayed'
	run --separate-stderr ib-snapshot -H 127.0.0.1:$SIM_PORT job.json
	assert_success
	assert_equal "$(jq -r '.snapshot.quotes.SPY.delayed' <<<"$output")" true
	assert_equal "$(jq -r '.snapshot.quotes.SPY.bid' <<<"$output")" 500
	assert_equal "$(jq -r '.snapshot.warnings[0]' <<<"$output")" "no live market data (10089): using delayed data"
	[[ "$stderr" == *"using delayed data"* ]]
}

# audit: frozen data (types 2 and 4) is the last value before the close; it
# is marked, and rebal-calc refuses it as stale.
@test "frozen data (type 2, and 4 delayed-frozen) is marked frozen; rebal-calc refuses it" {
	# Friday 22:00 US/Eastern: SPY's trading hours (04:00-20:00) are over;
	# the others have no hours and are always open
	sed -i 's/^clock: .*/clock: {at: 2026-11-21T03:00:00Z}/' sc.yaml
	sim
	run --separate-stderr ib-snapshot -m 2 -H 127.0.0.1:$SIM_PORT job.json
	assert_success
	echo "$output" >out.json
	assert_equal "$(jq -c '.snapshot.quotes | map_values([.bid, .ask, .delayed, .frozen])' out.json)" \
	    '{"SPY":[500,500.1,false,true],"TLT":[90,90.02,false,false],"QQQ":[400,400.2,false,false],"GLD":[200,200.2,false,false]}'
	# as the gateway said: MARKET_DATA_TYPE 2 for SPY, 1 for the others
	assert_equal "$(jq -sc '[.[] | select(.msg == "MARKET_DATA_TYPE") | .type] | unique' journal.ndjson)" '[1,2]'
	run --separate-stderr rebal-calc out.json
	assert_failure 1
	assert_equal "$(jq -r '"\(.status) \(.error.code) \(.error.message)"' <<<"$output")" \
	    "failed 65 refusing to trade on bad quotes: SPY: frozen quote (the last value before the close, its age is unknown; -S 0 accepts it)"
	stop_server SIM
	sed -i 's/^accounts:/market_data: delayed\naccounts:/' sc.yaml
	sim
	run --separate-stderr ib-snapshot -m 4 -H 127.0.0.1:$SIM_PORT job.json
	assert_success
	assert_equal "$(jq -c '.snapshot.quotes | map_values([.bid, .delayed, .frozen])' <<<"$output")" \
	    '{"SPY":[500,true,true],"TLT":[90,true,false],"QQQ":[400,true,false],"GLD":[200,true,false]}'
}

@test "an account the gateway does not manage is a configuration error" {
	sim
	jq -c '.account.id = "DU7654321"' job.json > j2.json
	run --separate-stderr ib-snapshot -H 127.0.0.1:$SIM_PORT j2.json
	assert_equal "$status" 78
	assert_output --partial "account DU7654321 is not managed by the gateway"
}

@test "a refused connection is 69" {
	sim
	stop_server SIM
	run --separate-stderr ib-snapshot -t 5 -H 127.0.0.1:$SIM_PORT job.json
	assert_equal "$status" 69
	assert_equal "$(jq -r .error.code <<<"$output")" 69
}

@test "a gateway that accepts and closes (not logged in) is 69" {
	sim 'faults:' '  - {not_logged_in: true}'
	run --separate-stderr ib-snapshot -t 5 -H 127.0.0.1:$SIM_PORT job.json
	assert_equal "$status" 69
}

@test "a gateway that goes silent is a timeout, 75, at the deadline" {
	sim 'faults:' '  - {silent_after: 3}'
	run --separate-stderr ib-snapshot -t 1 -H 127.0.0.1:$SIM_PORT job.json
	assert_equal "$status" 75
	assert_equal "$(jq -r .error.code <<<"$output")" 75
}

@test "a client id still in use is retried" {
	sim 'faults:' '  - {connection: 1, duplicate_client_id: true}'
	run --separate-stderr ib-snapshot -t 10 -H 127.0.0.1:$SIM_PORT job.json
	assert_success
	assert_equal "$(jq -r 'select(.msg == "START_API") | .client_id' journal.ndjson | wc -l)" 2
	[[ "$stderr" == *"ib-snapshot: 127.0.0.1:$SIM_PORT: client id "*" is in use (326): retrying until the deadline"* ]]
}

@test "a failed job passes through untouched and opens no connection" {
	sim
	jq -c '.status = "failed"' job.json > j2.json
	run --separate-stderr ib-snapshot -H 127.0.0.1:$SIM_PORT j2.json
	assert_success
	assert_output "$(cat j2.json)"
	run grep -c START_API journal.ndjson
	assert_output 0
}

@test "-a with no input makes a bare record for the account" {
	sim
	run --separate-stderr sh -c "ib-snapshot -a DU1234567 -c 9 -H 127.0.0.1:$SIM_PORT </dev/null"
	assert_success
	assert_equal "$(jq -c '[.account.id, (.snapshot.positions | length)]' <<<"$output")" '["DU1234567",3]'
}

@test "bad input, write errors and usage" {
	run --separate-stderr sh -c 'printf "{\n" | ib-snapshot -H 127.0.0.1:1'
	assert_equal "$status" 65
	[[ "$stderr" == "ib-snapshot: <stdin>:1: "* ]]
	sim
	run sh -c "ib-snapshot -H 127.0.0.1:$SIM_PORT job.json >/dev/full"
	assert_equal "$status" 74
	run ib-snapshot -h
	assert_success
	assert_output --partial "usage: ib-snapshot"
	run ib-snapshot -m 7
	assert_equal "$status" 64
	# 0 is IB's special client id (it sees and binds TWS orders)
	run --separate-stderr ib-snapshot -c 0
	assert_equal "$status" 64
	assert_equal "$stderr" "ib-snapshot: -c: invalid number '0' (1..2147483647)"
}

# audit: prices are in USD (SMART, USD contracts); a net liquidation and cash
# in another currency would size every order by the exchange rate.
@test "an account whose values are not in USD fails (78) instead of mixing currencies" {
	sed -i 's/^    cash: 22000$/    cash: 22000\n    currency: CAD/' sc.yaml
	sim
	run --separate-stderr ib-snapshot -H 127.0.0.1:$SIM_PORT job.json
	assert_failure 78
	assert_equal "$(jq -r '"\(.status) \(.error.code) \(.error.message)"' <<<"$output")" \
	    "failed 78 the account's values are in CAD, not USD: orders of US stocks are sized in USD, and currencies are not converted"
	assert_equal "$(jq -r '.snapshot // "none"' <<<"$output")" none
}

@test "the gateway loses IB (1100) and does not get it back: 75 at the deadline, saying so" {
	sim 'events:' '  - {on: REQ_CONTRACT_DATA, connectivity: lost}'
	run --separate-stderr ib-snapshot -t 2 -H 127.0.0.1:$SIM_PORT job.json
	assert_equal "$status" 75
	assert_equal "$(jq -r '.status, .error.code, .error.message' <<<"$output" | paste -sd'|')" \
	    "failed|75|the gateway lost IB (1100) and did not get it back within 2 s"
	[[ "$stderr" == *"the gateway lost IB (1100 Connectivity between IB and Trader Workstation has been lost.): waiting for it"* ]]
}

@test "the gateway loses IB and gets it back (1102, 1101): the snapshot starts over and sees what happened meanwhile" {
	local lost back
	for lost in 1100 2110; do
		[ $lost = 1100 ] && back=1102 || back=1101
		cp "$DATA/sim-example.yaml" sc.yaml
		# a resting buy that becomes marketable while IB is lost fills
		# once it is back
		sim 'orders:' \
		    '  - {account: DU1234567, symbol: SPY, action: BUY, qty: 10, limit: 499, client_id: 99, ref: manual}' \
		    'events:' \
		    "  - {on: REQ_CONTRACT_DATA, connectivity: lost, code: $lost}" \
		    '  - {on: REQ_CONTRACT_DATA, symbol: SPY, bid: 498.8, ask: 498.9}' \
		    "  - {on: REQ_MKT_DATA, connectivity: restored, code: $back}"
		run --separate-stderr ib-snapshot -t 10 -H 127.0.0.1:$SIM_PORT job.json
		assert_success
		[[ "$stderr" == *"the gateway lost IB ($lost "*"IB is back ($back "*"asking again"* ]]
		assert_equal "$(jq -c '[.snapshot.positions[] | [.symbol, .qty]]' <<<"$output")" '[["SPY",110],["TLT",200],["GLD",50]]'
		assert_equal "$(jq -c '[.snapshot.executions_today[] | [.symbol, .qty, .price]]' <<<"$output")" '[["SPY",10,498.9]]'
		assert_equal "$(jq -c '.snapshot.open_orders' <<<"$output")" '[]'
		assert_equal "$(jq -c '.snapshot.quotes.SPY | [.bid, .ask]' <<<"$output")" '[498.8,498.9]'
		stop_server SIM
		# everything was asked again after IB came back
		assert_equal "$(jq -r 'select(.dir == "in" and .msg == "REQ_POSITIONS_MULTI") | .msg' journal.ndjson | wc -l)" 2
		assert_equal "$(jq -r 'select(.dir == "in" and .msg == "REQ_ACCOUNT_UPDATES_MULTI") | .msg' journal.ndjson | wc -l)" 2
	done
}

@test "without live permission, frozen (-m 2) falls back to delayed frozen (4), not delayed (3)" {
	# Friday 22:00 US/Eastern: SPY's trading hours are over
	sed -i 's/^clock: .*/clock: {at: 2026-11-21T03:00:00Z}/' sc.yaml
	sim 'market_data: delayed'
	run --separate-stderr ib-snapshot -m 2 -H 127.0.0.1:$SIM_PORT job.json
	assert_success
	assert_equal "$(jq -c '.snapshot.quotes.SPY | [.bid, .delayed, .frozen]' <<<"$output")" '[500,true,true]'
	assert_equal "$(jq -r '.snapshot.warnings[0]' <<<"$output")" "no live market data (10089): using delayed frozen data"
	assert_equal "$(jq -sc '[.[] | select(.msg == "REQ_MARKET_DATA_TYPE") | .type] | unique' journal.ndjson)" '[2,4]'
}

#!/usr/bin/env bats
# ib-sim: scenario errors, the protocol as seen by a raw client and by
# @stoqey/ib (test/conformance/ib.mjs), journal, final state, faults.

load helper

CONF=$TOP/test/conformance
J=
S=

setup() {
	J=$BATS_TEST_TMPDIR/journal.ndjson
	S=$BATS_TEST_TMPDIR/state.json
}

teardown() {
	stop_server SIM
}

# sim [SCENARIO]: start ib-sim on a free port with a journal and a state file.
sim() {
	start_server SIM ib-sim ${1:+-f "$1"} -j "$J" -o "$S"
}

# scenario NAME: write stdin to $BATS_TEST_TMPDIR/NAME.yaml, print the path.
scenario() {
	cat >"$BATS_TEST_TMPDIR/$1.yaml"
	echo "$BATS_TEST_TMPDIR/$1.yaml"
}

raw() {
	node "$CONF/tws-raw.mjs" "$SIM_PORT" "$@"
}

ib() {
	node "$CONF/ib.mjs" "$SIM_PORT" "$@"
}

# journal_has JQ: some journal line satisfies the jq condition.
journal_has() {
	[ -f "$J" ] && [ -n "$(jq -c "select($1)" "$J" 2>/dev/null)" ]
}

# wait_journal JQ: until a journal line satisfies it (bounded, 10 s).
wait_journal() {
	local i
	for i in $(seq 200); do
		journal_has "$1" && return 0
		sleep 0.05
	done
	echo "journal never showed: $1" >&2
	return 1
}

# stop ib-sim and check it exited 0 and wrote the state
stop_sim() {
	local pid=$SIM_PID
	kill -TERM "$pid"
	wait "$pid"
	SIM_PID=
	[ -s "$S" ]
}

@test "ib-sim -h prints the usage; a bad option is 64" {
	run ib-sim -h
	assert_success
	assert_output --partial "usage: ib-sim"
	run ib-sim -x
	assert_failure 64
	run ib-sim extra-operand
	assert_failure 64
}

@test "scenario errors exit 78 and name file:line" {
	f=$(scenario unknown <<-'EOF'
	accounts:
	  - {id: DU1, cash: 10}
	colck: {at: 2026-03-02T15:00:00Z}
	EOF
	)
	run ib-sim -f "$f"
	assert_failure 78
	assert_output --partial "$f:3: unknown key \"colck\""

	f=$(scenario type <<-'EOF'
	accounts:
	  - id: DU1
	    cash: lots
	EOF
	)
	run ib-sim -f "$f"
	assert_failure 78
	assert_output --partial "$f:3: cash: expected a number"

	f=$(scenario possym <<-'EOF'
	symbols:
	  - {symbol: SPY, con_id: 1}
	accounts:
	  - id: DU1
	    cash: 10
	    positions:
	      - {symbol: QQQ, qty: 1}
	EOF
	)
	run ib-sim -f "$f"
	assert_failure 78
	assert_output --partial "$f:7: symbol: \"QQQ\" is not in symbols"

	f=$(scenario hours <<-'EOF'
	accounts: [{id: DU1, cash: 10}]
	symbols:
	  - symbol: SPY
	    con_id: 1
	    liquid_hours: "9:30 to 16:00"
	EOF
	)
	run ib-sim -f "$f"
	assert_failure 78
	assert_output --partial "$f:5: liquid_hours:"

	f=$(scenario yaml <<-'EOF'
	accounts:
	  - {id: DU1, cash: 10
	EOF
	)
	run ib-sim -f "$f"
	assert_failure 78
	assert_output --regexp "$f:[0-9]+:"

	f=$(scenario fault <<-'EOF'
	accounts: [{id: DU1, cash: 10}]
	faults:
	  - {client_id: 3, not_logged_in: true}
	EOF
	)
	run ib-sim -f "$f"
	assert_failure 78
	assert_output --partial "$f:3: client_id:"

	f=$(scenario noacct <<-'EOF'
	symbols: [{symbol: SPY, con_id: 1}]
	EOF
	)
	run ib-sim -f "$f"
	assert_failure 78
	assert_output --partial "accounts: at least one needed"

	run ib-sim -f "$BATS_TEST_TMPDIR/missing.yaml"
	assert_failure 78
}

@test "port 0: the port is the first and only line on stdout" {
	sim
	[[ $SIM_PORT =~ ^[0-9]+$ ]]
	[ "$SIM_PORT" -gt 0 ]
	run raw greet "start 1"
	assert_success
	stop_sim
	run cat <&"$SIM_FD"
	assert_output ""
}

@test "handshake: 176, managed accounts, next id, farm notices" {
	sim
	run raw greet "start 7"
	assert_success
	assert_line --regexp '^\["176","[0-9]{8} [0-9:]{8} America/New_York"\]$'
	assert_line '["15","1","DU1234567"]'
	assert_line '["9","1","1"]'
	assert_line '["4","2","-1","2104","Market data farm connection is OK:usfarm",""]'
	assert_line --partial '"2106"'
	assert_line --partial '"2158"'
	journal_has '.msg == "HANDSHAKE" and .versions == "v100..176"'
	journal_has '.msg == "START_API" and .client_id == 7'
}

@test "split and coalesced frames are served" {
	sim
	run raw greet "split 71,2,8," "wait 9" "many 49,1;17,1;8,1,1" "wait 49" \
	    "wait 15" "wait 9"
	assert_success
	assert_line --regexp '^\["49","1","[0-9]+"\]$'
}

@test "version ranges: above 176 is closed, below 176 answered then closed" {
	sim
	run raw "greet v177..190"
	assert_failure
	assert_output --partial "connection closed"
	run raw "greet v100..150" closed
	assert_success
	assert_line --regexp '^\["150",'
	run raw "greet v176" "start 2"
	assert_success
	f=$(scenario old <<-'EOF'
	server_version: 170
	accounts: [{id: DU1, cash: 10}]
	EOF
	)
	stop_server SIM
	sim "$f"
	run raw greet closed
	assert_success
	assert_line --regexp '^\["170",'
}

@test "a request before START_API and a short request" {
	sim
	run raw greet "send 49,1" closed
	assert_success
	run raw greet "start 3" "send 62,1,5" "err 320"
	assert_success
	journal_has '.msg == "REQ_ACCOUNT_SUMMARY" and .error == "missing fields"'
}

@test "conformance: @stoqey/ib drives the rebalancer's message set" {
	sim "$DATA/ib-sim/conformance.yaml"
	run ib conformance
	echo "$output"
	assert_success
	assert_output --partial "PASS"
	refute_output --partial "not ok"
	stop_sim
	# every request was read with the expected field count
	run jq -c 'select(.dir == "in" and (.error or .extra_fields))' "$J"
	assert_output ""
	run jq -s -c '[.[] | select(.msg == "PLACE_ORDER") | .nfields] | unique' "$J"
	assert_output "[115]"
	run jq -s -c '[.[] | select(.msg == "REQ_MKT_DATA") | .nfields] | unique' "$J"
	assert_output "[20]"
	# the broker's view: SPY 100 + 10 MKT + 3 MOC, QQQ 5 via the LMT
	run jq -c '.accounts[0].positions | map([.symbol, .qty])' "$S"
	assert_output '[["SPY",113],["QQQ",5]]'
	run jq -c '.orders[] | select(.client_id == 3) | [.order_id, .status]' "$S"
	assert_output '[17,"Submitted"]'
}

@test "journal: a placed order with everything a test needs" {
	sim "$DATA/ib-sim/conformance.yaml"
	run ib order 9 DU222222 QQQ SELL 4 LMT 420.1 rebal:e1:DU222222
	assert_success
	assert_output --partial "status Filled filled 4 remaining 0 avg 420.1"
	stop_sim
	run jq -c 'select(.msg == "PLACE_ORDER") |
	    [.client_id, .order_id, .account, .symbol, .action, .qty, .type,
	     .limit, .tif, .ref, .transmit]' "$J"
	assert_output '[9,1,"DU222222","QQQ","SELL",4,"LMT",420.1,"DAY","rebal:e1:DU222222",1]'
	run jq -c 'select(.dir == "out" and .client_id == 9 and
	    (.msg == "OPEN_ORDER" or .msg == "ORDER_STATUS" or
	     .msg == "EXECUTION_DATA" or .msg == "COMMISSION_REPORT")) |
	    [.msg, .status // .exec_id[-5:]]' "$J"
	assert_output - <<-'EOF'
	["OPEN_ORDER","Submitted"]
	["ORDER_STATUS","Submitted"]
	["EXECUTION_DATA","01.01"]
	["OPEN_ORDER","Filled"]
	["ORDER_STATUS","Filled"]
	["COMMISSION_REPORT","01.01"]
	EOF
	# QQQ 10 - 4 at the bid, commission 1.00 from the proceeds
	run jq -c '.accounts[1] | [.cash, .positions[0].qty]' "$S"
	assert_output '[6679.4,6]'
}

@test "final state after delayed partial fills" {
	f=$(scenario partial <<-'EOF'
	clock: {at: 2026-03-02T15:00:00Z}
	commission: {per_share: 0.01, min: 2}
	fills: {delay_ms: 30, step_ms: 10, partial: 0.25}
	accounts: [{id: DU1, cash: 10000}]
	symbols:
	  - {symbol: SPY, con_id: 756733, bid: 500, ask: 500.05, last: 500}
	EOF
	)
	sim "$f"
	run ib order 4 DU1 SPY BUY 10 MKT
	assert_success
	assert_output --partial "status Filled filled 10 remaining 0 avg 500.05"
	stop_sim
	run jq -c '[.executions[] | .qty]' "$S"
	assert_output '[3,3,3,1]'
	run jq -c '[.executions[] | .commission]' "$S"
	assert_output '[2,0,0,0]'
	run jq -c '.accounts[0] | [.cash, .settled_cash, .positions]' "$S"
	assert_output '[4997.5,4997.5,[{"symbol":"SPY","con_id":756733,"qty":10,"avg_cost":500.25}]]'
	run jq -c '.orders[0] | [.status, .filled, .avg_price, .commission, .ref]' "$S"
	assert_output '["Filled",10,500.05,2,"rebal:test:DU1"]'
}

@test "partial fills with a step limit leave the rest open" {
	f=$(scenario steps <<-'EOF'
	fills: {partial: 0.5, steps: 1}
	accounts: [{id: DU1, cash: 10000}]
	symbols: [{symbol: SPY, con_id: 1, bid: 10, ask: 10.5}]
	EOF
	)
	sim "$f"
	IB_WAIT_STATUS=Submitted run ib order 4 DU1 SPY SELL 7 MKT
	assert_success
	wait_journal '.msg == "COMMISSION_REPORT"'
	stop_sim
	run jq -c '.orders[0] | [.status, .filled]' "$S"
	assert_output '["Submitted",4]'
	run jq -c '.accounts[0].positions' "$S"
	assert_output '[{"symbol":"SPY","con_id":1,"qty":-4,"avg_cost":9.75}]'
}

@test "32 clients at once; the 33rd is turned away" {
	sim "$DATA/ib-sim/conformance.yaml"
	run ib many 32
	echo "$output"
	assert_success
	refute_output --partial "not ok"
	stop_sim
	run jq -s '[.[] | select(.msg == "START_API")] | length' "$J"
	assert_output 32
	run jq -s -c '[.[] | select(.msg == "CLOSE") | .reason] | unique' "$J"
	assert_output --partial "too many clients"
}

@test "a client id in use gets 326 and is closed" {
	sim
	run ib dup 5
	echo "$output"
	assert_success
	refute_output --partial "not ok"
	journal_has '.msg == "ERR_MSG" and .code == 326 and .id == -1'
}

@test "faults: not logged in, silent, disconnect after N, duplicate id, pacing" {
	f=$(scenario faults <<-'EOF'
	accounts: [{id: DU1, cash: 10}]
	faults:
	  - {connection: 1, not_logged_in: true}
	  - {connection: 2, silent_after: 1}
	  - {connection: 3, disconnect_after: 2}
	  - {connection: 4, pacing: 3}
	  - {connection: 5, client_id: 5, duplicate_client_id: true}
	  - {connection: 6, silent_after: 0}
	EOF
	)
	sim "$f"
	run raw greet
	assert_failure
	assert_output --partial "connection closed"
	# 2: START_API answered, then nothing
	run raw greet "start 7" "send 49,1" "wait 49"
	assert_failure
	assert_output --partial "no message 49"
	wait_journal '.conn == 2 and .msg == "REQ_CURRENT_TIME" and .dropped == "silent"'
	# 3: two messages answered, then closed
	run raw greet "start 7" "send 49,1" "wait 49" closed
	assert_success
	# 4: a burst over 3 a second is error 100
	run raw greet "start 7" "many 49,1;49,1;49,1;49,1" "err 100"
	assert_success
	# 5: client id 5 is "in use"
	run raw greet "send 71,2,5," "err 326" closed
	assert_success
	# 6: not even the handshake
	IB_DEADLINE_MS=300 run raw greet
	assert_failure
	wait_journal '.conn == 6 and .msg == "HANDSHAKE"'
	run jq -c 'select(.conn == 6 and .dir == "out")' "$J"
	assert_output ""
	stop_sim
	run jq -c 'select(.msg == "CLOSE") | [.conn, .reason]' "$J"
	assert_line '[1,"not logged in"]'
	assert_line '[3,"disconnect_after"]'
	assert_line '[5,"duplicate client id"]'
}

@test "market data: permission none is 354; closed market: bid/ask -1, frozen keeps them" {
	f=$(scenario md <<-'EOF'
	clock: {at: 2026-03-07T15:00:00Z}     # a Saturday
	accounts: [{id: DU1, cash: 10}]
	symbols:
	  - {symbol: SPY, con_id: 1, bid: 500, ask: 500.05, last: 500.02,
	     close: 499.5, trading_hours: "04:00-20:00"}
	  - {symbol: OFF, con_id: 2, bid: 1, ask: 2, market_data: none}
	EOF
	)
	sim "$f"
	req='1,11,5,0,SPY,STK,,0,,,SMART,,USD,,,0,,1,0,'
	run raw greet "start 1" "send $req" "wait 57"
	assert_success
	assert_line '["58","1","5","1"]'
	assert_line '["1","6","5","1","-1","0","0"]'
	assert_line '["1","6","5","2","-1","0","0"]'
	assert_line '["1","6","5","4","500.02","100","0"]'
	assert_line '["1","6","5","9","499.5","0","0"]'
	run raw greet "start 1" "send 59,1,2" "send $req" "wait 57"
	assert_success
	assert_line '["58","1","5","2"]'
	assert_line '["1","6","5","1","500","100","0"]'
	run raw greet "start 1" "send ${req/SPY/OFF}" "err 354"
	assert_success
}

@test "market hours: MKT held with 399 when closed; MOC fills at the close" {
	f=$(scenario moc <<-'EOF'
	clock: {at: 2026-03-02T20:59:00Z, speed: 10}   # 15:59 New York, fast
	accounts: [{id: DU1, cash: 100000}]
	symbols:
	  - {symbol: SPY, con_id: 1, bid: 500, ask: 500.05, last: 500.02,
	     close: 501, liquid_hours: "09:30-16:00"}
	EOF
	)
	sim "$f"
	IB_DEADLINE_MS=20000 run ib order 3 DU1 SPY BUY 2 MOC
	assert_success
	assert_output --partial "status Filled filled 2 remaining 0 avg 501"
	# the clock has passed 16:00 now: a MKT order waits for the next open
	IB_WAIT_STATUS=PreSubmitted run ib order 4 DU1 SPY BUY 1 MKT
	assert_success
	wait_journal '.msg == "ERR_MSG" and .code == 399'
	run jq -r 'select(.code == 399) | .text' "$J"
	assert_output --partial "until 2026-03-03 09:30:00 US/Eastern"
	stop_sim
	run jq -c '[.orders[] | [.type, .status]]' "$S"
	assert_output '[["MOC","Filled"],["MKT","PreSubmitted"]]'
}

@test "streaming market data sees scripted quote changes, NaN and no data" {
	f=$(scenario stream <<-'EOF'
	accounts: [{id: DU1, cash: 10}]
	symbols:
	  - {symbol: SPY, con_id: 1, bid: 500, ask: 500.05, last: 500.02}
	events:
	  - {on: REQ_MKT_DATA, after_ms: 10, symbol: SPY, bid: 501, ask: nan,
	     last: null}
	EOF
	)
	sim "$f"
	run raw greet "start 1" "send 1,11,5,1,,STK,,0,,,SMART,,USD,,,0,,0,0," \
	    "expect 1,6,5,1,500,100,0" "expect 1,6,5,1,501,100,0" \
	    "expect 1,6,5,2,NaN,0,0" "expect 1,6,5,4,-1,0,0"
	assert_success
	refute_line --partial '"57"'
	journal_has '.msg == "QUOTE" and .symbol == "SPY" and .ask == "nan"'
}

@test "an ambiguous symbol: two contract details, 200 for market data" {
	f=$(scenario ambiguous <<-'EOF'
	accounts: [{id: DU1, cash: 10}]
	symbols:
	  - {symbol: ABC, con_id: 1, bid: 1, ask: 2, primary_exchange: NYSE}
	  - {symbol: ABC, con_id: 2, bid: 3, ask: 4, primary_exchange: ARCA}
	EOF
	)
	sim "$f"
	run raw greet "start 1" "send 9,8,4,0,ABC,STK,,0,,,SMART,,USD,,,0,,," \
	    "wait 52" "send 1,11,5,0,ABC,STK,,0,,,SMART,,USD,,,0,,1,0," "err 200" \
	    "send 1,11,6,0,ABC,STK,,0,,,SMART,ARCA,USD,,,0,,1,0," "wait 57"
	assert_success
	assert_line --partial 'ABC is ambiguous.",""]'
	run jq -c 'select(.msg == "CONTRACT_DATA") | [.con_id, .primary_exchange]' "$J"
	assert_output - <<-'EOF'
	[1,"NYSE"]
	[2,"ARCA"]
	EOF
	journal_has '.msg == "TICK_PRICE" and .req_id == 6 and .tick == 1 and .price == 3'
}

@test "global cancel cancels every client's open orders; SIGINT writes the state" {
	sim "$DATA/ib-sim/conformance.yaml"
	run raw greet "start 8" "send 58,1"
	assert_success
	wait_journal '.msg == "REQ_GLOBAL_CANCEL"'
	kill -INT "$SIM_PID"
	wait "$SIM_PID"
	SIM_PID=
	run jq -c '.orders[] | [.client_id, .order_id, .status]' "$S"
	assert_output '[3,17,"Cancelled"]'
}

@test "connectivity: scenario errors name file:line" {
	f=$(scenario net1 <<-'EOF'
	accounts: [{id: DU1, cash: 10}]
	events:
	  - {after_ms: 1, connectivity: gone}
	EOF
	)
	run ib-sim -f "$f"
	assert_failure 78
	assert_output --partial "$f:3: connectivity: \"gone\" is not lost or restored"
	f=$(scenario net2 <<-'EOF'
	accounts: [{id: DU1, cash: 10}]
	events:
	  - {after_ms: 1, connectivity: lost, code: 1102}
	EOF
	)
	run ib-sim -f "$f"
	assert_failure 78
	assert_output --partial "$f:3: code: lost is 1100 or 2110, not 1102"
	f=$(scenario net3 <<-'EOF'
	accounts: [{id: DU1, cash: 10}]
	symbols: [{symbol: SPY, con_id: 1}]
	events:
	  - {after_ms: 1, symbol: SPY, bid: 2, code: 1101}
	  - {after_ms: 1, symbol: SPY, connectivity: restored}
	EOF
	)
	run ib-sim -f "$f"
	assert_failure 78
	assert_output --partial "$f:4: code: only with connectivity"
	sed -i 4d "$f"
	run ib-sim -f "$f"
	assert_failure 78
	assert_output --partial "$f:4: connectivity: not with a symbol"
	sed -i 's/symbol: SPY, connectivity: restored/on: PLACE_ORDER/' "$f"
	run ib-sim -f "$f"
	assert_failure 78
	assert_output --partial "$f:4: an event needs a symbol, auction or connectivity"
}

@test "conformance: @stoqey/ib reports 1100, 2110, 1101, 1102 as a real gateway's notices" {
	sim "$DATA/ib-sim/connectivity.yaml"
	run ib connectivity
	echo "$output"
	assert_success
	assert_output --partial "PASS"
	refute_output --partial "not ok"
	stop_sim
	run jq -c 'select(.msg == "HELD") | .request' "$J"
	assert_output - <<-'EOF'
	"REQ_MANAGED_ACCTS"
	"REQ_CURRENT_TIME"
	"REQ_CURRENT_TIME"
	EOF
	run jq -c 'select(.msg == "CONNECTIVITY") | [.state, .code]' "$J"
	assert_output - <<-'EOF'
	["lost",1100]
	["restored",1102]
	["lost",2110]
	["restored",1101]
	EOF
}

@test "connectivity: nothing fills while IB is lost; the order fills after 1102" {
	f=$(scenario netfill <<-'EOF'
	accounts: [{id: DU1, cash: 10000}]
	symbols: [{symbol: SPY, con_id: 1, bid: 10, ask: 10.5}]
	events:
	  - {on: PLACE_ORDER, connectivity: lost}
	  - {on: PLACE_ORDER, after_ms: 200, connectivity: restored}
	EOF
	)
	sim "$f"
	run ib order 4 DU1 SPY BUY 5 MKT
	assert_success
	assert_output --partial "status Filled filled 5 remaining 0 avg 10.5"
	stop_sim
	run jq -c 'select(.dir == "out" and ((.msg == "ERR_MSG" and .code > 1000
	    and .code < 2000) or .msg == "ORDER_STATUS" or
	    .msg == "EXECUTION_DATA")) | [.msg, .code // .status // .exec_id[-5:]]' "$J"
	assert_output - <<-'EOF'
	["ORDER_STATUS","Submitted"]
	["ERR_MSG",1100]
	["ERR_MSG",1102]
	["EXECUTION_DATA","01.01"]
	["ORDER_STATUS","Filled"]
	EOF
}

@test "connectivity: 1101 drops every subscription; a client connecting meanwhile is told; held requests die with their connection" {
	f=$(scenario netlost <<-'EOF'
	accounts: [{id: DU1, cash: 10}]
	symbols: [{symbol: SPY, con_id: 1, bid: 500, ask: 500.05, last: 500.02}]
	events:
	  - {on: REQ_IDS, connectivity: lost, code: 2110}
	  - {on: REQ_CURRENT_TIME, connectivity: restored, code: 1101}
	  # then a resting order of another client fills: nothing is pushed
	  - {on: REQ_CURRENT_TIME, symbol: SPY, ask: 400}
	  - {on: REQ_IDS, count: 2, connectivity: lost}
	orders:
	  - {client_id: 9, account: DU1, symbol: SPY, action: BUY, qty: 1,
	     limit: 450}
	EOF
	)
	sim "$f"
	# a stream and a positions subscription, then 2110; the cancel of the
	# stream waits for IB, and after 1101 the stream is gone (300)
	run raw greet "start 1" "send 1,11,5,1,,STK,,0,,,SMART,,USD,,,0,,0,0," \
	    "expect 1,6,5,1,500,100,0" "send 74,1,7,DU1," "wait 72" \
	    "send 8,1,1" "err 2110" "err 2157" "send 2,1,5" "send 49,1" \
	    "err 1101" "err 300" "wait 49"
	assert_success
	# 1100 with a request held when the client leaves
	run raw greet "start 2" "send 8,1,1" "err 1100" "send 17,1"
	assert_success
	wait_journal '.msg == "HELD" and .request == "REQ_MANAGED_ACCTS"'
	# connecting while IB is lost: the outage instead of the farms' OK
	run raw greet "start 3" "err 1100" "err 2103"
	assert_success
	refute_output --partial '"2104"'
	stop_sim
	journal_has '.msg == "REQ_MANAGED_ACCTS" and .conn == 2 and .dropped == "offline"'
	journal_has '.msg == "CANCEL_MKT_DATA" and .held == true'
	# the positions stream of connection 1 ended with the 1101: the fill
	# after it pushed no row
	run jq -c '.orders[0] | [.status, .filled]' "$S"
	assert_output '["Filled",1]'
	run jq -c 'select(.dir == "out" and .conn == 1 and
	    (.msg == "POSITION_MULTI" or .msg == "POSITION_MULTI_END" or
	     .msg == "TICK_PRICE" and .price == 400 or
	     (.msg == "ERR_MSG" and .code > 1000 and .code < 3000)))
	    | [.msg, .code]' "$J"
	assert_output - <<-'EOF'
	["ERR_MSG",2104]
	["ERR_MSG",2106]
	["ERR_MSG",2158]
	["POSITION_MULTI_END",null]
	["ERR_MSG",2110]
	["ERR_MSG",2103]
	["ERR_MSG",2105]
	["ERR_MSG",2157]
	["ERR_MSG",1101]
	["ERR_MSG",2104]
	["ERR_MSG",2106]
	["ERR_MSG",2158]
	EOF
}

# journal.jq: what one run of make bench cost at the gateway, from an ib-sim
# journal (jq -s -f journal.jq --argjson L ms --argjson F ms journal.ndjson).
#
# Per connection (one IB tool process):
#   sent      messages the client sent (dir "in"), the handshake included
#   waits     dependent request->reply waits: each time the client, having
#             sent requests, gets a message at least L/2 after its last one
#             (a reply to it, not to an earlier request still on its way),
#             it had sent all it could and waited for the gateway: one
#             latency L on the critical path
#   fill      1 when orders were placed and their fills came back on this
#             connection: one fill delay F on the critical path
#   gap       the longest time from a reply to the next request: the client
#             thinking, or sleeping; a tool that sleeps on a fixed timer
#             shows its sleep here
# Per account (client id), over its connections in order:
#   limit_ms  sum(waits) x L + sum(fill) x F, the critical-path limit
#   between   the longest time from one tool's close to the next tool's
#             connect (process start-up and everything between the tools)
# The output is one object: the accounts, and their maxima.

def ms: (.[0:19] + "Z" | fromdateiso8601) * 1000 +
	(if length > 20 then .[20:23] | tonumber else 0 end);

def conn_stats:
	(map(.client_id | select(. != null)) | first) as $cid
	| (map(select(.dir == "in" or .dir == "out"))) as $io
	| (reduce $io[] as $m ({pending: false, lastin: null, last: null,
	    lastout: null, waits: 0, gap: 0, gapat: null};
		if $m.dir == "out" then
			(if .pending and $m.ms - .lastin >= $L / 2 then
				.waits += 1 | .pending = false
			else . end)
			| .last = "out" | .lastout = $m.ms | .outmsg = $m.msg
		else
			(if .last == "out" and ($m.ms - .lastout) > .gap then
				.gap = ($m.ms - .lastout)
				| .gapat = "\(.outmsg) -> \($m.msg)"
			else . end)
			| .last = "in" | .pending = true | .lastin = $m.ms
		end)) as $r
	| {
		conn: .[0].conn,
		client_id: $cid,
		tool: (if any(.[]; .msg == "PLACE_ORDER" or .msg == "CANCEL_ORDER")
			then "order"
			elif any(.[]; .msg == "REQ_MKT_DATA" or
			    .msg == "REQ_CONTRACT_DATA") then "snapshot"
			else "other" end),
		start: ((map(select(.msg == "CONNECT")) | first | .ms)
			// .[0].ms),
		end: ((map(select(.msg == "CLOSE")) | last | .ms) // .[-1].ms),
		sent: ($io | map(select(.dir == "in")) | length),
		received: ($io | map(select(.dir == "out")) | length),
		waits: $r.waits,
		fill: (if any(.[]; .msg == "PLACE_ORDER") and
		    any(.[]; .dir == "out" and .msg == "EXECUTION_DATA" and
		    .req_id == -1) then 1 else 0 end),
		gap: $r.gap,
		gap_at: $r.gapat,
		err326: ([.[] | select(.msg == "ERR_MSG" and .code == 326)] | length),
		err100: ([.[] | select(.msg == "ERR_MSG" and .code == 100)] | length)
	};

map(select(.conn != null) | .ms = (.t | ms))
| group_by(.conn) | map(conn_stats)
| (map(.start) | min) as $t0
| (map(.end) | max) as $t1
| group_by(.client_id)
| map(sort_by(.start) as $c | {
	client_id: $c[0].client_id,
	conns: ($c | length),
	sent: ($c | map(.sent) | add),
	received: ($c | map(.received) | add),
	waits: ($c | map(.waits) | add),
	fills: ($c | map(.fill) | add),
	limit_ms: (($c | map(.waits) | add) * $L + ($c | map(.fill) | add) * $F),
	gap_ms: ($c | map(.gap) | max),
	gap_at: ($c | max_by(.gap) | .gap_at),
	between_ms: ([range(1; $c | length) as $i | $c[$i].start - $c[$i - 1].end]
		| max // 0),
	at_gateway_ms: ($c[-1].end - $c[0].start),
	err326: ($c | map(.err326) | add),
	err100: ($c | map(.err100) | add),
	path: ($c | map("\(.tool):\(.waits)" + (if .fill > 0 then "+F" else "" end))
		| join(" "))
  })
| {
	accounts: length,
	first_connect: $t0,
	last_close: $t1,
	sent_max: (map(.sent) | max),
	sent_min: (map(.sent) | min),
	received_max: (map(.received) | max),
	conns_max: (map(.conns) | max),
	conns_min: (map(.conns) | min),
	waits: (map(.waits) | max),
	fills: (map(.fills) | max),
	limit_ms: (map(.limit_ms) | max),
	gap_ms: (map(.gap_ms) | max),
	gap_at: (max_by(.gap_ms) | .gap_at),
	between_ms: (map(.between_ms) | max),
	err326: (map(.err326) | add),
	err100: (map(.err100) | add),
	path: (.[0].path)
  }

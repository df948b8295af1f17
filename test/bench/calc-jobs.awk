# calc-jobs.awk: the rebal-calc micro-benchmark's input, N jobs as ib-snapshot
# and rebal-gate leave them, with the portfolio of gen.sh: ten targets at
# 10 %, five of them held overweight, two holdings outside the targets, and
# cash; every account a little different.
#   awk -v n=1000 -v at=2026-11-23T15:00:00Z -f calc-jobs.awk
BEGIN {
	if (n == "")
		n = 1000
	for (i = 0; i < 10; i++) {
		sym[i] = sprintf("S%02d", i)
		px[i] = 20 + 17 * i
	}
	sym[10] = "X00"; px[10] = 75
	sym[11] = "X01"; px[11] = 140
	q = ""
	for (i = 0; i < 12; i++)
		q = q sprintf("%s\"%s\":{\"bid\":%.2f,\"ask\":%.2f,\"last\":%.2f," \
		    "\"close\":%.2f,\"at\":\"%s\",\"con_id\":%d,\"min_tick\":0.01," \
		    "\"time_zone\":\"UTC\",\"delayed\":false}", i ? "," : "",
		    sym[i], px[i] - 0.01, px[i] + 0.01, px[i], px[i] * 0.99, at,
		    810000 + i)
	al = ""
	for (i = 0; i < 10; i++)
		al = al sprintf("%s{\"symbol\":\"%s\",\"weight\":0.1}", i ? "," : "",
		    sym[i])
	for (a = 1; a <= n; a++) {
		id = sprintf("DU%07d", 8000000 + a)
		cash = 10000 + 10 * a
		nlv = cash
		pos = ""
		for (k = 0; k < 7; k++) {
			i = k < 5 ? k : k + 5
			qty = int((k < 5 ? 15000 + 7 * a : 7500) / px[i])
			nlv += qty * px[i]
			pos = pos sprintf("%s{\"symbol\":\"%s\",\"con_id\":%d," \
			    "\"qty\":%d,\"avg_cost\":%.2f}", k ? "," : "", sym[i],
			    810000 + i, qty, px[i] * 0.9)
		}
		printf "{\"id\":\"calc-bench\",\"event_id\":\"calc-bench\"," \
		    "\"strategy\":\"bench\",\"exec\":\"rebalance\"," \
		    "\"source\":\"manual\",\"account\":{\"id\":\"%s\"," \
		    "\"type\":\"paper\",\"strategy\":\"bench\",\"enabled\":true," \
		    "\"cash_reserve_percent\":1,\"replacement_set\":null," \
		    "\"pdt_protection\":false,\"order_type\":\"market\"," \
		    "\"client_id\":%d},\"allocations\":[%s],\"snapshot\":{" \
		    "\"at\":\"%s\",\"server_time\":\"%s\",\"account\":\"%s\"," \
		    "\"net_liquidation\":%.2f,\"cash\":%.2f,\"settled_cash\":%.2f," \
		    "\"available_funds\":%.2f,\"positions\":[%s],\"quotes\":{%s}," \
		    "\"open_orders\":[],\"executions_today\":[]}}\n",
		    id, 8000000 + a, al, at, at, id, nlv, cash, cash, cash, pos, q
	}
}

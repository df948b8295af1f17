# calc-gen.awk: random rebal-calc jobs for the invariant tests.
#   awk -v seed=42 -v n=300 -v at=2026-03-02T15:00:00Z -f test/calc-gen.awk
# Every job is valid. Every fifth one has zero drift (weights equal to the
# current fractions, no other holdings) and carries "gen":{"zero":true}.
# A fixed seed gives the same jobs for one awk; the invariants hold for any.

function rnd(lo, hi) { return lo + (hi - lo) * rand() }
function irnd(lo, hi) { return lo + int((hi - lo + 1) * rand()) }
function q2(x) { return sprintf("%.2f", x) + 0 }

BEGIN {
	srand(seed + 0)
	if (n == "")
		n = 300
	for (k = 1; k <= n; k++) {
		zero = (k % 5 == 0)
		for (i = 1; i <= 20; i++)
			used[i] = 0
		nt = irnd(1, 6)
		nx = zero ? 0 : irnd(0, 2)
		ns = nt + nx
		for (i = 1; i <= ns; i++) {
			do { j = irnd(1, 20) } while (used[j])
			used[j] = 1
			sym[i] = sprintf("S%02d", j)
			# price, tick, spread on the tick grid
			r = rand()
			if (r < 0.1) {
				tick[i] = 0.0001
				bid[i] = sprintf("%.4f", rnd(0.05, 0.99)) + 0
			} else if (r < 0.2) {
				tick[i] = 0.05
				bid[i] = sprintf("%.2f", 0.05 * irnd(20, 4000)) + 0
			} else {
				tick[i] = 0.01
				bid[i] = q2(rnd(1, 1000))
			}
			ask[i] = bid[i] + tick[i] * irnd(1, 1 + int(bid[i] / tick[i] / 200))
			ask[i] = sprintf("%.4f", ask[i]) + 0
			mid[i] = (bid[i] + ask[i]) / 2
			# holdings
			if (zero)
				qty[i] = irnd(1, 400)
			else if (i <= nt)
				qty[i] = rand() < 0.5 ? 0 : irnd(1, 500) + (rand() < 0.1 ? 0.5 : 0)
			else {
				r = rand()
				qty[i] = r < 0.15 ? -irnd(1, 50) : r < 0.3 ? sprintf("%.3f", rnd(0.01, 0.99)) + 0 : irnd(1, 300) + (rand() < 0.2 ? 0.25 : 0)
			}
		}
		cash = zero ? q2(rnd(0, 50000)) : q2(rnd(-5000, 200000))
		V = cash
		for (i = 1; i <= ns; i++)
			V += qty[i] * mid[i]
		if (V <= 1000) {
			cash += 1000 - V + 5000
			V += 1000 - V + 5000
		}
		V = q2(V)
		# weights
		if (zero) {
			for (i = 1; i <= nt; i++)
				w[i] = sprintf("%.17g", qty[i] * mid[i] / V)
		} else {
			tot = rand() < 0.5 ? 1 : rnd(0.3, 1)
			s = 0
			for (i = 1; i <= nt; i++) {
				w[i] = rnd(0.01, 1)
				s += w[i]
			}
			for (i = 1; i <= nt; i++)
				w[i] = sprintf("%.4f", int(w[i] / s * tot * 10000) / 10000)
			if (rand() < 0.1 && nt > 1)	# all 0 would be refused
				w[1] = "0"
		}
		reserve = rand() < 0.4 ? 0 : sprintf("%.2f", rnd(0, 10))

		printf "{\"id\":\"gen-%d\",\"event_id\":\"gen\",\"exec\":\"rebalance\",", k
		printf "\"gen\":{\"case\":%d,\"zero\":%s},", k, zero ? "true" : "false"
		printf "\"account\":{\"id\":\"DU%07d\",\"cash_reserve_percent\":%s},", k, reserve
		printf "\"allocations\":["
		for (i = 1; i <= nt; i++)
			printf "%s{\"symbol\":\"%s\",\"weight\":%s}", (i > 1 ? "," : ""), sym[i], w[i]
		printf "],\"snapshot\":{\"at\":\"%s\",\"net_liquidation\":%.2f,\"cash\":%.2f,\"positions\":[", at, V, cash
		c = 0
		for (i = 1; i <= ns; i++)
			if (qty[i] != 0)
				printf "%s{\"symbol\":\"%s\",\"qty\":%s}", (c++ ? "," : ""), sym[i], qty[i]
		printf "],\"quotes\":{"
		for (i = 1; i <= ns; i++)
			printf "%s\"%s\":{\"bid\":%s,\"ask\":%s,\"min_tick\":%s,\"at\":\"%s\"}", (i > 1 ? "," : ""), sym[i], bid[i], ask[i], tick[i], at
		printf "}}}\n"
	}
}

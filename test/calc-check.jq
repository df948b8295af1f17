# calc-check.jq: invariants of rebal-calc output under the default options
# (floor 100, commission 1 %, cap 99.5 %, slippage 0.5 %). Prints one line
# per violation; no output means every job holds.
#   jq -r --arg phase all -f test/calc-check.jq out.ndjson
def held($s): [.snapshot.positions[]? | select(.symbol == $s) | .qty] | add // 0;
def q($s): .snapshot.quotes[$s];
def tick($s): (q($s).min_tick // 0.01);
def eps: 1e-6;

. as $j
| "case \(.gen.case // .id): " as $p
| (.snapshot.net_liquidation) as $V
| (.snapshot.cash) as $C
| ((.account.cash_reserve_percent // 0) / 100) as $r
| ([.allocations[].weight] | add) as $wsum
| (.plan.orders // []) as $o
| ([$o[] | select(.action == "BUY") | .qty * .limit] | add // 0) as $cost
| ( if .status == "failed" then $p + "failed: \(.error.message)" else empty end,
    if .plan.phase != $phase then $p + "phase \(.plan.phase)" else empty end,
    ( $o[] | select(.qty != (.qty | floor) or .qty < 1)
      | $p + "\(.symbol) qty \(.qty) not a whole positive number" ),
    ( $o[] | select(.action == "SELL") | . as $x
      | ($j | held($x.symbol)) as $h
      | select($x.qty > ($h | floor))
      | $p + "sells \($x.qty) \($x.symbol) but holds \($h)" ),
    ( $o[] | select(.action == "BUY") | . as $x
      | select(([$j.allocations[].symbol] | index([$x.symbol])) == null)
      | $p + "buys \($x.symbol), not a target" ),
    ( if $phase == "sell" and ([$o[] | select(.action == "BUY")] | length) > 0
      then $p + "buys in the sell phase" else empty end ),
    ( if $phase == "buy" and ([$o[] | select(.action == "SELL")] | length) > 0
      then $p + "sells in the buy phase" else empty end ),
    ( if $cost > (if $C < 100 then 0 else ($C - 100) / 1.01 end) + eps
      then $p + "buy cost \($cost) over the cash available \($C)" else empty end ),
    ( if $cost > $V * 0.995 + eps
      then $p + "buy cost \($cost) over the cap \($V * 0.995)" else empty end ),
    ( $o[] | select(.action == "BUY") | . as $x
      | ($j | tick($x.symbol)) as $t
      | ($x.limit / $t) as $n
      | select((($n - ($n | round)) | fabs) > 1e-6
          or $x.limit < ($j | q($x.symbol).ask)
          or $x.limit > ($j | q($x.symbol).ask) * 1.005 + $t / 2 + eps)
      | $p + "\($x.symbol) limit \($x.limit) not on tick \($t) near ask" ),
    ( if .gen.zero and ($o | length) > 0
      then $p + "zero drift but \($o | length) orders" else empty end ),
    # The reserve and the unallocated weight stay cash: with no surplus
    # cash above that level no buy goes past its target (half a share of
    # rounding allowed).
    ( ($V * (1 - (1 - $r) * $wsum)) as $keep
      | select($C - 100 - $keep <= 0)
      | $o[] | select(.action == "BUY") | . as $x
      | ($j | q($x.symbol)) as $qq
      | ([$j.allocations[] | select(.symbol == $x.symbol) | .weight][0]) as $w
      | ($qq.ask * 1.005) as $tp
      | ($V * (1 - $r) * $w - ($j | held($x.symbol)) * ($qq.bid + $qq.ask) / 2) as $gap
      | select($x.qty * $tp > $gap + $tp / 2 + eps)
      | $p + "buys \($x.qty) \($x.symbol) past its target (gap \($gap))" )
  )

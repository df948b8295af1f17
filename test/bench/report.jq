# report.jq: the figures of make bench from its raw records (jq -s): medians
# over the repeats, ratios, the critical-path limit, memory, rebal-calc, and
# the targets of the issue. One record per line out, appended to the results.

def median: sort | if length == 0 then null
	elif length % 2 == 1 then .[length / 2 | floor]
	else (.[length / 2 - 1] + .[length / 2]) / 2 end;
def r2: . * 100 | round / 100;

. as $all
| (map(select(.type == "machine")) | first) as $m
| (map(select(.type == "run"))) as $runs
| ($m.accounts | min) as $n1
| ($runs | map(select(.n == $n1 and .mode == "par") | .wall_ms) | median) as $t1
| ($runs | map(select(.n == $n1 and .mode == "par"))) as $one
| ($one | map(.gateway.limit_ms) | median) as $limit
| [
	($m.accounts[] as $n
	| ($runs | map(select(.n == $n))) as $rn
	| ($rn | map(select(.mode == "par") | .wall_ms) | median) as $par
	| ($rn | map(select(.mode == "seq" or .n == 1) | .wall_ms) | median) as $seq
	| {type: "summary", n: $n,
	   t_par_ms: $par, t_seq_ms: $seq,
	   par_over_t1: ($par / $t1 | r2),
	   seq_over_par: ($seq / $par | r2),
	   sent_per_account: ($rn | map(.gateway.sent_max) | max),
	   received_per_account: ($rn | map(.gateway.received_max) | max),
	   conns_per_account: ($rn | map(.gateway.conns_max) | max),
	   gap_ms: ($rn | map(.gateway.gap_ms) | max),
	   gap_at: ($rn | max_by(.gateway.gap_ms) | .gateway.gap_at),
	   between_ms: ($rn | map(select(.mode == "par") | .gateway.between_ms) | median),
	   setup_ms: ($rn | map(select(.mode == "par") | .setup_ms) | median),
	   teardown_ms: ($rn | map(select(.mode == "par") | .teardown_ms) | median),
	   err100: ($rn | map(.gateway.err100) | add),
	   err326: ($rn | map(.gateway.err326) | add),
	   cpu_ms: ($rn | map(select(.mode == "par") | .cpu_ms) | median),
	   cpu_per_account_ms: (($rn | map(select(.mode == "par") | .cpu_ms)
	     | median) / $n | round),
	   sim_cpu_ms: ($rn | map(select(.mode == "par") | .sim_cpu_ms) | median),
	   # N accounts of c ms of CPU on nproc cores take at least N c / nproc
	   cpu_bound_ms: (($rn | map(select(.mode == "par") | .cpu_ms)
	     | median) / $m.nproc | round)}),
	{type: "limit", n: $n1,
	 waits: ($one | map(.gateway.waits) | median),
	 fills: ($one | map(.gateway.fills) | median),
	 latency_ms: $m.latency_ms, fill_ms: $m.fill_ms,
	 limit_ms: $limit, path: $one[0].gateway.path,
	 t1_ms: $t1, t1_over_limit: ($t1 / $limit | r2),
	 at_gateway_ms: ($one | map(.gateway.last_close - .gateway.first_connect) | median)},
	(map(select(.type == "rss")) | group_by(.tool)[]
	| {type: "rss_max", n: .[0].n, tool: .[0].tool, kind: .[0].kind,
	   max_kib: (map(.max_kib) | max), anon_kib: (map(.anon_kib) | max),
	   processes: (map(.processes) | add), cpu_ms: (map(.cpu_ms) | add)}),
	(map(select(.type == "calc")) | group_by(.phase)[]
	| (map(.ms) | median) as $ms
	| (map(.cpu_ms) | median) as $cpu
	| {type: "calc_summary", phase: .[0].phase, records: .[0].records,
	   ms: $ms, per_second: (.[0].records / $ms * 1000 | round),
	   cpu_ms: $cpu,
	   per_cpu_second: (if $cpu > 0 then .[0].records / $cpu * 1000 | round
	     else null end)})
]
| . as $s
| ($s | map(select(.type == "summary")) | max_by(.n)) as $big
| ($s | map(select(.type == "summary" and .n == $n1)) | first) as $small
| ($s | map(select(.type == "rss_max" and .kind != "helper"))) as $rss
| ($all | map(select(.type == "sleeps")) | first) as $sl
| $s + [{type: "targets", targets: [
	{target: "T(\($big.n),par) <= 1.3 x T(\($n1))",
	 value: "\($big.t_par_ms) / \($t1) ms = \($big.t_par_ms / $t1 * 1000 | round / 1000)",
	 met: ($big.t_par_ms / $t1 <= 1.3)},
	{target: "T(\($n1)) <= 1.3 x critical-path limit",
	 value: "\($t1) / \($limit) ms = \($t1 / $limit * 1000 | round / 1000)",
	 met: ($t1 / $limit <= 1.3)},
	{target: "peak RSS <= 8 MiB per tool process (C and sh)",
	 value: ($rss | map(select(.max_kib > 8192)) | sort_by(-.max_kib)
	   | if length == 0 then "all under; largest " + ($rss | max_by(.max_kib)
	     | "\(.tool) \(.max_kib) KiB") else map("\(.tool) \(.max_kib) KiB")
	     | join(", ") end),
	 met: ($rss | all(.max_kib <= 8192))},
	{target: ("no fixed sleeps: reply -> next request < 100 ms (N=\($n1))" +
	   (if $sl then ", no wait on a timer alone (strace: nanosleep, poll or select on no fd)" else "" end)),
	 value: ("\($small.gap_ms) ms" +
	   (if $sl then ", \($sl.calls) such calls" else "" end)),
	 met: ($small.gap_ms < 100 and (($sl.calls // 0) == 0))}
  ]}]
| .[]

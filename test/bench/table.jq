# table.jq: the results of make bench as markdown (jq -r -s).

def s: . / 1000 | . * 100 | round / 100 | tostring;
def row: "| " + join(" | ") + " |";

(map(select(.type == "machine")) | first) as $m
| (map(select(.type == "spawn")) | first) as $sp
| (map(select(.type == "end")) | first) as $e
| (map(select(.type == "limit")) | first) as $l
| "## make bench \($m.at) (\($m.commit))",
  "",
  "\($m.nproc) cores, \($m.cpu), Linux \($m.kernel); load average \($m.load_before) before, \($e.load_after) after; starting a process (fork and exec of /bin/true) takes \($sp.ms) ms here; the benchmark took \($e.seconds) s.",
  "ib-sim reply latency L = \($m.latency_ms) ms, fill delay F = \($m.fill_ms) ms; each time is the median of \($m.repeats) runs.",
  "",
  (["N", "T(N,par) s", "T(N,seq) s", "T(N,par)/T(1)", "T(N,seq)/T(N,par)",
    "msgs/account sent/recv", "conns/account", "max reply→request ms",
    "max tool→tool ms", "before 1st connect ms", "after last close ms",
    "CPU s", "CPU/account ms"] | row),
  (["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:",
    "---:", "---:"] | row),
  (map(select(.type == "summary")) | sort_by(.n)[]
   | [(.n | tostring), (.t_par_ms | s), (.t_seq_ms | s), (.par_over_t1 | tostring),
      (.seq_over_par | tostring),
      "\(.sent_per_account)/\(.received_per_account)",
      (.conns_per_account | tostring), (.gap_ms | tostring),
      (.between_ms | tostring), (.setup_ms | tostring),
      (.teardown_ms | tostring), (.cpu_ms | s), (.cpu_per_account_ms | tostring)]
   | row),
  "",
  (map(select(.type == "summary")) | max_by(.n) as $b
   | (map(select(.type == "summary")) | min_by(.n)) as $o
   | "CPU: user + system time of rebal-run and every process it started (ib-sim, which shares the cores, used another \($b.sim_cpu_ms) ms at N = \($b.n)). On \($m.nproc) cores, N = \($b.n) accounts of \($b.cpu_per_account_ms) ms of CPU each take at least \($b.cpu_bound_ms / 1000 * 100 | round / 100) s however they overlap: \($b.cpu_bound_ms / $o.t_par_ms * 100 | round / 100) × T(\($o.n)) before any waiting."),
  "",
  "Critical path of one account (from the journal): \($l.waits) dependent request→reply waits × \($l.latency_ms) ms + \($l.fills) fill waits × \($l.fill_ms) ms = **\($l.limit_ms) ms** (per connection: \($l.path)). T(1) = \($l.t1_ms) ms = **\($l.t1_over_limit) × the limit**; the account's tools were connected for \($l.at_gateway_ms) ms of it.",
  "",
  (map(select(.type == "rss_max")) as $r
   | def mib: "\(.tool) \(.max_kib / 1024 * 10 | round / 10)";
   "Peak RSS per process in MiB, the largest of each program's processes in a run with N = \($r | first | .n) (\($r | map(.processes) | add) processes): C tools " +
   ($r | map(select(.kind == "c")) | sort_by(-.max_kib) | map(mib) | join(", ")) +
   "; sh tools (dash, the shell's own memory) " +
   ($r | map(select(.kind == "sh")) | sort_by(-.max_kib) | map(mib) | join(", ")) +
   "; helpers they start " +
   ($r | map(select(.kind == "helper")) | sort_by(-.max_kib) | map(mib) | join(", ")) +
   ". Of it private (RssAnon at the end, in MiB): " +
   ($r | map(select(.kind != "helper")) | sort_by(-.anon_kib)
    | map("\(.tool) \(.anon_kib / 1024 * 10 | round / 10)") | join(", ")) +
   "; the rest is the shared libraries' pages, counted in full in every process."),
  "",
  (map(select(.type == "rss_max")) as $r | ($r | first | .n) as $n
   | "Where the CPU goes, per account at N = \($n) (the same run; user + system time of each process, from the probe): " +
   ($r | sort_by(-.cpu_ms) | map(select(.cpu_ms / $n >= 1))
    | map("\(.tool) \(.cpu_ms / $n | round) ms (\(.processes / $n * 10 | round / 10) × \(.cpu_ms / .processes * 10 | round / 10) ms)")
    | join(", ")) +
   "; \($r | map(.processes) | add / $n * 10 | round / 10) processes per account in all."),
  "",
  "rebal-calc on 1000 generated jobs (about 3 KB each): " +
  (map(select(.type == "calc_summary")) | sort_by(.phase)
   | map("-p \(.phase) \(.per_second) records/s (\(.per_cpu_second) per CPU second)")
   | join(", ")) + ".",
  "",
  "| target | value | met |",
  "| --- | --- | --- |",
  (map(select(.type == "targets")) | first | .targets[]
   | "| \(.target) | \(.value) | \(if .met then "yes" else "**no**" end) |")

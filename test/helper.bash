# Common setup for the bats files: the built tools first on PATH, bats-assert,
# a private temporary directory, and helpers to start the simulators.
TOP=${REBAL_TOP:-$(cd "$BATS_TEST_DIRNAME/.." && pwd)}
PATH=$TOP/bin:$PATH
export PATH TOP
load /usr/lib/bats/bats-support/load.bash
load /usr/lib/bats/bats-assert/load.bash
bats_require_minimum_version 1.5.0

# Deterministic environment: no user state, no secrets, no clock surprises.
export LC_ALL=C TZ=UTC
export REBAL_STATE="$BATS_TEST_TMPDIR/state"
unset ABLY_API_KEY REALTIME_API_KEY ALLOCATIONS_API_KEY NTFY_TOKEN

DATA=$TOP/test/data

# start_server VAR CMD...: run CMD (which prints its port as the first line of
# stdout) in the background; VAR_PORT and VAR_PID are set. Waits on the line,
# not on a timer.
start_server() {
	local var=$1 fifo port
	shift
	fifo=$BATS_TEST_TMPDIR/$var.fifo
	mkfifo "$fifo"
	"$@" >"$fifo" 2>>"$BATS_TEST_TMPDIR/$var.stderr" &
	eval "${var}_PID=$!"
	exec {fd}<"$fifo"
	if ! IFS= read -r -t 10 port <&"$fd"; then
		echo "start_server: $1 printed no port" >&2
		cat "$BATS_TEST_TMPDIR/$var.stderr" >&2
		return 1
	fi
	eval "${var}_PORT=$port"
	eval "${var}_FD=$fd"
	rm -f "$fifo"
}

# stop_server VAR: SIGTERM and wait for it to exit.
stop_server() {
	local pid
	eval "pid=\${${1}_PID:-}"
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	eval "${1}_PID="
}

# wait_for SECONDS CMD...: poll CMD (every 0.1 s) until it succeeds; fail,
# naming CMD, when SECONDS pass first. The bound of every wait on an event
# the tests cannot be told about.
wait_for() {
	local n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" 2>/dev/null && return 0
		sleep 0.1
		n=$((n - 1))
	done
	echo "wait_for: gave up on: $*" >&2
	return 1
}

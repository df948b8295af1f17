#!/bin/sh
# valgrind.sh [BATSFILE...]: run bats files (default: every test/*.bats)
# with each compiled tool of bin/ and unit test of test/unit/ under valgrind
# memcheck. A shadow tree (symlinks to the checkout, but bin/ and test/unit/
# holding one wrapper per ELF program) is
# given to the tests as REBAL_TOP, so every tool the tests start, directly,
# in pipelines or from the shell tools, goes through
#   valgrind --error-exitcode=99 --leak-check=full
#            --errors-for-leak-kinds=definite
# Memory errors and definite leaks make that run exit 99 (so the test
# asserting its status fails) and leave a log; the script fails when any
# log is non-empty, also for runs whose status no test looks at.
# Needs a build without sanitizers: it runs make all SANITIZE= first.
# VALGRIND_KEEP=1 keeps the shadow tree and logs.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
if ! command -v valgrind >/dev/null 2>&1; then
	echo "valgrind.sh: valgrind is not installed (make deps)" >&2
	exit 1
fi
make -s all SANITIZE= >&2
if grep -q fsanitize .build-flags 2>/dev/null; then
	echo "valgrind.sh: bin/ is built with sanitizers" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rebal-vg.XXXXXX")
[ "${VALGRIND_KEEP:-0}" = 1 ] || trap 'rm -rf "$tmp"' EXIT
shadow=$tmp/top
logs=$tmp/logs
mkdir -p "$shadow/test" "$logs"
n=0

# wrapdir SRC DST: DST gets a valgrind wrapper for each ELF executable of
# SRC and a symlink for everything else.
wrapdir() {
	mkdir -p "$2"
	for f in "$1"/* "$1"/.[!.]*; do
		[ -e "$f" ] || continue
		b=$(basename "$f")
		if [ -f "$f" ] && [ -x "$f" ] &&
		    [ "$(head -c 4 "$f")" = "$(printf '\177ELF')" ]; then
			cat >"$2/$b" <<-WRAP
			#!/bin/sh
			exec valgrind -q --error-exitcode=99 --leak-check=full \\
			    --errors-for-leak-kinds=definite \\
			    --show-leak-kinds=definite --track-origins=yes \\
			    --log-file="$logs/$b.%p.log" "$f" "\$@"
			WRAP
			chmod +x "$2/$b"
			n=$((n + 1))
		else
			ln -s "$f" "$2/$b"
		fi
	done
}

for f in "$top"/* "$top"/.[!.]*; do
	[ -e "$f" ] || continue
	case $(basename "$f") in bin|test) continue ;; esac
	ln -s "$f" "$shadow/$(basename "$f")"
done
wrapdir "$top/bin" "$shadow/bin"
for f in "$top"/test/* "$top"/test/.[!.]*; do
	[ -e "$f" ] || continue
	[ "$(basename "$f")" = unit ] && continue
	ln -s "$f" "$shadow/test/$(basename "$f")"
done
wrapdir "$top/test/unit" "$shadow/test/unit"
echo "valgrind.sh: $n programs wrapped" >&2

if [ $# -eq 0 ]; then
	set -- "$top"/test/*.bats
fi
st=0
REBAL_TOP=$shadow bats ${BATSFLAGS:-} "$@" || st=$?

bad=0
runs=0
for l in "$logs"/*.log; do
	[ -e "$l" ] || continue
	runs=$((runs + 1))
	if [ -s "$l" ]; then
		bad=$((bad + 1))
		echo "== $(basename "$l")" >&2
		head -n 60 "$l" >&2
	fi
done
echo "valgrind.sh: $runs tool runs, $bad with valgrind reports" >&2
[ "$bad" -eq 0 ] || st=1
exit $st

#!/bin/sh
# deps.sh PKG...        install the Debian packages that are missing (as root)
# deps.sh --npm DIR     npm ci in DIR when its node_modules is missing or stale
set -eu

if [ "${1:-}" = --npm ]; then
	dir=$2
	[ -f "$dir/package-lock.json" ] || exit 0
	if ! command -v npm >/dev/null 2>&1; then
		sh "$0" nodejs npm
	fi
	stamp=$dir/node_modules/.package-lock.json
	if [ ! -f "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ]; then
		echo "deps: npm ci in $dir" >&2
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
	fi
	exit 0
fi

missing=
for p in "$@"; do
	# nodejs from another repository ships npm itself
	if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
	if [ "$p" = nodejs ] && command -v node >/dev/null 2>&1; then continue; fi
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case $st in *" installed") ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
		echo "deps: missing Debian packages:$missing (run make deps as root)" >&2
		exit 1
	fi
else
	SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >&2

#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo need, when missing, and
# checks that Go is there. Silent when everything is present; installing
# needs root. Nothing it installs starts by itself: the scripts start
# throwaway servers on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
	redis-server            # redis-server 7 (and redis-cli)
	postgresql              # PostgreSQL server, initdb, psql, pg_isready; creates the postgres OS user
	prometheus              # prometheus and promtool
	gcc libc6-dev   # cgo, which go test -race needs
	curl
	jq              # scripts/demo.sh reads the JSON of Prometheus and the receiver
	ca-certificates # Go fetches modules over HTTPS
)

say() { echo "install-deps: $*" >&2; }
die() { say "$*"; exit 1; }

missing=()
for p in "${packages[@]}"; do
	[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" = "ii " ] || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	command -v apt-get >/dev/null || die "missing ${missing[*]}, and no apt-get: install them by hand (a Debian machine is expected)"
	[ "$(id -u)" = 0 ] || die "missing ${missing[*]}: run as root (sudo $0), or: sudo apt-get install ${missing[*]}"
	say "installing ${missing[*]}"
	# Keep daemons from starting on their default ports during the install,
	# on machines with an init system too; remove the guard afterwards.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 0755 /usr/sbin/policy-rc.d
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	log=$(mktemp)
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get -qq -o Acquire::Retries=3 update >"$log" 2>&1 ||
		! apt-get -qq -y -o Dpkg::Use-Pty=0 --no-install-recommends install "${missing[@]}" >>"$log" 2>&1; then
		tail -n 20 "$log" >&2
		rm -f "$log"
		die "apt-get failed (output above)"
	fi
	rm -f "$log"
fi

# The binaries the tests look for, wherever Debian put them.
for tool in redis-server promtool prometheus gcc; do
	command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || die "$tool is still missing after the install"
done
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || die "PostgreSQL's initdb is missing after the install"
id postgres >/dev/null 2>&1 || die "the postgres OS user is missing; reinstall postgresql-common"

# Go is not a Debian package here: it lives in /usr/local/go.
go=$(command -v go || echo /usr/local/go/bin/go)
[ -x "$go" ] || die "Go is missing: install Go $(awk '$1 == "go" { print $2 }' go.mod) into /usr/local/go, then rerun"
want=go$(awk '$1 == "go" { print $2 }' go.mod)
have=$("$go" env GOVERSION)
if [ "$(printf '%s\n' "$want" "$have" | sort -V | head -n 1)" != "$want" ]; then
	die "$go is $have; go.mod needs $want or newer"
fi

#!/usr/bin/env bash
# Throwaway Redis and PostgreSQL on free 127.0.0.1 ports, for tests and the demo.
#
#   scripts/services.sh start [DIR]   start both with their data in DIR (default: a fresh
#                                      scratch directory), write DIR/env and print it
#   scripts/services.sh stop DIR      stop exactly the servers DIR/env names; remove DIR
#
# DIR/env holds HE_TEST_REDIS_ADDR, HE_TEST_POSTGRES_DSN (superuser "postgres",
# password "postgres"), their PIDs and HE_TEST_SERVICES_DIR; `set -a; . DIR/env`
# exports them. A server whose package is missing is left out with a warning,
# unless CI=true: then every server must come up or start fails.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

usage() { echo "usage: $0 start [DIR] | stop DIR" >&2; exit 2; }

# stop_services DIR stops what DIR/env names and removes DIR.
stop_services() {
	local dir=$1 key value redis_pid="" pg_pid=""
	[ -f "$dir/env" ] || he_die "$dir/env not found: not a directory '$0 start' made"
	while IFS='=' read -r key value; do
		case "$key" in
		HE_TEST_REDIS_PID) redis_pid=$value ;;
		HE_TEST_POSTGRES_PID) pg_pid=$value ;;
		esac
	done <"$dir/env"
	if [ -d "$dir/redis" ]; then stop_redis "$dir/redis" "$redis_pid"; fi
	if [ -d "$dir/postgres" ]; then stop_postgres "$dir/postgres" "$pg_pid"; fi
	rm -rf -- "$dir"
}

# start_services DIR starts what is installed and writes DIR/env.
start_services() {
	local dir=$1 missing=()
	if [ -e "$dir/env" ]; then
		he_die "$dir/env exists: services may be running there; '$0 stop $dir' first"
	fi
	mkdir -p "$dir"
	chmod 0755 "$dir"
	# Written first, so that stop can clean up after a failed start.
	echo "HE_TEST_SERVICES_DIR=$dir" >"$dir/env"

	if ! he_bin redis-server >/dev/null; then
		missing+=(redis-server)
	elif start_redis "$dir/redis"; then
		printf '%s\n' "HE_TEST_REDIS_ADDR=127.0.0.1:$REDIS_PORT" "HE_TEST_REDIS_PID=$REDIS_PID" >>"$dir/env"
	else
		stop_services "$dir"
		he_die "Redis did not start"
	fi
	if ! { he_bin postgres && he_bin initdb; } >/dev/null; then
		missing+=(postgresql)
	elif start_postgres "$dir/postgres"; then
		printf '%s\n' "HE_TEST_POSTGRES_DSN=$PG_DSN" "HE_TEST_POSTGRES_PID=$PG_PID" >>"$dir/env"
	else
		stop_services "$dir"
		he_die "PostgreSQL did not start"
	fi

	if [ ${#missing[@]} -gt 0 ]; then
		if he_ci; then
			stop_services "$dir"
			he_die "CI=true and ${missing[*]} missing; run scripts/install-deps.sh as root"
		fi
		he_say "warning: ${missing[*]} not installed; tests that need them will skip (scripts/install-deps.sh)"
	fi
	cat "$dir/env"
}

case "${1:-}" in
start)
	[ $# -le 2 ] || usage
	start_services "${2:-$(he_scratch he-services)}"
	;;
stop)
	[ $# -eq 2 ] || usage
	stop_services "$2"
	;;
*) usage ;;
esac

# shellcheck shell=bash
# Functions the scripts share: finding binaries, ports and scratch space,
# and starting, pausing and stopping throwaway Redis and PostgreSQL servers
# on 127.0.0.1. Source it from bash:  . "$(dirname "$0")/lib.sh"
#
# Every server runs in its own session (setsid), so a Ctrl-C in the
# terminal reaches only the script, whose trap stops the server by PID.

# he_say prints a message prefixed with the running script's name.
he_say() { echo "$(basename "$0"): $*" >&2; }

# he_die prints a message and exits non-zero.
he_die() { he_say "$*"; exit 1; }

# he_ci succeeds when CI holds a true value: every service must then exist.
he_ci() { case "${CI:-}" in 1 | t | T | true | TRUE | True) return 0 ;; esac; return 1; }

# he_bin NAME prints the path of an executable, looked up in PATH and then
# where Debian puts server binaries outside PATH.
he_bin() {
	local name=$1 dir
	if command -v "$name" 2>/dev/null; then return 0; fi
	for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5nr) \
		/usr/sbin /usr/local/sbin /sbin /usr/local/bin /usr/local/go/bin; do
		if [ -x "$dir/$name" ]; then echo "$dir/$name"; return 0; fi
	done
	return 1
}

# he_scratch PREFIX creates a fresh directory other users can traverse, on
# /dev/shm when it is a roomy tmpfs (far faster for initdb), else in TMPDIR.
he_scratch() {
	local base=${TMPDIR:-/tmp} dir
	if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] &&
		[ "$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }')" -ge 1048576 ]; then
		base=/dev/shm
	fi
	dir=$(mktemp -d "$base/$1.XXXXXX") || return 1
	chmod 0755 "$dir" && echo "$dir"
}

# port_open PORT succeeds when something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port prints a port nothing listens on, picked below the kernel's
# ephemeral range. A server may still lose it to a race; start_* retry.
free_port() {
	local low port i
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range
	[ "$low" -gt 12000 ] || low=32768
	for i in $(seq 50); do
		port=$((10000 + (RANDOM * 32768 + RANDOM) % (low - 10000)))
		if ! port_open "$port"; then echo "$port"; return 0; fi
	done
	return 1
}

# pid_alive PID succeeds while PID runs (a zombie does not count).
pid_alive() {
	local stat
	[ -n "$1" ] && read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
	stat=${stat##*) }
	case "${stat%% *}" in Z | X) return 1 ;; esac
}

# wait_ready SECONDS PID CMD... runs CMD until it succeeds; fails when PID
# exits or SECONDS pass.
wait_ready() {
	local deadline=$((SECONDS + $1)) pid=$2
	shift 2
	until "$@"; do
		pid_alive "$pid" && [ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

# wait_port PORT PID [SECONDS] waits until PORT accepts connections; fails
# early when PID exits.
wait_port() { wait_ready "${3:-60}" "$2" port_open "$1"; }

# wait_gone SECONDS PID... waits until none of the PIDs runs.
wait_gone() {
	local deadline=$((SECONDS + $1)) p
	shift
	for p in "$@"; do
		while pid_alive "$p"; do
			[ "$SECONDS" -lt "$deadline" ] || return 1
			sleep 0.05
		done
	done
}

# procs_in_dir DIR prints the PIDs whose working directory lies in DIR:
# redis-server and the postmaster chdir there, PostgreSQL backends inherit it.
procs_in_dir() {
	local dir
	dir=$(cd "$1" 2>/dev/null && pwd -P) || return 0
	# find complains about processes that vanish mid-walk; that is no failure.
	{ find /proc -mindepth 2 -maxdepth 2 -name cwd \( -lname "$dir" -o -lname "$dir/*" \) 2>/dev/null || :; } |
		sed 's|^/proc/||; s|/cwd$||'
}

# pause_dir DIR / resume_dir DIR stop and continue every process of the
# server in DIR (SIGSTOP / SIGCONT): open connections hang, new ones too.
pause_dir() { local p; for p in $(procs_in_dir "$1"); do kill -STOP "$p" 2>/dev/null || :; done; }
resume_dir() { local p; for p in $(procs_in_dir "$1"); do kill -CONT "$p" 2>/dev/null || :; done; }

# stop_in_dir DIR PID SIGNAL stops the server PID, whose processes work in
# DIR: resumes them, sends SIGNAL to PID, waits up to 30 s for the exit,
# then kills whatever still runs in DIR. A PID that no longer runs in DIR
# (exited, or reused by another process) gets no signal.
stop_in_dir() {
	local dir=$1 pid=$2 sig=$3 left
	if [ -n "$pid" ] && [[ $'\n'$(procs_in_dir "$dir")$'\n' == *$'\n'"$pid"$'\n'* ]]; then
		resume_dir "$dir"
		kill "-$sig" "$pid" 2>/dev/null || :
		wait_gone 30 "$pid" || he_say "process $pid ignored SIG$sig for 30 s; killing it"
	fi
	left=$(procs_in_dir "$dir")
	if [ -n "$left" ]; then
		# shellcheck disable=SC2086
		kill -CONT $left 2>/dev/null || :
		# shellcheck disable=SC2086
		kill -KILL $left 2>/dev/null || :
		# shellcheck disable=SC2086
		wait_gone 10 $left || he_say "could not kill $left"
	fi
}

# log_tail FILE prints the end of a server log for error messages.
log_tail() { tail -n 15 "$1" 2>/dev/null | sed 's/^/    /' >&2; }

# redis_ping PORT succeeds when the server on PORT answers PING.
redis_ping() {
	(
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf 'PING\r\n' >&3
		IFS= read -r -t 2 reply <&3 && [ "${reply%$'\r'}" = +PONG ]
	) 2>/dev/null
}

# start_redis DIR starts a redis-server without persistence on a free port
# with DIR as its directory, and waits until it answers PING. It sets
# REDIS_PORT and REDIS_PID.
start_redis() {
	local dir=$1 bin port pid attempt
	bin=$(he_bin redis-server) || { he_say "redis-server is not installed (scripts/install-deps.sh)"; return 1; }
	mkdir -p "$dir" || return 1
	for attempt in 1 2 3; do
		port=$(free_port) || { he_say "no free port"; return 1; }
		setsid "$bin" --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly no \
			--daemonize no --pidfile "$dir/redis.pid" </dev/null >>"$dir/redis.log" 2>&1 &
		pid=$!
		if wait_ready 60 "$pid" redis_ping "$port"; then
			REDIS_PORT=$port REDIS_PID=$(cat "$dir/redis.pid")
			return 0
		fi
		stop_in_dir "$dir" "$pid" KILL
		grep -q "Address already in use" "$dir/redis.log" && [ "$attempt" -lt 3 ] && continue
		he_say "redis-server did not start on port $port; end of $dir/redis.log:"
		log_tail "$dir/redis.log"
		return 1
	done
}

# stop_redis DIR PID stops the redis-server start_redis started in DIR.
stop_redis() { stop_in_dir "$1" "$2" TERM; }

# postgres_runner sets AS_POSTGRES to the command prefix that runs a
# program (exec, same PID) as the postgres OS user when running as root:
# initdb and postgres refuse root.
postgres_runner() {
	AS_POSTGRES=()
	[ "$(id -u)" = 0 ] || return 0
	id postgres >/dev/null 2>&1 ||
		{ he_say "the postgres OS user is missing (apt-get install postgresql creates it)"; return 1; }
	if command -v setpriv >/dev/null; then
		AS_POSTGRES=(setpriv --reuid=postgres --regid=postgres --init-groups --)
	else
		AS_POSTGRES=(runuser -u postgres --)
	fi
}

# start_postgres DIR [PASSWORD] creates a cluster in DIR/data (initdb;
# superuser "postgres" with PASSWORD, default "postgres", which goes into
# PG_DSN as it is, so keep it URL-safe; scram-sha-256 over
# TCP; no Unix socket), starts it on a free 127.0.0.1 port with fsync off
# and waits until the password works. It sets PG_PORT, PG_PID and PG_DSN.
start_postgres() {
	local dir=$1 password=${2:-postgres} bindir port pid attempt
	# Through symlinks to the real directory, where initdb, pg_isready and psql sit too.
	bindir=$(dirname "$(readlink -f "$(he_bin postgres)")") &&
		[ -x "$bindir/initdb" ] && [ -x "$bindir/pg_isready" ] && [ -x "$bindir/psql" ] ||
		{ he_say "PostgreSQL server binaries are not installed (scripts/install-deps.sh)"; return 1; }
	postgres_runner || return 1
	mkdir -p "$dir" && chmod 0700 "$dir" || return 1
	printf '%s\n' "$password" >"$dir/pwfile" && chmod 0600 "$dir/pwfile" || return 1
	if [ "$(id -u)" = 0 ]; then chown -R postgres: "$dir" || return 1; fi
	if ! (cd "$dir" && exec "${AS_POSTGRES[@]}" "$bindir/initdb" --pgdata="$dir/data" \
		--username=postgres --pwfile="$dir/pwfile" --auth-local=trust --auth-host=scram-sha-256 \
		--encoding=UTF8 --locale=C --no-sync --no-instructions) >"$dir/initdb.log" 2>&1; then
		rm -f "$dir/pwfile"
		he_say "initdb failed; end of $dir/initdb.log:"
		log_tail "$dir/initdb.log"
		return 1
	fi
	rm -f "$dir/pwfile"
	for attempt in 1 2 3; do
		port=$(free_port) || { he_say "no free port"; return 1; }
		(cd "$dir" && exec setsid "${AS_POSTGRES[@]}" "$bindir/postgres" -D "$dir/data" \
			-c listen_addresses=127.0.0.1 -c port="$port" -c unix_socket_directories= \
			-c fsync=off -c synchronous_commit=off -c full_page_writes=off \
			-c shared_buffers=32MB -c logging_collector=off -c dynamic_shared_memory_type=mmap) \
			</dev/null >>"$dir/postgres.log" 2>&1 &
		pid=$!
		if wait_ready 60 "$pid" "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2; then
			PG_PORT=$port PG_PID=$(head -n 1 "$dir/data/postmaster.pid")
			PG_DSN="postgres://postgres:$password@127.0.0.1:$port/postgres?sslmode=disable"
			if PGPASSWORD=$password PGCONNECT_TIMEOUT=10 "$bindir/psql" -qAtX -h 127.0.0.1 -p "$port" \
				-U postgres -d postgres -c 'SELECT 1' >/dev/null; then
				return 0
			fi
			he_say "PostgreSQL on port $port rejects the superuser's password"
			stop_postgres "$dir" "$PG_PID"
			return 1
		fi
		stop_in_dir "$dir/data" "$pid" KILL
		grep -q "Address already in use" "$dir/postgres.log" && [ "$attempt" -lt 3 ] && continue
		he_say "PostgreSQL did not start on port $port; end of $dir/postgres.log:"
		log_tail "$dir/postgres.log"
		return 1
	done
}

# stop_postgres DIR PID shuts down (fast) the cluster start_postgres started in DIR.
stop_postgres() { stop_in_dir "$1/data" "$2" INT; }

# shellcheck shell=bash
# Functions of scripts/demo.sh: building Alertmanager, starting and stopping
# processes by PID, and following the outage through the exporter's
# /metrics, Prometheus' /api/v1/alerts and the receiver's /notifications.
# Source it after scripts/lib.sh. It reads demo.sh's variables: run (the
# run's directory), pid (name -> PID), exporter, prom, receiver (base URLs),
# t0 (when Redis stopped) and scripted.

# say prints a line of the demo's own.
say() { printf 'demo: %s\n' "$*"; }

# build_alertmanager OUT builds Alertmanager into OUT from the version of its
# module that go.mod requires, unless OUT already is that version.
# Alertmanager 0.26 or newer reads webhook URLs from files (url_file), which
# the bundle's alertmanager.yml uses; Debian ships 0.25. The module is built
# as its own main module (with its own go.mod and go.sum: this module's
# requirements lift one of its dependencies to an incompatible major
# version), and a one-page placeholder stands in for the web UI, which the
# module leaves out; the API is complete. monitoring/e2e builds it the same
# way.
build_alertmanager() {
	local out info dir version src ui
	out=$(realpath -m "$1")
	info=$(go mod download -json github.com/prometheus/alertmanager) || he_die "cannot download the alertmanager module"
	dir=$(jq -r .Dir <<<"$info")
	version=$(jq -r .Version <<<"$info")
	if [ -x "$out" ] && "$out" --version 2>&1 | grep -qF "version ${version#v} "; then return 0; fi
	say "building Alertmanager $version from its module (the first build takes a few minutes)"
	src="$run/alertmanager-src"
	cp -R "$dir/." "$src/" && chmod -R u+w "$src" || he_die "cannot copy $dir"
	for ui in elm mantine; do
		mkdir -p "$src/ui/app/dist/$ui"
		printf '%s\n' '<!doctype html><title>Alertmanager</title><p>The web UI is not part of the Go module; the API is at /api/v2/.' |
			gzip -c >"$src/ui/app/dist/$ui/index.html.gz"
	done
	(cd "$src" && GOWORK=off GOFLAGS='' go build -trimpath \
		-ldflags "-X github.com/prometheus/common/version.Version=${version#v}" -o "$out" ./cmd/alertmanager) ||
		he_die "go build of alertmanager $version failed"
	rm -rf -- "$src"
}

# start_bg NAME CMD... starts CMD in its own session (Ctrl-C reaches only
# this script), logging to $run/NAME.log, and records its PID.
start_bg() {
	local name=$1
	shift
	setsid "$@" </dev/null >>"$run/$name.log" 2>&1 &
	pid[$name]=$!
}

# stop_pid NAME PID stops a process start_bg started: SIGTERM, SIGKILL after 20 s.
stop_pid() {
	local name=$1 p=$2
	if pid_alive "$p"; then
		kill -TERM "$p" 2>/dev/null || :
		if ! wait_gone 20 "$p"; then
			he_say "$name (pid $p) ignored SIGTERM for 20 s; killing it"
			kill -KILL "$p" 2>/dev/null || :
			wait_gone 5 "$p" || he_say "could not kill $name (pid $p)"
		fi
	fi
	wait "$p" 2>/dev/null || : # reap it
}

# show_logs prints the end of every log of the run.
show_logs() {
	local log
	for log in "$run"/*.log "$run"/redis/redis.log "$run"/postgres/postgres.log; do
		[ -s "$log" ] || continue
		echo "--- end of $log" >&2
		log_tail "$log"
	done
}

# wait_http NAME URL waits until URL answers 2xx; fails when NAME exits.
wait_http() {
	if ! wait_ready 60 "${pid[$1]}" curl -fsS -o /dev/null --max-time 2 "$2" 2>/dev/null; then
		he_say "$1 did not answer $2; end of its log:"
		log_tail "$run/$1.log"
		exit 1
	fi
}

# wait_for SECONDS WHAT CMD... runs CMD until it succeeds; fails the demo
# when SECONDS pass.
wait_for() {
	local deadline=$((SECONDS + $1)) what=$2 limit=$1
	shift 2
	until "$@"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			he_say "$what did not happen within $limit s"
			show_logs
			exit 1
		fi
		sleep 0.2
	done
}

prom_has() {
	curl -fsS --max-time 2 --get --data-urlencode "query=$1" "$prom/api/v1/query" 2>/dev/null |
		jq -e '.data.result | length > 0' >/dev/null
}

prom_rules_loaded() {
	curl -fsS --max-time 2 "$prom/api/v1/rules?type=alert" 2>/dev/null |
		jq -e '[.data.groups[].rules[].name] | index("HealthDependencyDown") != null' >/dev/null
}

exporter_healthy() {
	[ "$(curl -sS --max-time 3 "$exporter/health" 2>/dev/null | jq -r .status 2>/dev/null)" = pass ]
}

# restart_redis DIR PORT starts redis-server again where start_redis ran it,
# on the same port, as the exporter's configuration names it. Sets REDIS_PID.
restart_redis() {
	local dir=$1 port=$2 p
	setsid "$(he_bin redis-server)" --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly no \
		--daemonize no --pidfile "$dir/redis.pid" </dev/null >>"$dir/redis.log" 2>&1 &
	p=$!
	wait_ready 30 "$p" redis_ping "$port" || { he_say "Redis did not restart on port $port"; log_tail "$dir/redis.log"; exit 1; }
	REDIS_PID=$p
}

# div N prints N seconds divided by the demo's divisor.
div() { awk -v n="$1" -v d="$divisor" 'BEGIN { printf "%g", n / d }'; }

# micros TIME turns an $EPOCHREALTIME value into microseconds.
micros() { local t=${1/[.,]/}; echo $((10#$t)); }

# seconds FROM TO prints TO - FROM ($EPOCHREALTIME values) in seconds, one decimal.
seconds() {
	local d=$((($(micros "$2") - $(micros "$1")) / 100000))
	printf '%d.%d' $((d / 10)) $((d % 10))
}

# stamp TEXT prints a timeline line: the time, the seconds since Redis
# stopped, the text.
stamp() {
	local now=$EPOCHREALTIME since=''
	if [ -n "${t0:-}" ]; then since="+$(seconds "$t0" "$now")s"; fi
	printf '%s %8s  %s\n' "$(date -d "@${now/,/.}" +%T.%3N)" "$since" "$1"
}

# fetch reads the three views of the outage once per round of follow.
fetch() {
	METRICS=$(curl -fsS --max-time 2 "$exporter/metrics" 2>/dev/null || :)
	ALERTS=$(curl -fsS --max-time 2 "$prom/api/v1/alerts" 2>/dev/null || :)
	NOTES=$(curl -fsS --max-time 2 "$receiver/notifications" 2>/dev/null || :)
	[ -n "$ALERTS" ] || ALERTS='{}'
	[ -n "$NOTES" ] || NOTES='{}'
}

# follow SECONDS STEP... polls until every step function has succeeded once,
# printing the MSG each sets when it does; fails when SECONDS pass first.
follow() {
	local limit=$1 deadline=$((SECONDS + $1)) step
	shift
	local steps=("$@") left=()
	while :; do
		fetch
		left=()
		for step in "${steps[@]}"; do
			if "$step"; then stamp "$MSG"; else left+=("$step"); fi
		done
		steps=("${left[@]}")
		[ "${#steps[@]}" -gt 0 ] || return 0
		if [ "$SECONDS" -ge "$deadline" ]; then
			stamp "NOT within ${limit}s: ${steps[*]#step_}"
			return 1
		fi
		sleep 0.25
	done
}

# metric SERIES prints the value of one series of the exporter's /metrics.
metric() { awk -v s="$1" '$1 == s { print $2 }' <<<"$METRICS"; }

# alert_state prints pending or firing for HealthDependencyDown of
# message_queue in Prometheus, nothing when it is neither.
alert_state() {
	jq -r 'first(.data.alerts[]? | select(.labels.alertname == "HealthDependencyDown"
		and .labels.dependency == "message_queue") | .state) // empty' <<<"$ALERTS"
}

# notification STATUS prints, as JSON, the first notification of
# HealthDependencyDown for message_queue with STATUS sent to the OnCall
# integration (not its heartbeat).
notification() {
	jq -c --arg status "$1" 'first(.notifications[]? | select((.heartbeat | not)
		and .payload.status == $status and .payload.groupLabels.alertname == "HealthDependencyDown"
		and .payload.groupLabels.dependency == "message_queue")) // empty' <<<"$NOTES"
}

# The steps of the timeline. Each succeeds when its state is visible and
# sets MSG.

step_heartbeat() {
	[ "$(jq '[.notifications[]? | select(.heartbeat)] | length' <<<"$NOTES")" -ge 1 ] || return 1
	MSG="receiver: Watchdog heartbeat received: Prometheus -> Alertmanager -> OnCall works"
}

step_down() {
	[ "$(metric 'health_dependency_up{dependency="message_queue",kind="redis"}')" = 0 ] || return 1
	local reason
	reason=$(sed -n 's/^health_dependency_reason{dependency="message_queue",kind="redis",reason="\([a-z_]*\)"} 1$/\1/p' <<<"$METRICS")
	MSG="exporter: message_queue down, reason ${reason:-unknown}"
}

step_breaker_open() {
	[ "$(metric 'circuit_breaker_state{breaker="message_queue",state="open"}')" = 1 ] || return 1
	MSG="exporter: breaker message_queue open: checks fail fast, reason breaker_open"
}

step_pending() {
	case "$(alert_state)" in
	pending) MSG="Prometheus: HealthDependencyDown pending (for: $(div 120)s)" ;;
	firing) MSG="Prometheus: HealthDependencyDown pending (seen only once firing)" ;;
	*) return 1 ;;
	esac
}

step_firing() {
	[ "$(alert_state)" = firing ] || return 1
	MSG="Prometheus: HealthDependencyDown firing, sent to Alertmanager (group_wait $(div 30)s)"
}

page_key='' page_at=''
step_page() {
	local n recv
	n=$(notification firing)
	[ -n "$n" ] || return 1
	page_key=$(jq -r .payload.groupKey <<<"$n")
	recv=$(jq -r .received <<<"$n")
	page_at=$(date -d "$recv" +%s.%6N)
	MSG=$(jq -r '"receiver: PAGE received on \(.path)
                       groupKey  \(.payload.groupKey)
                       severity  \(.payload.commonLabels.severity)
                       summary   \(.payload.commonAnnotations.summary)
                       runbook   \(.payload.commonAnnotations.runbook_url)"' <<<"$n")
}

step_up() {
	[ "$(metric 'health_dependency_up{dependency="message_queue",kind="redis"}')" = 1 ] || return 1
	MSG="exporter: message_queue healthy again"
}

step_breaker_closed() {
	[ "$(metric 'circuit_breaker_state{breaker="message_queue",state="closed"}')" = 1 ] || return 1
	MSG="exporter: breaker message_queue closed (its probe after the 5s open timeout succeeded)"
}

step_not_firing() {
	# Only an answer from Prometheus can say the alert is gone.
	jq -e '.status == "success"' <<<"$ALERTS" >/dev/null 2>&1 || return 1
	[ -z "$(alert_state)" ] || return 1
	MSG="Prometheus: HealthDependencyDown no longer firing (held $(div 300)s by keep_firing_for), resolved to Alertmanager"
}

step_resolved() {
	local n
	n=$(notification resolved)
	[ -n "$n" ] || return 1
	if [ "$(jq -r .payload.groupKey <<<"$n")" = "$page_key" ]; then
		MSG="receiver: RESOLVED received, same groupKey: OnCall resolves the alert group"
	else
		MSG="receiver: RESOLVED received with another groupKey than the page: $(jq -r .payload.groupKey <<<"$n")"
	fi
}

# finish RC ends the demo: exits with RC when scripted, else keeps the stack
# running until Ctrl-C.
finish() {
	local rc=$1 name
	if [ "$rc" -ne 0 ]; then show_logs; fi
	if [ "$scripted" = 1 ]; then
		if [ "$rc" -eq 0 ]; then say "every step happened in time"; else say "a step did not happen in time"; fi
		exit "$rc"
	fi
	echo
	say "the stack keeps running; Ctrl-C stops it and removes $run"
	while :; do
		for name in "${!pid[@]}"; do
			if ! pid_alive "${pid[$name]}"; then
				he_say "$name exited; end of its log:"
				log_tail "$run/$name.log"
				exit 1
			fi
		done
		sleep 1
	done
}

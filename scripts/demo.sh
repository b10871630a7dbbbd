#!/usr/bin/env bash
# make demo: the whole alerting path on loopback ports, and an outage played
# through it.
#
# Builds the exporter, the OnCall-compatible receiver and Alertmanager into
# .tmp/demo/bin, starts Redis, PostgreSQL, the exporter, Prometheus,
# Alertmanager and the receiver, and prints their URLs. Then it stops Redis
# and prints a timestamped timeline of what the exporter, Prometheus and the
# receiver saw, up to the page; starts Redis again and follows the recovery
# to the resolved notification. The stack then keeps running until Ctrl-C.
#
#   DEMO_SCRIPTED=1   exit after the timeline: 0 if every step happened in
#                     time, 1 if one did not
#   DEMO_DIVISOR=N    divide the shipped timings by N (default 30)
#
# Timings: the shipped rules and Alertmanager configuration, with every
# for:, keep_firing_for:, group_wait, group_interval and repeat_interval
# divided by DEMO_DIVISOR through monitoring/cmd/shorten-rules and
# monitoring/cmd/render-alertmanager; Prometheus scrapes and evaluates every
# second. Everything started here is stopped by PID on exit, and the run's
# directory is removed.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
. scripts/demo-lib.sh
export PATH="/usr/local/go/bin:$PATH"

divisor=${DEMO_DIVISOR:-30}
scripted=${DEMO_SCRIPTED:-0}
bin=.tmp/demo/bin

scripts/install-deps.sh
for tool in go jq curl gzip; do command -v "$tool" >/dev/null || he_die "$tool is missing (scripts/install-deps.sh)"; done
prometheus=$(he_bin prometheus) || he_die "prometheus is missing (scripts/install-deps.sh)"

run=$(he_scratch he-demo)
declare -A pid=() # name -> PID of what this script started, besides Redis and PostgreSQL
REDIS_PID="" PG_PID=""
cleanup() {
	local rc=$? name
	trap - EXIT INT TERM
	for name in prometheus alertmanager health-exporter oncall-receiver; do
		if [ -n "${pid[$name]:-}" ]; then stop_pid "$name" "${pid[$name]}"; fi
	done
	# Also without a PID: they stop whatever still runs in their directory.
	if [ -d "$run/redis" ]; then stop_redis "$run/redis" "$REDIS_PID"; fi
	if [ -d "$run/postgres/data" ]; then stop_postgres "$run/postgres" "$PG_PID"; fi
	rm -rf -- "$run"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "building the exporter, the receiver and the demo tools into $bin"
mkdir -p "$bin"
go build -o "$bin/" ./cmd/health-exporter ./monitoring/cmd/oncall-receiver \
	./monitoring/cmd/shorten-rules ./monitoring/cmd/render-alertmanager
build_alertmanager "$bin/alertmanager"

# Services.
start_redis "$run/redis" || he_die "Redis did not start"
start_postgres "$run/postgres" || he_die "PostgreSQL did not start"
printf '%s\n' postgres >"$run/pg-password" && chmod 0600 "$run/pg-password"

port=$(free_port)
receiver=http://127.0.0.1:$port
token=demo-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
start_bg oncall-receiver "$bin/oncall-receiver" --web.listen-address="127.0.0.1:$port" \
	--integration="health-exporter=$token" --url-files.dir="$run/secrets"
wait_http oncall-receiver "$receiver/notifications"

port=$(free_port)
exporter=http://127.0.0.1:$port
cat >"$run/health-exporter.yml" <<EOF
global:
  breaker: {open_timeout: 5s}   # 30s in production; the recovery shows within seconds
dependencies:
  - name: message_queue
    kind: redis
    redis: {url: "redis://127.0.0.1:$REDIS_PORT/0"}
  - name: database
    kind: postgres
    postgres:
      dsn: "postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
      password_file: $run/pg-password
EOF
start_bg health-exporter "$bin/health-exporter" --config.file="$run/health-exporter.yml" \
	--web.listen-address="127.0.0.1:$port" --web.timeout-offset=0.2s
wait_http health-exporter "$exporter/-/ready"

# The shipped bundle, timings divided.
"$bin/shorten-rules" -divisor "$divisor" -out "$run/rules" monitoring/rules/health-exporter.rules.yml
"$bin/render-alertmanager" -divisor "$divisor" -url-file-dir "$run/secrets" \
	-out "$run/alertmanager.yml" monitoring/alertmanager.yml

port=$(free_port)
alertmanager=http://127.0.0.1:$port
start_bg alertmanager "$bin/alertmanager" --config.file="$run/alertmanager.yml" \
	--storage.path="$run/alertmanager" --web.listen-address="127.0.0.1:$port" \
	--web.external-url="$alertmanager/" --cluster.listen-address=
wait_http alertmanager "$alertmanager/-/ready"

port=$(free_port)
prom=http://127.0.0.1:$port
cat >"$run/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
alerting:
  alertmanagers:
    - static_configs: [{targets: ["127.0.0.1:${alertmanager##*:}"]}]
scrape_configs:
  - job_name: health-exporter   # the job name the rules expect
    static_configs: [{targets: ["127.0.0.1:${exporter##*:}"]}]
EOF
# resend-delay: an alert that fires before Prometheus has found
# Alertmanager goes out again after 5s instead of 1m.
start_bg prometheus "$prometheus" --config.file="$run/prometheus.yml" \
	--storage.tsdb.path="$run/prometheus" --web.listen-address="127.0.0.1:$port" \
	--web.external-url="$prom/" --rules.alert.resend-delay=5s
wait_http prometheus "$prom/-/ready"
# Prometheus applies scrape targets up to 5s after it starts; rules evaluated
# before the first scrape see no exporter, and HealthExporterDown, whose 2m
# for: is 4s here, would page. So the rules come once the exporter is scraped.
wait_for 60 "Prometheus' first scrape of the exporter" prom_has 'up{job="health-exporter"} == 1'
printf 'rule_files: ["%s/rules/health-exporter.rules.yml"]\n' "$run" >>"$run/prometheus.yml"
kill -HUP "${pid[prometheus]}"
wait_for 30 "Prometheus to load the rules" prom_rules_loaded

cat <<EOF

  exporter       $exporter/            landing page
                 $exporter/health      JSON summary
  Prometheus     $prom/alerts
  Alertmanager   $alertmanager/api/v2/alerts   (API; the web UI is not part of the Go module)
  OnCall         $receiver/notifications   what the receiver got, as JSON
  Redis          127.0.0.1:$REDIS_PORT    PostgreSQL 127.0.0.1:$PG_PORT    logs in $run

  Timings: the shipped ones divided by $divisor (HealthDependencyDown for: 2m -> $(div 120)s,
  keep_firing_for: 5m -> $(div 300)s; Alertmanager group_wait 30s -> $(div 30)s, group_interval
  5m -> $(div 300)s); scrape and evaluation every 1s; the exporter's breaker opens for 5s.

EOF

wait_for 60 "the dependencies to be healthy" exporter_healthy
follow 60 step_heartbeat || finish 1

say "stopping Redis"
stop_redis "$run/redis" "$REDIS_PID"
t0=$EPOCHREALTIME
REDIS_PID=""
stamp "Redis (message_queue) stopped"
ok=0
# Deadlines: a minute more than the demo timings need.
follow $((60 + (120 + 30) / divisor)) step_down step_breaker_open step_pending step_firing step_page || ok=1
if [ -n "$page_at" ]; then
	stamp "time to page: $(seconds "$t0" "$page_at")s from stopping Redis to the page"
fi

restart_redis "$run/redis" "$REDIS_PORT"
stamp "Redis started again (pid $REDIS_PID)"
follow $((65 + (300 + 300) / divisor)) step_up step_breaker_closed step_not_firing step_resolved || ok=1
finish "$ok"

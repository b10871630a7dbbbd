#!/usr/bin/env bash
# Runs every test against real services: starts a throwaway Redis and
# PostgreSQL (scripts/services.sh) that all test binaries share, runs the
# steps below, stops the services on any exit, and prints one line per step.
#
# Steps run in order and all run even when one fails; the script fails when
# any did. Add a step as a function and a `step` line at the bottom.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
export PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null || he_die "go not found (expected /usr/local/go/bin/go); see scripts/install-deps.sh"

services=$(he_scratch he-test-services)
stop_services() {
	if [ -f "$services/env" ]; then scripts/services.sh stop "$services"; else rm -rf -- "$services"; fi
}
trap stop_services EXIT
trap 'exit 130' INT TERM # run the EXIT trap on Ctrl-C too
scripts/services.sh start "$services" >/dev/null || he_die "the test services did not start"
set -a
. "$services/env"
set +a
pg_addr=${HE_TEST_POSTGRES_DSN:-missing}
pg_addr=${pg_addr#*@}
echo "services: Redis ${HE_TEST_REDIS_ADDR:-missing}, PostgreSQL ${pg_addr%%/*} (data in $services)"

results=()
failed=0

# step NAME CMD... runs one step and records its outcome.
step() {
	local name=$1 start=$SECONDS rc=0
	shift
	echo "==> $name"
	"$@" || rc=$?
	if [ "$rc" -eq 0 ]; then
		results+=("ok    $name ($((SECONDS - start))s)")
	else
		results+=("FAIL  $name ($((SECONDS - start))s)")
		failed=1
	fi
}

# go_tests runs every package's tests under the race detector and sums up.
go_tests() {
	local log="$services/go-test.log" rc=0 ok none bad
	go test -race -count=1 -timeout 30m ./... 2>&1 | tee "$log" || rc=$?
	ok=$(grep -c '^ok ' "$log" || :)
	none=$(grep -c '^? ' "$log" || :)
	bad=$(awk -F'\t' '$1 == "FAIL" && $2 != "" { print $2 }' "$log" | sort -u | tr '\n' ' ')
	if [ "$rc" -eq 0 ]; then
		echo "go test: PASS: $ok packages ok, $none without tests"
	else
		echo "go test: FAIL (exit $rc): $ok packages ok; failed: ${bad:-see the build errors above}"
	fi
	return "$rc"
}

# bench_compiles vets the benchmark module, so a benchmark that no longer
# builds fails here rather than at the next make bench.
bench_compiles() { (cd bench && go vet ./...); }

# demo plays make demo's outage unattended (under a minute once Alertmanager
# is built): the exporter, Prometheus, Alertmanager and the OnCall receiver
# as an operator runs them.
demo() { DEMO_SCRIPTED=1 scripts/demo.sh; }

step "go test -race ./..." go_tests
step "go vet ./... in bench/" bench_compiles
step "DEMO_SCRIPTED=1 scripts/demo.sh" demo

echo
printf '%s\n' "${results[@]}"
if [ "$failed" -ne 0 ]; then
	echo "test.sh: FAIL"
	exit 1
fi
echo "test.sh: PASS"

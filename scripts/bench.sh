#!/usr/bin/env bash
# Runs the benchmarks of bench/ (our packages against the named competitors,
# measured in the same run) and prints one summary line per comparison:
#   <name> ours=<ns/op> <competitor>=<ns/op> ratio=<ours/competitor>
# Each figure is the median of BENCH_COUNT runs. The raw output is kept in
# .tmp/bench.txt. BENCH_FILTER narrows the benchmarks (a go test -bench regexp).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
count=${BENCH_COUNT:-5}
filter=${BENCH_FILTER:-.}
mkdir -p .tmp
raw=.tmp/bench.txt

scripts/install-deps.sh
{
  (cd bench && go test -run '^$' -bench "$filter" -benchmem -count "$count" -timeout 60m ./...)
  # The exporter binary itself, scraped over HTTP: latency and memory.
  go test -run '^$' -bench "$filter" -benchtime 20x -timeout 30m ./cmd/health-exporter/
} | tee "$raw"

echo
echo "== summary (median of $count runs) =="
awk '
  /^Benchmark/ && /ns\/op/ {
    name = $1; sub(/-[0-9]+$/, "", name)          # drop the GOMAXPROCS suffix
    n = split(name, part, "/")
    if (n < 2) { part[2] = "run"; n = 2 }
    sub_ = part[n]; group = part[1]
    for (i = 2; i < n; i++) group = group "/" part[i]
    sub(/^Benchmark/, "", group)
    for (i = 2; i <= NF; i++) if ($(i+1) == "ns/op") { v = $i; break }
    key = group SUBSEP sub_
    vals[key] = vals[key] " " v
    if (!(key in seen)) { seen[key] = 1; order[++cnt] = key }
    extra = ""
    # Custom metrics (b.ReportMetric): every unit but the standard three.
    for (i = 3; i < NF; i++) if ($i ~ /^[0-9.e+-]+$/ && $(i+1) !~ /^(ns\/op|B\/op|allocs\/op)$/ && $(i+1) ~ /^[A-Za-z]/) extra = extra " " $(i+1) "=" $i
    if (extra != "") extras[key] = extra
  }
  function median(s,   a, n, i, j, t) {
    n = split(s, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    for (k = 1; k <= cnt; k++) {
      split(order[k], gs, SUBSEP); g = gs[1]; s = gs[2]
      if (s == "ours" || ((g SUBSEP "ours") in seen)) continue
      printf "%s %s=%.1f%s\n", g, s, median(vals[order[k]]), extras[order[k]]
    }
    for (k = 1; k <= cnt; k++) {
      split(order[k], gs, SUBSEP); g = gs[1]; s = gs[2]
      if (s !~ /^ours/) continue
      ours = median(vals[order[k]])
      label = g; if (s != "ours") { v = s; sub(/^ours_?/, "", v); label = g "/" v }
      paired = 0
      for (m = 1; m <= cnt; m++) {
        split(order[m], hs, SUBSEP)
        if (hs[1] != g || hs[2] ~ /^ours/) continue
        c = median(vals[order[m]])
        printf "%s ours=%.1f %s=%.1f ratio=%.2f\n", label, ours, hs[2], c, (c > 0 ? ours / c : 0)
        paired = 1
      }
      if (!paired) printf "%s ours=%.1f%s\n", label, ours, extras[order[k]]
    }
  }' "$raw"

#!/usr/bin/env bash
# Runs the benchmarks of bench/ (our packages against the named competitors,
# measured in the same run) and prints one summary line per comparison:
#   <name> ours=<ns/op> <competitor>=<ns/op> ratio=<ours/competitor>
# The runs are BENCH_COUNT rounds (default 5); each round runs every
# benchmark once, so the two sides of a comparison run seconds apart and a
# spell of load from elsewhere on a shared machine falls on both; even
# rounds run the sides of the cache comparisons in reverse order
# (BENCH_ROUND), so that neither side always runs first. ours= and
# <competitor>= are medians over the rounds; ratio= is the median of the
# rounds' own ratios, so a round slowed as a whole does not move it.
# Sub-benchmarks pair by suffix: ours-msgpack with goredis-cache-msgpack, and
# a variant no competitor shares (ours-direct) with the plain competitor.
# The raw output is kept in .tmp/bench.txt. BENCH_FILTER narrows the
# benchmarks (a go test -bench regexp).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
count=${BENCH_COUNT:-5}
filter=${BENCH_FILTER:-.}
mkdir -p .tmp
raw=.tmp/bench.txt

scripts/install-deps.sh
(cd bench && go test -c -o ../.tmp/bench.test .)
{
  for round in $(seq "$count"); do
    echo "# round $round of $count"
    # BENCH_ROUND: the cache comparisons run their sides in reverse order in
    # even rounds, so that neither side always runs first.
    (cd bench && BENCH_ROUND=$round ../.tmp/bench.test -test.run '^$' -test.bench "$filter" -test.benchmem -test.count 1 -test.timeout 60m)
  done
  # The exporter binary itself, scraped over HTTP: latency and memory.
  go test -run '^$' -bench "$filter" -benchtime 20x -timeout 30m ./cmd/health-exporter/
} | tee "$raw"

echo
echo "== summary (medians of $count rounds) =="
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
    nv[key]++; val[key, nv[key]] = v
    if (!(key in seen)) { seen[key] = 1; order[++cnt] = key }
    extra = ""
    # Custom metrics (b.ReportMetric): every unit but the standard three.
    for (i = 3; i < NF; i++) if ($i ~ /^[0-9.e+-]+$/ && $(i+1) !~ /^(ns\/op|B\/op|allocs\/op)$/ && $(i+1) ~ /^[A-Za-z]/) extra = extra " " $(i+1) "=" $i
    if (extra != "") extras[key] = extra
  }
  function median(arr, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (arr[j] + 0 < arr[i] + 0) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
    return (n % 2) ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
  }
  function med(key,   a, i) {
    for (i = 1; i <= nv[key]; i++) a[i] = val[key, i]
    return median(a, nv[key])
  }
  function ratio(o, c,   a, i, n) {           # median of the paired rounds
    n = (nv[o] < nv[c]) ? nv[o] : nv[c]
    for (i = 1; i <= n; i++) a[i] = (val[c, i] > 0) ? val[o, i] / val[c, i] : 0
    return median(a, n)
  }
  function suffix(s) { sub(/^ours/, "", s); return s }
  END {
    for (k = 1; k <= cnt; k++) {
      split(order[k], gs, SUBSEP); g = gs[1]; s = gs[2]
      if (s == "ours" || ((g SUBSEP "ours") in seen)) continue
      printf "%s %s=%.1f%s\n", g, s, med(order[k]), extras[order[k]]
    }
    for (k = 1; k <= cnt; k++) {
      split(order[k], gs, SUBSEP); g = gs[1]; s = gs[2]
      if (s !~ /^ours/) continue
      sfx = suffix(s)
      label = g; if (sfx != "") { v = sfx; sub(/^[-_]/, "", v); label = g "/" v }
      # The competitors with the same suffix, else the plain ones: those
      # whose name ends in no suffix of an ours variant of the group.
      npair = 0
      for (m = 1; m <= cnt; m++) {
        split(order[m], hs, SUBSEP)
        if (hs[1] != g || hs[2] ~ /^ours/) continue
        if (sfx != "" && substr(hs[2], length(hs[2]) - length(sfx) + 1) == sfx) pair[++npair] = order[m]
      }
      if (npair == 0) for (m = 1; m <= cnt; m++) {
        split(order[m], hs, SUBSEP)
        if (hs[1] != g || hs[2] ~ /^ours/) continue
        plain = 1
        for (q = 1; q <= cnt; q++) {
          split(order[q], qs, SUBSEP)
          if (qs[1] != g || qs[2] !~ /^ours./) continue
          x = suffix(qs[2])
          if (substr(hs[2], length(hs[2]) - length(x) + 1) == x) plain = 0
        }
        if (plain) pair[++npair] = order[m]
      }
      for (m = 1; m <= npair; m++) {
        split(pair[m], hs, SUBSEP)
        printf "%s ours=%.1f %s=%.1f ratio=%.2f\n", label, med(order[k]), hs[2], med(pair[m]), ratio(order[k], pair[m])
      }
      if (npair == 0) printf "%s ours=%.1f%s\n", label, med(order[k]), extras[order[k]]
    }
  }' "$raw"

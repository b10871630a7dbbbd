package breaker_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/health-exporter/health-exporter/breaker"
	"github.com/health-exporter/health-exporter/internal/testenv"
)

const (
	helpState       = "# HELP circuit_breaker_state Circuit breaker state: 1 for the current state (closed, half_open, open), 0 for the others.\n# TYPE circuit_breaker_state gauge\n"
	helpTransitions = "# HELP circuit_breaker_transitions_total Circuit breaker state changes, by the state changed to.\n# TYPE circuit_breaker_transitions_total counter\n"
	helpCalls       = "# HELP circuit_breaker_calls_total Calls through the circuit breaker by result: success, failure, rejected (refused while open or half-open) or excluded (counted neither way, such as a cancelled call).\n# TYPE circuit_breaker_calls_total counter\n"
)

// twoBreakers returns a healthy breaker and one that tripped.
func twoBreakers() (*breaker.Breaker, *breaker.Breaker) {
	ctx := context.Background()
	cache := breaker.New(breaker.Settings{Name: "cache"})
	_ = cache.Run(ctx, func(context.Context) error { return nil })
	_ = cache.Run(ctx, func(context.Context) error { return context.Canceled })

	search := breaker.New(breaker.Settings{Name: "search"})
	for range 3 {
		_ = search.Run(ctx, func(context.Context) error { return errors.New("timeout") })
	}
	_ = search.Run(ctx, func(context.Context) error { return nil }) // rejected
	return cache, search
}

const golden = helpCalls + `circuit_breaker_calls_total{breaker="cache",result="excluded"} 1
circuit_breaker_calls_total{breaker="cache",result="failure"} 0
circuit_breaker_calls_total{breaker="cache",result="rejected"} 0
circuit_breaker_calls_total{breaker="cache",result="success"} 1
circuit_breaker_calls_total{breaker="search",result="excluded"} 0
circuit_breaker_calls_total{breaker="search",result="failure"} 3
circuit_breaker_calls_total{breaker="search",result="rejected"} 1
circuit_breaker_calls_total{breaker="search",result="success"} 0
` + helpState + `circuit_breaker_state{breaker="cache",state="closed"} 1
circuit_breaker_state{breaker="cache",state="half_open"} 0
circuit_breaker_state{breaker="cache",state="open"} 0
circuit_breaker_state{breaker="search",state="closed"} 0
circuit_breaker_state{breaker="search",state="half_open"} 0
circuit_breaker_state{breaker="search",state="open"} 1
` + helpTransitions + `circuit_breaker_transitions_total{breaker="cache",to="closed"} 0
circuit_breaker_transitions_total{breaker="cache",to="half_open"} 0
circuit_breaker_transitions_total{breaker="cache",to="open"} 0
circuit_breaker_transitions_total{breaker="search",to="closed"} 0
circuit_breaker_transitions_total{breaker="search",to="half_open"} 0
circuit_breaker_transitions_total{breaker="search",to="open"} 1
`

func TestCollectorExposition(t *testing.T) {
	cache, search := twoBreakers()
	c := breaker.NewCollector("", cache, search)
	if err := testutil.CollectAndCompare(c, strings.NewReader(golden)); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(golden)); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.CollectAndLint(c)
	if err != nil || len(problems) != 0 {
		t.Fatalf("lint: %v %v", err, problems)
	}
}

func TestCollectorNamespaceAndReload(t *testing.T) {
	cache, search := twoBreakers()
	c := breaker.NewCollector("x", cache)
	want := strings.ReplaceAll(goldenFor(t, "cache"), "circuit_breaker_", "x_circuit_breaker_")
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}

	c.Add(search)
	c.Remove("cache")
	c.Remove("no_such_breaker")
	want = strings.ReplaceAll(goldenFor(t, "search"), "circuit_breaker_", "x_circuit_breaker_")
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}

	// A new breaker under an old name replaces it: no duplicate series.
	c.Add(breaker.New(breaker.Settings{Name: "search"}))
	if n := testutil.CollectAndCount(c, "x_circuit_breaker_state"); n != 3 {
		t.Fatalf("%d state series after replacing a breaker, want 3", n)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
}

// goldenFor keeps the golden lines of one breaker.
func goldenFor(t *testing.T, name string) string {
	t.Helper()
	var b strings.Builder
	for _, line := range strings.SplitAfter(golden, "\n") {
		if strings.HasPrefix(line, "#") || strings.Contains(line, `breaker="`+name+`"`) {
			b.WriteString(line)
		}
	}
	return b.String()
}

func TestCollectorPassesPromtool(t *testing.T) {
	promtool := testenv.Binary(t, "promtool")
	reg := prometheus.NewPedanticRegistry()
	cache, search := twoBreakers()
	reg.MustRegister(breaker.NewCollector("", cache, search))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&text, mf); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(t.Context(), promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text.String())
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Fatalf("promtool check metrics: %v\n%s\non:\n%s", err, out, text.String())
	}
}

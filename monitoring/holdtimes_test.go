package monitoring

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func TestShortenHoldTimes(t *testing.T) {
	cases := []struct {
		name    string
		src     string
		divisor int
		want    string
	}{
		{
			name: "for and keep_firing_for of alerts",
			src: `groups:
  - name: g
    rules:
      - alert: A
        expr: up == 0
        # why 2m
        for: 2m
        keep_firing_for: 10m # why 10m
`,
			divisor: 20,
			want: `groups:
  - name: g
    rules:
      - alert: A
        expr: up == 0
        # why 2m
        for: 6s
        keep_firing_for: 30s # why 10m
`,
		},
		{
			name: "compound durations, and never below 1s",
			src: `groups:
  - name: g
    rules:
      - {alert: A, expr: vector(1), for: 1h30m}
      - alert: B
        expr: vector(1)
        for: 10s
`,
			divisor: 60,
			want: `groups:
  - name: g
    rules:
      - {alert: A, expr: vector(1), for: 1m30s}
      - alert: B
        expr: vector(1)
        for: 1s
`,
		},
		{
			name: "range selectors, labels and other groups untouched",
			src: `groups:
  - name: rec
    rules:
      - record: job:up:avg_over_time_5m
        expr: avg_over_time(up[5m])
  - name: alerts
    rules:
      - alert: A
        expr: job:up:avg_over_time_5m < 0.5
        for: 5m
        labels: {for: 5m}
        annotations: {description: "for: 5m"}
`,
			divisor: 10,
			want: `groups:
  - name: rec
    rules:
      - record: job:up:avg_over_time_5m
        expr: avg_over_time(up[5m])
  - name: alerts
    rules:
      - alert: A
        expr: job:up:avg_over_time_5m < 0.5
        for: 30s
        labels: {for: 5m}
        annotations: {description: "for: 5m"}
`,
		},
		{
			name:    "divisor 1 changes nothing",
			src:     "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: vector(1)\n        for: 15m\n",
			divisor: 1,
			want:    "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: vector(1)\n        for: 15m\n",
		},
		{
			name:    "no groups",
			src:     "# nothing yet\n",
			divisor: 20,
			want:    "# nothing yet\n",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ShortenHoldTimes([]byte(tc.src), tc.divisor)
			if err != nil {
				t.Fatalf("ShortenHoldTimes: %v", err)
			}
			if string(got) != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestShortenHoldTimesErrors(t *testing.T) {
	cases := []struct {
		name    string
		src     string
		divisor int
		holdErr bool
	}{
		{name: "zero divisor", src: "groups: []\n", divisor: 0},
		{name: "negative divisor", src: "groups: []\n", divisor: -2},
		{name: "not YAML", src: "groups: [\n", divisor: 2},
		{
			name:    "quoted duration",
			src:     "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: vector(1)\n        for: \"2m\"\n",
			divisor: 2, holdErr: true,
		},
		{
			name:    "not a duration",
			src:     "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: vector(1)\n        for: soon\n",
			divisor: 2, holdErr: true,
		},
		{
			name:    "duration given as a list",
			src:     "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: vector(1)\n        keep_firing_for: [2m]\n",
			divisor: 2, holdErr: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := ShortenHoldTimes([]byte(tc.src), tc.divisor)
			if err == nil {
				t.Fatalf("ShortenHoldTimes succeeded with:\n%s", out)
			}
			if got := errors.Is(err, ErrHoldTime); got != tc.holdErr {
				t.Errorf("errors.Is(%v, ErrHoldTime) = %v, want %v", err, got, tc.holdErr)
			}
		})
	}
}

// TestShortenHoldTimesOnBundle checks the demo copy of the real rules:
// every hold time shorter by the divisor, every other line the same.
func TestShortenHoldTimesOnBundle(t *testing.T) {
	const divisor = 20
	for _, path := range globFiles(t, rulesGlob) {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read rules: %v", err)
		}
		short, err := ShortenHoldTimes(src, divisor)
		if err != nil {
			t.Fatalf("ShortenHoldTimes(%s): %v", path, err)
		}
		before, after := strings.Split(string(src), "\n"), strings.Split(string(short), "\n")
		if len(before) != len(after) {
			t.Fatalf("%s: %d lines became %d", path, len(before), len(after))
		}
		changed := 0
		for i := range before {
			if before[i] == after[i] {
				continue
			}
			changed++
			prod, demo := holdTime(t, before[i]), holdTime(t, after[i])
			want := max(prod/divisor, time.Second).Truncate(time.Second)
			if demo != want {
				t.Errorf("%s:%d: %s became %s, want %s", path, i+1, prod, demo, want)
			}
		}
		if changed == 0 {
			t.Errorf("%s: no hold time changed", path)
		}
	}
}

// holdTime parses a "for: 2m" or "keep_firing_for: 2m" line.
func holdTime(t *testing.T, line string) time.Duration {
	t.Helper()
	key, value, ok := strings.Cut(strings.TrimSpace(line), ":")
	if !ok || !holdKeys[key] {
		t.Fatalf("changed line %q is not a hold time", line)
	}
	d, err := model.ParseDuration(strings.TrimSpace(value))
	if err != nil {
		t.Fatalf("changed line %q: %v", line, err)
	}
	return time.Duration(d)
}

func ExampleShortenHoldTimes() {
	rules := `groups:
  - name: dependencies
    rules:
      - alert: HealthDependencyDown
        expr: health_dependency_up == 0
        for: 2m
        keep_firing_for: 5m
`
	demo, err := ShortenHoldTimes([]byte(rules), 20)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(demo))
	// Output:
	// groups:
	//   - name: dependencies
	//     rules:
	//       - alert: HealthDependencyDown
	//         expr: health_dependency_up == 0
	//         for: 6s
	//         keep_firing_for: 15s
}

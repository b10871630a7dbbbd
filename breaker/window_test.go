package breaker

import (
	"context"
	"testing"
	"time"
)

// rateSettings trips on the failure rate alone.
func rateSettings(rate float64, minCalls uint32, window time.Duration) Settings {
	return Settings{FailureThreshold: MaxFailureThreshold, FailureRateThreshold: rate,
		MinimumCalls: minCalls, Window: window}
}

func record(t *testing.T, b *Breaker, outcome error, n int) {
	t.Helper()
	for range n {
		mustAllow(t, b).Done(outcome)
	}
}

// burst is a step of a failure-rate test: move the clock, then make ok
// successful and failed failing calls.
type burst struct {
	advance    time.Duration
	ok, failed int
}

func TestFailureRate(t *testing.T) {
	tests := []struct {
		name     string
		minCalls uint32
		bursts   []burst
		want     State
	}{
		{"below the minimum number of calls", 10, []burst{{0, 0, 9}}, Closed},
		{"rate reached once the minimum is seen", 10, []burst{{0, 5, 4}, {0, 0, 1}}, Open},
		{"rate below the threshold", 10, []burst{{0, 6, 4}}, Closed},
		{"the rate is checked on failures only", 10, []burst{{0, 0, 5}, {0, 5, 0}}, Closed},
		{"calls older than the window roll out", 4,
			[]burst{{0, 6, 0}, {30 * time.Second, 0, 3}, {35 * time.Second, 0, 1}}, Open},
		{"calls inside the window still count", 4,
			[]burst{{0, 6, 0}, {30 * time.Second, 0, 3}, {29 * time.Second, 0, 1}}, Closed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clock := newTestBreaker(rateSettings(0.5, tt.minCalls, time.Minute))
			for _, s := range tt.bursts {
				clock.Advance(s.advance)
				record(t, b, nil, s.ok)
				record(t, b, errBoom, s.failed)
			}
			if got := b.State(); got != tt.want {
				t.Errorf("state %v, want %v (%+v)", got, tt.want, b.Counts())
			}
		})
	}
}

func TestWindowRollsInTenths(t *testing.T) {
	b, clock := newTestBreaker(rateSettings(0.5, 2, time.Minute))
	record(t, b, nil, 1)
	clock.Advance(59*time.Second + 999*time.Millisecond) // still in the first tenth's window
	record(t, b, errBoom, 1)
	if got := b.State(); got != Open {
		t.Fatalf("1 failure of 2 calls within 60s: %v, want open", got)
	}

	b, clock = newTestBreaker(rateSettings(0.5, 2, time.Minute))
	record(t, b, nil, 1)
	clock.Advance(time.Minute) // the first tenth has rolled out
	record(t, b, errBoom, 1)
	if got := b.State(); got != Closed {
		t.Fatalf("the success at t=0 must be out of the window at t=60s: %v", got)
	}
}

func TestRateIgnoresExcludedCallsAndResetsOnClose(t *testing.T) {
	b, clock := newTestBreaker(rateSettings(0.5, 4, time.Minute))
	record(t, b, context.Canceled, 10)
	record(t, b, errBoom, 3)
	if got := b.State(); got != Closed {
		t.Fatalf("excluded calls counted toward the minimum: %v", got)
	}
	record(t, b, errBoom, 1)
	if got := b.State(); got != Open {
		t.Fatalf("4 failures of 4 calls: %v, want open", got)
	}
	clock.Advance(DefaultOpenTimeout)
	record(t, b, nil, 1) // closes
	record(t, b, errBoom, 3)
	if got := b.State(); got != Closed {
		t.Fatalf("failures from before the open period still counted: %v", got)
	}
}

func TestConsecutiveThresholdStillAppliesWithRate(t *testing.T) {
	b, _ := newTestBreaker(Settings{FailureRateThreshold: 0.9, MinimumCalls: 100})
	record(t, b, nil, 50)
	record(t, b, errBoom, 3)
	if got := b.State(); got != Open {
		t.Fatalf("3 consecutive failures with the rate on: %v, want open", got)
	}
}

func TestClockGoingBackwardsIsHarmless(t *testing.T) {
	b, clock := newTestBreaker(rateSettings(0.5, 2, time.Minute))
	clock.Advance(-time.Hour)
	record(t, b, nil, 1)
	record(t, b, errBoom, 1)
	if got := b.State(); got != Open {
		t.Fatalf("state %v, want open", got)
	}
}

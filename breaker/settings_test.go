package breaker

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		s    Settings
		want string // "" for valid
	}{
		{Settings{}, ""},
		{Settings{FailureThreshold: MaxFailureThreshold, FailureRateThreshold: 1, OpenJitter: 1}, ""},
		{Settings{Name: "db", FailureThreshold: MaxFailureThreshold + 1}, `breaker "db": FailureThreshold 536870912 above 536870911`},
		{Settings{FailureRateThreshold: 1.5}, "FailureRateThreshold 1.5 outside [0, 1]"},
		{Settings{FailureRateThreshold: -0.1}, "FailureRateThreshold -0.1 outside [0, 1]"},
		{Settings{FailureRateThreshold: math.NaN()}, "FailureRateThreshold NaN outside [0, 1]"},
		{Settings{Window: -time.Second}, "negative Window -1s"},
		{Settings{OpenTimeout: -time.Second}, "negative OpenTimeout -1s"},
		{Settings{OpenJitter: 2}, "OpenJitter 2 outside [0, 1]"},
	}
	for _, tt := range tests {
		err := tt.s.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.s, err, tt.want)
		}
	}
}

func TestNewAppliesDefaultsAndClamps(t *testing.T) {
	b := New(Settings{FailureThreshold: math.MaxUint32, OpenTimeout: -time.Second, OpenJitter: 7,
		FailureRateThreshold: 3, Window: -1})
	if b.threshold != MaxFailureThreshold || b.openTimeout != DefaultOpenTimeout || b.openJitter != 1 ||
		b.halfOpenMax != DefaultHalfOpenMaxCalls || b.window == nil || b.window.rate != 1 ||
		b.window.width != int64(DefaultWindow/windowBuckets) || b.window.minCalls != DefaultMinimumCalls {
		t.Errorf("clamped settings not applied: threshold=%d timeout=%v jitter=%v halfOpen=%d window=%+v",
			b.threshold, b.openTimeout, b.openJitter, b.halfOpenMax, b.window)
	}
	if b := New(Settings{FailureRateThreshold: math.NaN()}); b.window != nil {
		t.Error("a NaN rate must disable the rate window")
	}
	if b := New(Settings{}); b.window != nil || b.State() != Closed || b.threshold != DefaultFailureThreshold {
		t.Error("zero Settings: want a closed breaker, threshold 3, no rate window")
	}
}

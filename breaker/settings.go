package breaker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// Defaults that the zero values of Settings stand for. They are the origin
// integration stack's CircuitBreaker(failure_threshold=3, timeout=30).
const (
	DefaultFailureThreshold = 3
	DefaultMinimumCalls     = 10
	DefaultWindow           = 60 * time.Second
	DefaultOpenTimeout      = 30 * time.Second
	DefaultHalfOpenMaxCalls = 1
)

// MaxFailureThreshold is the largest FailureThreshold a Breaker honours: the
// failure streak shares one atomic word with the state. Set FailureThreshold
// to it to trip on the failure rate alone.
const MaxFailureThreshold = 1<<29 - 1

// Settings configures a Breaker. Zero values mean the documented defaults.
// New clamps out-of-range values; Validate reports them, for callers that
// would rather refuse a bad configuration.
type Settings struct {
	// Name identifies the breaker in listener calls, errors and metrics.
	Name string

	// FailureThreshold is the number of consecutive failures that opens a
	// closed breaker. Default 3; at most MaxFailureThreshold.
	FailureThreshold uint32

	// FailureRateThreshold, in (0, 1], also opens the breaker when failures
	// divided by calls over the rolling Window reach it, once MinimumCalls
	// calls were seen there. The rate is checked when a failure is recorded.
	// 0 (the default) disables the rate; values above 1 are clamped to 1.
	FailureRateThreshold float64

	// MinimumCalls is the number of calls (successes plus failures) the
	// Window must hold before the rate counts. Default 10.
	MinimumCalls uint32

	// Window is the rolling window of the failure rate. It rolls in tenths:
	// the rate covers the last 9 to 10 tenths of it. Default 60s.
	Window time.Duration

	// OpenTimeout is how long the breaker stays open before it lets trial
	// calls through (half-open). Default 30s.
	OpenTimeout time.Duration

	// OpenJitter, in [0, 1], stretches each open period to
	// OpenTimeout * (1 + r*OpenJitter) with r random in [0, 1), so a fleet of
	// processes does not probe a recovering dependency in lockstep. Default 0.
	OpenJitter float64

	// HalfOpenMaxCalls is the number of trial calls admitted while half-open;
	// as many successes close the breaker and one failure reopens it.
	// Default 1.
	HalfOpenMaxCalls uint32

	// IsFailure reports whether a non-nil error that is not excluded counts as
	// a failure; if it returns false the call counts as a success. Default:
	// every such error is a failure, context.DeadlineExceeded included, so a
	// hung dependency trips the breaker. A nil error is always a success.
	IsFailure func(error) bool

	// IsExcluded reports whether a non-nil error counts as neither success
	// nor failure: the caller gave up, the dependency did not fail. Default:
	// errors.Is(err, context.Canceled).
	IsExcluded func(error) bool

	// OnStateChange, if set, is called after each change of state, never with
	// a lock held: it may call back into the breaker. Calls are made one at a
	// time and in the order of the changes.
	OnStateChange func(name string, from, to State)

	// Now is the clock. Default time.Now. Tests inject a fake one.
	Now func() time.Time
}

// Validate reports the first setting that New would clamp.
func (s Settings) Validate() error {
	switch {
	case s.FailureThreshold > MaxFailureThreshold:
		return fmt.Errorf("breaker %q: FailureThreshold %d above %d", s.Name, s.FailureThreshold, MaxFailureThreshold)
	case math.IsNaN(s.FailureRateThreshold) || s.FailureRateThreshold < 0 || s.FailureRateThreshold > 1:
		return fmt.Errorf("breaker %q: FailureRateThreshold %v outside [0, 1]", s.Name, s.FailureRateThreshold)
	case s.Window < 0:
		return fmt.Errorf("breaker %q: negative Window %v", s.Name, s.Window)
	case s.OpenTimeout < 0:
		return fmt.Errorf("breaker %q: negative OpenTimeout %v", s.Name, s.OpenTimeout)
	case math.IsNaN(s.OpenJitter) || s.OpenJitter < 0 || s.OpenJitter > 1:
		return fmt.Errorf("breaker %q: OpenJitter %v outside [0, 1]", s.Name, s.OpenJitter)
	}
	return nil
}

// withDefaults fills in defaults and clamps what Validate would reject.
func (s Settings) withDefaults() Settings {
	if s.FailureThreshold == 0 {
		s.FailureThreshold = DefaultFailureThreshold
	}
	s.FailureThreshold = min(s.FailureThreshold, MaxFailureThreshold)
	if math.IsNaN(s.FailureRateThreshold) || s.FailureRateThreshold < 0 {
		s.FailureRateThreshold = 0
	}
	s.FailureRateThreshold = min(s.FailureRateThreshold, 1)
	if s.MinimumCalls == 0 {
		s.MinimumCalls = DefaultMinimumCalls
	}
	if s.Window <= 0 {
		s.Window = DefaultWindow
	}
	s.Window = max(s.Window, windowBuckets) // at least 1ns per bucket
	if s.OpenTimeout <= 0 {
		s.OpenTimeout = DefaultOpenTimeout
	}
	if math.IsNaN(s.OpenJitter) || s.OpenJitter < 0 {
		s.OpenJitter = 0
	}
	s.OpenJitter = min(s.OpenJitter, 1)
	if s.HalfOpenMaxCalls == 0 {
		s.HalfOpenMaxCalls = DefaultHalfOpenMaxCalls
	}
	if s.IsFailure == nil {
		s.IsFailure = func(error) bool { return true }
	}
	if s.IsExcluded == nil {
		s.IsExcluded = isCanceled
	}
	return s
}

func isCanceled(err error) bool { return errors.Is(err, context.Canceled) }

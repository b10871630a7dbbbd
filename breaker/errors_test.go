package breaker

import (
	"errors"
	"fmt"
	"testing"
)

func TestRejectionsMatchThroughWrapping(t *testing.T) {
	b, clock := newTestBreaker(Settings{Name: "search", FailureThreshold: 1})
	mustAllow(t, b).Done(errBoom)
	_, errOpen := b.Allow()
	clock.Advance(DefaultOpenTimeout)
	mustAllow(t, b)
	_, errTooMany := b.Allow()

	tests := []struct {
		err, want, not error
		msg            string
	}{
		{errOpen, ErrOpen, ErrTooManyRequests, "breaker search: circuit breaker is open"},
		{errTooMany, ErrTooManyRequests, ErrOpen, "breaker search: circuit breaker is half-open: too many trial calls"},
	}
	for _, tt := range tests {
		if tt.err == nil || tt.err.Error() != tt.msg {
			t.Fatalf("rejection %v, want message %q", tt.err, tt.msg)
		}
		for _, err := range []error{tt.err, fmt.Errorf("search workflows: %w", tt.err),
			fmt.Errorf("retry: %w", fmt.Errorf("attempt 2: %w", tt.err)), errors.Join(errBoom, tt.err)} {
			if !errors.Is(err, tt.want) {
				t.Errorf("errors.Is(%q, %v) = false", err, tt.want)
			}
			if errors.Is(err, tt.not) {
				t.Errorf("errors.Is(%q, %v) = true", err, tt.not)
			}
			var r interface{ Retryable() bool }
			if !errors.As(err, &r) || r.Retryable() {
				t.Errorf("%q: want an error in the chain with Retryable() == false", err)
			}
		}
	}
}

func TestSentinelsAreRetryableFalse(t *testing.T) {
	for _, err := range []error{ErrOpen, ErrTooManyRequests} {
		r, ok := err.(interface{ Retryable() bool })
		if !ok || r.Retryable() {
			t.Errorf("%v: Retryable() must exist and report false", err)
		}
	}
	b := New(Settings{}) // no name: the sentinel itself
	b.ForceOpen()
	if _, err := b.Allow(); err != ErrOpen {
		t.Errorf("unnamed breaker rejected with %v, want ErrOpen itself", err)
	}
}

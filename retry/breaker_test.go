package retry_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/health-exporter/health-exporter/breaker"
	"github.com/health-exporter/health-exporter/retry"
)

func instant(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- time.Time{}
	return ch
}

// TestDoStopsAtOpenBreaker retries a failing dependency behind a breaker:
// once the breaker opens, its rejection ends the retries.
func TestDoStopsAtOpenBreaker(t *testing.T) {
	errDown := errors.New("connection refused")
	b := breaker.New(breaker.Settings{Name: "redis", FailureThreshold: 2})
	var retries []int
	p := retry.Policy{
		MaxRetries: 5,
		After:      instant,
		OnRetry:    func(attempt int, err error, wait time.Duration) { retries = append(retries, attempt) },
	}
	dials := 0
	err := retry.Do(t.Context(), p, func(ctx context.Context) error {
		return b.Run(ctx, func(context.Context) error {
			dials++
			return errDown
		})
	})
	var e *retry.Error
	if !errors.As(err, &e) || e.Attempts != 3 || dials != 2 {
		t.Fatalf("Do = %v after %d dials; want 3 attempts, the third refused", err, dials)
	}
	if !errors.Is(err, breaker.ErrOpen) || errors.Is(err, errDown) {
		t.Errorf("Do = %v; want the breaker's rejection as the last error", err)
	}
	if len(retries) != 2 {
		t.Errorf("retried after attempts %v, want after 1 and 2 only", retries)
	}
}

func TestBreakerRejectionsAreNotRetryable(t *testing.T) {
	for _, err := range []error{
		breaker.ErrOpen,
		breaker.ErrTooManyRequests,
		fmt.Errorf("search primary: %w", breaker.ErrOpen),
	} {
		if retry.IsRetryable(err) {
			t.Errorf("IsRetryable(%v) = true", err)
		}
		calls := 0
		got := retry.Do(t.Context(), retry.Policy{MaxRetries: 3, After: instant}, func(context.Context) error {
			calls++
			return err
		})
		if calls != 1 || !errors.Is(got, err) {
			t.Errorf("Do with %v = %v after %d calls, want it back after 1", err, got, calls)
		}
	}
}

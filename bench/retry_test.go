package bench

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/health-exporter/health-exporter/retry"
)

var errTransient = errors.New("transient")

// Both libraries get the same shape: up to 3 retries, exponential waits
// from 1ns without jitter, so the numbers are overhead and not sleeping.
var retryPolicy = retry.Policy{MaxRetries: 3, BaseDelay: time.Nanosecond, MaxDelay: time.Microsecond, Jitter: retry.NoJitter}

func exponentialBackOff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval:     time.Nanosecond,
		RandomizationFactor: 0,
		Multiplier:          2,
		MaxInterval:         time.Microsecond,
	}
}

func BenchmarkRetrySuccess(b *testing.B) {
	ctx := context.Background()
	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		op := func(context.Context) error { return nil }
		for b.Loop() {
			if err := retry.Do(ctx, retryPolicy, op); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("backoff", func(b *testing.B) {
		b.ReportAllocs()
		bo := exponentialBackOff()
		op := func() (struct{}, error) { return struct{}{}, nil }
		for b.Loop() {
			if _, err := backoff.Retry(ctx, op, backoff.WithBackOff(bo), backoff.WithMaxTries(4)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRetryTwoFailures(b *testing.B) {
	ctx := context.Background()
	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		calls := 0
		op := func(context.Context) error {
			if calls++; calls%3 != 0 {
				return errTransient
			}
			return nil
		}
		for b.Loop() {
			if err := retry.Do(ctx, retryPolicy, op); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("backoff", func(b *testing.B) {
		b.ReportAllocs()
		bo := exponentialBackOff()
		calls := 0
		op := func() (struct{}, error) {
			if calls++; calls%3 != 0 {
				return struct{}{}, errTransient
			}
			return struct{}{}, nil
		}
		for b.Loop() {
			if _, err := backoff.Retry(ctx, op, backoff.WithBackOff(bo), backoff.WithMaxTries(4)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package bench

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/sony/gobreaker/v2"

	"github.com/health-exporter/health-exporter/breaker"
)

// The breaker benchmarks measure one call through a closed breaker, the path
// every healthy call takes. Sub-benchmark names pair the implementations:
// BenchmarkBreakerClosed/{ours,ours_allow,gobreaker,failsafe} and the same
// under BenchmarkBreakerClosedParallel; BenchmarkBreakerClosedRate/... does
// it with the failure-rate window enabled.

func noop(context.Context) error { return nil }

func benchClosed(b *testing.B, parallel bool) {
	ctx := context.Background()
	run := func(b *testing.B, call func()) {
		b.ReportAllocs()
		if !parallel {
			for b.Loop() {
				call()
			}
			return
		}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				call()
			}
		})
	}

	b.Run("ours", func(b *testing.B) {
		br := breaker.New(breaker.Settings{Name: "bench"})
		run(b, func() {
			if err := br.Run(ctx, noop); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("ours_allow", func(b *testing.B) {
		br := breaker.New(breaker.Settings{Name: "bench"})
		run(b, func() {
			p, err := br.Allow()
			if err != nil {
				b.Fatal(err)
			}
			p.Done(nil)
		})
	})
	b.Run("gobreaker", func(b *testing.B) {
		cb := gobreaker.NewCircuitBreaker[any](gobreaker.Settings{Name: "bench", Timeout: 30 * time.Second})
		run(b, func() {
			if _, err := cb.Execute(func() (any, error) { return nil, nil }); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("failsafe", func(b *testing.B) {
		cb := circuitbreaker.NewBuilder[any]().
			WithFailureThreshold(3).
			WithDelay(30 * time.Second).
			Build()
		exec := failsafe.With[any](cb)
		run(b, func() {
			if err := exec.Run(func() error { return nil }); err != nil {
				b.Fatal(err)
			}
		})
	})
}

func BenchmarkBreakerClosed(b *testing.B)         { benchClosed(b, false) }
func BenchmarkBreakerClosedParallel(b *testing.B) { benchClosed(b, true) }

// BenchmarkBreakerClosedRate is the closed path with the failure-rate
// window on; one call in a hundred fails, below the rate threshold.
func BenchmarkBreakerClosedRate(b *testing.B) {
	errFail := errors.New("fail")
	for _, parallel := range []bool{false, true} {
		name := "ours"
		if parallel {
			name = "ours_parallel"
		}
		b.Run(name, func(b *testing.B) {
			br := breaker.New(breaker.Settings{
				Name:                 "bench",
				FailureThreshold:     breaker.MaxFailureThreshold,
				FailureRateThreshold: 0.5,
				Window:               10 * time.Second,
			})
			call := func(i int) {
				p, err := br.Allow()
				if err != nil {
					b.Fatal(err)
				}
				if i%100 == 99 {
					p.Done(errFail)
				} else {
					p.Done(nil)
				}
			}
			b.ReportAllocs()
			if !parallel {
				i := 0
				for b.Loop() {
					call(i)
					i++
				}
				return
			}
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					call(i)
					i++
				}
			})
		})
	}
}

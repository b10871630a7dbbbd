package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/health-exporter/health-exporter/breaker"
)

func Example() {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	b := breaker.New(breaker.Settings{
		Name:             "search",
		FailureThreshold: 3,
		OpenTimeout:      30 * time.Second,
		Now:              func() time.Time { return now },
		OnStateChange: func(name string, from, to breaker.State) {
			fmt.Printf("%s: %s -> %s\n", name, from, to)
		},
	})
	ctx := context.Background()
	refused := func(context.Context) error { return errors.New("connection refused") }

	for range 4 {
		fmt.Println(b.Run(ctx, refused))
	}
	now = now.Add(30 * time.Second)
	fmt.Println(b.State())
	fmt.Println(b.Run(ctx, func(context.Context) error { return nil }))
	// Output:
	// connection refused
	// connection refused
	// search: closed -> open
	// connection refused
	// breaker search: circuit breaker is open
	// search: open -> half_open
	// half_open
	// search: half_open -> closed
	// <nil>
}

func ExampleDo() {
	b := breaker.New(breaker.Settings{Name: "vector_db"})
	hits, err := breaker.Do(context.Background(), b, func(ctx context.Context) (int, error) {
		return 12, nil // a query that honours ctx
	})
	fmt.Println(hits, err)
	// Output: 12 <nil>
}

// The two-step form suits calls whose outcome is known later than the call
// returns, such as a stream read to its end.
func ExampleBreaker_Allow() {
	b := breaker.New(breaker.Settings{Name: "storage"})
	p, err := b.Allow()
	if err != nil {
		fmt.Println("skipped:", err)
		return
	}
	var readErr error // ... the call and the read ...
	p.Done(readErr)
	fmt.Println(b.Counts().Successes)
	// Output: 1
}

func ExampleBreaker_ForceOpen() {
	b := breaker.New(breaker.Settings{Name: "database"})
	b.ForceOpen() // maintenance: stop calling it
	_, err := b.Allow()
	fmt.Println(errors.Is(err, breaker.ErrOpen), b.Counts().Forced)
	b.Reset()
	fmt.Println(b.State())
	// Output:
	// true true
	// closed
}

func ExampleNewCollector() {
	reg := prometheus.NewPedanticRegistry()
	c := breaker.NewCollector("", breaker.New(breaker.Settings{Name: "message_queue"}))
	reg.MustRegister(c)
	c.Add(breaker.New(breaker.Settings{Name: "search"})) // on a configuration reload

	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		fmt.Println(mf.GetName(), len(mf.GetMetric()))
	}
	// Output:
	// circuit_breaker_calls_total 8
	// circuit_breaker_state 6
	// circuit_breaker_transitions_total 6
}

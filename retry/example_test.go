package retry_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/health-exporter/health-exporter/retry"
)

var errUnavailable = errors.New("service unavailable")

func ExampleDo() {
	attempts := 0
	err := retry.Do(context.Background(), retry.Policy{
		MaxRetries: 3,
		BaseDelay:  time.Millisecond,
		Jitter:     retry.FullJitter,
	}, func(ctx context.Context) error {
		attempts++
		if attempts < 3 {
			return errUnavailable
		}
		return nil
	})
	fmt.Println(attempts, err)
	// Output: 3 <nil>
}

func ExampleDo_giveUp() {
	err := retry.Do(context.Background(), retry.Policy{MaxRetries: 2, BaseDelay: time.Millisecond},
		func(ctx context.Context) error { return errUnavailable })

	var e *retry.Error
	fmt.Println(err)
	fmt.Println(errors.Is(err, errUnavailable), errors.As(err, &e) && e.Attempts == 3)
	// Output:
	// after 3 attempts: service unavailable
	// true true
}

// Hooks feed metrics: here they print what a counter would count.
func ExampleDo_hooks() {
	p := retry.Policy{
		MaxRetries: 2,
		BaseDelay:  time.Millisecond,
		Jitter:     retry.NoJitter,
		OnRetry: func(attempt int, err error, wait time.Duration) {
			fmt.Printf("attempt %d failed (%v), next in %v\n", attempt, err, wait)
		},
		OnGiveUp: func(attempts int, err error) {
			fmt.Printf("gave up after %d attempts\n", attempts)
		},
	}
	_ = retry.Do(context.Background(), p, func(ctx context.Context) error { return errUnavailable })
	// Output:
	// attempt 1 failed (service unavailable), next in 1ms
	// attempt 2 failed (service unavailable), next in 2ms
	// gave up after 3 attempts
}

func ExampleDoValue() {
	attempts := 0
	n, err := retry.DoValue(context.Background(), retry.Policy{MaxRetries: 1, BaseDelay: time.Millisecond},
		func(ctx context.Context) (int, error) {
			attempts++
			if attempts == 1 {
				return 0, errUnavailable
			}
			return 42, nil
		})
	fmt.Println(n, err)
	// Output: 42 <nil>
}

func ExamplePermanent() {
	errBadRequest := errors.New("bad request")
	attempts := 0
	err := retry.Do(context.Background(), retry.Policy{MaxRetries: 5}, func(ctx context.Context) error {
		attempts++
		return retry.Permanent(errBadRequest)
	})
	fmt.Println(attempts, err, errors.Is(err, errBadRequest))
	// Output: 1 bad request true
}

func ExampleNewBudget() {
	// Retries may add 10% to the calls made over 10s, plus 1 per second.
	budget := retry.NewBudget(0.1, 1, 10*time.Second)
	p := retry.Policy{MaxRetries: 100, BaseDelay: time.Microsecond, Budget: budget}

	attempts := 0
	err := retry.Do(context.Background(), p, func(ctx context.Context) error {
		attempts++
		return errUnavailable
	})
	fmt.Println(attempts, errors.Is(err, retry.ErrBudgetExhausted), errors.Is(err, errUnavailable))
	// Output: 11 true true
}

func ExampleParseJitter() {
	j, err := retry.ParseJitter("decorrelated")
	fmt.Println(j, err)
	_, err = retry.ParseJitter("random")
	fmt.Println(err)
	// Output:
	// decorrelated <nil>
	// parse jitter "random": want none, full, equal or decorrelated
}

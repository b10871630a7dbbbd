package breaker

import (
	"context"
	"fmt"
)

// Run calls fn through the breaker and returns fn's error unchanged, or the
// rejection (ErrOpen, ErrTooManyRequests) without calling fn. If ctx is
// already done, fn is not called, nothing is recorded and ctx's error is
// returned, wrapped. A panic in fn is recorded as a failure and goes on up.
func (b *Breaker) Run(ctx context.Context, fn func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("circuit breaker %q: not calling: %w", b.name, err)
	}
	p, err := b.Allow()
	if err != nil {
		return err
	}
	returned := false
	defer func() {
		if !returned { // fn panicked or called runtime.Goexit
			p.b.failure(p)
		}
	}()
	err = fn(ctx)
	returned = true
	p.Done(err)
	return err
}

// Do calls fn through b, like Breaker.Run, and returns its result. When fn
// is not called the result is T's zero value.
func Do[T any](ctx context.Context, b *Breaker, fn func(context.Context) (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, fmt.Errorf("circuit breaker %q: not calling: %w", b.name, err)
	}
	p, err := b.Allow()
	if err != nil {
		return zero, err
	}
	returned := false
	defer func() {
		if !returned {
			p.b.failure(p)
		}
	}()
	v, err := fn(ctx)
	returned = true
	p.Done(err)
	return v, err
}

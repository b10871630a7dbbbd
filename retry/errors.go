package retry

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// ErrBudgetExhausted says the retry budget refused a retry.
var ErrBudgetExhausted = errors.New("retry budget exhausted")

// ErrMaxElapsed says the next wait would have ended past Policy.MaxElapsed.
var ErrMaxElapsed = errors.New("retry max elapsed time reached")

// Error is what Do returns when it fails: the last attempt's error and how
// many attempts were made. errors.Is and errors.As see both Err and Reason.
type Error struct {
	// Attempts is the number of calls made, the first one included.
	Attempts int
	// Err is the last attempt's error, with a Permanent mark removed.
	Err error
	// Reason says why Do stopped before its retries ran out, or is nil when
	// they did or when Err is not retryable: ErrBudgetExhausted,
	// ErrMaxElapsed, or the context's error (context.DeadlineExceeded also
	// when the deadline would pass before the next attempt could start).
	Reason error
}

// Error reads "after 3 attempts: <err>", prefixed by the reason if any. A
// single attempt with no reason reads as its error alone.
func (e *Error) Error() string {
	cause := "<nil>"
	if e.Err != nil {
		cause = e.Err.Error()
	}
	if e.Reason == nil && e.Attempts <= 1 {
		return cause
	}
	msg := "after " + strconv.Itoa(e.Attempts) + " attempts: " + cause
	if e.Attempts == 1 {
		msg = "after 1 attempt: " + cause
	}
	if e.Reason != nil {
		msg = e.Reason.Error() + " " + msg
	}
	return msg
}

// Unwrap returns the last attempt's error.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether Reason matches target; errors.Is checks Err through Unwrap.
func (e *Error) Is(target error) bool {
	return e.Reason != nil && errors.Is(e.Reason, target)
}

// As finds target in Reason's chain; errors.As checks Err through Unwrap.
func (e *Error) As(target any) bool {
	return e.Reason != nil && errors.As(e.Reason, target)
}

// Permanent marks err so that Do returns it at once, without the mark. It
// returns nil for nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() }
func (e *permanentError) Unwrap() error   { return e.err }
func (e *permanentError) Retryable() bool { return false }

// retryabler is how other packages (the circuit breaker's ErrOpen, for one)
// say an error must not be retried, without retry importing them.
type retryabler interface{ Retryable() bool }

// IsRetryable reports whether Do may retry err, before any Policy.Retryable
// predicate: false for nil, for errors marked with Permanent, and for errors
// whose chain holds an error with a Retryable() bool method returning false.
func IsRetryable(err error) bool {
	return err != nil && !refusesRetry(err)
}

// refusesRetry walks the whole chain, both Unwrap forms, so that a
// non-retryable cause is found however deeply it is wrapped.
func refusesRetry(err error) bool {
	for err != nil {
		if r, ok := err.(retryabler); ok && !r.Retryable() {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if refusesRetry(e) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}

// stripPermanent removes a Permanent mark at the top of err; a mark deeper
// in a chain reads as its error already.
func stripPermanent(err error) error {
	if p, ok := err.(*permanentError); ok {
		return p.err
	}
	return err
}

// contextReason is the context's error, with its cause when one was given.
func contextReason(ctx context.Context) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && cause != err {
		return fmt.Errorf("%w (%w)", err, cause)
	}
	return err
}

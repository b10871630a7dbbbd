package retry

import (
	"errors"
	"fmt"
	"time"
)

// Defaults for the zero values of Policy's fields.
const (
	// DefaultBaseDelay is the wait before the first retry.
	DefaultBaseDelay = 100 * time.Millisecond
	// DefaultMaxDelay caps the waits, unless BaseDelay is longer.
	DefaultMaxDelay = 10 * time.Second
	// DefaultFactor doubles the wait after each retry.
	DefaultFactor = 2.0
)

// Policy says how often and how patiently Do retries. The zero Policy makes
// one attempt and never retries; its delays default as documented per field.
type Policy struct {
	// MaxRetries is the number of retries after the first attempt; 0 means
	// none. Negative values count as 0.
	MaxRetries int
	// BaseDelay is the wait before the first retry. Default 100ms.
	BaseDelay time.Duration
	// MaxDelay caps every wait. Default 10s, or BaseDelay if that is longer.
	MaxDelay time.Duration
	// Factor multiplies the wait after each retry. Default 2; values below 1
	// count as 1 (a constant wait).
	Factor float64
	// Jitter randomises each wait. The zero value is NoJitter.
	Jitter Jitter
	// MaxElapsed caps the time from the first attempt: Do never starts a wait
	// that would end past it. 0 means no cap.
	MaxElapsed time.Duration

	// Retryable says whether an error is worth another attempt; nil means
	// every error. It can only narrow: errors marked with Permanent, errors
	// whose chain holds a Retryable() bool method returning false, and any
	// error once ctx is done are never retried.
	Retryable func(error) bool
	// Budget, when set, caps retries to a share of calls across every Do
	// that uses it.
	Budget *Budget

	// OnRetry is called before each wait with the number of the attempt that
	// failed (1 for the first), its error and the wait before the next one.
	OnRetry func(attempt int, err error, wait time.Duration)
	// OnGiveUp is called once when Do returns an error, with the attempts
	// made and the *Error returned.
	OnGiveUp func(attempts int, err error)

	// Now tells the time for MaxElapsed and the context deadline; nil means
	// time.Now.
	Now func() time.Time
	// After waits d; nil means a real timer. Tests return a channel that is
	// ready at once to make waits instant, or one that never fires.
	After func(d time.Duration) <-chan time.Time
	// Rand returns a uniform value in [0, 1) for jitter; nil means math/rand/v2.
	Rand func() float64
}

// Seed is the origin's retry_with_backoff: 3 retries, waits from 1s doubling
// to at most 60s, each scaled by 0.5 + random × 0.5.
var Seed = Policy{
	MaxRetries: 3,
	BaseDelay:  time.Second,
	MaxDelay:   60 * time.Second,
	Factor:     2,
	Jitter:     EqualJitter,
}

// Validate reports a field whose value Do would have to correct: negative
// counts or durations, a Factor between 0 and 1, a MaxDelay below BaseDelay,
// an unknown Jitter. Do itself accepts any Policy.
func (p Policy) Validate() error {
	switch {
	case p.MaxRetries < 0:
		return fmt.Errorf("retry policy: max retries %d is negative", p.MaxRetries)
	case p.BaseDelay < 0:
		return fmt.Errorf("retry policy: base delay %s is negative", p.BaseDelay)
	case p.MaxDelay < 0:
		return fmt.Errorf("retry policy: max delay %s is negative", p.MaxDelay)
	case p.MaxElapsed < 0:
		return fmt.Errorf("retry policy: max elapsed %s is negative", p.MaxElapsed)
	case p.Factor != 0 && !(p.Factor >= 1):
		return fmt.Errorf("retry policy: factor %g is below 1", p.Factor)
	case !p.Jitter.valid():
		return errors.New("retry policy: unknown jitter " + p.Jitter.String())
	}
	if base, maxDelay, _ := p.delays(); maxDelay < base {
		return fmt.Errorf("retry policy: max delay %s is below base delay %s", maxDelay, base)
	}
	return nil
}

// delays returns BaseDelay, MaxDelay and Factor with defaults applied.
func (p *Policy) delays() (base, maxDelay time.Duration, factor float64) {
	base, maxDelay, factor = p.BaseDelay, p.MaxDelay, p.Factor
	if base <= 0 {
		base = DefaultBaseDelay
	}
	if maxDelay <= 0 {
		maxDelay = max(DefaultMaxDelay, base)
	}
	switch {
	case factor == 0:
		factor = DefaultFactor
	case !(factor >= 1):
		factor = 1
	}
	return base, maxDelay, factor
}

func (p *Policy) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

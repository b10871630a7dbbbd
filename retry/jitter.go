package retry

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Jitter says how a wait is randomised so that clients which failed together
// do not retry together.
type Jitter int

// The jitter modes. Each takes the exponential delay
// d = min(BaseDelay × Factor^n, MaxDelay) before retry n+1.
const (
	// NoJitter waits exactly d.
	NoJitter Jitter = iota
	// FullJitter waits a uniform time in [0, d].
	FullJitter
	// EqualJitter waits d/2 plus a uniform time in [0, d/2]: the seed's
	// delay × (0.5 + random × 0.5).
	EqualJitter
	// DecorrelatedJitter waits min(MaxDelay, uniform[BaseDelay, 3 × previous wait]),
	// starting from BaseDelay; Factor does not apply.
	DecorrelatedJitter
)

var jitterNames = [...]string{
	NoJitter:           "none",
	FullJitter:         "full",
	EqualJitter:        "equal",
	DecorrelatedJitter: "decorrelated",
}

// String returns the name ParseJitter accepts: none, full, equal or decorrelated.
func (j Jitter) String() string {
	if j >= 0 && int(j) < len(jitterNames) {
		return jitterNames[j]
	}
	return fmt.Sprintf("Jitter(%d)", int(j))
}

// ParseJitter returns the Jitter named "none", "full", "equal" or "decorrelated".
func ParseJitter(s string) (Jitter, error) {
	for j, name := range jitterNames {
		if s == name {
			return Jitter(j), nil
		}
	}
	return 0, fmt.Errorf("parse jitter %q: want none, full, equal or decorrelated", s)
}

// MarshalText encodes the jitter as its name, for YAML and JSON configs.
func (j Jitter) MarshalText() ([]byte, error) {
	if !j.valid() {
		return nil, fmt.Errorf("marshal jitter: unknown mode %d", int(j))
	}
	return []byte(j.String()), nil
}

// UnmarshalText decodes a jitter name, as ParseJitter does.
func (j *Jitter) UnmarshalText(text []byte) error {
	v, err := ParseJitter(string(text))
	if err != nil {
		return err
	}
	*j = v
	return nil
}

func (j Jitter) valid() bool { return j >= NoJitter && j <= DecorrelatedJitter }

// backoff yields the successive waits of one Do call. It lives on the stack.
type backoff struct {
	base, max float64 // nanoseconds
	maxDelay  time.Duration
	factor    float64
	jitter    Jitter
	next      float64 // the un-jittered exponential delay for the coming wait
	prev      float64 // the last decorrelated wait
	rand      func() float64
}

func newBackoff(p *Policy) backoff {
	base, maxDelay, factor := p.delays()
	return backoff{
		base:     float64(base),
		max:      float64(maxDelay),
		maxDelay: maxDelay,
		factor:   factor,
		jitter:   p.Jitter,
		next:     float64(base),
		prev:     float64(base),
		rand:     p.Rand,
	}
}

// wait returns the pause before the next retry.
func (b *backoff) wait() time.Duration {
	if b.jitter == DecorrelatedJitter {
		hi := 3 * b.prev
		d := min(b.base+b.uniform()*(hi-b.base), b.max)
		b.prev = d
		return b.duration(d)
	}
	d := min(b.next, b.max)
	b.next = min(b.next*b.factor, b.max)
	switch b.jitter {
	case FullJitter:
		d *= b.uniform()
	case EqualJitter:
		d = d/2 + b.uniform()*d/2
	}
	return b.duration(d)
}

// duration converts nanoseconds to a Duration without overflowing past MaxDelay.
func (b *backoff) duration(ns float64) time.Duration {
	switch {
	case ns >= b.max:
		return b.maxDelay
	case ns > 0:
		return time.Duration(ns)
	default:
		return 0
	}
}

// uniform returns a random value in [0, 1], clamping an injected one.
func (b *backoff) uniform() float64 {
	if b.rand == nil {
		return rand.Float64()
	}
	switch r := b.rand(); {
	case r > 1:
		return 1
	case r > 0:
		return r
	default:
		return 0 // also NaN
	}
}

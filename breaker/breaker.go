// Package breaker is a circuit breaker for calls to a dependency.
//
// A Breaker is closed while calls succeed. FailureThreshold consecutive
// failures, or optionally a failure rate over a rolling window, open it: calls
// are then refused with ErrOpen, instantly, for OpenTimeout. After that it is
// half-open: HalfOpenMaxCalls trial calls go through, as many successes close
// it, one failure opens it again. Operators can pin it open or closed.
//
// There are no goroutines and no timers: the state is computed from
// timestamps when asked, with an injectable clock. A call through a closed
// breaker takes no lock and allocates nothing; locks are taken only on state
// changes, in half-open and when the rolling window rolls over.
package breaker

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// State is a breaker's state.
type State uint32

// The states of a breaker.
const (
	Closed   State = iota // calls go through
	HalfOpen              // a few trial calls go through
	Open                  // calls are refused
)

// String returns "closed", "half_open" or "open", the metric label values.
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half_open"
	case Open:
		return "open"
	}
	return fmt.Sprintf("state(%d)", uint32(s))
}

// Breaker is a circuit breaker. It is safe for concurrent use; create it
// with New.
type Breaker struct {
	mu                sync.Mutex // serializes state changes; guards the fields up to the padding
	halfOpenAdmitted  uint32     // trial calls let through in this half-open period
	halfOpenSuccesses uint32
	transitions       [3]uint64 // by destination state
	pending           []change  // state changes not yet given to the listener
	delivering        bool      // a goroutine is calling the listener

	_ [cacheLine]byte

	// Read on every call: the word (state, forced flag, failure streak,
	// generation), and settings that never change after New.
	word          atomic.Uint64
	openUntil     atomic.Int64 // clock reading (ns since epoch) when open turns half-open
	stripes       []stripe
	stripeShift   uint8
	window        *window // nil unless FailureRateThreshold > 0
	threshold     uint32
	halfOpenMax   uint32
	isFailure     func(error) bool
	isExcluded    func(error) bool
	now           func() time.Time // nil: time.Since(epoch)
	epoch         time.Time
	openTimeout   time.Duration
	openJitter    float64
	onStateChange func(name string, from, to State)
	name          string
	errOpen       error
	errTooMany    error

	_ [cacheLine]byte
}

type change struct{ from, to State }

// New returns a closed Breaker. Zero settings take their defaults and
// out-of-range values are clamped (see Settings); call Settings.Validate
// first to refuse them instead.
func New(s Settings) *Breaker {
	s = s.withDefaults()
	now := s.Now
	if now == nil {
		now = time.Now
	}
	n := stripeCount()
	b := &Breaker{
		stripes:       make([]stripe, n),
		stripeShift:   uint8(64 - log2(n)),
		threshold:     s.FailureThreshold,
		halfOpenMax:   s.HalfOpenMaxCalls,
		isFailure:     s.IsFailure,
		isExcluded:    s.IsExcluded,
		now:           s.Now,
		epoch:         now(),
		openTimeout:   s.OpenTimeout,
		openJitter:    s.OpenJitter,
		onStateChange: s.OnStateChange,
		name:          s.Name,
		errOpen:       named(s.Name, ErrOpen),
		errTooMany:    named(s.Name, ErrTooManyRequests),
	}
	if s.FailureRateThreshold > 0 {
		b.window = newWindow(n, s.Window, s.FailureRateThreshold, s.MinimumCalls)
	}
	return b
}

// Name returns the breaker's name.
func (b *Breaker) Name() string { return b.name }

// Permit is the right to make one call, granted by Allow. Report the call's
// outcome with Done, exactly once. A Permit is a small value: passing it
// around allocates nothing. The zero Permit's Done does nothing.
type Permit struct {
	b     *Breaker
	gen   uint32 // generation it was granted in; a later one makes it stale
	state State  // Closed or HalfOpen
}

// Allow asks to make a call. It returns ErrOpen while the breaker is open and
// ErrTooManyRequests when half-open has no trial call left; both rejections
// are counted. Otherwise the caller makes the call and passes its error to
// the Permit's Done.
func (b *Breaker) Allow() (Permit, error) {
	w := word(b.word.Load())
	if w.state() == Closed {
		return Permit{b: b, gen: w.gen()}, nil
	}
	return b.allowSlow(w)
}

// Done records the outcome of the permitted call: a nil error is a success;
// an error is excluded (Settings.IsExcluded), a failure (Settings.IsFailure)
// or else a success. A permit granted before the breaker last changed state
// is counted in the totals but cannot change the new state.
func (p Permit) Done(err error) {
	if p.b == nil {
		return
	}
	switch {
	case err == nil:
		p.b.success(p)
	case p.b.isExcluded(err):
		p.b.excluded(p)
	case p.b.isFailure(err):
		p.b.failure(p)
	default:
		p.b.success(p)
	}
}

// success records a success; on the closed fast path it only reads shared
// memory besides its own counter stripe.
func (b *Breaker) success(p Permit) {
	i := b.stripeIndex()
	b.stripes[i].successes.Add(1)
	if p.state != Closed {
		b.trialDone(p.gen, true)
		return
	}
	w := word(b.word.Load())
	if w.gen() != p.gen {
		return // stale
	}
	if w.streak() != 0 {
		b.clearStreak(p.gen)
	}
	if b.window != nil {
		b.window.add(&b.mu, i, b.elapsed(), false)
	}
}

// failure records a failure and opens the breaker if that was one too many.
func (b *Breaker) failure(p Permit) {
	i := b.stripeIndex()
	b.stripes[i].failures.Add(1)
	if p.state != Closed {
		b.trialDone(p.gen, false)
		return
	}
	w, ok := b.bumpStreak(p.gen)
	if !ok || w.forced() {
		return
	}
	trip := w.streak() >= b.threshold
	if b.window != nil {
		now := b.elapsed()
		b.window.add(&b.mu, i, now, true)
		trip = trip || b.window.exceeded(now)
	}
	if trip {
		b.trip(p.gen)
	}
}

// excluded records a call that counts neither way.
func (b *Breaker) excluded(p Permit) {
	b.stripes[b.stripeIndex()].excluded.Add(1)
	if p.state == HalfOpen {
		b.releaseTrial(p.gen)
	}
}

// elapsed reads the clock as nanoseconds since New. With the default clock
// it reads only the monotonic clock, which costs half of time.Now.
func (b *Breaker) elapsed() int64 {
	if b.now == nil {
		return int64(time.Since(b.epoch))
	}
	return int64(b.now().Sub(b.epoch))
}

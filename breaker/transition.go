package breaker

import (
	"math/rand/v2"
	"time"
)

// Counts is a snapshot of a breaker.
type Counts struct {
	State State
	// Forced is true while ForceOpen or ForceClosed holds the state.
	Forced bool
	// Calls by outcome since New; Rejected counts refusals by Allow.
	Successes, Failures, Rejected, Excluded uint64
	// Transitions counts state changes, indexed by destination State.
	Transitions [3]uint64
	// ConsecutiveFailures is the current failure streak while closed.
	ConsecutiveFailures uint32
	// OpenUntil is when an open breaker turns half-open; zero unless the
	// breaker is open and not forced.
	OpenUntil time.Time
}

// State returns the current state. An open breaker whose timeout passed is
// half-open here, with no call needed to notice.
func (b *Breaker) State() State {
	w := word(b.word.Load())
	if w.state() == Open && !w.forced() && b.elapsed() >= b.openUntil.Load() {
		return b.advance().state()
	}
	return w.state()
}

// Counts returns a snapshot of the breaker's state and counters.
func (b *Breaker) Counts() Counts {
	b.mu.Lock()
	changed := b.advanceLocked(b.elapsed())
	w := word(b.word.Load())
	c := Counts{
		State:               w.state(),
		Forced:              w.forced(),
		Transitions:         b.transitions,
		ConsecutiveFailures: w.streak(),
	}
	b.mu.Unlock()
	if changed {
		b.notify()
	}
	if w.state() == Open && !w.forced() {
		c.OpenUntil = b.epoch.Add(time.Duration(b.openUntil.Load()))
	}
	for i := range b.stripes {
		s := &b.stripes[i]
		c.Successes += s.successes.Load()
		c.Failures += s.failures.Load()
		c.Rejected += s.rejected.Load()
		c.Excluded += s.excluded.Load()
	}
	return c
}

// ForceOpen opens the breaker until Reset: every call is refused.
func (b *Breaker) ForceOpen() { b.set(Open, true) }

// ForceClosed closes the breaker until Reset: every call goes through and
// failures never open it.
func (b *Breaker) ForceClosed() { b.set(Closed, true) }

// Reset closes the breaker, ends a forced state and forgets the failure
// streak and the failure-rate window. Permits granted before are stale.
func (b *Breaker) Reset() { b.set(Closed, false) }

func (b *Breaker) set(to State, forced bool) {
	b.mu.Lock()
	changed := b.setLocked(to, forced, b.elapsed())
	b.mu.Unlock()
	if changed {
		b.notify()
	}
}

// allowSlow admits or refuses a call when the breaker is not closed.
func (b *Breaker) allowSlow(w word) (Permit, error) {
	if w.state() == Open && (w.forced() || b.elapsed() < b.openUntil.Load()) {
		b.stripes[b.stripeIndex()].rejected.Add(1)
		return Permit{}, b.errOpen
	}
	b.mu.Lock()
	changed := b.advanceLocked(b.elapsed())
	w = word(b.word.Load())
	p, err := Permit{b: b, gen: w.gen(), state: w.state()}, error(nil)
	switch w.state() {
	case Open:
		p, err = Permit{}, b.errOpen
	case HalfOpen:
		if b.halfOpenAdmitted < b.halfOpenMax {
			b.halfOpenAdmitted++
		} else {
			p, err = Permit{}, b.errTooMany
		}
	}
	b.mu.Unlock()
	if changed {
		b.notify()
	}
	if err != nil {
		b.stripes[b.stripeIndex()].rejected.Add(1)
	}
	return p, err
}

// advance turns an open breaker half-open if its time is up, and returns
// the current word.
func (b *Breaker) advance() word {
	b.mu.Lock()
	changed := b.advanceLocked(b.elapsed())
	w := word(b.word.Load())
	b.mu.Unlock()
	if changed {
		b.notify()
	}
	return w
}

func (b *Breaker) advanceLocked(now int64) bool {
	w := word(b.word.Load())
	if w.state() != Open || w.forced() || now < b.openUntil.Load() {
		return false
	}
	return b.setLocked(HalfOpen, false, now)
}

// trip opens the breaker if it is still closed in generation gen.
func (b *Breaker) trip(gen uint32) {
	b.mu.Lock()
	w := word(b.word.Load())
	changed := false
	if w.gen() == gen && w.state() == Closed && !w.forced() {
		changed = b.setLocked(Open, false, b.elapsed())
	}
	b.mu.Unlock()
	if changed {
		b.notify()
	}
}

// trialDone records the outcome of a half-open trial call of generation gen.
func (b *Breaker) trialDone(gen uint32, ok bool) {
	b.mu.Lock()
	w := word(b.word.Load())
	changed := false
	if w.gen() == gen && w.state() == HalfOpen {
		switch {
		case !ok:
			changed = b.setLocked(Open, false, b.elapsed())
		case b.halfOpenSuccesses+1 >= b.halfOpenMax:
			changed = b.setLocked(Closed, false, b.elapsed())
		default:
			b.halfOpenSuccesses++
		}
	}
	b.mu.Unlock()
	if changed {
		b.notify()
	}
}

// releaseTrial gives back the slot of an excluded trial call.
func (b *Breaker) releaseTrial(gen uint32) {
	b.mu.Lock()
	if w := word(b.word.Load()); w.gen() == gen && w.state() == HalfOpen && b.halfOpenAdmitted > 0 {
		b.halfOpenAdmitted--
	}
	b.mu.Unlock()
}

// setLocked moves the breaker to a new generation in state to. It reports
// whether a change awaits the listener: the caller then calls notify,
// unlocked.
func (b *Breaker) setLocked(to State, forced bool, now int64) bool {
	switch {
	case to == Open && !forced:
		d := float64(b.openTimeout) * (1 + rand.Float64()*b.openJitter)
		b.openUntil.Store(now + int64(d))
	case to == HalfOpen:
		b.halfOpenAdmitted, b.halfOpenSuccesses = 0, 0
	case to == Closed && b.window != nil:
		b.window.reset()
	}
	var from State
	for { // lock-free failures may bump the streak meanwhile
		w := word(b.word.Load())
		if b.word.CompareAndSwap(uint64(w), uint64(w.next(to, forced))) {
			from = w.state()
			break
		}
	}
	if from == to {
		return false
	}
	b.transitions[to]++
	if b.onStateChange == nil {
		return false
	}
	b.pending = append(b.pending, change{from, to})
	return true
}

// notify gives pending changes to the listener, in order and without the
// lock held. Only one goroutine delivers at a time; a change made meanwhile,
// even by the listener itself, is delivered by that goroutine's loop.
func (b *Breaker) notify() {
	b.mu.Lock()
	if b.delivering {
		b.mu.Unlock()
		return
	}
	b.delivering = true
	for len(b.pending) > 0 {
		c := b.pending[0]
		b.pending = b.pending[:copy(b.pending, b.pending[1:])]
		b.mu.Unlock()
		b.deliver(c)
		b.mu.Lock()
	}
	b.delivering = false
	b.mu.Unlock()
}

// deliver calls the listener; if it panics, the next change can still be
// delivered.
func (b *Breaker) deliver(c change) {
	returned := false
	defer func() {
		if !returned {
			b.mu.Lock()
			b.delivering = false
			b.mu.Unlock()
		}
	}()
	b.onStateChange(b.name, c.from, c.to)
	returned = true
}

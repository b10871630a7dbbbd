package breaker

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// recorder is a listener that keeps what it is told.
type recorder struct {
	mu      sync.Mutex
	name    string
	changes []change
}

func (r *recorder) listen(name string, from, to State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.name = name
	r.changes = append(r.changes, change{from, to})
}

func (r *recorder) got() []change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.changes)
}

func TestListenerSeesEveryChange(t *testing.T) {
	var r recorder
	b, clock := newTestBreaker(Settings{Name: "vector_db", FailureThreshold: 1, OnStateChange: r.listen})
	mustAllow(t, b).Done(errBoom) // closed → open
	clock.Advance(DefaultOpenTimeout)
	mustAllow(t, b).Done(errBoom) // → half-open → open
	clock.Advance(DefaultOpenTimeout)
	mustAllow(t, b).Done(nil) // → half-open → closed
	b.ForceOpen()             // → open
	b.ForceOpen()             // no change
	b.ForceClosed()           // → closed
	b.Reset()                 // no change
	b.ForceOpen()
	b.Reset() // → closed
	want := []change{
		{Closed, Open}, {Open, HalfOpen}, {HalfOpen, Open}, {Open, HalfOpen}, {HalfOpen, Closed},
		{Closed, Open}, {Open, Closed}, {Closed, Open}, {Open, Closed},
	}
	if got := r.got(); !slices.Equal(got, want) || r.name != "vector_db" {
		t.Fatalf("listener (name %q) saw\n%v\nwant\n%v", r.name, got, want)
	}
	if c := b.Counts(); c.Transitions != [3]uint64{Closed: 3, HalfOpen: 2, Open: 4} {
		t.Fatalf("Transitions = %v", c.Transitions)
	}
}

// TestListenerMayCallBack runs a listener that calls back into its breaker:
// it must neither deadlock nor see changes out of order.
func TestListenerMayCallBack(t *testing.T) {
	var (
		b      *Breaker
		clock  *fakeClock
		r      recorder
		states []State
	)
	listen := func(name string, from, to State) {
		r.listen(name, from, to)
		states = append(states, b.State())
		_ = b.Counts()
		if p, err := b.Allow(); err == nil {
			p.Done(nil)
		}
		if to == Open && from == Closed {
			b.ForceOpen()   // same state: no change
			b.ForceClosed() // a change, made inside the listener
		}
	}
	b, clock = newTestBreaker(Settings{FailureThreshold: 1, OnStateChange: listen})

	done := make(chan struct{})
	go func() {
		defer close(done)
		mustAllowOrFail(b).Done(errBoom)
		clock.Advance(time.Hour)
		b.Reset()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("deadlock: a listener calling back into the breaker never returned")
	}
	want := []change{{Closed, Open}, {Open, Closed}}
	if got := r.got(); !slices.Equal(got, want) {
		t.Fatalf("listener saw %v, want %v", got, want)
	}
	// The change the listener made is delivered after it returned.
	if !slices.Equal(states, []State{Open, Closed}) {
		t.Fatalf("State() inside the listener: %v", states)
	}
}

func mustAllowOrFail(b *Breaker) Permit {
	p, err := b.Allow()
	if err != nil {
		panic(err)
	}
	return p
}

func TestPanickingListenerDoesNotStopLaterChanges(t *testing.T) {
	var r recorder
	first := true
	b, _ := newTestBreaker(Settings{FailureThreshold: 1, OnStateChange: func(name string, from, to State) {
		if first {
			first = false
			panic("listener bug")
		}
		r.listen(name, from, to)
	}})
	func() {
		defer func() {
			if v := recover(); v != "listener bug" {
				t.Fatalf("recovered %v, want the listener's panic", v)
			}
		}()
		mustAllow(t, b).Done(errBoom)
	}()
	if got := b.State(); got != Open {
		t.Fatalf("state %v, want open despite the listener's panic", got)
	}
	b.Reset()
	if got := r.got(); !slices.Equal(got, []change{{Open, Closed}}) {
		t.Fatalf("after a panicking call the listener saw %v", got)
	}
}

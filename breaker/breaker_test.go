package breaker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeClock is the injectable clock: tests move it instead of sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var (
	errBoom     = errors.New("dependency refused the connection")
	errNotFound = errors.New("not found")
)

// op is one step of a transition script.
type op struct {
	do      string        // call, hold, release, advance, force_open, force_closed, reset
	err     error         // outcome of call / release
	d       time.Duration // advance
	wantErr error         // what Allow returns for call / hold
	want    State         // state after the step
}

func call(outcome error, want State) op { return op{do: "call", err: outcome, want: want} }
func refused(rejection error, want State) op {
	return op{do: "call", wantErr: rejection, want: want}
}
func advance(d time.Duration, want State) op { return op{do: "advance", d: d, want: want} }

// runScript plays ops against a breaker on a fake clock and checks the state
// after each step. "hold" takes a permit and keeps it; "release" gives the
// oldest held permit the outcome err.
func runScript(t *testing.T, s Settings, ops []op) *Breaker {
	t.Helper()
	clock := newClock()
	s.Now = clock.Now
	b := New(s)
	var held []Permit
	for i, o := range ops {
		switch o.do {
		case "call", "hold":
			p, err := b.Allow()
			if !errors.Is(err, o.wantErr) || (o.wantErr == nil && err != nil) {
				t.Fatalf("step %d (%s): Allow() error %v, want %v", i, o.do, err, o.wantErr)
			}
			if err == nil && o.do == "call" {
				p.Done(o.err)
			}
			if err == nil && o.do == "hold" {
				held = append(held, p)
			}
		case "release":
			held[0].Done(o.err)
			held = held[1:]
		case "advance":
			clock.Advance(o.d)
		case "force_open":
			b.ForceOpen()
		case "force_closed":
			b.ForceClosed()
		case "reset":
			b.Reset()
		default:
			t.Fatalf("step %d: unknown op %q", i, o.do)
		}
		if got := b.State(); got != o.want {
			t.Fatalf("step %d (%s %v): state %v, want %v", i, o.do, o.err, got, o.want)
		}
	}
	return b
}

func TestTransitions(t *testing.T) {
	deadline := fmt.Errorf("query users: %w", context.DeadlineExceeded)
	canceled := fmt.Errorf("query users: %w", context.Canceled)
	tests := []struct {
		name     string
		settings Settings
		ops      []op
		want     Counts // compared on counters, transitions and streak
	}{{
		name: "consecutive failures open it at the threshold",
		ops: []op{call(errBoom, Closed), call(errBoom, Closed), call(errBoom, Open),
			refused(ErrOpen, Open)},
		want: Counts{Failures: 3, Rejected: 1, Transitions: [3]uint64{Open: 1}},
	}, {
		name: "a success ends the streak",
		ops: []op{call(errBoom, Closed), call(errBoom, Closed), call(nil, Closed),
			call(errBoom, Closed), call(errBoom, Closed), call(errBoom, Open)},
		want: Counts{Successes: 1, Failures: 5, Transitions: [3]uint64{Open: 1}},
	}, {
		name:     "custom threshold",
		settings: Settings{FailureThreshold: 1},
		ops:      []op{call(nil, Closed), call(errBoom, Open)},
		want:     Counts{Successes: 1, Failures: 1, Transitions: [3]uint64{Open: 1}},
	}, {
		name: "open turns half-open after the timeout, a success closes it",
		ops: []op{call(errBoom, Closed), call(errBoom, Closed), call(errBoom, Open),
			advance(DefaultOpenTimeout-time.Nanosecond, Open), refused(ErrOpen, Open),
			advance(time.Nanosecond, HalfOpen), call(nil, Closed), call(errBoom, Closed)},
		want: Counts{Successes: 1, Failures: 4, Rejected: 1, ConsecutiveFailures: 1,
			Transitions: [3]uint64{Open: 1, HalfOpen: 1, Closed: 1}},
	}, {
		name:     "one failure in half-open reopens it for a full timeout",
		settings: Settings{FailureThreshold: 1, OpenTimeout: time.Second},
		ops: []op{call(errBoom, Open), advance(time.Second, HalfOpen), call(errBoom, Open),
			advance(999*time.Millisecond, Open), advance(time.Millisecond, HalfOpen)},
		want: Counts{Failures: 2, Transitions: [3]uint64{Open: 2, HalfOpen: 2}},
	}, {
		name:     "half-open admits HalfOpenMaxCalls and closes after as many successes",
		settings: Settings{FailureThreshold: 1, HalfOpenMaxCalls: 2},
		ops: []op{call(errBoom, Open), advance(DefaultOpenTimeout, HalfOpen),
			{do: "hold", want: HalfOpen}, {do: "hold", want: HalfOpen},
			refused(ErrTooManyRequests, HalfOpen),
			{do: "release", want: HalfOpen}, refused(ErrTooManyRequests, HalfOpen),
			{do: "release", want: Closed}, call(nil, Closed)},
		want: Counts{Successes: 3, Failures: 1, Rejected: 2,
			Transitions: [3]uint64{Open: 1, HalfOpen: 1, Closed: 1}},
	}, {
		name:     "a failure among half-open trials reopens it",
		settings: Settings{FailureThreshold: 1, HalfOpenMaxCalls: 3},
		ops: []op{call(errBoom, Open), advance(DefaultOpenTimeout, HalfOpen),
			call(nil, HalfOpen), call(errBoom, Open), refused(ErrOpen, Open)},
		want: Counts{Successes: 1, Failures: 2, Rejected: 1,
			Transitions: [3]uint64{Open: 2, HalfOpen: 1}},
	}, {
		name: "cancellation is excluded and does not break the streak",
		ops: []op{call(errBoom, Closed), call(errBoom, Closed), call(canceled, Closed),
			call(context.Canceled, Closed), call(errBoom, Open)},
		want: Counts{Failures: 3, Excluded: 2, Transitions: [3]uint64{Open: 1}},
	}, {
		name: "a deadline is a failure: a hung dependency trips the breaker",
		ops:  []op{call(deadline, Closed), call(context.DeadlineExceeded, Closed), call(deadline, Open)},
		want: Counts{Failures: 3, Transitions: [3]uint64{Open: 1}},
	}, {
		name: "IsFailure and IsExcluded decide for non-nil errors",
		settings: Settings{
			FailureThreshold: 2,
			IsFailure:        func(err error) bool { return !errors.Is(err, errNotFound) },
			IsExcluded:       func(err error) bool { return errors.Is(err, context.DeadlineExceeded) },
		},
		ops: []op{call(errBoom, Closed), call(errNotFound, Closed), call(errBoom, Closed),
			call(deadline, Closed), call(context.Canceled, Open)},
		want: Counts{Successes: 1, Failures: 3, Excluded: 1, Transitions: [3]uint64{Open: 1}},
	}, {
		name:     "an excluded trial call frees its slot",
		settings: Settings{FailureThreshold: 1},
		ops: []op{call(errBoom, Open), advance(DefaultOpenTimeout, HalfOpen),
			{do: "hold", want: HalfOpen}, refused(ErrTooManyRequests, HalfOpen),
			{do: "release", err: context.Canceled, want: HalfOpen}, call(nil, Closed)},
		want: Counts{Successes: 1, Failures: 1, Rejected: 1, Excluded: 1,
			Transitions: [3]uint64{Open: 1, HalfOpen: 1, Closed: 1}},
	}, {
		name: "ForceOpen refuses calls past the timeout until Reset",
		ops: []op{{do: "force_open", want: Open}, refused(ErrOpen, Open),
			advance(time.Hour, Open), refused(ErrOpen, Open),
			{do: "reset", want: Closed}, call(nil, Closed)},
		want: Counts{Successes: 1, Rejected: 2, Transitions: [3]uint64{Open: 1, Closed: 1}},
	}, {
		name: "ForceOpen of an open breaker holds it open",
		ops: []op{call(errBoom, Closed), call(errBoom, Closed), call(errBoom, Open),
			{do: "force_open", want: Open}, advance(time.Hour, Open)},
		want: Counts{Failures: 3, Transitions: [3]uint64{Open: 1}},
	}, {
		name: "ForceClosed never trips until Reset",
		ops: []op{{do: "force_closed", want: Closed}, call(errBoom, Closed), call(errBoom, Closed),
			call(errBoom, Closed), call(errBoom, Closed), {do: "reset", want: Closed},
			call(errBoom, Closed), call(errBoom, Closed), call(errBoom, Open)},
		want: Counts{Failures: 7, Transitions: [3]uint64{Open: 1}},
	}, {
		name: "ForceClosed ends an open period",
		ops: []op{call(errBoom, Closed), call(errBoom, Closed), call(errBoom, Open),
			{do: "force_closed", want: Closed}, call(nil, Closed)},
		want: Counts{Successes: 1, Failures: 3, Transitions: [3]uint64{Open: 1, Closed: 1}},
	}, {
		name: "Reset forgets the streak",
		ops: []op{call(errBoom, Closed), call(errBoom, Closed), {do: "reset", want: Closed},
			call(errBoom, Closed), call(errBoom, Closed)},
		want: Counts{Failures: 4, ConsecutiveFailures: 2},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := runScript(t, tt.settings, tt.ops)
			got := b.Counts()
			got.State, got.Forced, got.OpenUntil = 0, false, time.Time{}
			if got != tt.want {
				t.Errorf("Counts() = %+v\nwant       %+v", got, tt.want)
			}
		})
	}
}

func TestStringOfStates(t *testing.T) {
	for s, want := range map[State]string{Closed: "closed", HalfOpen: "half_open", Open: "open", 7: "state(7)"} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", uint32(s), got, want)
		}
	}
}

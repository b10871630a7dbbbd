package breaker

import (
	"context"
	"errors"
	"testing"
	"time"
)

func newTestBreaker(s Settings) (*Breaker, *fakeClock) {
	clock := newClock()
	s.Now = clock.Now
	return New(s), clock
}

func mustAllow(t *testing.T, b *Breaker) Permit {
	t.Helper()
	p, err := b.Allow()
	if err != nil {
		t.Fatalf("Allow() in state %v: %v", b.State(), err)
	}
	return p
}

func TestStalePermitCannotChangeANewState(t *testing.T) {
	b, clock := newTestBreaker(Settings{FailureThreshold: 2})
	oldClosed := mustAllow(t, b)
	oldClosed2 := mustAllow(t, b)
	mustAllow(t, b).Done(errBoom)
	mustAllow(t, b).Done(errBoom) // opens
	clock.Advance(DefaultOpenTimeout)
	trial := mustAllow(t, b)

	oldClosed.Done(errBoom) // from the closed period before the trip
	if got := b.State(); got != HalfOpen {
		t.Fatalf("a stale failure moved the breaker to %v", got)
	}
	trial.Done(nil)
	if got := b.State(); got != Closed {
		t.Fatalf("after the trial succeeded: %v, want closed", got)
	}

	// A failure streak of the new closed period ignores old permits.
	mustAllow(t, b).Done(errBoom)
	oldClosed2.Done(errBoom)
	if c := b.Counts(); c.State != Closed || c.ConsecutiveFailures != 1 {
		t.Fatalf("stale failure joined the new streak: %+v", c)
	}
	// ... and so does a stale half-open trial after Reset.
	mustAllow(t, b).Done(errBoom) // opens
	clock.Advance(DefaultOpenTimeout)
	trial = mustAllow(t, b)
	b.ForceOpen()
	b.Reset()
	trial.Done(errBoom)
	if got := b.State(); got != Closed {
		t.Fatalf("a stale trial failure moved the breaker to %v", got)
	}
	if c := b.Counts(); c.Failures != 7 || c.Successes != 1 {
		t.Errorf("stale outcomes must still be counted: %+v", c)
	}
	var zero Permit
	zero.Done(errBoom) // the zero Permit does nothing
}

func TestStaleSuccessDoesNotEndANewStreak(t *testing.T) {
	b, _ := newTestBreaker(Settings{FailureThreshold: 3})
	old := mustAllow(t, b)
	b.Reset()
	mustAllow(t, b).Done(errBoom)
	mustAllow(t, b).Done(errBoom)
	old.Done(nil)
	mustAllow(t, b).Done(errBoom)
	if got := b.State(); got != Open {
		t.Fatalf("state %v, want open: a stale success broke the streak", got)
	}
}

func TestOpenJitterStaysWithinBounds(t *testing.T) {
	const jitter = 0.5
	b, clock := newTestBreaker(Settings{FailureThreshold: 1, OpenTimeout: 10 * time.Second, OpenJitter: jitter})
	seen := map[time.Time]bool{}
	for range 50 {
		b.Reset()
		mustAllow(t, b).Done(errBoom)
		now := clock.Now()
		until := b.Counts().OpenUntil
		lo, hi := now.Add(10*time.Second), now.Add(15*time.Second)
		if until.Before(lo) || !until.Before(hi) {
			t.Fatalf("OpenUntil %v outside [%v, %v)", until, lo, hi)
		}
		seen[until] = true
		clock.Advance(until.Sub(now) - time.Nanosecond)
		if got := b.State(); got != Open {
			t.Fatalf("1ns before OpenUntil: %v, want open", got)
		}
		clock.Advance(time.Nanosecond)
		if got := b.State(); got != HalfOpen {
			t.Fatalf("at OpenUntil: %v, want half_open", got)
		}
	}
	if len(seen) < 10 {
		t.Errorf("only %d distinct open periods in 50 trips: jitter is not spreading them", len(seen))
	}
}

func TestRunRecordsAPanicAsFailureAndRepanics(t *testing.T) {
	b, _ := newTestBreaker(Settings{FailureThreshold: 2})
	type boom struct{ msg string }
	mustPanic := func(run func()) {
		t.Helper()
		defer func() {
			v := recover()
			if p, ok := v.(boom); !ok || p.msg != "driver bug" {
				t.Fatalf("recovered %#v, want the original panic value", v)
			}
		}()
		run()
	}
	mustPanic(func() {
		_ = b.Run(context.Background(), func(context.Context) error { panic(boom{"driver bug"}) })
	})
	if c := b.Counts(); c.Failures != 1 || c.State != Closed {
		t.Fatalf("after one panic: %+v", c)
	}
	mustPanic(func() {
		_, _ = Do(context.Background(), b, func(context.Context) (int, error) { panic(boom{"driver bug"}) })
	})
	if c := b.Counts(); c.Failures != 2 || c.State != Open {
		t.Fatalf("after two panics: %+v, want open with 2 failures", c)
	}
}

func TestAPanickingTrialReopens(t *testing.T) {
	b, clock := newTestBreaker(Settings{FailureThreshold: 1})
	mustAllow(t, b).Done(errBoom)
	clock.Advance(DefaultOpenTimeout)
	func() {
		defer func() { _ = recover() }()
		_ = b.Run(context.Background(), func(context.Context) error { panic("trial panicked") })
	}()
	if got := b.State(); got != Open {
		t.Fatalf("state %v, want open", got)
	}
}

func TestRunAndDoContexts(t *testing.T) {
	b, _ := newTestBreaker(Settings{})
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	err := b.Run(canceled, func(context.Context) error { called = true; return nil })
	if called || !errors.Is(err, context.Canceled) {
		t.Fatalf("Run with a done context: called=%v err=%v", called, err)
	}
	if _, err := Do(canceled, b, func(context.Context) (int, error) { called = true; return 1, nil }); called || !errors.Is(err, context.Canceled) {
		t.Fatalf("Do with a done context: called=%v err=%v", called, err)
	}
	if c := b.Counts(); c.Successes+c.Failures+c.Excluded+c.Rejected != 0 {
		t.Fatalf("calls never made were recorded: %+v", c)
	}

	// Cancelled during the call: excluded. Deadline: a failure.
	ctx, cancel := context.WithCancel(context.Background())
	err = b.Run(ctx, func(ctx context.Context) error { cancel(); return ctx.Err() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want fn's error", err)
	}
	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	v, err := Do(context.Background(), b, func(context.Context) (string, error) { return "partial", ctx.Err() })
	if v != "partial" || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do returned %q, %v; want fn's result and error", v, err)
	}
	if c := b.Counts(); c.Excluded != 1 || c.Failures != 1 {
		t.Fatalf("want 1 excluded (canceled) and 1 failure (deadline): %+v", c)
	}
}

func TestDoReturnsZeroWhenRefused(t *testing.T) {
	b, _ := newTestBreaker(Settings{})
	b.ForceOpen()
	v, err := Do(context.Background(), b, func(context.Context) (int, error) { return 42, nil })
	if v != 0 || !errors.Is(err, ErrOpen) {
		t.Fatalf("Do on an open breaker = %d, %v; want 0, ErrOpen", v, err)
	}
	if err := b.Run(context.Background(), func(context.Context) error { return nil }); !errors.Is(err, ErrOpen) {
		t.Fatalf("Run on an open breaker = %v, want ErrOpen", err)
	}
}

func TestCountsSnapshot(t *testing.T) {
	b, clock := newTestBreaker(Settings{Name: "db", OpenTimeout: time.Minute})
	if b.Name() != "db" {
		t.Fatalf("Name() = %q", b.Name())
	}
	for range 3 {
		mustAllow(t, b).Done(errBoom)
	}
	c := b.Counts()
	if c.State != Open || c.Forced || !c.OpenUntil.Equal(clock.Now().Add(time.Minute)) {
		t.Fatalf("open: %+v", c)
	}
	b.ForceOpen()
	if c := b.Counts(); !c.Forced || !c.OpenUntil.IsZero() {
		t.Fatalf("forced open: %+v, want Forced and no OpenUntil", c)
	}
	b.ForceClosed()
	mustAllow(t, b).Done(errBoom)
	if c := b.Counts(); c.State != Closed || !c.Forced || c.ConsecutiveFailures != 1 {
		t.Fatalf("forced closed: %+v", c)
	}
}

func TestTimeMovesOpenToHalfOpenWithoutTraffic(t *testing.T) {
	var changes []change
	b, clock := newTestBreaker(Settings{
		FailureThreshold: 1,
		OnStateChange:    func(_ string, from, to State) { changes = append(changes, change{from, to}) },
	})
	mustAllow(t, b).Done(errBoom)
	clock.Advance(DefaultOpenTimeout)
	if c := b.Counts(); c.State != HalfOpen || c.Transitions[HalfOpen] != 1 {
		t.Fatalf("Counts() after the timeout: %+v, want half-open counted", c)
	}
	want := []change{{Closed, Open}, {Open, HalfOpen}}
	if len(changes) != 2 || changes[0] != want[0] || changes[1] != want[1] {
		t.Fatalf("listener saw %v, want %v", changes, want)
	}
}

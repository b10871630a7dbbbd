package breaker

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// tally is what one goroutine saw; summed, it must equal Counts.
type tally struct{ successes, failures, rejected, excluded uint64 }

func (t *tally) add(o tally) {
	t.successes += o.successes
	t.failures += o.failures
	t.rejected += o.rejected
	t.excluded += o.excluded
}

// hammer makes calls of every kind, through every entry point, and tallies
// their outcomes. Time passes with the calls, and now and then an operator
// steps in.
func hammer(b *Breaker, clock *fakeClock, seed uint64, calls int) tally {
	var t tally
	rng := rand.New(rand.NewPCG(seed, 1))
	ctx := context.Background()
	for range calls {
		clock.Advance(time.Duration(rng.IntN(200)) * time.Microsecond)
		switch rng.IntN(2000) {
		case 0:
			b.ForceOpen()
		case 1:
			b.ForceClosed()
		case 2, 3:
			b.Reset()
		}
		var outcome error
		switch n := rng.IntN(10); {
		case n < 6:
		case n < 9:
			outcome = errBoom
		default:
			outcome = context.Canceled
		}
		var err error
		switch rng.IntN(4) {
		case 0:
			err = b.Run(ctx, func(context.Context) error { return outcome })
		case 1:
			_, err = Do(ctx, b, func(context.Context) (int, error) { return 1, outcome })
		case 2:
			var p Permit
			if p, err = b.Allow(); err == nil {
				p.Done(outcome)
				err = outcome
			}
		case 3: // a panic is a failure
			outcome = errBoom
			err = runPanicking(b)
		}
		switch {
		case errors.Is(err, ErrOpen) || errors.Is(err, ErrTooManyRequests):
			t.rejected++
		case outcome == nil:
			t.successes++
		case outcome == context.Canceled:
			t.excluded++
		default:
			t.failures++
		}
	}
	return t
}

func runPanicking(b *Breaker) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = errBoom
		}
	}()
	return b.Run(context.Background(), func(context.Context) error { panic("boom") })
}

func TestConcurrentCallsAreAllCounted(t *testing.T) {
	for _, tt := range []struct {
		name string
		s    Settings
	}{
		{"consecutive", Settings{HalfOpenMaxCalls: 3}},
		{"rate", Settings{FailureThreshold: 8, FailureRateThreshold: 0.3, MinimumCalls: 20, Window: time.Second, HalfOpenMaxCalls: 2}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var r recorder
			clock := newClock()
			tt.s.Now, tt.s.OnStateChange = clock.Now, r.listen
			tt.s.OpenTimeout, tt.s.OpenJitter = 10*time.Millisecond, 0.5
			b := New(tt.s)

			const goroutines, calls = 8, 3000
			var (
				wg    sync.WaitGroup
				mu    sync.Mutex
				total tally
				stop  = make(chan struct{})
			)
			for g := range goroutines {
				wg.Go(func() {
					got := hammer(b, clock, uint64(g), calls)
					mu.Lock()
					total.add(got)
					mu.Unlock()
				})
			}
			var scrapes sync.WaitGroup
			scrapes.Go(func() { // scrapes read the breaker meanwhile
				for {
					select {
					case <-stop:
						return
					default:
						_ = b.State()
						_ = b.Counts()
					}
				}
			})
			wg.Wait()
			close(stop)
			scrapes.Wait()

			c := b.Counts()
			if got := (tally{c.Successes, c.Failures, c.Rejected, c.Excluded}); got != total {
				t.Fatalf("Counts %+v, callers saw %+v", got, total)
			}
			if sum := c.Successes + c.Failures + c.Rejected + c.Excluded; sum != goroutines*calls {
				t.Fatalf("%d outcomes counted for %d calls", sum, goroutines*calls)
			}
			checkChain(t, r.got(), c)
		})
	}
}

// checkChain checks that the changes form one chain from closed to the
// final state and match the transition counters.
func checkChain(t *testing.T, changes []change, c Counts) {
	t.Helper()
	var perDest [3]uint64
	at := Closed
	for i, ch := range changes {
		if ch.from != at || ch.from == ch.to {
			t.Fatalf("change %d is %v→%v while the breaker was %v", i, ch.from, ch.to, at)
		}
		at = ch.to
		perDest[ch.to]++
	}
	if at != c.State || perDest != c.Transitions {
		t.Fatalf("changes end in %v with %v per destination; Counts: %v, %v", at, perDest, c.State, c.Transitions)
	}
	if perDest[Open] == 0 || perDest[HalfOpen] == 0 {
		t.Fatalf("the run never opened or never probed: %v", perDest)
	}
}

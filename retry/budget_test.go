package retry

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// allowed counts how many retries b grants before refusing, up to limit.
func allowed(b *Budget, limit int) int {
	for n := range limit {
		if !b.AllowRetry() {
			return n
		}
	}
	return limit
}

func calls(b *Budget, n int) {
	for range n {
		b.RecordCall()
	}
}

func TestBudgetRatio(t *testing.T) {
	clock := newFakeClock()
	b := NewBudgetWithClock(0.1, 0, 10*time.Second, clock.Now)
	if n := allowed(b, 100); n != 0 {
		t.Errorf("no calls yet: %d retries allowed, want 0", n)
	}
	calls(b, 100)
	if n := allowed(b, 100); n != 10 {
		t.Errorf("100 calls at 10%%: %d retries allowed, want 10", n)
	}
	calls(b, 10)
	if n := allowed(b, 100); n != 1 {
		t.Errorf("10 more calls: %d more retries allowed, want 1", n)
	}
}

func TestBudgetFloor(t *testing.T) {
	clock := newFakeClock()
	b := NewBudgetWithClock(0.1, 2, 10*time.Second, clock.Now)
	if n := allowed(b, 100); n != 20 {
		t.Errorf("no calls, 2/s over 10s: %d retries allowed, want 20", n)
	}
	calls(b, 50)
	if n := allowed(b, 100); n != 5 {
		t.Errorf("50 calls on top of the floor: %d more retries allowed, want 5", n)
	}
}

func TestBudgetWindowRolls(t *testing.T) {
	clock := newFakeClock()
	b := NewBudgetWithClock(0.5, 0, 10*time.Second, clock.Now)
	calls(b, 10) // t=0
	if n := allowed(b, 100); n != 5 {
		t.Fatalf("%d retries allowed, want 5", n)
	}

	clock.Advance(5 * time.Second)
	calls(b, 4)
	if n := allowed(b, 100); n != 2 {
		t.Errorf("t=5s, 14 calls and 5 retries in the window: %d more allowed, want 2", n)
	}

	// At t=10s the first 10 calls and 5 retries leave the window; 4 calls
	// and 2 retries from t=5s stay.
	clock.Advance(5 * time.Second)
	if n := allowed(b, 100); n != 0 {
		t.Errorf("t=10s, 4 calls and 2 retries in the window: %d allowed, want 0", n)
	}
	calls(b, 2)
	if n := allowed(b, 100); n != 1 {
		t.Errorf("t=10s, 6 calls and 2 retries: %d allowed, want 1", n)
	}

	// Long after, everything has left the window: the budget refills.
	clock.Advance(time.Hour)
	if n := allowed(b, 100); n != 0 {
		t.Errorf("empty window: %d allowed, want 0", n)
	}
	calls(b, 10)
	if n := allowed(b, 100); n != 5 {
		t.Errorf("refilled window: %d allowed, want 5", n)
	}
}

func TestBudgetWindowGranularity(t *testing.T) {
	clock := newFakeClock()
	b := NewBudgetWithClock(1, 0, 10*time.Second, clock.Now)
	calls(b, 3)
	// A tenth of the window before the end, the calls still count.
	clock.Advance(9*time.Second + 999*time.Millisecond)
	if !b.AllowRetry() {
		t.Error("retry refused while the calls are in the window")
	}
	clock.Advance(time.Millisecond)
	if b.AllowRetry() {
		t.Error("retry allowed once the calls left the window")
	}
}

func TestBudgetDefaults(t *testing.T) {
	clock := newFakeClock()
	b := NewBudgetWithClock(-1, -5, 0, clock.Now)
	calls(b, 100)
	if b.AllowRetry() {
		t.Error("negative ratio and floor allowed a retry")
	}
	b = NewBudgetWithClock(1, 0, 0, clock.Now)
	calls(b, 1)
	clock.Advance(DefaultBudgetWindow - time.Second)
	if !b.AllowRetry() {
		t.Error("call left the default window early")
	}
	clock.Advance(time.Second)
	if b.AllowRetry() {
		t.Error("call stayed past the default window")
	}

	var none *Budget
	none.RecordCall()
	if !none.AllowRetry() {
		t.Error("nil Budget refused a retry")
	}
	if real := NewBudget(0, 1, time.Second); !real.AllowRetry() {
		t.Error("a floor of 1/s refused the first retry")
	}
}

func TestBudgetClockGoingBack(t *testing.T) {
	clock := newFakeClock()
	b := NewBudgetWithClock(1, 0, 10*time.Second, clock.Now)
	clock.Advance(-time.Hour)
	calls(b, 2)
	if n := allowed(b, 10); n != 2 {
		t.Errorf("%d retries allowed, want 2", n)
	}
}

// TestBudgetConcurrent races goroutines for the last places: no more
// retries pass than the budget holds, and none of its places are lost.
func TestBudgetConcurrent(t *testing.T) {
	clock := newFakeClock()
	b := NewBudgetWithClock(0.1, 5, 10*time.Second, clock.Now) // 50 + calls/10
	var granted atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 500 {
				b.RecordCall()
				if b.AllowRetry() {
					granted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	const limit = 50 + 8*500/10
	if g := granted.Load(); g > limit {
		t.Fatalf("%d retries granted, budget holds %d", g, limit)
	}
	if total := granted.Load() + int64(allowed(b, limit)); total != limit {
		t.Errorf("%d retries granted in all, want %d", total, limit)
	}
}

// TestBudgetConcurrentRealClock lets the real clock roll buckets under load.
// Over any run the budget grants at most ratio × calls; the slack allows for
// goroutines descheduled across a whole window, whose retry goes uncounted.
func TestBudgetConcurrentRealClock(t *testing.T) {
	b := NewBudget(0.5, 0, 5*time.Millisecond)
	var granted, made atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 2000 {
				b.RecordCall()
				made.Add(1)
				if b.AllowRetry() {
					granted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if granted.Load() == 0 {
		t.Errorf("no retry granted for %d calls at 50%%", made.Load())
	}
	if granted.Load() > made.Load()/2+64 {
		t.Errorf("%d retries granted for %d calls at 50%%", granted.Load(), made.Load())
	}
}

func TestBucketWord(t *testing.T) {
	var w atomic.Uint64
	if !add(&w, 5) || !add(&w, 5) || w.Load() != 5<<32|2 {
		t.Fatalf("two adds at slot 5: word %#x", w.Load())
	}
	if add(&w, 4) || w.Load() != 5<<32|2 {
		t.Errorf("an add for an older slot counted: word %#x", w.Load())
	}
	if !add(&w, 15) || w.Load() != 15<<32|1 {
		t.Errorf("an add for a newer slot did not reset the bucket: word %#x", w.Load())
	}
	remove(&w, 5)
	if w.Load() != 15<<32|1 {
		t.Errorf("a remove for an older slot took from the new one: word %#x", w.Load())
	}
	remove(&w, 15)
	remove(&w, 15)
	if w.Load() != 15<<32 {
		t.Errorf("removes went below zero: word %#x", w.Load())
	}
	w.Store(15<<32 | 0xffffffff)
	if add(&w, 15) || w.Load() != 15<<32|0xffffffff {
		t.Errorf("a full bucket overflowed into the slot: word %#x", w.Load())
	}
}

package breaker

import (
	"sync"
	"sync/atomic"
	"time"
)

// windowBuckets is how many slices of time the rolling window is cut into.
const windowBuckets = 10

// window counts calls and failures over a rolling time window for the
// failure rate. Like the call counters it is striped: each goroutine writes
// its own stripe's buckets, and only a failure sums them all.
type window struct {
	width    int64 // nanoseconds per bucket
	rate     float64
	minCalls uint64
	stripes  []windowStripe
}

type windowStripe struct {
	buckets [windowBuckets]bucket
	_       [cacheLine - windowBuckets*24%cacheLine]byte
}

// bucket counts the calls of one slice of time, numbered epoch.
type bucket struct {
	epoch    atomic.Int64 // -1: holds nothing
	calls    atomic.Uint64
	failures atomic.Uint64
}

func newWindow(stripes int, d time.Duration, rate float64, minCalls uint32) *window {
	w := &window{
		width:    int64(d) / windowBuckets,
		rate:     rate,
		minCalls: uint64(minCalls),
		stripes:  make([]windowStripe, stripes),
	}
	w.reset()
	return w
}

// add counts a call at clock reading now (ns since the breaker's epoch) in
// stripe i. A bucket whose slice of time is over is emptied under mu, which
// happens once per bucket width at most.
func (w *window) add(mu *sync.Mutex, i int, now int64, failed bool) {
	e := max(now, 0) / w.width
	bk := &w.stripes[i].buckets[e%windowBuckets]
	if bk.epoch.Load() < e {
		mu.Lock()
		if bk.epoch.Load() < e {
			bk.calls.Store(0)
			bk.failures.Store(0)
			bk.epoch.Store(e) // after the zeroing: who sees e adds to zero
		}
		mu.Unlock()
	}
	bk.calls.Add(1)
	if failed {
		bk.failures.Add(1)
	}
}

// exceeded reports whether the window holds enough calls and its failure
// rate reached the threshold.
func (w *window) exceeded(now int64) bool {
	oldest := max(max(now, 0)/w.width-windowBuckets+1, 0) // reset buckets hold -1
	var calls, failures uint64
	for i := range w.stripes {
		for j := range w.stripes[i].buckets {
			bk := &w.stripes[i].buckets[j]
			if bk.epoch.Load() >= oldest {
				calls += bk.calls.Load()
				failures += bk.failures.Load()
			}
		}
	}
	return calls >= w.minCalls && float64(failures) >= w.rate*float64(calls)
}

// reset forgets every call; the caller holds the breaker's lock, which add
// takes to reuse a bucket.
func (w *window) reset() {
	for i := range w.stripes {
		for j := range w.stripes[i].buckets {
			w.stripes[i].buckets[j].epoch.Store(-1)
		}
	}
}

package retry

import (
	"math"
	"sync/atomic"
	"time"
)

// DefaultBudgetWindow is the window NewBudget uses when given none.
const DefaultBudgetWindow = 10 * time.Second

const budgetBuckets = 10

// Budget caps retries to a share of calls over a rolling window, so that
// retries cannot multiply the load on a dependency that is already failing.
// Within any window, retries may number Ratio × calls plus a floor of
// MinRetriesPerSecond × window, which lets low traffic still retry. One
// Budget is shared by every Policy that should draw on it; it is safe for
// concurrent use and takes no lock. Under contention it errs on the side
// of refusing; only a goroutine descheduled for a whole window can have its
// retry go uncounted.
//
// The window rolls in tenths: a call or retry counts for between nine and
// ten tenths of the window after it happened.
type Budget struct {
	ratio  float64
	floor  float64
	width  time.Duration // of one bucket
	now    func() time.Time
	origin time.Time

	// Each word packs a bucket's slot number (high 32 bits) and its count
	// (low 32 bits), so that a bucket is reset and counted in one CAS.
	calls   [budgetBuckets]atomic.Uint64
	retries [budgetBuckets]atomic.Uint64
}

// NewBudget returns a Budget that allows retries up to ratio × calls plus
// minPerSecond × window within any window. Negative values count as 0; a
// window of 0 means DefaultBudgetWindow.
func NewBudget(ratio, minPerSecond float64, window time.Duration) *Budget {
	return NewBudgetWithClock(ratio, minPerSecond, window, nil)
}

// NewBudgetWithClock is NewBudget with a clock for tests; nil means time.Now.
func NewBudgetWithClock(ratio, minPerSecond float64, window time.Duration, now func() time.Time) *Budget {
	if !(ratio > 0) {
		ratio = 0
	}
	if !(minPerSecond > 0) {
		minPerSecond = 0
	}
	if window <= 0 {
		window = DefaultBudgetWindow
	}
	if now == nil {
		now = time.Now
	}
	return &Budget{
		ratio:  ratio,
		floor:  minPerSecond * window.Seconds(),
		width:  max(window/budgetBuckets, 1),
		now:    now,
		origin: now(),
	}
}

// RecordCall counts one call, the first attempt of an operation. Do calls
// it; code that retries by itself calls it once per operation.
func (b *Budget) RecordCall() {
	if b == nil {
		return
	}
	slot := b.slot()
	add(&b.calls[slot%budgetBuckets], slot)
}

// AllowRetry reports whether one more retry fits the budget, and if so
// counts it. A nil Budget allows every retry.
func (b *Budget) AllowRetry() bool {
	if b == nil {
		return true
	}
	slot := b.slot()
	word := &b.retries[slot%budgetBuckets]
	// Count first, then check: of retries racing for the last places, none
	// can pass on a total that leaves out another that passed.
	if !add(word, slot) {
		return false // the clock moved on while we were descheduled
	}
	if float64(sum(&b.retries, slot)) <= b.ratio*float64(sum(&b.calls, slot))+b.floor {
		return true
	}
	remove(word, slot)
	return false
}

func (b *Budget) slot() uint32 {
	d := b.now().Sub(b.origin)
	if d < 0 {
		d = 0
	}
	return uint32(d / b.width)
}

// add counts one in word for slot, resetting a bucket left from an older
// slot, and reports whether it did: a count for a slot older than the
// bucket's, or past a full bucket, is dropped.
func add(word *atomic.Uint64, slot uint32) bool {
	for {
		old := word.Load()
		oldSlot, n := uint32(old>>32), uint32(old)
		var next uint64
		switch {
		case oldSlot == slot && n < math.MaxUint32:
			next = old + 1
		case int32(slot-oldSlot) > 0:
			next = uint64(slot)<<32 | 1
		default:
			return false
		}
		if word.CompareAndSwap(old, next) {
			return true
		}
	}
}

// remove takes back one that add counted, unless the bucket moved on.
func remove(word *atomic.Uint64, slot uint32) {
	for {
		old := word.Load()
		if uint32(old>>32) != slot || uint32(old) == 0 {
			return
		}
		if word.CompareAndSwap(old, old-1) {
			return
		}
	}
}

// sum totals the buckets that belong to the window ending at slot.
func sum(words *[budgetBuckets]atomic.Uint64, slot uint32) uint64 {
	var total uint64
	for i := range words {
		w := words[i].Load()
		if slot-uint32(w>>32) < budgetBuckets {
			total += uint64(uint32(w))
		}
	}
	return total
}

package breaker

import (
	"math/bits"
	"runtime"
	"sync/atomic"
	"unsafe"
)

// word packs what every call must read into one atomic 64-bit value, so a
// call sees state, failure streak and generation consistently:
//
//	bits 0-1   State
//	bit  2     forced (ForceOpen / ForceClosed)
//	bits 3-31  consecutive failures while closed
//	bits 32-63 generation, bumped on every change made under the lock
type word uint64

const (
	stateMask   = 1<<2 - 1
	forcedBit   = 1 << 2
	streakShift = 3
	streakMask  = MaxFailureThreshold << streakShift
	genShift    = 32
)

func (w word) state() State   { return State(w & stateMask) }
func (w word) forced() bool   { return w&forcedBit != 0 }
func (w word) streak() uint32 { return uint32(w&streakMask) >> streakShift }
func (w word) gen() uint32    { return uint32(w >> genShift) }
func (w word) withStreak(n uint32) word {
	return w&^streakMask | word(n)<<streakShift
}

// next is the word after a change made under the lock: a new generation, no
// streak.
func (w word) next(to State, forced bool) word {
	n := word(w.gen()+1)<<genShift | word(to)
	if forced {
		n |= forcedBit
	}
	return n
}

// bumpStreak adds a failure to the streak if the breaker is still closed in
// generation gen, and returns the new word.
func (b *Breaker) bumpStreak(gen uint32) (word, bool) {
	for {
		w := word(b.word.Load())
		if w.gen() != gen || w.state() != Closed {
			return w, false
		}
		n := w.withStreak(min(w.streak()+1, MaxFailureThreshold))
		if n == w || b.word.CompareAndSwap(uint64(w), uint64(n)) {
			return n, true
		}
	}
}

// clearStreak ends a failure streak of generation gen.
func (b *Breaker) clearStreak(gen uint32) {
	for {
		w := word(b.word.Load())
		if w.gen() != gen || w.streak() == 0 {
			return
		}
		if b.word.CompareAndSwap(uint64(w), uint64(w.withStreak(0))) {
			return
		}
	}
}

// cacheLine is the padding that keeps independently written counters off
// each other's cache lines; 128 bytes also defeats adjacent-line prefetch.
const cacheLine = 128

// stripe is one slice of the call counters. Goroutines spread over the
// stripes so that parallel calls do not write the same cache line.
type stripe struct {
	successes atomic.Uint64
	failures  atomic.Uint64
	rejected  atomic.Uint64
	excluded  atomic.Uint64
	_         [cacheLine - 32]byte
}

// stripeCount is 4 stripes per processor, a power of two in [16, 128]: with
// few goroutines per processor two of them rarely share one.
func stripeCount() int {
	n := 1 << bits.Len(uint(4*runtime.GOMAXPROCS(0)-1))
	return min(max(n, 16), 128)
}

func log2(n int) int { return bits.Len(uint(n)) - 1 }

// stripeIndex picks the calling goroutine's stripe from the address of its
// stack. Goroutine stacks are disjoint, so a goroutine keeps to one stripe
// (until its stack moves) while different goroutines spread out; unlike a
// random pick, each stripe's cache line stays with one processor.
func (b *Breaker) stripeIndex() int {
	var marker byte
	h := uint64(uintptr(unsafe.Pointer(&marker))) >> 11 // stacks are at least 2 KiB
	return int((h * 0x9e3779b97f4a7c15) >> b.stripeShift)
}

package cache

import (
	"context"
	"sync/atomic"
	"time"
)

// epoch anchors the monotonic readings the hot path takes: time.Since(epoch)
// reads one clock, time.Now two.
var epoch = time.Now()

func monoNow() time.Duration { return time.Since(epoch) }

// deadlines makes the contexts that bound Redis calls to the timeout. A
// context with a deadline costs a timer and four allocations, which is much
// of a Redis round trip's own CPU when many goroutines share two cores, so:
//
//   - a caller whose context ends before the timeout would is passed as is;
//   - callers with context.Background share one deadline context per
//     1/64 of the timeout: each call's deadline lies between 63/64 of the
//     timeout and the timeout, and at most 64 timers per timeout are made;
//   - any other caller gets a context of its own.
type deadlines struct {
	timeout time.Duration
	slack   time.Duration
	shared  atomic.Pointer[sharedDeadline]
}

type sharedDeadline struct {
	ctx context.Context
	at  time.Duration // since epoch
	// cancel is never called: calls still in flight may hold ctx, and its
	// deadline timer releases it.
	cancel context.CancelFunc
}

func newDeadlines(timeout time.Duration) *deadlines {
	return &deadlines{timeout: timeout, slack: max(timeout/64, time.Microsecond)}
}

func noCancel() {}

// context returns the context of a call starting at now (from monoNow).
func (d *deadlines) context(parent context.Context, now time.Duration) (context.Context, context.CancelFunc) {
	at := now + d.timeout
	deadline := epoch.Add(at)
	if dl, ok := parent.Deadline(); ok && !dl.After(deadline) {
		return parent, noCancel
	}
	if parent != context.Background() {
		return context.WithDeadline(parent, deadline)
	}
	if s := d.shared.Load(); s != nil && s.at <= at && s.at > at-d.slack {
		return s.ctx, noCancel
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	if s := d.shared.Load(); s == nil || s.at < at {
		// A call that started earlier than the one the shared context was
		// made for (a queued one) does not replace it.
		d.shared.Store(&sharedDeadline{ctx: ctx, at: at, cancel: cancel})
		return ctx, noCancel
	}
	return ctx, cancel
}

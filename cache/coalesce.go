package cache

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Coalescing. Get, Set and Delete each need one Redis command. While fewer
// than MaxInFlight round trips are under way, a call sends its command at
// once, on its own goroutine, exactly as a plain go-redis call would. When
// that many are under way, further calls queue, and each time a round trip
// ends, whatever has queued goes out together as one pipeline, sent by the
// oldest call still waiting (next): under load a round trip carries many
// commands for the price of one write and one read on each side, and with
// few callers nothing waits at all. A queue whose oldest call has waited
// longer than the stall limit does not wait for the round trips under way:
// the next call starts one more, for the queue and itself, so stalled round
// trips (a hung connection, goroutines the scheduler has not run) cost at
// most what they would without coalescing.
//
// Each call keeps its own outcome: its reply, its error, its breaker permit
// and its duration (queueing included) are its own. Each waiting caller
// keeps its own deadline (start + Timeout, or its context's): past it, or
// when its context is cancelled, it leaves with a timeout or its context's
// error, whether its command was still queued (it is then never sent:
// errQueued) or already on its way. A caller whose context would end before
// start + Timeout goes alone, so a hurried caller never shortens others'
// pipelines. The calls of a pipeline are sent with the first one's context
// values (tracing hooks see its span), never its cancellation.

// DefaultMaxInFlight returns what Options.MaxInFlight's zero value stands
// for: 4 round trips per CPU the Go scheduler uses (GOMAXPROCS). Fewer make
// callers queue while CPUs idle at moderate concurrency; more leave the
// pipelines short under load. docs/cache.md has the measurements.
func DefaultMaxInFlight() int { return 4 * runtime.GOMAXPROCS(0) }

// stallAfter is how long the oldest queued call may wait before the next
// call starts a round trip beyond MaxInFlight (a quarter of Timeout if that
// is shorter). A round trip on loopback takes tens of microseconds.
const stallAfter = time.Millisecond

// maxBatch bounds the commands of one pipeline.
const maxBatch = 256

// errQueued is the error of a call whose deadline passed before a round trip
// was free to carry it: Redis answered too slowly for the calls before it.
// It matches context.DeadlineExceeded, as a call that timed out on the
// socket does.
var errQueued = fmt.Errorf("timed out waiting for a Redis round trip: %w", context.DeadlineExceeded)

// errInFlight is the error of a call whose deadline passed while its
// command was on its way in a pipeline.
var errInFlight = fmt.Errorf("timed out in a Redis pipeline: %w", context.DeadlineExceeded)

// errAborted is the error of the calls of a pipeline whose sending
// panicked (a go-redis hook, say); the panic goes on in the goroutine that
// sent it.
var errAborted = errors.New("pipeline aborted by a panic")

// Call states. Only callWaiting and callTaken may become callAbandoned, and
// only by the caller; a leading call is never abandoned, as others wait on
// it.
const (
	callWaiting   int32 = iota
	callLeading         // woken to send a batch
	callTaken           // in a batch: its command will be sent
	callAbandoned       // its caller left: nobody reads its outcome
)

// call is one Get, Set or Delete command and, once done is signalled, its
// outcome.
type call struct {
	ctx   context.Context // the caller's, for its values
	op    operation
	key   string
	data  []byte // Set's value; Get's reply (nil for a miss)
	ttl   time.Duration
	start time.Duration // from monoNow
	err   error
	state atomic.Int32
	done  chan struct{} // capacity 1: signalled once per use
	batch []*call       // set when the call is woken to send a batch
}

var callPool = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

func newCall(ctx context.Context, op operation, key string, data []byte, ttl time.Duration, start time.Duration) *call {
	cl := callPool.Get().(*call)
	cl.ctx, cl.op, cl.key, cl.data, cl.ttl, cl.start, cl.err = ctx, op, key, data, ttl, start, nil
	cl.state.Store(callWaiting)
	return cl
}

// free returns cl to the pool, unless its caller abandoned it: a flusher
// may still hold it then.
func (cl *call) free() {
	if cl.state.Load() == callAbandoned {
		return
	}
	cl.ctx, cl.key, cl.data, cl.err, cl.batch = nil, "", nil, nil, nil
	callPool.Put(cl)
}

// coalescer holds the queue of calls waiting for a round trip.
type coalescer struct {
	max      int           // round trips in flight before calls queue; 0: no coalescing
	stall    time.Duration // a queue older than this gets a round trip of its own
	mu       sync.Mutex
	inFlight int     // round trips under way; >= max whenever queue is not empty
	queue    []*call // waiting, oldest first
}

// roundTrip sends cl's command and returns its outcome: the reply of a Get
// (nil for a miss) and the error. ctx is the caller's; the caller settles
// the breaker permit and the metrics, and frees cl.
func (c *Cache) roundTrip(ctx context.Context, cl *call) ([]byte, error) {
	co := &c.co
	if co.max == 0 || endsFirst(ctx, cl.start+c.timeout) {
		c.send(ctx, cl)
		return cl.data, cl.err
	}
	co.mu.Lock()
	if co.inFlight < co.max {
		co.inFlight++
		co.mu.Unlock()
		defer c.next() // even if send panics: the place is given back
		c.send(ctx, cl)
		return cl.data, cl.err
	}
	if len(co.queue) > 0 && cl.start-co.queue[0].start > co.stall {
		// The round trips under way are stalled (a hung connection, or
		// owners the scheduler has not run for a while): rather than let
		// the queue wait on them, start one more, for the queue and cl.
		co.inFlight++
		batch := append(co.take(), cl)
		co.mu.Unlock()
		cl.state.Store(callLeading)
		defer c.next()
		c.flush(batch, cl)
		return cl.data, cl.err
	}
	co.queue = append(co.queue, cl)
	co.mu.Unlock()

	wctx, cancel := c.deadlines.context(ctx, cl.start)
	select {
	case <-cl.done:
	case <-wctx.Done():
		err := ctx.Err()
		if err == nil {
			err = errQueued
		}
		if cl.state.CompareAndSwap(callWaiting, callAbandoned) {
			cancel()
			return nil, err // never sent
		}
		if cl.state.CompareAndSwap(callTaken, callAbandoned) {
			cancel()
			if err == errQueued {
				err = errInFlight
			}
			return nil, err // sent, or about to be: its outcome is nobody's
		}
		<-cl.done // leading: its batch is here
	}
	cancel()
	if batch := cl.batch; batch != nil { // cl leads the next round trip
		cl.batch = nil
		defer c.next()
		c.flush(batch, cl)
	}
	return cl.data, cl.err
}

// endsFirst reports whether ctx has a deadline before at (from monoNow).
func endsFirst(ctx context.Context, at time.Duration) bool {
	dl, ok := ctx.Deadline()
	return ok && dl.Before(epoch.Add(at))
}

// next is called by the owner of a round trip that ended. If calls are
// queued, it takes a batch of them and wakes the oldest still waiting to
// send it, as the owner of a round trip in place of the one that ended:
// the call would be woken anyway, so the hand-over costs no goroutine and no
// extra wake-up. Otherwise the round trip's place is given up.
func (c *Cache) next() {
	co := &c.co
	co.mu.Lock()
	defer co.mu.Unlock()
	for len(co.queue) > 0 {
		batch := co.take()
		for _, cl := range batch {
			if cl.state.CompareAndSwap(callWaiting, callLeading) {
				cl.batch = batch
				cl.done <- struct{}{}
				return
			}
		}
		// Every call of the batch was abandoned.
	}
	co.inFlight--
}

// take removes up to maxBatch calls from the queue. co.mu is held.
func (co *coalescer) take() []*call {
	n := min(len(co.queue), maxBatch)
	batch := make([]*call, n)
	copy(batch, co.queue)
	rest := copy(co.queue, co.queue[n:])
	clear(co.queue[rest:])
	co.queue = co.queue[:rest]
	return batch
}

// flush sends, in one round trip, the calls of batch still wanted, lead's
// among them, and signals every one but lead, also if sending panics.
func (c *Cache) flush(batch []*call, lead *call) {
	now := monoNow()
	live := batch[:0] // filtered in place
	last := time.Duration(0)
	for _, cl := range batch {
		if cl != lead && !cl.state.CompareAndSwap(callWaiting, callTaken) {
			continue // abandoned: nobody waits for it
		}
		if now >= cl.start+c.timeout {
			cl.err = errQueued
			cl.signal(lead)
			continue
		}
		live = append(live, cl)
		last = max(last, cl.start)
	}
	signalled := 0
	defer func() {
		for _, cl := range live[signalled:] { // sending panicked
			cl.err = errAborted
			cl.signal(lead)
		}
	}()
	if len(live) == 0 {
		return
	}
	// Each caller leaves at its own deadline; the pipeline may run until
	// the last of them.
	parent := live[0].ctx
	if parent.Done() != nil {
		parent = context.WithoutCancel(parent)
	}
	if len(live) == 1 {
		c.send(parent, live[0])
		signalled = 1
		live[0].signal(lead)
		return
	}
	c.m.pipelines.Add(1)
	c.m.pipelined.Add(uint64(len(live)))
	ctx, cancel := c.deadlines.context(parent, last)
	defer cancel()
	pipe := c.client.Pipeline()
	cmds := make([]redis.Cmder, len(live))
	for i, cl := range live {
		cmds[i] = cl.command(ctx, pipe)
	}
	_, _ = pipe.Exec(ctx) // each command has its own error
	for i, cl := range live {
		cl.setReply(cmds[i])
		signalled = i + 1
		cl.signal(lead)
	}
}

// signal tells cl's waiting caller that its outcome is in, unless cl is
// lead, whose caller is the one sending.
func (cl *call) signal(lead *call) {
	if cl != lead {
		cl.done <- struct{}{}
	}
}

// send sends cl's command alone, under ctx and the per-call timeout.
func (c *Cache) send(ctx context.Context, cl *call) {
	cctx, cancel := c.deadlines.context(ctx, cl.start)
	defer cancel()
	cl.setReply(cl.command(cctx, c.client))
}

// command issues cl's command on r: the client, sending it at once, or a
// pipeline, queueing it.
func (cl *call) command(ctx context.Context, r redis.Cmdable) redis.Cmder {
	switch cl.op {
	case opGet:
		return r.Get(ctx, cl.key)
	case opSet:
		return r.Set(ctx, cl.key, cl.data, cl.ttl)
	default:
		return r.Del(ctx, cl.key)
	}
}

// setReply records cmd's outcome in cl. A Get's miss is nil data, no error.
func (cl *call) setReply(cmd redis.Cmder) {
	cl.err = cmd.Err()
	if g, ok := cmd.(*redis.StringCmd); ok {
		cl.data = nil
		if cl.err == nil {
			cl.data, cl.err = g.Bytes()
		} else if cl.err == redis.Nil {
			cl.err = nil
		}
	}
}

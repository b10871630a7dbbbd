package cache

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/health-exporter/health-exporter/breaker"
	"github.com/health-exporter/health-exporter/internal/testenv"
)

// gate is a go-redis hook that records how commands reach Redis, singly or
// in pipelines, and can hold them as a Redis slow to answer would: the
// single commands of holdKey until release is closed, the pipelines holding
// holdPipeKey until releasePipe is closed. A hold ends with the command's
// deadline, as it would on the socket, unless ignoreDeadline is set. A
// pipeline hook may also panic, once, if panicOnce is set.
type gate struct {
	holdKey, holdPipeKey string
	release, releasePipe chan struct{}
	ignoreDeadline       bool
	panicOnce            atomic.Bool

	mu        sync.Mutex
	singles   []string   // keys of commands sent alone
	pipelines [][]string // keys of each pipeline's commands
	values    []any      // each pipeline's context's value of ctxKey
}

type ctxKey struct{}

func newGate(holdKey string) *gate {
	return &gate{holdKey: holdKey, release: make(chan struct{}), releasePipe: make(chan struct{})}
}

func (g *gate) hold(ctx context.Context, release chan struct{}) error {
	if g.ignoreDeadline {
		<-release
		return nil
	}
	select {
	case <-release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gate) DialHook(next redis.DialHook) redis.DialHook { return next }

func (g *gate) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !cacheCommand(cmd) {
			return next(ctx, cmd)
		}
		key := fmt.Sprint(cmd.Args()[1:2]...)
		g.mu.Lock()
		g.singles = append(g.singles, key)
		g.mu.Unlock()
		if g.holdKey != "" && key == g.holdKey {
			if err := g.hold(ctx, g.release); err != nil {
				cmd.SetErr(err)
				return err
			}
		}
		return next(ctx, cmd)
	}
}

func (g *gate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		keys := make([]string, len(cmds))
		held := false
		for i, cmd := range cmds {
			if !cacheCommand(cmd) { // the client's own: HELLO, CLIENT SETINFO
				return next(ctx, cmds)
			}
			keys[i] = fmt.Sprint(cmd.Args()[1:2]...)
			held = held || (g.holdPipeKey != "" && keys[i] == g.holdPipeKey)
		}
		g.mu.Lock()
		g.pipelines = append(g.pipelines, keys)
		g.values = append(g.values, ctx.Value(ctxKey{}))
		g.mu.Unlock()
		if g.panicOnce.CompareAndSwap(true, false) {
			panic("hook panics")
		}
		if held {
			if err := g.hold(ctx, g.releasePipe); err != nil {
				for _, cmd := range cmds {
					cmd.SetErr(err)
				}
				return err
			}
		}
		return next(ctx, cmds)
	}
}

// cacheCommand reports whether cmd is one a cache call sends.
func cacheCommand(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "get", "set", "del":
		return true
	}
	return false
}

func (g *gate) seen() (singles []string, pipelines [][]string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.singles...), append([][]string(nil), g.pipelines...)
}

// gatedCache returns a cache on the shared Redis whose client runs g, and
// its client. Its queue never counts as stalled, so that calls queue behind
// a held round trip for as long as the test needs.
func gatedCache(t *testing.T, g *gate, opts Options) (*Cache, *redis.Client) {
	t.Helper()
	c, raw := sharedCache(t, opts)
	c.client.AddHook(g)
	c.co.stall = time.Hour
	return c, raw
}

// queued returns how many calls wait for a round trip.
func queued(c *Cache) int {
	c.co.mu.Lock()
	defer c.co.mu.Unlock()
	return len(c.co.queue)
}

// waitQueued waits until n calls wait for a round trip.
func waitQueued(t *testing.T, c *Cache, n int) {
	t.Helper()
	poll(t, fmt.Sprintf("%d queued calls", n), func() bool { return queued(c) == n })
}

// assertIdle checks that no round trip is under way and nothing waits: the
// places of every round trip were given back.
func assertIdle(t *testing.T, c *Cache) {
	t.Helper()
	poll(t, "the coalescer to be idle", func() bool {
		c.co.mu.Lock()
		defer c.co.mu.Unlock()
		return c.co.inFlight == 0 && len(c.co.queue) == 0
	})
}

func TestMaxInFlightDefault(t *testing.T) {
	c, _ := sharedCache(t, Options{})
	if want := 4 * runtime.GOMAXPROCS(0); c.co.max != want || DefaultMaxInFlight() != want {
		t.Fatalf("max in flight %d (default %d), want %d", c.co.max, DefaultMaxInFlight(), want)
	}
	if c.co.stall != time.Millisecond {
		t.Fatalf("stall limit %v, want 1ms", c.co.stall)
	}
	c, _ = sharedCache(t, Options{MaxInFlight: -1, Timeout: 2 * time.Millisecond})
	if c.co.max != 0 {
		t.Fatalf("MaxInFlight -1 gave max %d, want 0: no coalescing", c.co.max)
	}
	if c.co.stall != 500*time.Microsecond {
		t.Fatalf("stall limit %v with a 2ms timeout, want 500µs", c.co.stall)
	}
}

// While the only round trip allowed is held, calls of every kind queue; on
// its release they go out as one pipeline, and each gets its own outcome.
func TestCoalescedCallsKeepTheirOwnOutcomes(t *testing.T) {
	g := newGate("")
	c, raw := gatedCache(t, g, Options{MaxInFlight: 1, Timeout: 5 * time.Second})
	acme, other := c.Tenant("acme"), c.Tenant("other")
	for i := range 10 {
		if err := acme.Set(bg, fmt.Sprint("old", i), i); err != nil {
			t.Fatal(err)
		}
	}
	if err := other.Set(bg, "old0", "other's"); err != nil {
		t.Fatal(err)
	}
	hold := holdFirst(t, g, acme)

	const sets = 20
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range sets {
		wg.Go(func() {
			if err := acme.Set(bg, fmt.Sprint("new", i), i); err != nil {
				errs <- fmt.Errorf("set new%d: %w", i, err)
			}
		})
	}
	for i := range 9 { // old9 is deleted concurrently
		wg.Go(func() {
			var v int
			if found, err := acme.Get(bg, fmt.Sprint("old", i), &v); err != nil || !found || v != i {
				errs <- fmt.Errorf("get old%d = %v, %v, %d; want %d", i, found, err, v, i)
			}
		})
	}
	wg.Go(func() {
		var s string
		if found, err := other.Get(bg, "old0", &s); err != nil || !found || s != "other's" {
			errs <- fmt.Errorf("other's get old0 = %v, %v, %q", found, err, s)
		}
	})
	wg.Go(func() {
		var s string
		if found, err := acme.Get(bg, "missing", &s); err != nil || found {
			errs <- fmt.Errorf("get missing = %v, %v; want a plain miss", found, err)
		}
	})
	wg.Go(func() {
		if err := acme.Delete(bg, "old9"); err != nil {
			errs <- fmt.Errorf("delete old9: %w", err)
		}
	})
	const calls = sets + 9 + 3
	waitQueued(t, c, calls)
	close(g.release)
	if err := <-hold; err != nil {
		t.Fatalf("held set: %v", err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	_, pipelines := g.seen()
	if len(pipelines) != 1 || len(pipelines[0]) != calls {
		t.Fatalf("queued calls went out as pipelines of %v commands, want one of %d", lens(pipelines), calls)
	}
	if p, n := c.m.pipelines.Load(), c.m.pipelined.Load(); p != 1 || n != calls {
		t.Errorf("counted %d pipelines of %d calls, want 1 of %d", p, n, calls)
	}
	for i := range sets {
		if got, err := raw.Get(bg, acme.Key(fmt.Sprint("new", i))).Result(); err != nil || got != fmt.Sprint(i) {
			t.Errorf("new%d in Redis = %q, %v", i, got, err)
		}
	}
	if n, err := raw.Exists(bg, acme.Key("old9")).Result(); err != nil || n != 0 {
		t.Errorf("old9 still in Redis after the coalesced Delete (%d, %v)", n, err)
	}
	if reqs, _, hits := counts(acme); reqs != 10 || hits != 9 {
		t.Errorf("acme counted %d lookups and %d hits, want 10 and 9", reqs, hits)
	}
	if reqs, _, hits := counts(other); reqs != 1 || hits != 1 {
		t.Errorf("other counted %d lookups and %d hits, want 1 and 1", reqs, hits)
	}
	if n := c.m.errors[opGet].Load() + c.m.errors[opSet].Load() + c.m.errors[opDelete].Load(); n != 0 {
		t.Errorf("%d errors counted", n)
	}
	assertIdle(t, c)
}

func lens(pipelines [][]string) []int {
	n := make([]int, len(pipelines))
	for i, p := range pipelines {
		n[i] = len(p)
	}
	return n
}

// When the round trips under way stall, a queue older than the stall limit
// does not wait for them: the next call sends it, with itself, at once.
func TestCoalescingStalledRoundTripsAreBypassed(t *testing.T) {
	g := newGate("")
	c, raw := gatedCache(t, g, Options{MaxInFlight: 1, Timeout: 5 * time.Second})
	c.co.stall = 50 * time.Millisecond
	acme := c.Tenant("acme")
	hold := holdFirst(t, g, acme)

	queuedRes := make(chan error, 1)
	go func() { queuedRes <- acme.Set(bg, "queued", "v") }()
	waitQueued(t, c, 1)
	time.Sleep(60 * time.Millisecond)
	if err := acme.Set(bg, "late", "v"); err != nil {
		t.Fatalf("Set after the queue stalled: %v", err)
	}
	select {
	case err := <-queuedRes:
		if err != nil {
			t.Fatalf("the stalled queue's Set: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stalled queue's Set still waits for the held round trip")
	}
	if _, pipelines := g.seen(); len(pipelines) != 1 || len(pipelines[0]) != 2 {
		t.Fatalf("pipelines %v, want the queued and the late Set in one", pipelines)
	}
	for _, k := range []string{"queued", "late"} {
		if n, err := raw.Exists(bg, acme.Key(k)).Result(); err != nil || n != 1 {
			t.Fatalf("%s not in Redis (%d, %v)", k, n, err)
		}
	}
	select {
	case <-hold:
		t.Fatal("the held round trip ended before its release")
	default:
	}
	releaseFirst(t, g, hold)
	assertIdle(t, c)
}

// A caller that gives up while its call waits gets its context's error at
// once; its command is never sent, and it is no failure of the breaker; the
// calls queued with it go on.
func TestCoalescingCallerCancelledInQueue(t *testing.T) {
	g, c, raw, acme, hold := heldCache(t)

	ctx, cancel := context.WithCancel(bg)
	res := make(chan error, 1)
	go func() { res <- acme.Set(ctx, "abandoned", "never") }()
	waitQueued(t, c, 1)
	kept := make(chan error, 1)
	go func() { kept <- acme.Set(bg, "kept", "v") }()
	waitQueued(t, c, 2)
	before := c.Breaker().Counts()
	cancel()
	select {
	case err := <-res:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled queued Set = %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("cancelled queued Set did not return while the round trip before it was held")
	}
	releaseFirst(t, g, hold)
	// The oldest call still waiting, behind the abandoned one, sends the
	// batch.
	if err := <-kept; err != nil {
		t.Fatalf("the Set queued after the abandoned one: %v", err)
	}
	assertIdle(t, c)
	if n, err := raw.Exists(bg, acme.Key("abandoned")).Result(); err != nil || n != 0 {
		t.Fatalf("the abandoned Set reached Redis (%d, %v)", n, err)
	}
	singles, pipelines := g.seen()
	for _, k := range singles {
		if k == acme.Key("abandoned") {
			t.Fatal("the abandoned Set was sent")
		}
	}
	if len(pipelines) != 0 {
		t.Fatalf("pipelines %v sent for an abandoned call", pipelines)
	}
	after := c.Breaker().Counts()
	if after.Failures != before.Failures {
		t.Fatalf("the abandoned call failed the breaker: %+v → %+v", before, after)
	}
	if n := c.m.errors[opSet].Load(); n != 0 {
		t.Fatalf("the abandoned call counted as %d set errors", n)
	}
	// The cache still works: the place was given back.
	if err := acme.Set(bg, "after", "ok"); err != nil {
		t.Fatal(err)
	}
}

// A caller whose deadline comes before Options.Timeout would is not queued:
// its deadline must not cut short the round trip of others.
func TestCoalescingShortDeadlineGoesAlone(t *testing.T) {
	g, c, _, acme, hold := heldCache(t)

	ctx, cancel := context.WithTimeout(bg, 2*time.Second)
	defer cancel()
	if err := acme.Set(ctx, "hurried", "v"); err != nil {
		t.Fatalf("Set with a short deadline while the round trip is held: %v", err)
	}
	if n := queued(c); n != 0 {
		t.Fatalf("%d calls queued", n)
	}
	releaseFirst(t, g, hold)
	assertIdle(t, c)
}

// With Redis hung, queued calls do not wait for one timeout after another:
// each is answered by its own deadline, with an error that is a timeout, and
// the places of the round trips come back.
func TestCoalescingRedisHungBoundsEveryCall(t *testing.T) {
	srv := testenv.StartRedis(t)
	const timeout = 100 * time.Millisecond
	br := breaker.New(breaker.Settings{Name: "cache_hung", FailureThreshold: 1000, IsFailure: IsRedisFailure})
	c, err := New(Options{Client: client(t, srv.Addr), Name: "hung", Breaker: br, Timeout: timeout, MaxInFlight: 1})
	if err != nil {
		t.Fatal(err)
	}
	v := c.Tenant("acme")
	if err := v.Set(bg, "k", "v"); err != nil {
		t.Fatal(err)
	}
	srv.Pause()
	defer srv.Resume()

	const callers = 30
	var wg sync.WaitGroup
	slowest := make(chan time.Duration, callers)
	for range callers {
		wg.Go(func() {
			start := time.Now()
			var s string
			found, err := v.Get(bg, "k", &s)
			slowest <- time.Since(start)
			if found || !isTimeout(err) {
				t.Errorf("Get with Redis hung = %v, %v; want a miss with a timeout", found, err)
			}
		})
	}
	wg.Wait()
	close(slowest)
	var worst time.Duration
	for d := range slowest {
		worst = max(worst, d)
	}
	// One call after another would take callers × timeout (3s); each call
	// bounded by its own deadline ends near one timeout. The bound leaves
	// room for a loaded machine running the race detector.
	if worst > 4*timeout {
		t.Fatalf("slowest Get took %v with a %v timeout: queued calls waited beyond their deadlines", worst, timeout)
	}
	// The calls sent are failures of the breaker; those that timed out in
	// the queue never reached Redis and are excluded.
	if n := br.Counts(); n.Failures == 0 || n.Failures+n.Excluded != callers {
		t.Fatalf("breaker saw %d failures and %d excluded, want at least one failure and %d in all", n.Failures, n.Excluded, callers)
	}
	if got := c.m.errors[opGet].Load(); got != callers {
		t.Fatalf("counted %d get errors, want %d", got, callers)
	}
	assertIdle(t, c)
}

// MaxInFlight negative sends every call on its own, never in a pipeline.
func TestMaxInFlightNegativeNeverPipelines(t *testing.T) {
	g := newGate("")
	c, _ := gatedCache(t, g, Options{MaxInFlight: -1, Timeout: 5 * time.Second}) // no timeouts on a busy machine
	acme := c.Tenant("acme")
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range 64 {
		wg.Go(func() {
			for j := range 20 {
				if acme.Set(bg, fmt.Sprint(i, ":", j), j) != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	singles, pipelines := g.seen()
	if failed.Load() != 0 || len(singles) != 64*20 || len(pipelines) != 0 {
		t.Fatalf("%d failed, %d sent alone, %d pipelines; want 0, %d, 0", failed.Load(), len(singles), len(pipelines), 64*20)
	}
	if p, n := c.m.pipelines.Load(), c.m.pipelined.Load(); p != 0 || n != 0 {
		t.Fatalf("counted %d pipelines of %d calls, want none", p, n)
	}
}

// Under load from many goroutines with few round trips allowed, calls do go
// out in pipelines, and every value written is read back.
func TestCoalescingUnderLoad(t *testing.T) {
	g := newGate("")
	c, raw := gatedCache(t, g, Options{MaxInFlight: 2, Timeout: 5 * time.Second})
	acme := c.Tenant("acme")
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Go(func() {
			for j := range 30 {
				key := fmt.Sprint(i, ":", j)
				if err := acme.Set(bg, key, j); err != nil {
					errs <- err
					return
				}
				var v int
				if found, err := acme.Get(bg, key, &v); err != nil || !found || v != j {
					errs <- fmt.Errorf("get %s = %v, %v, %d", key, found, err, v)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	singles, pipelines := g.seen()
	sent := len(singles)
	for _, p := range pipelines {
		sent += len(p)
	}
	if sent != 64*30*2 {
		t.Fatalf("%d commands sent for %d calls", sent, 64*30*2)
	}
	if len(pipelines) == 0 {
		t.Fatal("no call went out in a pipeline")
	}
	if n, err := raw.Exists(bg, acme.Key("63:29")).Result(); err != nil || n != 1 {
		t.Fatalf("last key missing (%d, %v)", n, err)
	}
	assertIdle(t, c)
}

// A batch whose callers all gave up gives its round trip's place back.
func TestCoalescingBatchAllAbandoned(t *testing.T) {
	g, c, _, acme, hold := heldCache(t)

	ctx, cancel := context.WithCancel(bg)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			var s string
			if _, err := acme.Get(ctx, fmt.Sprint("gone", i), &s); !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled queued Get = %v, want context.Canceled", err)
			}
		})
	}
	waitQueued(t, c, 3)
	cancel()
	wg.Wait()
	releaseFirst(t, g, hold)
	assertIdle(t, c)
	if singles, pipelines := g.seen(); len(singles) != 1 || len(pipelines) != 0 {
		t.Fatalf("sent %v alone and %v in pipelines; want only the held call", singles, pipelines)
	}
	if err := acme.Set(bg, "after", "ok"); err != nil {
		t.Fatal(err)
	}
}

// holdFirst starts a Set of "first" that g holds, the one round trip a
// cache with MaxInFlight 1 allows, and returns what it will return.
func holdFirst(t *testing.T, g *gate, v *Tenant) <-chan error {
	t.Helper()
	g.holdKey = v.Key("first")
	hold := make(chan error, 1)
	go func() { hold <- v.Set(bg, "first", "held") }()
	poll(t, "the held call to be sent", func() bool {
		s, _ := g.seen()
		return slices.Contains(s, g.holdKey)
	})
	return hold
}

// A caller that leaves after its call went out in a pipeline returns at
// once; its command is sent all the same. The pipeline carries the first
// call's context values, not its cancellation.
func TestCoalescingCallerLeavesPipelineInFlight(t *testing.T) {
	g, c, raw, acme, hold := heldCache(t)

	actx, acancel := context.WithCancel(context.WithValue(bg, ctxKey{}, "a's span"))
	defer acancel()
	a := make(chan error, 1)
	go func() { a <- acme.Set(actx, "a", "v") }()
	waitQueued(t, c, 1)
	bctx, bcancel := context.WithCancel(bg)
	b := make(chan error, 1)
	go func() { b <- acme.Set(bctx, "b", "v") }()
	waitQueued(t, c, 2)

	g.holdPipeKey = acme.Key("a")
	close(g.release) // "first" ends; a leads a pipeline of a and b, held
	if err := <-hold; err != nil {
		t.Fatal(err)
	}
	poll(t, "the pipeline to be sent", func() bool { _, p := g.seen(); return len(p) == 1 })
	bcancel()
	select {
	case err := <-b:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Set cancelled in flight = %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a Set cancelled while its pipeline was held did not return")
	}
	close(g.releasePipe)
	if err := <-a; err != nil {
		t.Fatalf("the pipeline's lead: %v", err)
	}
	if n, err := raw.Exists(bg, acme.Key("b")).Result(); err != nil || n != 1 {
		t.Fatalf("b, sent before its caller left, is not in Redis (%d, %v)", n, err)
	}
	g.mu.Lock()
	values := g.values
	g.mu.Unlock()
	if len(values) != 1 || values[0] != "a's span" {
		t.Fatalf("pipeline context values %v, want the first call's", values)
	}
	if n := c.m.errors[opSet].Load(); n != 0 {
		t.Fatalf("%d set errors counted for a caller that left", n)
	}
	assertIdle(t, c)
}

// heldCache returns a gated cache that allows one round trip, the client,
// the cache's view of tenant "acme", and holdFirst's hold.
func heldCache(t *testing.T) (*gate, *Cache, *redis.Client, *Tenant, <-chan error) {
	t.Helper()
	g := newGate("")
	c, raw := gatedCache(t, g, Options{MaxInFlight: 1, Timeout: 5 * time.Second})
	acme := c.Tenant("acme")
	return g, c, raw, acme, holdFirst(t, g, acme)
}

// releaseFirst ends the hold of holdFirst's Set, which must then succeed.
func releaseFirst(t *testing.T, g *gate, hold <-chan error) {
	t.Helper()
	close(g.release)
	if err := <-hold; err != nil {
		t.Fatalf("the held Set: %v", err)
	}
}

// A call whose deadline passes while it waits for a round trip leaves with a
// timeout and is never sent; it is counted as an error, not as a failure of
// the breaker: it never reached Redis.
func TestCoalescingDeadlinePassesInQueue(t *testing.T) {
	g := newGate("")
	g.ignoreDeadline = true // the held round trip outlasts every deadline
	const timeout = 200 * time.Millisecond
	c, raw := gatedCache(t, g, Options{MaxInFlight: 1, Timeout: timeout})
	acme := c.Tenant("acme")
	hold := holdFirst(t, g, acme)
	before := c.Breaker().Counts()

	start := time.Now()
	err := acme.Set(bg, "late", "v")
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errQueued) {
		t.Fatalf("Set queued past its deadline = %v, want errQueued, a DeadlineExceeded", err)
	}
	if took < timeout-timeout/16 || took > 2*timeout {
		t.Fatalf("Set queued past its deadline returned after %v, want about %v", took, timeout)
	}
	after := c.Breaker().Counts()
	if after.Failures != before.Failures || after.Excluded != before.Excluded+1 {
		t.Fatalf("breaker %+v → %+v; want the call excluded", before, after)
	}
	if n := c.m.errors[opSet].Load(); n != 1 {
		t.Fatalf("%d set errors counted, want 1", n)
	}
	close(g.release)
	<-hold
	assertIdle(t, c)
	if n, err := raw.Exists(bg, acme.Key("late")).Result(); err != nil || n != 0 {
		t.Fatalf("the timed-out Set reached Redis (%d, %v)", n, err)
	}
}

// A queue longer than a pipeline may be goes out in several.
func TestCoalescingLongQueue(t *testing.T) {
	g, c, raw, acme, hold := heldCache(t)
	const calls = maxBatch + 44
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range calls {
		wg.Go(func() {
			if acme.Set(bg, fmt.Sprint("k", i), i) != nil {
				failed.Add(1)
			}
		})
	}
	waitQueued(t, c, calls)
	releaseFirst(t, g, hold)
	wg.Wait()
	_, pipelines := g.seen()
	if failed.Load() != 0 || len(pipelines) != 2 || len(pipelines[0]) != maxBatch || len(pipelines[1]) != 44 {
		t.Fatalf("%d failed; pipelines of %v, want %d and 44", failed.Load(), lens(pipelines), maxBatch)
	}
	if n, err := raw.Exists(bg, acme.Key("k0"), acme.Key(fmt.Sprint("k", calls-1))).Result(); err != nil || n != 2 {
		t.Fatalf("keys missing (%d, %v)", n, err)
	}
	assertIdle(t, c)
}

// A panic while a pipeline is sent (a go-redis hook's) goes on in the
// goroutine that sent it; the other calls of the pipeline get an error, and
// the round trip's place is given back.
func TestCoalescingPanicInPipeline(t *testing.T) {
	g, c, _, acme, hold := heldCache(t)
	g.panicOnce.Store(true)

	var panics atomic.Int64
	results := make(chan error, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			defer func() {
				if recover() != nil {
					panics.Add(1)
				}
			}()
			results <- acme.Set(bg, fmt.Sprint("p", i), i)
		})
		waitQueued(t, c, i+1)
	}
	releaseFirst(t, g, hold)
	wg.Wait()
	close(results)
	if panics.Load() != 1 {
		t.Fatalf("%d callers panicked, want the one that sent the pipeline", panics.Load())
	}
	n := 0
	for err := range results {
		n++
		if !errors.Is(err, errAborted) {
			t.Errorf("a call of the aborted pipeline = %v, want errAborted", err)
		}
	}
	if n != 2 {
		t.Fatalf("%d calls returned, want 2", n)
	}
	assertIdle(t, c)
	if err := acme.Set(bg, "after", "ok"); err != nil {
		t.Fatal(err)
	}
}

// Many goroutines with few round trips, some of them cancelled or out of
// time at random moments (in the queue, as they are handed a batch, with
// their pipeline in flight): every call returns its value or its context's
// error or a timeout, nothing hangs, and every place is given back.
func TestCoalescingStressWithCancellations(t *testing.T) {
	for _, maxInFlight := range []int{1, 2} {
		t.Run(fmt.Sprint("max", maxInFlight), func(t *testing.T) {
			c, raw := sharedCache(t, Options{MaxInFlight: maxInFlight, Timeout: 5 * time.Second})
			acme := c.Tenant("acme")
			var wg sync.WaitGroup
			var ok, gaveUp atomic.Int64
			errs := make(chan error, 128)
			for g := range 128 {
				wg.Go(func() {
					for j := range 20 {
						ctx, cancel := context.WithCancel(bg)
						if (g+j)%3 == 0 { // a third are cancelled after 0–200µs
							time.AfterFunc(time.Duration((g*7+j*13)%200)*time.Microsecond, cancel)
						}
						key := fmt.Sprint(g, ":", j)
						err := acme.Set(ctx, key, j)
						if err == nil {
							var v int
							found, gerr := acme.Get(ctx, key, &v)
							switch {
							case gerr == nil && (!found || v != j):
								errs <- fmt.Errorf("get %s = %v, %d; want %d", key, found, v, j)
							case gerr != nil && !errors.Is(gerr, context.Canceled):
								errs <- fmt.Errorf("get %s: %w", key, gerr)
							}
						}
						cancel()
						switch {
						case err == nil:
							ok.Add(1)
						case errors.Is(err, context.Canceled):
							gaveUp.Add(1)
						default:
							errs <- fmt.Errorf("set %s: %w", key, err)
						}
					}
				})
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				t.Fatal("calls still waiting after 60s")
			}
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if ok.Load() == 0 || gaveUp.Load() == 0 {
				t.Fatalf("%d sets succeeded, %d were cancelled; want some of each", ok.Load(), gaveUp.Load())
			}
			assertIdle(t, c)
			if n := c.m.errors[opSet].Load() + c.m.errors[opGet].Load(); n != 0 {
				t.Fatalf("%d errors counted for cancelled calls", n)
			}
			if n, err := raw.Exists(bg, acme.Key("127:1")).Result(); err != nil || n != 1 { // (127+1)%3 != 0: never cancelled
				t.Fatalf("a Set never cancelled is missing (%d, %v)", n, err)
			}
		})
	}
}

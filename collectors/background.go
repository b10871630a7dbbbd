package collectors

import (
	"context"
	"time"
)

// startBackground starts one goroutine per background dependency, owned by
// the runner and stopped by stopBackground.
func (r *Runner) startBackground() {
	ctx, cancel := context.WithCancel(context.Background())
	r.mu.Lock()
	r.bgCancel = cancel
	deps := r.deps
	r.mu.Unlock()
	for _, d := range deps {
		if d.cfg.Interval <= 0 {
			continue
		}
		r.bgDone.Add(1)
		go func() {
			defer r.bgDone.Done()
			r.background(ctx, d)
		}()
	}
}

// stopBackground stops the background goroutines and waits for them.
func (r *Runner) stopBackground() {
	r.mu.Lock()
	cancel := r.bgCancel
	r.bgCancel = nil
	r.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	r.bgDone.Wait()
}

// background checks d every interval until ctx ends. Its runs coalesce with
// a scrape that waits for the first result.
func (r *Runner) background(ctx context.Context, d *dependency) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ch := d.flight.DoChan("", func() (any, error) {
			r.runOnce(ctx, d, d.cfg.Timeout)
			return nil, nil
		})
		// Wait for the run even when ctx ends: a run this goroutine started
		// ends with ctx, and stopBackground must not return before it has
		// settled its breaker permit.
		<-ch
		t.Reset(d.cfg.Interval)
	}
}

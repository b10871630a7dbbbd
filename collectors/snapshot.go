package collectors

import (
	"fmt"
	"sort"
	"time"
)

// Snapshot is a dependency's state as the exporter reports it: the latest
// result and the counters kept between scrapes.
type Snapshot struct {
	Name, Kind, Endpoint string
	Result               Result
	Checks               uint64
	Failures             map[Reason]uint64
	LastSuccess          time.Time
	Background           bool
}

// Snapshots returns the state of every dependency without running checks.
func (r *Runner) Snapshots() []Snapshot { return r.snapshots(r.dependencies()) }

func (r *Runner) snapshots(deps []*dependency) []Snapshot {
	now := r.now()
	out := make([]Snapshot, 0, len(deps))
	for _, d := range deps {
		out = append(out, d.snapshot(now))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// snapshot reads d's state at now. A dependency without a result yet is
// down; a background result older than twice the interval is stale.
func (d *dependency) snapshot(now time.Time) Snapshot {
	d.mu.Lock()
	s := Snapshot{
		Name: d.cfg.Name, Kind: d.cfg.Kind, Endpoint: d.cfg.Endpoint(),
		Result: d.last, Checks: d.checks, LastSuccess: d.lastSuccess,
		Failures:   make(map[Reason]uint64, len(d.failures)),
		Background: d.cfg.Interval > 0,
	}
	for k, v := range d.failures {
		s.Failures[k] = v
	}
	has := d.hasResult
	d.mu.Unlock()

	switch {
	case !has && s.Background:
		s.Result = Result{Status: Down, Reason: ReasonStale, Detail: "no background check has finished yet", Time: now}
	case !has:
		s.Result = Result{Status: Down, Reason: ReasonError, Detail: "not checked yet", Time: now}
	case s.Background:
		// Age counts from the result, or from the reload that made the
		// configuration, whichever is later.
		since := s.Result.Time
		if d.applied.After(since) {
			since = d.applied
		}
		if age := now.Sub(since); age > 2*d.cfg.Interval {
			s.Result.Status, s.Result.Reason = Down, ReasonStale
			s.Result.Detail = fmt.Sprintf("last result is %s old; checked every %s", now.Sub(s.Result.Time).Round(time.Second), d.cfg.Interval)
		}
	}
	return s
}

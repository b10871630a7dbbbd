package search_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/health-exporter/health-exporter/breaker"
	"github.com/health-exporter/health-exporter/internal/testenv"
	"github.com/health-exporter/health-exporter/search"
)

// stack is an HTTP primary (httptest) with a real PostgreSQL fallback.
type stack struct {
	engine *engine
	clock  *clock
	r      *search.Resilient
}

func newStack(t *testing.T, fallback search.Searcher) *stack {
	t.Helper()
	e := newEngine(t)
	clk := newClock()
	if fallback == nil {
		fallback = seedCatalog(t)
	}
	r, err := search.NewResilient(search.Options{
		Name:           "workflows",
		Primary:        newHTTP(t, e, search.HTTPOptions{}),
		Fallback:       fallback,
		PrimaryTimeout: 200 * time.Millisecond,
		Breaker:        breaker.Settings{FailureThreshold: 3, OpenTimeout: 30 * time.Second, Now: clk.Now},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &stack{engine: e, clock: clk, r: r}
}

var acmeOnboarding = search.Query{Text: "onboarding", Tenant: "acme"}

func TestFallbackToPostgres(t *testing.T) {
	s := newStack(t, nil)
	a, err := s.r.Ask(t.Context(), acmeOnboarding)
	if err != nil || a.Backend != search.Primary || a.Workflows[0].ID != "w1" {
		t.Fatalf("healthy primary: %+v, %v", a, err)
	}
	for _, c := range []struct {
		mode   string
		reason search.Reason
		cause  func(error) bool
	}{
		{"500", search.ReasonError, func(err error) bool {
			var se *search.StatusError
			return errors.As(err, &se) && se.Code == 500
		}},
		{"hang", search.ReasonTimeout, func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
		{"garbage", search.ReasonError, func(err error) bool { return errors.Is(err, search.ErrBadResponse) }},
	} {
		t.Run(c.mode, func(t *testing.T) {
			s.r.Breaker().Reset()
			s.engine.mode.Store(c.mode)
			a, err := s.r.Ask(t.Context(), acmeOnboarding)
			if err != nil {
				t.Fatal(err)
			}
			if a.Backend != search.Fallback || a.Reason != c.reason || !c.cause(a.PrimaryErr) {
				t.Fatalf("got backend %v reason %q primary error %v", a.Backend, a.Reason, a.PrimaryErr)
			}
			if got, want := names(a.Workflows), []string{"Employee onboarding checklist", "Customer onboarding", "Vendor invoice approval"}; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("fallback served %q, want %q", got, want)
			}
		})
	}
}

func TestBreakerOpensAndRecoversOverHTTP(t *testing.T) {
	s := newStack(t, nil)
	s.engine.mode.Store("500")
	for range 3 {
		if a, err := s.r.Ask(t.Context(), acmeOnboarding); err != nil || a.Reason != search.ReasonError {
			t.Fatalf("%+v, %v", a, err)
		}
	}
	if n := s.engine.requests.Load(); n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
	// Open: the engine is left alone and PostgreSQL serves.
	for range 5 {
		a, err := s.r.Ask(t.Context(), acmeOnboarding)
		if err != nil || a.Backend != search.Fallback || a.Reason != search.ReasonBreakerOpen || len(a.Workflows) != 3 {
			t.Fatalf("%+v, %v", a, err)
		}
	}
	if n := s.engine.requests.Load(); n != 3 {
		t.Fatalf("%d requests while open, want none", n)
	}
	// Still failing at the first probe: open again.
	s.clock.Advance(30 * time.Second)
	if a, _ := s.r.Ask(t.Context(), acmeOnboarding); a.Reason != search.ReasonError || s.r.Breaker().State() != breaker.Open {
		t.Fatalf("failed probe: %+v, breaker %v", a, s.r.Breaker().State())
	}
	// Recovered at the next one: closed.
	s.engine.mode.Store("ok")
	s.clock.Advance(30 * time.Second)
	a, err := s.r.Ask(t.Context(), acmeOnboarding)
	if err != nil || a.Backend != search.Primary || s.r.Breaker().State() != breaker.Closed {
		t.Fatalf("recovery: %+v, %v, breaker %v", a, err, s.r.Breaker().State())
	}
	if n := s.engine.requests.Load(); n != 5 {
		t.Fatalf("%d requests, want 5", n)
	}
}

func TestBothDown(t *testing.T) {
	// A pool on a port nobody listens on: connection refused.
	pool, err := pgxpool.New(t.Context(), fmt.Sprintf("postgres://app:pw@127.0.0.1:%d/app?sslmode=disable&connect_timeout=5", testenv.FreePort(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	pg, err := search.NewPostgres(pool, search.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := newStack(t, pg)
	s.engine.mode.Store("500")
	_, err = s.r.Ask(t.Context(), acmeOnboarding)
	var se *search.Error
	var status *search.StatusError
	if !errors.As(err, &se) || !errors.As(err, &status) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("got %v, want both causes", err)
	}
	var op *net.OpError
	if !errors.As(se.Fallback, &op) {
		t.Fatalf("fallback error %v is not a network error", se.Fallback)
	}
}

func TestCallerCancelsOverHTTP(t *testing.T) {
	fallback := &fake{ws: fallbackHit}
	s := newStack(t, fallback)
	s.engine.mode.Store("hang")
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-s.engine.hung // cancel once the engine holds the request
		cancel()
	}()
	_, err := s.r.Ask(ctx, acmeOnboarding)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	if fallback.calls.Load() != 0 {
		t.Fatal("fallback asked for a caller that had gone")
	}
	if c := s.r.Breaker().Counts(); c.Failures != 0 || c.Excluded != 1 {
		t.Fatalf("breaker %+v", c)
	}
}

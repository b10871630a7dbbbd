package cache

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/health-exporter/health-exporter/internal/testenv"
)

type workflow struct {
	ID    int      `json:"id"`
	Title string   `json:"title"`
	Tags  []string `json:"tags"`
}

func TestRoundTrip(t *testing.T) {
	c, rdb := sharedCache(t, Options{Name: "workflows"})
	acme := c.Tenant("acme")

	want := workflow{ID: 7, Title: "Onboarding", Tags: []string{"hr", "new"}}
	if err := acme.Set(bg, "wf:7", want); err != nil {
		t.Fatalf("Set: %v", err)
	}
	var got workflow
	found, err := acme.Get(bg, "wf:7", &got)
	if err != nil || !found {
		t.Fatalf("Get = %v, %v; want found", found, err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Get read %+v, want %+v", got, want)
	}

	raw, err := rdb.Get(bg, testPrefix(t)+":acme:wf:7").Result()
	if err != nil {
		t.Fatalf("raw GET of the documented key: %v", err)
	}
	if raw != `{"id":7,"title":"Onboarding","tags":["hr","new"]}` {
		t.Fatalf("stored %s, want plain JSON", raw)
	}
	ttl := rdb.PTTL(bg, testPrefix(t)+":acme:wf:7").Val()
	if ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("TTL %v, want the default 1h", ttl)
	}

	if err := acme.Delete(bg, "wf:7"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	found, err = acme.Get(bg, "wf:7", &got)
	if err != nil || found {
		t.Fatalf("Get after Delete = %v, %v; want a clean miss", found, err)
	}
	if r, l, h := counts(acme); r != 2 || l != 0 || h != 1 {
		t.Fatalf("requests %d, local hits %d, redis hits %d; want 2, 0, 1", r, l, h)
	}
}

func TestKeysPrefixSeparatorAndNoTenant(t *testing.T) {
	c, rdb := sharedCache(t, Options{Separator: "/"})
	p := testPrefix(t)
	if got := c.Tenant("acme").Key("k"); got != p+"/acme/k" {
		t.Fatalf("Key = %q, want %q", got, p+"/acme/k")
	}
	if err := c.Tenant("").Set(bg, "k", 1); err != nil {
		t.Fatal(err)
	}
	if n := rdb.Exists(bg, p+"/k").Val(); n != 1 {
		t.Fatalf("the tenant-less view wrote no %s/k", p)
	}
	if c.Tenant("acme") != c.Tenant("acme") {
		t.Fatal("Tenant returns a new view for the same tenant")
	}
}

func TestTTLExpiry(t *testing.T) {
	c, rdb := sharedCache(t, Options{})
	v := c.Tenant("acme")
	if err := v.SetTTL(bg, "short", "x", 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if ttl := rdb.PTTL(bg, v.Key("short")).Val(); ttl <= 0 || ttl > 50*time.Millisecond {
		t.Fatalf("PTTL %v, want in (0, 50ms]", ttl)
	}
	poll(t, "the entry to expire", func() bool {
		var s string
		found, err := v.Get(bg, "short", &s)
		if err != nil {
			t.Fatal(err)
		}
		return !found
	})
}

func TestTTLJitter(t *testing.T) {
	c, rdb := sharedCache(t, Options{TTLJitter: 0.5})
	v := c.Tenant("acme")
	distinct := map[time.Duration]bool{}
	for i := range 20 {
		key := fmt.Sprint("k", i)
		if err := v.Set(bg, key, i); err != nil {
			t.Fatal(err)
		}
		ttl := rdb.PTTL(bg, v.Key(key)).Val()
		if ttl < 30*time.Minute-time.Second || ttl > time.Hour {
			t.Fatalf("TTL %v outside [30m, 1h]", ttl)
		}
		distinct[ttl.Round(time.Second)] = true
	}
	if len(distinct) < 10 {
		t.Fatalf("only %d distinct TTLs among 20 jittered ones", len(distinct))
	}
}

func TestInvalidTTL(t *testing.T) {
	c, _ := sharedCache(t, Options{})
	v := c.Tenant("acme")
	for _, ttl := range []time.Duration{0, -time.Second, 500 * time.Microsecond} {
		if err := v.SetTTL(bg, "k", 1, ttl); !errors.Is(err, ErrInvalidTTL) {
			t.Errorf("SetTTL(%v) = %v, want ErrInvalidTTL", ttl, err)
		}
		if err := SetManyTTL(bg, v, map[string]int{"k": 1}, ttl); !errors.Is(err, ErrInvalidTTL) {
			t.Errorf("SetManyTTL(%v) = %v, want ErrInvalidTTL", ttl, err)
		}
		_, err := GetOrLoadTTL(bg, v, "k", ttl, func(ctx context.Context) (int, error) { return 1, nil })
		if !errors.Is(err, ErrInvalidTTL) {
			t.Errorf("GetOrLoadTTL(%v) = %v, want ErrInvalidTTL", ttl, err)
		}
	}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer rdb.Close()
	for _, opts := range []Options{{TTL: -time.Hour}, {TTL: time.Microsecond}, {NegativeTTL: -1}} {
		opts.Client = rdb
		if _, err := New(opts); !errors.Is(err, ErrInvalidTTL) {
			t.Errorf("New(TTL %v, NegativeTTL %v) = %v, want ErrInvalidTTL", opts.TTL, opts.NegativeTTL, err)
		}
	}
}

func TestNewRefusesClientIgnoringDeadlines(t *testing.T) {
	for _, rdb := range []redis.UniversalClient{
		redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}),
		redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}}),
		redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"127.0.0.1:1"}}),
	} {
		if _, err := New(Options{Client: rdb}); !errors.Is(err, ErrContextTimeoutDisabled) {
			t.Errorf("New(%T without ContextTimeoutEnabled) = %v, want ErrContextTimeoutDisabled", rdb, err)
		}
		_ = rdb.Close()
	}
}

func TestTenantIsolation(t *testing.T) {
	c, _ := sharedCache(t, Options{})
	acme, globex := c.Tenant("acme"), c.Tenant("globex")
	if err := acme.Set(bg, "plan", "gold"); err != nil {
		t.Fatal(err)
	}
	var plan string
	if found, err := globex.Get(bg, "plan", &plan); err != nil || found {
		t.Fatalf("globex read acme's entry: %v, %v, %q", found, err, plan)
	}
	if err := globex.Set(bg, "plan", "free"); err != nil {
		t.Fatal(err)
	}
	if err := globex.Delete(bg, "plan"); err != nil {
		t.Fatal(err)
	}
	if found, _ := acme.Get(bg, "plan", &plan); !found || plan != "gold" {
		t.Fatalf("acme's entry after globex's Set and Delete: %v, %q", found, plan)
	}
	if r, _, h := counts(acme); r != 1 || h != 1 {
		t.Fatalf("acme counted %d requests, %d hits; want 1, 1", r, h)
	}
	if r, _, h := counts(globex); r != 1 || h != 0 {
		t.Fatalf("globex counted %d requests, %d hits; want 1, 0", r, h)
	}
}

// The origin stack writes json.dumps(value, default=str): Python's ", " and
// ": " separators, \u escapes, and datetimes as str(datetime).
func TestReadsWhatTheOriginStackWrites(t *testing.T) {
	c, rdb := sharedCache(t, Options{})
	p := testPrefix(t)
	for key, py := range map[string]string{
		p + ":k":       `{"a": 1, "when": "2024-01-01 00:00:00"}`,
		p + ":acme:k2": `{"a": 2, "when": "2024-06-30 12:34:56.789000+02:00", "name": "Caf\u00e9 \ud83d\ude00"}`,
	} {
		if err := rdb.Set(bg, key, py, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	type entry struct {
		A    int    `json:"a"`
		When Time   `json:"when"`
		Name string `json:"name"`
	}

	var e entry
	if found, err := c.Tenant("").Get(bg, "k", &e); err != nil || !found {
		t.Fatalf("Get of the seed's key cache:{key}: %v, %v", found, err)
	}
	if e.A != 1 || !e.When.Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("read %+v", e)
	}
	if found, err := c.Tenant("acme").Get(bg, "k2", &e); err != nil || !found {
		t.Fatalf("Get: %v, %v", found, err)
	}
	want := time.Date(2024, 6, 30, 12, 34, 56, 789000000, time.FixedZone("", 2*3600))
	if e.A != 2 || !e.When.Equal(want) || e.Name != "Café 😀" {
		t.Fatalf("read %+v", e)
	}

	var generic map[string]any
	if found, err := c.Tenant("").Get(bg, "k", &generic); err != nil || !found {
		t.Fatal(err)
	}
	if generic["a"] != 1.0 || generic["when"] != "2024-01-01 00:00:00" {
		t.Fatalf("read %v", generic)
	}
}

func TestDecodeErrorIsCountedNotAMiss(t *testing.T) {
	c, rdb := sharedCache(t, Options{})
	v := c.Tenant("acme")
	if err := rdb.Set(bg, v.Key("bad"), "{not json", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	var w workflow
	found, err := v.Get(bg, "bad", &w)
	if found || err == nil {
		t.Fatalf("Get of an undecodable entry = %v, %v; want false and an error", found, err)
	}
	if r, _, _ := counts(v); r != 0 {
		t.Fatalf("an undecodable entry counted %d requests", r)
	}
	if n := c.m.errors[opGet].Load(); n != 1 {
		t.Fatalf("get errors %d, want 1", n)
	}
}

func TestWrongTypeDoesNotTripTheBreaker(t *testing.T) {
	c, rdb := sharedCache(t, Options{})
	v := c.Tenant("acme")
	if err := rdb.HSet(bg, v.Key("h"), "f", "v").Err(); err != nil {
		t.Fatal(err)
	}
	for range DefaultBreakerFailureThreshold * 2 {
		var s string
		if _, err := v.Get(bg, "h", &s); err == nil {
			t.Fatal("GET of a hash returned no error")
		}
	}
	if st := c.Breaker().State().String(); st != "closed" {
		t.Fatalf("breaker %s after WRONGTYPE replies, want closed", st)
	}
}

func TestIsRedisFailure(t *testing.T) {
	c, rdb := sharedCache(t, Options{})
	if err := rdb.HSet(bg, c.Tenant("").Key("h"), "f", "v").Err(); err != nil {
		t.Fatal(err)
	}
	wrongType := rdb.Get(bg, c.Tenant("").Key("h")).Err()
	syntax := rdb.Do(bg, "SET", "k").Err()
	primary := testenv.SharedRedis(t)
	replica := client(t, testenv.StartRedis(t, "--replicaof", "127.0.0.1", strconv.Itoa(primary.Port)).Addr)
	readOnly := replica.Set(bg, "k", "v", 0).Err()
	if readOnly == nil || !strings.HasPrefix(readOnly.Error(), "READONLY") || wrongType == nil || syntax == nil {
		t.Fatalf("want real error replies: %v; %v; %v", readOnly, wrongType, syntax)
	}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{wrongType, false},
		{syntax, false},
		{fmt.Errorf("wrapped: %w", wrongType), false},
		{readOnly, true},
		{context.DeadlineExceeded, true},
		{redis.ErrClosed, true},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
	} {
		if got := IsRedisFailure(tc.err); got != tc.want {
			t.Errorf("IsRedisFailure(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

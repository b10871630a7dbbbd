package cache_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/health-exporter/health-exporter/cache"
)

// unreachable is a client of a closed loopback port: nothing to start, and
// every call fails at once, as with a Redis that is down.
func unreachable() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true, MaxRetries: -1})
}

func ExampleCache_Tenant() {
	rdb := unreachable()
	defer rdb.Close()
	c, err := cache.New(cache.Options{Client: rdb, Name: "workflows"})
	if err != nil {
		panic(err)
	}
	fmt.Println(c.Tenant("acme").Key("wf:42"))
	fmt.Println(c.Tenant("").Key("wf:42"))
	// Output:
	// cache:acme:wf:42
	// cache:wf:42
}

// A dead Redis does not fail the caller: the loader reads the source of
// truth, and the Redis errors are counted. Past the breaker's threshold the
// calls are refused without touching the network.
func ExampleGetOrLoad() {
	rdb := unreachable()
	defer rdb.Close()
	c, err := cache.New(cache.Options{Client: rdb, Name: "workflows"})
	if err != nil {
		panic(err)
	}
	acme := c.Tenant("acme")
	ctx := context.Background()
	for range 6 {
		title, err := cache.GetOrLoad(ctx, acme, "wf:42", func(ctx context.Context) (string, error) {
			return "Onboarding", nil // from the database
		})
		fmt.Println(title, err)
	}
	fmt.Println("breaker:", c.Breaker().State())

	var s string
	found, err := acme.Get(ctx, "wf:42", &s)
	fmt.Println(found, errors.Is(err, cache.ErrNotFound), err)
	// Output:
	// Onboarding <nil>
	// Onboarding <nil>
	// Onboarding <nil>
	// Onboarding <nil>
	// Onboarding <nil>
	// Onboarding <nil>
	// breaker: open
	// false false cache workflows: get: circuit breaker is open
}

// Time reads and writes datetimes as Python's json.dumps(value, default=str)
// writes them.
func ExampleTime() {
	var v struct {
		A    int        `json:"a"`
		When cache.Time `json:"when"`
	}
	if err := json.Unmarshal([]byte(`{"a": 1, "when": "2024-01-01 00:00:00"}`), &v); err != nil {
		panic(err)
	}
	fmt.Println(v.A, v.When.Format(time.RFC3339))

	out, _ := json.Marshal(cache.Time{Time: time.Date(2024, 1, 1, 9, 30, 0, 250000000, time.UTC)})
	fmt.Println(string(out))
	// Output:
	// 1 2024-01-01T00:00:00Z
	// "2024-01-01 09:30:00.250000+00:00"
}

func ExampleBinary() {
	data, _ := cache.Binary.Marshal("raw bytes, no JSON quotes")
	var s string
	_ = cache.Binary.Unmarshal(data, &s)
	fmt.Println(string(data) == s, s)

	type point struct{ X, Y int }
	data, _ = cache.Binary.Marshal(point{1, 2})
	var p point
	_ = cache.Binary.Unmarshal(data, &p)
	fmt.Println(p)
	// Output:
	// true raw bytes, no JSON quotes
	// {1 2}
}

package cache

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/health-exporter/health-exporter/breaker"
)

// Defaults that the zero values of Options stand for.
const (
	DefaultName       = "default"
	DefaultPrefix     = "cache" // the origin stack's "cache:{key}"
	DefaultSeparator  = ":"
	DefaultTTL        = time.Hour // the origin stack's default_ttl = 3600
	DefaultTimeout    = 100 * time.Millisecond
	DefaultLocalTTL   = time.Second
	DefaultMaxTenants = 20
	DefaultStatsTTL   = 24 * time.Hour
)

// The defaults of the breaker New makes when Options.Breaker is nil. A cache
// probes sooner than the library's 30s: a dead cache costs the database.
const (
	DefaultBreakerFailureThreshold = 5
	DefaultBreakerOpenTimeout      = 5 * time.Second
)

var (
	// ErrInvalidTTL is returned for a TTL below one millisecond, Redis's
	// resolution: a zero or negative TTL is an error, never a default.
	ErrInvalidTTL = errors.New("cache: TTL must be at least 1ms")

	// ErrNotFound is what a loader returns (possibly wrapped) to say the
	// value does not exist; with Options.NegativeTTL set, GetOrLoad
	// remembers that, and returns ErrNotFound without calling the loader.
	ErrNotFound = errors.New("cache: not found")

	// ErrInvalidTenant is what every call of a view from Cache.Tenant
	// returns when the tenant's name could make its keys those of another
	// tenant or of the stats keys: see Cache.ValidTenant.
	ErrInvalidTenant = errors.New("cache: invalid tenant name")

	// ErrContextTimeoutDisabled is returned by New for a go-redis client
	// whose ContextTimeoutEnabled is false: such a client ignores context
	// deadlines on the socket, so Options.Timeout could not bound a call to a
	// hung Redis.
	ErrContextTimeoutDisabled = errors.New("cache: redis client has ContextTimeoutEnabled false")
)

// Options configures a Cache. Zero values mean the documented defaults.
type Options struct {
	// Client is the Redis client: a *redis.Client (single node or Sentinel
	// failover), a *redis.ClusterClient or any other UniversalClient. It must
	// have ContextTimeoutEnabled set. Required.
	Client redis.UniversalClient

	// Name identifies the cache in metrics and in its fleet stats hash:
	// letters, digits, '_', '-' and '.'. Default "default".
	Name string

	// Prefix starts every key. Default "cache".
	Prefix string

	// Separator joins prefix, tenant and key: "cache" + ":" + "acme" + ":" +
	// "k". Default ":".
	Separator string

	// TTL is the expiry of entries written without an explicit TTL.
	// Default 1h. Negative is an error.
	TTL time.Duration

	// TTLJitter, in [0, 1), shortens each written TTL by a random fraction of
	// up to TTLJitter, so entries written together do not expire together.
	// Default 0.
	TTLJitter float64

	// NegativeTTL, if positive, is how long GetOrLoad remembers that a
	// loader returned ErrNotFound. Default 0: not remembered.
	NegativeTTL time.Duration

	// Timeout bounds each Redis call (the caller's context may end it
	// sooner). Default 100ms.
	Timeout time.Duration

	// Codec encodes values. Default JSON.
	Codec Codec

	// Breaker guards the Redis calls. Default: a breaker named
	// "cache_{Name}" that opens after 5 consecutive failures for 5s. Redis
	// error replies from a server that works (WRONGTYPE and the like) are not
	// failures of the default breaker. Export it with breaker.NewCollector
	// (Cache.Breaker returns it).
	Breaker *breaker.Breaker

	// LocalSize, if positive, enables the in-process tier: up to about
	// LocalSize entries held for LocalTTL in front of Redis. Default 0: off.
	LocalSize int

	// LocalTTL is how long the in-process tier keeps an entry, and so how
	// stale it can be after another process changed it. Default 1s.
	LocalTTL time.Duration

	// Tenants, if set, are the tenants whose metrics get their own label;
	// the others are counted as "other".
	Tenants []string

	// MaxTenants bounds the tenant labels when Tenants is empty: the first
	// MaxTenants tenants seen get their own, the rest are counted as
	// "other". Default 20.
	MaxTenants int

	// MaxInFlight is how many Redis round trips of Get, Set and Delete
	// (GetOrLoad's included) may be under way at once before further calls
	// wait and go out together, one pipeline per round trip: see
	// "Coalescing" in the package documentation. Default
	// DefaultMaxInFlight(): 4 per CPU. Negative: no limit, every call is its
	// own round trip, as with go-redis alone.
	MaxInFlight int

	// StatsTTL is the expiry FlushStats sets on the fleet stats hash, so a
	// cache no process publishes any more disappears. Default 24h.
	StatsTTL time.Duration
}

// Cache is a Redis cache shared by tenants. It is safe for concurrent use;
// create it with New and use it through Tenant views.
type Cache struct {
	flushMu sync.Mutex // serializes FlushStats; guards tenantStats.published*

	client    redis.UniversalClient
	name      string
	prefix    string
	sep       string
	ttl       time.Duration
	jitter    float64
	negTTL    time.Duration
	timeout   time.Duration
	deadlines *deadlines
	codec     Codec
	breaker   *breaker.Breaker
	local     *localTier // nil when off
	labels    *labels
	statsTTL  time.Duration
	statsKey  string
	statsSet  string
	rejectErr [numOps][2]error // prebuilt: refusing a call allocates nothing

	m       metrics
	flights flightGroup
	co      coalescer

	views  sync.Map // tenant name → *Tenant
	nviews atomic.Int64
}

// maxViews bounds the Tenant views a Cache keeps for reuse.
const maxViews = 4096

var validName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// New returns a Cache on opts.Client.
func New(opts Options) (*Cache, error) {
	if opts.Client == nil {
		return nil, errors.New("cache: Options.Client is nil")
	}
	if err := checkContextTimeout(opts.Client); err != nil {
		return nil, err
	}
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	if !validName.MatchString(opts.Name) {
		return nil, fmt.Errorf("cache: name %q: use letters, digits, '_', '-' and '.'", opts.Name)
	}
	switch {
	case opts.TTL < 0:
		return nil, fmt.Errorf("cache %s: TTL %v: %w", opts.Name, opts.TTL, ErrInvalidTTL)
	case opts.TTL == 0:
		opts.TTL = DefaultTTL
	case opts.TTL < time.Millisecond:
		return nil, fmt.Errorf("cache %s: TTL %v: %w", opts.Name, opts.TTL, ErrInvalidTTL)
	}
	if opts.NegativeTTL < 0 || (opts.NegativeTTL > 0 && opts.NegativeTTL < time.Millisecond) {
		return nil, fmt.Errorf("cache %s: NegativeTTL %v: %w", opts.Name, opts.NegativeTTL, ErrInvalidTTL)
	}
	if opts.TTLJitter < 0 || opts.TTLJitter >= 1 || opts.TTLJitter != opts.TTLJitter {
		return nil, fmt.Errorf("cache %s: TTLJitter %v outside [0, 1)", opts.Name, opts.TTLJitter)
	}
	if opts.Timeout < 0 || opts.LocalTTL < 0 || opts.StatsTTL < 0 || opts.LocalSize < 0 || opts.MaxTenants < 0 {
		return nil, fmt.Errorf("cache %s: negative Timeout, LocalTTL, StatsTTL, LocalSize or MaxTenants", opts.Name)
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Separator == "" {
		opts.Separator = DefaultSeparator
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Codec == nil {
		opts.Codec = JSON
	}
	if opts.LocalTTL == 0 {
		opts.LocalTTL = DefaultLocalTTL
	}
	if opts.MaxTenants == 0 {
		opts.MaxTenants = DefaultMaxTenants
	}
	if opts.StatsTTL == 0 {
		opts.StatsTTL = DefaultStatsTTL
	}
	if opts.Breaker == nil {
		opts.Breaker = breaker.New(breaker.Settings{
			Name:             "cache_" + opts.Name,
			FailureThreshold: DefaultBreakerFailureThreshold,
			OpenTimeout:      DefaultBreakerOpenTimeout,
			IsFailure:        IsRedisFailure,
		})
	}
	c := &Cache{
		client:    opts.Client,
		name:      opts.Name,
		prefix:    opts.Prefix,
		sep:       opts.Separator,
		ttl:       opts.TTL,
		jitter:    opts.TTLJitter,
		negTTL:    opts.NegativeTTL,
		timeout:   opts.Timeout,
		deadlines: newDeadlines(opts.Timeout),
		codec:     opts.Codec,
		breaker:   opts.Breaker,
		labels:    newLabels(opts.Tenants, opts.MaxTenants),
		statsTTL:  opts.StatsTTL,
		statsKey:  StatsKey(opts.Prefix, opts.Name),
		statsSet:  StatsIndexKey(opts.Prefix),
	}
	c.co.stall = min(stallAfter, opts.Timeout/4)
	switch {
	case opts.MaxInFlight == 0:
		c.co.max = DefaultMaxInFlight()
	case opts.MaxInFlight > 0:
		c.co.max = opts.MaxInFlight
	}
	if opts.LocalSize > 0 {
		c.local = newLocalTier(opts.LocalSize, opts.LocalTTL)
	}
	for op := range numOps {
		c.rejectErr[op][0] = fmt.Errorf("cache %s: %s: %w", c.name, op, breaker.ErrOpen)
		c.rejectErr[op][1] = fmt.Errorf("cache %s: %s: %w", c.name, op, breaker.ErrTooManyRequests)
	}
	return c, nil
}

// checkContextTimeout refuses the go-redis clients that would ignore the
// per-call deadline. Clients of other types are trusted.
func checkContextTimeout(client redis.UniversalClient) error {
	enabled := true
	switch cl := client.(type) {
	case *redis.Client:
		enabled = cl.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		enabled = cl.Options().ContextTimeoutEnabled
	case *redis.Ring:
		enabled = cl.Options().ContextTimeoutEnabled
	}
	if !enabled {
		return ErrContextTimeoutDisabled
	}
	return nil
}

// Name returns the cache's name, its metrics label.
func (c *Cache) Name() string { return c.name }

// Breaker returns the breaker that guards the cache's Redis calls.
func (c *Cache) Breaker() *breaker.Breaker { return c.breaker }

// TTL returns the expiry of entries written without an explicit TTL.
func (c *Cache) TTL() time.Duration { return c.ttl }

// Tenant returns the view of tenant's entries, keys
// "{prefix}{sep}{tenant}{sep}{key}". The empty tenant is the view without a
// tenant, keys "{prefix}{sep}{key}" as the origin stack writes them,
// labelled "none" in metrics. Views share the cache's client, breaker and
// counters; the same tenant gives the same view, so calling Tenant per
// request allocates nothing.
//
// A tenant that ValidTenant refuses still gets a view, but every call of it
// fails with an error matching ErrInvalidTenant, without reaching Redis or
// counting in the metrics: check names from outside with ValidTenant first.
func (c *Cache) Tenant(tenant string) *Tenant {
	if v, ok := c.views.Load(tenant); ok {
		return v.(*Tenant)
	}
	t := &Tenant{c: c, name: tenant}
	if tenant == "" {
		t.base = c.prefix + c.sep
	} else {
		t.base = c.prefix + c.sep + tenant + c.sep
	}
	if err := c.ValidTenant(tenant); err != nil {
		t.err = err
		t.stats = c.labels.other // never counted into; no label is used up
		return t                 // not kept: the views are for real tenants
	}
	t.stats = c.labels.resolve(tenant)
	if c.nviews.Load() >= maxViews {
		return t
	}
	if v, loaded := c.views.LoadOrStore(tenant, t); loaded {
		return v.(*Tenant)
	}
	c.nviews.Add(1)
	return t
}

// ReservedTenant is the tenant name the fleet stats keys use: with the
// separator ":", its keys would be those of the stats hashes.
const ReservedTenant = "stats"

// ValidTenant returns nil if tenant's keys can be no other tenant's, nor the
// fleet stats keys; otherwise an error matching ErrInvalidTenant. A tenant
// must not contain the separator (with ":", "acme:x" would share "acme"'s
// keys: "acme" and key "x:y" is "acme:x" and key "y") and must not be
// ReservedTenant. The empty tenant is valid: it is the origin stack's
// tenant-less format, whose keys are every tenant's keys too (its key
// "acme:k" is tenant "acme"'s key "k"), so a cache that has tenants should
// not also use it.
func (c *Cache) ValidTenant(tenant string) error {
	switch {
	case tenant == ReservedTenant:
		return fmt.Errorf("cache %s: tenant %q is reserved for the stats keys: %w", c.name, tenant, ErrInvalidTenant)
	case strings.Index(tenant+c.sep, c.sep) != len(tenant):
		// Contains the separator, or ends with the start of a separator
		// of several characters, which would move where the tenant ends.
		return fmt.Errorf("cache %s: tenant %q contains the separator %q: %w", c.name, tenant, c.sep, ErrInvalidTenant)
	}
	return nil
}

// Tenant is one tenant's view of a Cache. Get it from Cache.Tenant.
type Tenant struct {
	c     *Cache
	name  string
	base  string // key prefix: "{prefix}{sep}{tenant}{sep}"
	stats *tenantStats
	err   error // non-nil for a tenant ValidTenant refuses
}

// Name returns the tenant.
func (t *Tenant) Name() string { return t.name }

// Cache returns the cache the view belongs to.
func (t *Tenant) Cache() *Cache { return t.c }

// Key returns the Redis key of key for this tenant.
func (t *Tenant) Key(key string) string { return t.base + key }

// appendKey appends the Redis key of key to buf, for lookups in the local
// tier that need no string.
func (t *Tenant) appendKey(buf []byte, key string) []byte {
	return append(append(buf, t.base...), key...)
}

// jittered returns ttl shortened by up to the configured jitter.
func (c *Cache) jittered(ttl time.Duration) time.Duration {
	if c.jitter == 0 {
		return ttl
	}
	return max(ttl-time.Duration(rand.Float64()*c.jitter*float64(ttl)), time.Millisecond)
}

func validTTL(ttl time.Duration) error {
	if ttl < time.Millisecond {
		return fmt.Errorf("TTL %v: %w", ttl, ErrInvalidTTL)
	}
	return nil
}

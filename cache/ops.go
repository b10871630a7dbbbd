package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/health-exporter/health-exporter/breaker"
)

// tombstone is the value GetOrLoad stores for "not found". It is not valid
// JSON, so readers in other languages see it as an unreadable entry, which the
// origin stack's get turns into a miss.
var tombstone = []byte("\x00cache:not-found")

func isTombstone(data []byte) bool { return bytes.Equal(data, tombstone) }

// notFound is the local tier's tombstone.
type notFound struct{}

// sharableTypes caches sharable for struct types.
var sharableTypes sync.Map // reflect.Type → bool

// sharable reports whether a copy of a value of type typ shares no memory
// with it: no pointers, maps, slices, channels, functions or interfaces.
// Such values can be held in the local tier and copied out to callers.
func sharable(typ reflect.Type) bool {
	switch typ.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128, reflect.String:
		return true
	case reflect.Array:
		return sharable(typ.Elem())
	case reflect.Struct:
		if ok, known := sharableTypes.Load(typ); known {
			return ok.(bool)
		}
		ok := true
		for i := range typ.NumField() {
			if !sharable(typ.Field(i).Type) {
				ok = false
				break
			}
		}
		sharableTypes.Store(typ, ok)
		return ok
	}
	return false
}

// localValue returns what the local tier holds for an entry read from Redis
// as data and decoded into dst: the value itself if copies of it share no
// memory, else a privateEntry of data, of which each local hit gets a deep
// copy or a fresh decode.
func localValue(dst any, data []byte) any {
	if d, ok := dst.(*string); ok {
		return *d
	}
	if rv := reflect.ValueOf(dst); rv.Kind() == reflect.Pointer && !rv.IsNil() && sharable(rv.Type().Elem()) {
		return rv.Elem().Interface()
	}
	return &privateEntry{data: data}
}

// IsRedisFailure reports whether err means Redis could not serve a call: a
// network error, a timeout, or a reply from a server that cannot serve this
// client (LOADING, READONLY, CLUSTERDOWN, MASTERDOWN, TRYAGAIN, BUSY, NOAUTH,
// WRONGPASS, max clients reached). Other error replies (WRONGTYPE, NOPERM on
// one key, a syntax error) come from a working server. It is the IsFailure of
// the breaker New makes.
func IsRedisFailure(err error) bool {
	var reply redis.Error
	if !errors.As(err, &reply) {
		return true
	}
	msg := reply.Error()
	for _, p := range [...]string{"LOADING", "READONLY", "CLUSTERDOWN", "MASTERDOWN", "TRYAGAIN", "BUSY", "NOAUTH", "WRONGPASS"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return strings.Contains(msg, "max number of clients reached")
}

// rejected returns the prebuilt error for a call the breaker refused.
func (c *Cache) rejected(op operation, err error) error {
	c.m.errors[op].Add(1)
	if errors.Is(err, breaker.ErrOpen) {
		return c.rejectErr[op][0]
	}
	return c.rejectErr[op][1]
}

// callerEnded reports whether a call that started at start (from monoNow)
// and failed with err failed because the caller's own context ended: it was
// cancelled, or its deadline, no later than the call's own bound of timeout,
// has passed. Such a call says nothing about Redis.
func callerEnded(ctx context.Context, err error, start, timeout time.Duration) bool {
	if err == nil {
		return false
	}
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !dl.After(epoch.Add(start+timeout)) && !time.Now().Before(dl)
}

// settle records the outcome err of a call made with the caller's context
// ctx on permit p and reports whether err is a Redis error to count. A call
// the caller gave up on is settled as excluded (context.Canceled), neither a
// success nor a failure of the breaker, and is not counted. A call that
// timed out waiting for a round trip (see coalesce.go) never reached Redis:
// it is excluded from the breaker too, but counted, as the caller got an
// error.
func (c *Cache) settle(ctx context.Context, p breaker.Permit, err error, start, timeout time.Duration) bool {
	if callerEnded(ctx, err, start, timeout) {
		p.Done(context.Canceled)
		return false
	}
	if err == errQueued {
		// Never sent: the round trips before it took too long, and those
		// are the breaker's evidence; the caller still got an error.
		p.Done(context.Canceled)
		return true
	}
	p.Done(err)
	return err != nil
}

// redisGet reads key through the breaker under the per-call timeout. A miss
// is nil data and a nil error.
func (c *Cache) redisGet(ctx context.Context, key string) ([]byte, error) {
	return c.redisCall(ctx, opGet, key, nil, 0)
}

// redisSet writes key through the breaker under the per-call timeout.
func (c *Cache) redisSet(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	_, err := c.redisCall(ctx, opSet, key, data, ttl)
	return err
}

// redisDel deletes key through the breaker under the per-call timeout.
func (c *Cache) redisDel(ctx context.Context, key string) error {
	_, err := c.redisCall(ctx, opDelete, key, nil, 0)
	return err
}

// redisCall makes one Redis call of op through the breaker and the
// coalescer, settles its permit and counts it. Errors name the cache and
// the operation.
func (c *Cache) redisCall(ctx context.Context, op operation, key string, data []byte, ttl time.Duration) ([]byte, error) {
	p, err := c.breaker.Allow()
	if err != nil {
		return nil, c.rejected(op, err)
	}
	cl := newCall(ctx, op, key, data, ttl, monoNow())
	data, err = c.roundTrip(ctx, cl)
	start := cl.start
	cl.free()
	c.m.duration[op].observe(monoNow() - start)
	if c.settle(ctx, p, err, start, c.timeout) {
		c.m.errors[op].Add(1)
	}
	if err != nil {
		return nil, fmt.Errorf("cache %s: %s: %w", c.name, op, err)
	}
	return data, nil
}

// Get reads key into dst, a non-nil pointer, and reports whether it was
// found. It fails open: a Redis error, a timeout or an open breaker is a miss
// (false) whose error is returned, for callers who care, and counted in
// cache_errors_total, not as a miss. A call that fails because ctx was
// cancelled or its deadline passed is the caller giving up, not a Redis
// problem: its error is returned but it is neither counted in
// cache_errors_total nor a failure of the breaker (it is settled as
// excluded). An entry that cannot be decoded into dst
// is a miss with an error too.
//
// What dst receives is the caller's own: a value from the in-process tier
// that holds pointers, maps or slices is deep-copied into dst (or, when its
// type cannot be deep-copied or dst is not the zero value, decoded anew into
// dst) on each hit, never shared with other callers, so dst may be changed
// freely.
func (t *Tenant) Get(ctx context.Context, key string, dst any) (bool, error) {
	if t.err != nil {
		return false, t.err
	}
	c := t.c
	if c.local != nil {
		var buf [128]byte
		if v, ok := c.local.get(t.appendKey(buf[:0], key)); ok {
			switch v := v.(type) {
			case notFound:
				t.stats.lookup(miss)
				return false, nil
			case *privateEntry:
				if c.copyOut(v, dst) {
					t.stats.lookup(localHit)
					return true, nil
				}
			default:
				if assign(dst, v) || copyValue(dst, reflect.ValueOf(v)) || c.copyInto(dst, v) {
					t.stats.lookup(localHit)
					return true, nil
				}
			}
		}
	}
	k := t.Key(key)
	data, err := c.redisGet(ctx, k)
	if err != nil {
		return false, err
	}
	if data == nil || isTombstone(data) {
		t.stats.lookup(miss)
		return false, nil
	}
	if err := c.codec.Unmarshal(data, dst); err != nil {
		c.m.errors[opGet].Add(1)
		return false, fmt.Errorf("cache %s: decode %s: %w", c.name, k, err)
	}
	t.stats.lookup(redisHit)
	if c.local != nil {
		c.local.set(k, localValue(dst, data), c.local.ttl)
	}
	return true, nil
}

// copyInto decodes into dst, a pointer to v's type, a private copy of v, a
// value GetOrLoad keeps and shares, by encoding it: no Redis call. It is the
// fallback for what copyValue cannot copy.
func (c *Cache) copyInto(dst, v any) bool {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Type().Elem() != reflect.TypeOf(v) {
		return false
	}
	data, err := c.codec.Marshal(v)
	return err == nil && c.codec.Unmarshal(data, dst) == nil
}

// assign sets *dst to v when dst is a pointer to v's type and a copy of v
// shares no memory with v (values GetOrLoad keeps may; Get never hands
// those out).
func assign(dst, v any) bool {
	if d, ok := dst.(*string); ok {
		s, ok := v.(string)
		if ok {
			*d = s
		}
		return ok
	}
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return false
	}
	e, vv := rv.Elem(), reflect.ValueOf(v)
	if !vv.IsValid() || vv.Type() != e.Type() || !sharable(e.Type()) {
		return false
	}
	e.Set(vv)
	return true
}

// Set stores v under key for the cache's TTL. See SetTTL.
func (t *Tenant) Set(ctx context.Context, key string, v any) error {
	return t.SetTTL(ctx, key, v, t.c.ttl)
}

// SetTTL stores v under key for ttl (shortened by the jitter, if set). A ttl
// under 1ms is ErrInvalidTTL. A Redis error is returned and counted, never a
// panic. The entry leaves this process's in-process tier; other processes
// may serve their copy for up to LocalTTL.
func (t *Tenant) SetTTL(ctx context.Context, key string, v any, ttl time.Duration) error {
	if t.err != nil {
		return t.err
	}
	c := t.c
	if err := validTTL(ttl); err != nil {
		return fmt.Errorf("cache %s: set: %w", c.name, err)
	}
	data, err := c.codec.Marshal(v)
	if err != nil {
		return fmt.Errorf("cache %s: encode %T: %w", c.name, v, err)
	}
	k := t.Key(key)
	err = c.redisSet(ctx, k, data, c.jittered(ttl))
	if c.local != nil {
		c.local.del(k)
	}
	return err
}

// Delete removes key, from Redis and from this process's in-process tier.
// A Redis error is returned and counted, never a panic.
func (t *Tenant) Delete(ctx context.Context, key string) error {
	if t.err != nil {
		return t.err
	}
	c := t.c
	k := t.Key(key)
	if c.local != nil {
		c.local.del(k)
	}
	return c.redisDel(ctx, k)
}

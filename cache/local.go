package cache

import (
	"hash/maphash"
	"sync"
	"time"
)

// localShards spreads the in-process tier over locks.
const localShards = 16

// localTier is the bounded in-process tier: decoded values for a short TTL.
// A full shard first drops expired entries it finds, then arbitrary ones
// (map iteration order is random): for a tier of hot keys with a TTL of a
// second, a random victim is as good as an exact LRU and needs no list.
type localTier struct {
	seed     maphash.Seed
	ttl      time.Duration
	perShard int
	shards   [localShards]localShard
}

type localShard struct {
	mu sync.RWMutex
	m  map[string]localEntry

	_ [64]byte // keeps neighbouring shards off one cache line
}

type localEntry struct {
	v       any
	expires int64 // monoNow() nanoseconds
}

func newLocalTier(size int, ttl time.Duration) *localTier {
	l := &localTier{seed: maphash.MakeSeed(), ttl: ttl, perShard: max(1, (size+localShards-1)/localShards)}
	for i := range l.shards {
		l.shards[i].m = make(map[string]localEntry)
	}
	return l
}

func (l *localTier) now() int64 { return int64(monoNow()) }

func (l *localTier) shard(key []byte) *localShard {
	return &l.shards[maphash.Bytes(l.seed, key)%localShards]
}

// shardOf is shard for a string key; both hash the same bytes alike.
func (l *localTier) shardOf(key string) *localShard {
	return &l.shards[maphash.String(l.seed, key)%localShards]
}

// get returns the live value of key.
func (l *localTier) get(key []byte) (any, bool) {
	s := l.shard(key)
	s.mu.RLock()
	e, ok := s.m[string(key)]
	s.mu.RUnlock()
	if !ok || l.now() >= e.expires {
		return nil, false
	}
	return e.v, true
}

// set holds v under key for ttl, capped at the tier's TTL.
func (l *localTier) set(key string, v any, ttl time.Duration) {
	now := l.now()
	e := localEntry{v: v, expires: now + int64(min(ttl, l.ttl))}
	s := l.shardOf(key)
	s.mu.Lock()
	if _, ok := s.m[key]; !ok && len(s.m) >= l.perShard {
		s.evict(now)
	}
	s.m[key] = e
	s.mu.Unlock()
}

// evict makes room for one entry; the caller holds s.mu.
func (s *localShard) evict(now int64) {
	const scan = 8
	var victim string
	n := 0
	for k, e := range s.m {
		if e.expires <= now {
			delete(s.m, k)
			return
		}
		if n == 0 {
			victim = k
		}
		if n++; n == scan {
			break
		}
	}
	delete(s.m, victim)
}

func (l *localTier) del(key string) {
	s := l.shardOf(key)
	s.mu.Lock()
	delete(s.m, key)
	s.mu.Unlock()
}

// upgrade replaces the private entry old of key with its decoded value v,
// to be shared from then on, keeping its expiry, if old is still what the
// tier holds for key.
func (l *localTier) upgrade(key []byte, old *privateEntry, v any) {
	s := l.shard(key)
	s.mu.Lock()
	if e, ok := s.m[string(key)]; ok {
		if p, private := e.v.(*privateEntry); private && p == old {
			e.v = v
			s.m[string(key)] = e
		}
	}
	s.mu.Unlock()
}

package testenv

import (
	"testing"
)

// BenchmarkStartRedis measures a private redis-server from start until it
// answers PING, plus its stop.
func BenchmarkStartRedis(b *testing.B) {
	bin := Binary(b, "redis-server")
	for b.Loop() {
		r, err := startRedis(b.Context(), bin, nil)
		if err != nil {
			b.Fatal(err)
		}
		r.close()
	}
}

// BenchmarkStartPostgres measures a private cluster from initdb until it
// accepts connections, plus its stop.
func BenchmarkStartPostgres(b *testing.B) {
	binDir, cred := postgresTools(b)
	for b.Loop() {
		p, err := startPostgres(b.Context(), binDir, cred, PostgresOptions{})
		if err != nil {
			b.Fatal(err)
		}
		p.close()
	}
}

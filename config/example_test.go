package config_test

import (
	"fmt"

	"github.com/health-exporter/health-exporter/config"
)

func ExampleParse() {
	cfg, err := config.Parse([]byte(`
global:
  timeout: 3s
  breaker: {failure_threshold: 5}
dependencies:
  - name: message_queue
    kind: redis
    redis: {url: "redis://app@127.0.0.1:6379/0"}
  - name: storage
    kind: http
    timeout: 1500ms
    degraded_latency: 500ms
    breaker: {open_timeout: 10s}
    http: {url: "http://127.0.0.1:9000/minio/health/live"}
`), "health-exporter.yml")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range cfg.Dependencies {
		fmt.Printf("%s (%s) %s: timeout %s, breaker opens after %d failures for %s\n",
			d.Name, d.Kind, d.Endpoint(), d.Timeout, d.Breaker.FailureThreshold, d.Breaker.OpenTimeout)
	}
	// Output:
	// message_queue (redis) 127.0.0.1:6379: timeout 3s, breaker opens after 5 failures for 30s
	// storage (http) 127.0.0.1:9000: timeout 1.5s, breaker opens after 5 failures for 10s
}

func ExampleParse_error() {
	_, err := config.Parse([]byte(`
dependencies:
  - name: database
    kind: postgres
    timeout: 5x
    postgres: {dsn: "postgres://app@127.0.0.1:5432/app"}
`), "health-exporter.yml")
	fmt.Println(err)
	// Output:
	// health-exporter.yml:5: dependencies[0] "database": timeout: invalid duration "5x"
}

func ExampleSecret() {
	password := config.Secret("hunter2")
	fmt.Println(password)
	fmt.Printf("%q %#v\n", password, struct{ Password config.Secret }{password})
	fmt.Println(password.Value())
	// Output:
	// <secret>
	// "<secret>" struct { Password config.Secret }{Password:"<secret>"}
	// hunter2
}

func ExampleDependency_Endpoint() {
	cfg, err := config.Parse([]byte(`
dependencies:
  - name: database
    kind: postgres
    postgres: {dsn: "postgres://app@db.internal/app?sslmode=require"}
`), "health-exporter.yml")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Dependencies[0].Endpoint())
	// Output:
	// db.internal:5432
}

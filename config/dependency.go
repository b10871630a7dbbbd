package config

import (
	"errors"
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// config decodes the document: global first, wherever it appears, since
// every dependency inherits from it.
func (d *decoder) config(doc *yaml.Node) (*Config, error) {
	root := doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		root = doc.Content[0]
	}
	var globalNode, depsNode *yaml.Node
	stash := func(p **yaml.Node) func(*yaml.Node) error {
		return func(n *yaml.Node) error { *p = n; return nil }
	}
	if root.Kind != 0 { // an empty document holds no node at all
		if _, err := d.mapping(root, fields{"global": stash(&globalNode), "dependencies": stash(&depsNode)}); err != nil {
			return nil, err
		}
	}
	cfg := &Config{Global: DefaultGlobal()}
	if globalNode != nil {
		if err := d.global(globalNode, &cfg.Global); err != nil {
			return nil, within("global", err)
		}
	}
	if err := d.dependencies(depsNode, cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (d *decoder) global(n *yaml.Node, g *Global) error {
	keys, err := d.mapping(n, fields{
		"timeout":          d.duration(&g.Timeout, positive),
		"min_interval":     d.duration(&g.MinInterval, notNegative),
		"degraded_latency": d.duration(&g.DegradedLatency, notNegative),
		"breaker":          d.breaker(&g.Breaker),
		"retry":            d.retry(&g.Retry),
	})
	if err != nil {
		return err
	}
	return checkLatency(keys, resolve(n), g.DegradedLatency, g.Timeout)
}

// checkLatency requires degraded_latency < timeout, pointing at whichever
// of the two was set at this level.
func checkLatency(keys map[string]*yaml.Node, at *yaml.Node, latency, timeout time.Duration) error {
	if latency == 0 || latency < timeout {
		return nil
	}
	return crossErr(keys, []string{"degraded_latency", "timeout"}, at, "degraded_latency must be less than timeout (degraded_latency %s, timeout %s)", latency, timeout)
}

func (d *decoder) dependencies(n *yaml.Node, cfg *Config) error {
	n = resolve(n)
	if n == nil || isNull(n) {
		return &Error{Path: "dependencies", Msg: "at least one dependency is required"}
	}
	if n.Kind != yaml.SequenceNode {
		return within("dependencies", errAt(n, "expected a list, got %s", describe(n)))
	}
	if len(n.Content) == 0 {
		return within("dependencies", errAt(n, "at least one dependency is required"))
	}
	first := map[string]int{}
	for i, item := range n.Content {
		dep, err := d.dependency(item, &cfg.Global)
		if err == nil {
			if line, dup := first[dep.Name]; dup {
				err = within("name", errAt(nameNode(item), "duplicate name %q (first at line %d)", dep.Name, line))
			}
			first[dep.Name] = dep.Line
		}
		if err != nil {
			label := fmt.Sprintf("dependencies[%d]", i)
			if name := d.name(item); name != "" {
				label += fmt.Sprintf(" %q", name)
			}
			var e *Error
			if errors.As(err, &e) {
				if e.Path == "" {
					e.Path = label
				} else {
					e.Path = label + ": " + e.Path
				}
			}
			return err
		}
		cfg.Dependencies = append(cfg.Dependencies, dep)
	}
	return nil
}

// nameNode returns the value node of the name key of a dependency.
func nameNode(item *yaml.Node) *yaml.Node { return valueOf(item, "name") }

// name returns a dependency's name for messages, "" if it has none.
func (d *decoder) name(item *yaml.Node) string {
	n := nameNode(item)
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	if s, err := d.scalar(n); err == nil {
		return s
	}
	return n.Value
}

func (d *decoder) breaker(b *Breaker) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		_, err := d.mapping(n, fields{
			"failure_threshold":   d.uint32(&b.FailureThreshold, atLeastOne),
			"failure_rate":        d.float(&b.FailureRate, failureRate),
			"minimum_calls":       d.uint32(&b.MinimumCalls, atLeastOne),
			"window":              d.duration(&b.Window, positive),
			"open_timeout":        d.duration(&b.OpenTimeout, positive),
			"open_jitter":         d.float(&b.OpenJitter, fraction),
			"half_open_max_calls": d.uint32(&b.HalfOpenMaxCalls, atLeastOne),
		})
		return err
	}
}

func failureRate(v float64) string {
	if v < 0 || v > 1 {
		return fmt.Sprintf("must be greater than 0 and at most 1 (or 0 for off), got %g", v)
	}
	return ""
}

// fraction accepts [0, 1).
func fraction(v float64) string {
	if v < 0 || v >= 1 {
		return fmt.Sprintf("must be at least 0 and less than 1, got %g", v)
	}
	return ""
}

func (d *decoder) retry(r *Retry) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		keys, err := d.mapping(n, fields{
			"max_retries": d.integer(&r.MaxRetries, intAtLeast(0)),
			"base_delay":  d.duration(&r.BaseDelay, positive),
			"max_delay":   d.duration(&r.MaxDelay, positive),
			"factor": d.float(&r.Factor, func(v float64) string {
				if v < 1 {
					return fmt.Sprintf("must be at least 1, got %g", v)
				}
				return ""
			}),
			"jitter": d.str(&r.Jitter, oneOf(JitterNone, JitterFull, JitterEqual, JitterDecorrelated)),
		})
		if err != nil {
			return err
		}
		if r.MaxDelay < r.BaseDelay {
			return crossErr(keys, []string{"max_delay", "base_delay"}, resolve(n), "max_delay must be at least base_delay (max_delay %s, base_delay %s)", r.MaxDelay, r.BaseDelay)
		}
		return nil
	}
}

var kinds = []string{KindRedis, KindPostgres, KindHTTP, KindTCP, KindSearch}

func (d *decoder) dependency(n *yaml.Node, g *Global) (Dependency, error) {
	n = resolve(n)
	dep := Dependency{
		Timeout:         g.Timeout,
		MinInterval:     g.MinInterval,
		DegradedLatency: g.DegradedLatency,
		Breaker:         g.Breaker,
		Retry:           g.Retry,
		Line:            n.Line,
	}
	blocks := map[string]*yaml.Node{}
	stash := func(kind string) func(*yaml.Node) error {
		return func(v *yaml.Node) error { blocks[kind] = v; return nil }
	}
	keys, err := d.mapping(n, fields{
		"name":             d.str(&dep.Name, validName),
		"kind":             d.str(&dep.Kind, oneOf(kinds...)),
		"timeout":          d.duration(&dep.Timeout, positive),
		"min_interval":     d.duration(&dep.MinInterval, notNegative),
		"degraded_latency": d.duration(&dep.DegradedLatency, notNegative),
		"interval": d.duration(&dep.Interval, func(v time.Duration) string {
			if v != 0 && v < time.Second {
				return fmt.Sprintf("must be at least 1s (or 0 to check at scrape time), got %s", v)
			}
			return ""
		}),
		"breaker":    d.breaker(&dep.Breaker),
		"retry":      d.retry(&dep.Retry),
		KindRedis:    stash(KindRedis),
		KindPostgres: stash(KindPostgres),
		KindHTTP:     stash(KindHTTP),
		KindTCP:      stash(KindTCP),
		KindSearch:   stash(KindSearch),
	})
	if err != nil {
		return dep, err
	}
	switch {
	case keys["name"] == nil:
		return dep, errAt(n, "name is required")
	case keys["kind"] == nil:
		return dep, errAt(n, "kind is required (one of redis, postgres, http, tcp, search)")
	}
	if err := checkLatency(keys, n, dep.DegradedLatency, dep.Timeout); err != nil {
		return dep, err
	}
	if dep.Interval != 0 && dep.Interval < dep.Timeout {
		return dep, crossErr(keys, []string{"interval", "timeout"}, n, "interval must be at least timeout (interval %s, timeout %s)", dep.Interval, dep.Timeout)
	}
	for _, k := range kinds {
		if blocks[k] != nil && k != dep.Kind {
			return dep, errAt(keys[k], "kind %s takes a %s block, not %s", dep.Kind, dep.Kind, k)
		}
	}
	block := blocks[dep.Kind]
	if block == nil {
		return dep, errAt(keys["kind"], "kind %s needs a %s block", dep.Kind, dep.Kind)
	}
	switch dep.Kind {
	case KindRedis:
		dep.Redis, err = d.redis(block)
	case KindPostgres:
		dep.Postgres, err = d.postgres(block)
	case KindHTTP:
		dep.HTTP, err = d.http(block)
	case KindTCP:
		dep.TCP, err = d.tcp(block)
	case KindSearch:
		dep.Search, err = d.search(block)
	}
	if err != nil {
		return dep, within(dep.Kind, err)
	}
	return dep, nil
}

func validName(v string) string {
	if v == "" {
		return "must not be empty"
	}
	if !identifierRE.MatchString(v) {
		return fmt.Sprintf("%q is not a valid name (want ^[a-z_][a-z0-9_]*$)", v)
	}
	return ""
}

package monitoring

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// ErrHoldTime marks a for: or keep_firing_for: value ShortenHoldTimes
// cannot rewrite.
var ErrHoldTime = errors.New("unsupported hold time")

// holdKeys are the alerting rule fields that hold an alert back.
var holdKeys = map[string]bool{"for": true, "keep_firing_for": true}

// span is where one hold time's value sits in the source.
type span struct {
	offset int
	value  string
}

// ShortenHoldTimes returns the Prometheus rule file src with the for: and
// keep_firing_for: of every rule divided by divisor, rounded down to the
// second and never below 1s, so a rule still passes through pending before it
// fires. Everything else in src, comments and expressions included, is kept
// byte for byte, so the copy differs from the production rules in timings
// only. Range selectors in expressions ([5m]) are not touched.
//
// A divisor of 20 turns 2m into 6s and 15m into 45s.
func ShortenHoldTimes(src []byte, divisor int) ([]byte, error) {
	if divisor < 1 {
		return nil, fmt.Errorf("shorten hold times: divisor %d is not a positive integer", divisor)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("shorten hold times: parse rules: %w", err)
	}
	spans, err := holdTimeSpans(src, &doc)
	if err != nil {
		return nil, fmt.Errorf("shorten hold times: %w", err)
	}
	// Rewrite from the end so earlier offsets stay valid.
	sort.Slice(spans, func(i, j int) bool { return spans[i].offset > spans[j].offset })
	out := bytes.Clone(src)
	for _, s := range spans {
		d, err := model.ParseDuration(s.value)
		if err != nil {
			return nil, fmt.Errorf("shorten hold times: %q: %w: %w", s.value, ErrHoldTime, err)
		}
		short := max(time.Duration(d)/time.Duration(divisor), time.Second).Truncate(time.Second)
		repl := model.Duration(short).String()
		out = slices.Concat(out[:s.offset], []byte(repl), out[s.offset+len(s.value):])
	}
	return out, nil
}

// holdTimeSpans finds the hold time values under groups[].rules[].
func holdTimeSpans(src []byte, doc *yaml.Node) ([]span, error) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	lineStarts := []int{0}
	for i, b := range src {
		if b == '\n' {
			lineStarts = append(lineStarts, i+1)
		}
	}
	var spans []span
	for _, group := range mappingValue(doc.Content[0], "groups").seq() {
		for _, rule := range mappingValue(group, "rules").seq() {
			for i := 0; i+1 < len(rule.Content); i += 2 {
				key, val := rule.Content[i], rule.Content[i+1]
				if !holdKeys[key.Value] {
					continue
				}
				s, err := locate(src, lineStarts, val)
				if err != nil {
					return nil, fmt.Errorf("%s: at line %d: %w", key.Value, val.Line, err)
				}
				spans = append(spans, s)
			}
		}
	}
	return spans, nil
}

// locate turns a scalar's line and column into a byte offset and checks the
// value is written there as is (plain, unquoted).
func locate(src []byte, lineStarts []int, val *yaml.Node) (span, error) {
	if val.Kind != yaml.ScalarNode || val.Style != 0 {
		return span{}, fmt.Errorf("%w: write it as a plain scalar such as 2m", ErrHoldTime)
	}
	if val.Line < 1 || val.Line > len(lineStarts) {
		return span{}, fmt.Errorf("%w: position out of range", ErrHoldTime)
	}
	off := lineStarts[val.Line-1] + val.Column - 1
	if off < 0 || off+len(val.Value) > len(src) || string(src[off:off+len(val.Value)]) != val.Value {
		return span{}, fmt.Errorf("%w: %q is not where the parser put it", ErrHoldTime, val.Value)
	}
	return span{offset: off, value: val.Value}, nil
}

// node is a yaml.Node that may be nil, for walking optional keys.
type node struct{ *yaml.Node }

// mappingValue returns the value of key in mapping m, or a nil node.
func mappingValue(m *yaml.Node, key string) node {
	if m == nil || m.Kind != yaml.MappingNode {
		return node{}
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return node{m.Content[i+1]}
		}
	}
	return node{}
}

// seq returns the items of a sequence node, none for anything else.
func (n node) seq() []*yaml.Node {
	if n.Node == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}

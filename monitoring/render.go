package monitoring

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// ErrAlertmanagerConfig marks an Alertmanager configuration that
// RenderAlertmanagerConfig cannot rewrite.
var ErrAlertmanagerConfig = errors.New("cannot render Alertmanager configuration")

// routeTimings are the keys of a route that pace its notifications.
var routeTimings = []string{"group_wait", "group_interval", "repeat_interval"}

// AlertmanagerOverrides are the changes RenderAlertmanagerConfig makes.
type AlertmanagerOverrides struct {
	// Divisor divides the group_wait, group_interval and repeat_interval of
	// every route, rounded down to the millisecond (a timing that was not 0
	// stays at least 1ms). 0 or 1 leaves them as they are. The top-level
	// route must set all three, else Alertmanager's defaults would stay
	// undivided.
	Divisor int
	// URLFileDir, when set, points every url_file of every receiver at the
	// file of the same name in this directory. It must be absolute:
	// Alertmanager does not resolve url_file relative to its configuration.
	URLFileDir string
}

// RenderAlertmanagerConfig returns the Alertmanager configuration src with
// the overrides o applied, for demos and end-to-end runs of the shipped
// configuration: shorter timings, and the integration URLs read from files
// in a directory of the run's own. Everything else, comments included, is
// kept byte for byte, so routes, matchers, group_by and inhibitions (and
// with them OnCall's group keys) are the shipped ones.
//
// A Divisor of 30 turns the top-level 30s/5m/4h into 1s/10s/8m and the
// heartbeat route's 0s/1m/50s into 0s/2s/1s666ms.
func RenderAlertmanagerConfig(src []byte, o AlertmanagerOverrides) ([]byte, error) {
	if o.Divisor < 0 {
		return nil, fmt.Errorf("%w: divisor %d is negative", ErrAlertmanagerConfig, o.Divisor)
	}
	if o.URLFileDir != "" && !filepath.IsAbs(o.URLFileDir) {
		return nil, fmt.Errorf("%w: url_file directory %q is not absolute", ErrAlertmanagerConfig, o.URLFileDir)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("%w: parse: %w", ErrAlertmanagerConfig, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, fmt.Errorf("%w: empty document", ErrAlertmanagerConfig)
	}
	lineStarts := []int{0}
	for i, b := range src {
		if b == '\n' {
			lineStarts = append(lineStarts, i+1)
		}
	}
	r := renderer{src: src, lineStarts: lineStarts, o: o}
	root := doc.Content[0]
	if o.Divisor > 1 {
		route := mappingValue(root, "route").Node
		if route == nil {
			return nil, fmt.Errorf("%w: no route", ErrAlertmanagerConfig)
		}
		for _, key := range routeTimings {
			if mappingValue(route, key).Node == nil {
				return nil, fmt.Errorf("%w: route: %s is not set; set it so that it can be divided", ErrAlertmanagerConfig, key)
			}
		}
		if err := r.route(route, "route"); err != nil {
			return nil, err
		}
	}
	if o.URLFileDir != "" {
		if err := r.urlFiles(mappingValue(root, "receivers")); err != nil {
			return nil, err
		}
	}
	// Rewrite from the end so that earlier offsets stay valid.
	sort.Slice(r.edits, func(i, j int) bool { return r.edits[i].offset > r.edits[j].offset })
	out := bytes.Clone(src)
	for _, e := range r.edits {
		out = slices.Concat(out[:e.offset], []byte(e.repl), out[e.offset+len(e.value):])
	}
	return out, nil
}

// edit replaces the scalar value at offset with repl.
type edit struct {
	span
	repl string
}

type renderer struct {
	src        []byte
	lineStarts []int
	o          AlertmanagerOverrides
	edits      []edit
}

// route divides the timings of a route and of the routes below it.
func (r *renderer) route(route *yaml.Node, path string) error {
	for _, key := range routeTimings {
		val := mappingValue(route, key).Node
		if val == nil {
			continue
		}
		s, err := locate(r.src, r.lineStarts, val)
		if err != nil {
			return fmt.Errorf("%w: %s.%s at line %d: write it as a plain scalar such as 30s", ErrAlertmanagerConfig, path, key, val.Line)
		}
		d, err := model.ParseDuration(s.value)
		if err != nil {
			return fmt.Errorf("%w: %s.%s at line %d: %w", ErrAlertmanagerConfig, path, key, val.Line, err)
		}
		r.edits = append(r.edits, edit{s, divide(time.Duration(d), r.o.Divisor)})
	}
	for i, child := range mappingValue(route, "routes").seq() {
		if err := r.route(child, fmt.Sprintf("%s.routes[%d]", path, i)); err != nil {
			return err
		}
	}
	return nil
}

// divide returns d/divisor as an Alertmanager duration, in whole
// milliseconds and at least 1ms unless d is 0.
func divide(d time.Duration, divisor int) string {
	short := (d / time.Duration(divisor)).Truncate(time.Millisecond)
	if d > 0 && short < time.Millisecond {
		short = time.Millisecond
	}
	return model.Duration(short).String()
}

// urlFiles moves the url_file of every integration of every receiver.
func (r *renderer) urlFiles(receivers node) error {
	for i, recv := range receivers.seq() {
		if recv.Kind != yaml.MappingNode {
			continue
		}
		for k := 0; k+1 < len(recv.Content); k += 2 {
			key := recv.Content[k].Value
			if !strings.HasSuffix(key, "_configs") {
				continue
			}
			for j, integration := range (node{recv.Content[k+1]}).seq() {
				val := mappingValue(integration, "url_file").Node
				if val == nil {
					continue
				}
				s, err := locate(r.src, r.lineStarts, val)
				if err != nil {
					return fmt.Errorf("%w: receivers[%d].%s[%d].url_file at line %d: write it as a plain scalar", ErrAlertmanagerConfig, i, key, j, val.Line)
				}
				// Quoted: a directory name may hold what YAML would read otherwise.
				q, _ := json.Marshal(filepath.Join(r.o.URLFileDir, filepath.Base(val.Value)))
				r.edits = append(r.edits, edit{s, string(q)})
			}
		}
	}
	return nil
}

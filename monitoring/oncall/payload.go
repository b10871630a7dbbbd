// Package oncall is the receiving end of Grafana OnCall's Alertmanager
// integration, for tests and demos of the alerting bundle: an http.Handler
// that accepts Alertmanager's webhook payload (version 4) on the paths
// OnCall serves (/integrations/v1/alertmanager/<token>/ and its heartbeat,
// .../<token>/heartbeat/), refuses a payload that breaks the contract OnCall
// relies on, and records and logs every notification in the order it came.
//
// OnCall groups the alerts of a payload into one alert group by its
// groupKey and resolves the group when a payload with the same groupKey
// says status "resolved"; Grafana Cloud IRM takes the same webhook. The
// checks here are that contract made strict: a payload this package accepts
// carries everything OnCall reads.
package oncall

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// ErrInvalidPayload marks a webhook payload that breaks the contract; the
// error's text names the field.
var ErrInvalidPayload = errors.New("invalid Alertmanager webhook payload")

// Alert and notification statuses.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Payload is Alertmanager's webhook payload, version 4.
type Payload struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []Alert           `json:"alerts"`
}

// Alert is one alert of a Payload.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Count returns how many of the payload's alerts are firing and resolved
// (OnCall's numFiring and numResolved).
func (p *Payload) Count() (firing, resolved int) {
	for _, a := range p.Alerts {
		if a.Status == StatusFiring {
			firing++
		} else {
			resolved++
		}
	}
	return firing, resolved
}

// fingerprintRE is Alertmanager's fingerprint: a 64-bit hash in hex.
var fingerprintRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

// ParsePayload decodes and checks a webhook payload. Every field OnCall
// reads must be present with its JSON type (an empty object is fine, null is
// not); version must be "4"; groupKey, receiver and each alert's fingerprint
// must not be empty; statuses are firing or resolved, and the payload's
// status agrees with its alerts'; startsAt and endsAt are RFC 3339 times, a
// resolved alert's endsAt set and not before its startsAt; externalURL is
// an absolute URL. Fields the contract does not name are ignored. The error
// names the first field at fault and matches ErrInvalidPayload.
func ParsePayload(body []byte) (*Payload, error) {
	var values map[string]json.RawMessage
	if err := json.Unmarshal(body, &values); err != nil || values == nil {
		return nil, invalid("", "not a JSON object")
	}
	top := object{values: values}
	var p Payload
	err := first(
		top.str("version", &p.Version, false),
		top.str("groupKey", &p.GroupKey, false),
		top.count("truncatedAlerts", &p.TruncatedAlerts),
		top.status("status", &p.Status),
		top.str("receiver", &p.Receiver, false),
		top.labels("groupLabels", &p.GroupLabels),
		top.labels("commonLabels", &p.CommonLabels),
		top.labels("commonAnnotations", &p.CommonAnnotations),
		top.str("externalURL", &p.ExternalURL, true),
	)
	if err != nil {
		return nil, err
	}
	if p.Version != "4" {
		return nil, invalid("version", fmt.Sprintf("%q, want \"4\"", p.Version))
	}
	if u, err := url.Parse(p.ExternalURL); err != nil || !u.IsAbs() {
		return nil, invalid("externalURL", fmt.Sprintf("%q is not an absolute URL", p.ExternalURL))
	}
	if p.Alerts, err = top.alerts(); err != nil {
		return nil, err
	}
	firing, _ := p.Count()
	switch {
	case p.Status == StatusFiring && firing == 0:
		return nil, invalid("status", "firing, but no alert is")
	case p.Status == StatusResolved && firing > 0:
		return nil, invalid("status", fmt.Sprintf("resolved, but %d alerts are firing", firing))
	}
	return &p, nil
}

// alerts decodes and checks the alerts array.
func (o object) alerts() ([]Alert, error) {
	var raw []map[string]json.RawMessage
	if err := o.get("alerts", &raw, "an array of objects"); err != nil {
		return nil, err
	}
	if len(raw) == 0 {
		return nil, invalid("alerts", "empty")
	}
	out := make([]Alert, len(raw))
	for i, values := range raw {
		a := &out[i]
		path := fmt.Sprintf("alerts[%d]", i)
		if values == nil {
			return nil, invalid(path, "null, want an object")
		}
		ao := object{path: path + ".", values: values}
		err := first(
			ao.status("status", &a.Status),
			ao.labels("labels", &a.Labels),
			ao.labels("annotations", &a.Annotations),
			ao.time("startsAt", &a.StartsAt),
			ao.time("endsAt", &a.EndsAt),
			ao.str("generatorURL", &a.GeneratorURL, true),
			ao.str("fingerprint", &a.Fingerprint, false),
		)
		if err != nil {
			return nil, err
		}
		switch {
		case len(a.Labels) == 0:
			return nil, invalid(ao.path+"labels", "empty: an alert is identified by its labels")
		case a.StartsAt.IsZero():
			return nil, invalid(ao.path+"startsAt", "zero time")
		case a.Status == StatusResolved && a.EndsAt.IsZero():
			return nil, invalid(ao.path+"endsAt", "zero time on a resolved alert")
		case a.Status == StatusResolved && a.EndsAt.Before(a.StartsAt):
			return nil, invalid(ao.path+"endsAt", "before startsAt")
		case !fingerprintRE.MatchString(a.Fingerprint):
			return nil, invalid(ao.path+"fingerprint", fmt.Sprintf("%q is not 16 hex digits", a.Fingerprint))
		}
	}
	return out, nil
}

// object is a JSON object with its values still encoded, so that a missing
// key, null and a zero value can be told apart; path locates it in the
// payload for error messages.
type object struct {
	path   string
	values map[string]json.RawMessage
}

// get decodes the value of key into dst; what describes the expected type.
func (o object) get(key string, dst any, what string) error {
	raw, ok := o.values[key]
	if !ok {
		return invalid(o.path+key, "missing")
	}
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return invalid(o.path+key, "null, want "+what)
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return invalid(o.path+key, "not "+what)
	}
	return nil
}

func (o object) str(key string, dst *string, emptyOK bool) error {
	if err := o.get(key, dst, "a string"); err != nil {
		return err
	}
	if *dst == "" && !emptyOK {
		return invalid(o.path+key, "empty")
	}
	return nil
}

func (o object) status(key string, dst *string) error {
	if err := o.get(key, dst, "a string"); err != nil {
		return err
	}
	if *dst != StatusFiring && *dst != StatusResolved {
		return invalid(o.path+key, fmt.Sprintf("%q, want firing or resolved", *dst))
	}
	return nil
}

func (o object) labels(key string, dst *map[string]string) error {
	return o.get(key, dst, "an object of strings")
}

func (o object) count(key string, dst *int) error {
	if err := o.get(key, dst, "an integer"); err != nil {
		return err
	}
	if *dst < 0 {
		return invalid(o.path+key, "negative")
	}
	return nil
}

func (o object) time(key string, dst *time.Time) error {
	return o.get(key, dst, "an RFC 3339 time")
}

// first returns the first non-nil error.
func first(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func invalid(field, problem string) error {
	if field == "" {
		return fmt.Errorf("%w: %s", ErrInvalidPayload, problem)
	}
	return fmt.Errorf("%w: %s: %s", ErrInvalidPayload, field, problem)
}

package oncall

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// IntegrationPath is where OnCall serves its Alertmanager integrations: an
// integration's URL is IntegrationPath + token + "/", its heartbeat's that
// URL + "heartbeat/". Both end in a slash.
const IntegrationPath = "/integrations/v1/alertmanager/"

// NotificationsPath lists what a Receiver recorded, as JSON (see
// Receiver.ServeHTTP).
const NotificationsPath = "/notifications"

// defaultMaxBody bounds a payload: max_alerts 100 of large alerts fit.
const defaultMaxBody = 10 << 20

// Options configures a Receiver.
type Options struct {
	// Integrations maps each integration's token, the last element of its
	// URL, to a name for records and logs. A token not listed is refused
	// with 403, as OnCall refuses an unknown integration key. At least one.
	Integrations map[string]string
	// Logger gets one line per notification and per refused request.
	// Default: none.
	Logger *slog.Logger
	// MaxBodyBytes is the largest payload accepted; a larger one is refused
	// with 413. Default: 10 MiB.
	MaxBodyBytes int64
	// Now stamps each record. Default: time.Now.
	Now func() time.Time
}

// Notification is one request a Receiver accepted.
type Notification struct {
	Received    time.Time `json:"received"`
	Integration string    `json:"integration"`
	Heartbeat   bool      `json:"heartbeat"`
	Path        string    `json:"path"`
	// Payload is nil for a heartbeat sent with GET, which has no body.
	Payload *Payload `json:"payload,omitempty"`
}

// Rejection is a request to an integration that a Receiver refused.
type Rejection struct {
	Received time.Time `json:"received"`
	Path     string    `json:"path"`
	Status   int       `json:"status"`
	Error    string    `json:"error"`
}

// Receiver is an http.Handler that plays Grafana OnCall's Alertmanager
// integrations: it accepts valid webhook payloads with 200, refuses the
// rest, and records both in order.
type Receiver struct {
	mu            sync.Mutex
	notifications []Notification
	rejections    []Rejection
	arrived       chan struct{} // closed and replaced at each notification

	integrations map[string]string
	logger       *slog.Logger
	maxBody      int64
	now          func() time.Time
}

var _ http.Handler = (*Receiver)(nil)

// New returns a Receiver for the integrations o names.
func New(o Options) (*Receiver, error) {
	if len(o.Integrations) == 0 {
		return nil, errors.New("new OnCall receiver: no integration")
	}
	for token, name := range o.Integrations {
		if token == "" || strings.ContainsAny(token, "/?#") || name == "" {
			return nil, fmt.Errorf("new OnCall receiver: integration %q with token %q: a token is a non-empty path element and a name is not empty", name, token)
		}
	}
	r := &Receiver{
		arrived:      make(chan struct{}),
		integrations: maps.Clone(o.Integrations),
		logger:       o.Logger,
		maxBody:      o.MaxBodyBytes,
		now:          o.Now,
	}
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	if r.maxBody <= 0 {
		r.maxBody = defaultMaxBody
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r, nil
}

// ServeHTTP serves
//
//   - POST IntegrationPath<token>/: an alert group notification, 200 "Ok."
//     when the payload is valid (ParsePayload), else 400;
//   - GET or POST IntegrationPath<token>/heartbeat/: a heartbeat, 200; a
//     POST's payload is checked as above;
//   - GET NotificationsPath: {"notifications": [...], "rejections": [...]}
//     in the order they came.
//
// An integration path without its final slash is 404, as in OnCall, where
// a client that follows the redirect would lose the payload; an unknown
// token is 403.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	switch {
	case req.URL.Path == NotificationsPath:
		r.serveList(w, req)
	case strings.HasPrefix(req.URL.Path, IntegrationPath):
		r.serveIntegration(w, req)
	default:
		http.NotFound(w, req)
	}
}

func (r *Receiver) serveIntegration(w http.ResponseWriter, req *http.Request) {
	rest := strings.TrimPrefix(req.URL.Path, IntegrationPath)
	token, kind, _ := strings.Cut(rest, "/")
	heartbeat := kind == "heartbeat/"
	if kind != "" && !heartbeat {
		msg := "no such path: an integration URL is " + IntegrationPath + "<token>/ and its heartbeat's <token>/heartbeat/, both ending in a slash"
		r.refuse(w, req, http.StatusNotFound, errors.New(msg))
		return
	}
	if !strings.HasSuffix(rest, "/") {
		r.refuse(w, req, http.StatusNotFound, errors.New("OnCall integration URLs end in a slash"))
		return
	}
	name, ok := r.integrations[token]
	if !ok {
		r.refuse(w, req, http.StatusForbidden, errors.New("integration key not found"))
		return
	}
	n := Notification{Integration: name, Heartbeat: heartbeat, Path: req.URL.Path}
	switch {
	case req.Method == http.MethodPost:
		p, status, err := r.readPayload(w, req)
		if err != nil {
			r.refuse(w, req, status, err)
			return
		}
		n.Payload = p
	case heartbeat && (req.Method == http.MethodGet || req.Method == http.MethodHead):
	default:
		allow := "POST"
		if heartbeat {
			allow = "GET, HEAD, POST"
		}
		w.Header().Set("Allow", allow)
		r.refuse(w, req, http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed", req.Method))
		return
	}
	r.record(n)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "Ok.")
}

// readPayload reads and checks a POST body; on error it returns the HTTP
// status to answer with.
func (r *Receiver) readPayload(w http.ResponseWriter, req *http.Request) (*Payload, int, error) {
	if mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, http.StatusBadRequest, fmt.Errorf("%w: Content-Type %q, want application/json", ErrInvalidPayload, req.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("read payload: larger than %d bytes: %w", r.maxBody, err)
		}
		return nil, http.StatusBadRequest, fmt.Errorf("read payload: %w", err)
	}
	p, err := ParsePayload(body)
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	return p, 0, nil
}

func (r *Receiver) refuse(w http.ResponseWriter, req *http.Request, status int, err error) {
	r.logger.Warn("refused request", "method", req.Method, "path", req.URL.Path, "status", status, "err", err)
	r.mu.Lock()
	r.rejections = append(r.rejections, Rejection{Received: r.now(), Path: req.URL.Path, Status: status, Error: err.Error()})
	r.mu.Unlock()
	http.Error(w, err.Error(), status)
}

func (r *Receiver) record(n Notification) {
	n.Received = r.now()
	r.log(n)
	r.mu.Lock()
	r.notifications = append(r.notifications, n)
	close(r.arrived)
	r.arrived = make(chan struct{})
	r.mu.Unlock()
}

// log writes the notification's line: what a person on call would see first.
func (r *Receiver) log(n Notification) {
	msg := "notification"
	if n.Heartbeat {
		msg = "heartbeat"
	}
	attrs := []any{"integration", n.Integration}
	if p := n.Payload; p != nil {
		firing, resolved := p.Count()
		attrs = append(attrs,
			"status", p.Status,
			"group_key", p.GroupKey,
			"group_labels", formatLabels(p.GroupLabels),
			"firing", firing, "resolved", resolved,
		)
		if p.TruncatedAlerts > 0 {
			attrs = append(attrs, "truncated", p.TruncatedAlerts)
		}
		for _, k := range []string{"summary", "runbook_url"} {
			if v, ok := p.CommonAnnotations[k]; ok {
				attrs = append(attrs, k, v)
			}
		}
	}
	r.logger.Info(msg, attrs...)
}

// formatLabels writes labels as name=value pairs sorted by name.
func formatLabels(labels map[string]string) string {
	names := slices.Sorted(maps.Keys(labels))
	var b strings.Builder
	for i, k := range names {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + labels[k])
	}
	return b.String()
}

func (r *Receiver) serveList(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	r.mu.Lock()
	list := struct {
		Notifications []Notification `json:"notifications"`
		Rejections    []Rejection    `json:"rejections"`
	}{slices.Clone(r.notifications), slices.Clone(r.rejections)}
	r.mu.Unlock()
	if list.Notifications == nil {
		list.Notifications = []Notification{}
	}
	if list.Rejections == nil {
		list.Rejections = []Rejection{}
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(list) // a client that went away needs no answer
}

// Notifications returns the notifications accepted so far, oldest first.
// Their payloads are shared: read them, do not change them.
func (r *Receiver) Notifications() []Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.notifications)
}

// Rejections returns the requests refused so far, oldest first.
func (r *Receiver) Rejections() []Rejection {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.rejections)
}

// Wait calls done with the notifications accepted so far, then again each
// time another arrives, until done returns true or ctx ends; it returns the
// notifications done saw last, and ctx's error wrapped when it ended first.
// done runs without any lock held.
func (r *Receiver) Wait(ctx context.Context, done func([]Notification) bool) ([]Notification, error) {
	for {
		r.mu.Lock()
		seen := slices.Clone(r.notifications)
		arrived := r.arrived
		r.mu.Unlock()
		if done(seen) {
			return seen, nil
		}
		select {
		case <-ctx.Done():
			return seen, fmt.Errorf("wait for OnCall notifications (%d so far): %w", len(seen), ctx.Err())
		case <-arrived:
		}
	}
}

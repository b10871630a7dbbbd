package oncall

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	token     = "c2VjcmV0LXRva2Vu"
	alertPath = IntegrationPath + token + "/"
	heartPath = alertPath + "heartbeat/"
)

// fakeClock returns fixed instants a second apart.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func newTestReceiver(t *testing.T, logs io.Writer) (*Receiver, *httptest.Server) {
	t.Helper()
	if logs == nil {
		logs = io.Discard
	}
	clock := &fakeClock{t: startsAt}
	r, err := New(Options{
		Integrations: map[string]string{token: "health-exporter"},
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{ReplaceAttr: dropTime})),
		MaxBodyBytes: 64 << 10,
		Now:          clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

func send(t *testing.T, srv *httptest.Server, method, path, contentType string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestReceiverAnswers(t *testing.T) {
	firing := alertmanagerPayload(t, false)
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        []byte
		status      int
		recorded    bool
	}{
		{"notification", "POST", alertPath, "application/json", firing, 200, true},
		{"notification with charset", "POST", alertPath, "application/json; charset=utf-8", firing, 200, true},
		{"heartbeat POST", "POST", heartPath, "application/json", firing, 200, true},
		{"heartbeat GET", "GET", heartPath, "", nil, 200, true},
		{"bad payload", "POST", alertPath, "application/json", []byte(`{"version":"4"}`), 400, false},
		{"bad heartbeat payload", "POST", heartPath, "application/json", []byte(`{}`), 400, false},
		{"not JSON", "POST", alertPath, "text/plain", firing, 400, false},
		{"no content type", "POST", alertPath, "", firing, 400, false},
		{"too large", "POST", alertPath, "application/json", bytes.Repeat([]byte(" "), 65<<10), 413, false},
		{"GET of a notification path", "GET", alertPath, "", nil, 405, false},
		{"unknown token", "POST", IntegrationPath + "other/", "application/json", firing, 403, false},
		{"no final slash", "POST", strings.TrimSuffix(alertPath, "/"), "application/json", firing, 404, false},
		{"heartbeat without final slash", "GET", strings.TrimSuffix(heartPath, "/"), "", nil, 404, false},
		{"below an integration", "POST", alertPath + "other/", "application/json", firing, 404, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, srv := newTestReceiver(t, nil)
			status, body := send(t, srv, tc.method, tc.path, tc.contentType, tc.body)
			if status != tc.status {
				t.Fatalf("status %d (%s), want %d", status, strings.TrimSpace(body), tc.status)
			}
			notes, rejected := r.Notifications(), r.Rejections()
			if tc.recorded {
				if len(notes) != 1 || len(rejected) != 0 || strings.TrimSpace(body) != "Ok." {
					t.Fatalf("body %q, notifications %+v, rejections %+v", body, notes, rejected)
				}
				n := notes[0]
				if n.Integration != "health-exporter" || n.Path != tc.path || n.Heartbeat != strings.HasSuffix(tc.path, "/heartbeat/") ||
					(n.Payload == nil) != (tc.body == nil) {
					t.Errorf("recorded %+v", n)
				}
				return
			}
			if len(notes) != 0 || len(rejected) != 1 || rejected[0].Status != tc.status || rejected[0].Path != tc.path ||
				rejected[0].Error != strings.TrimSpace(body) {
				t.Errorf("body %q, notifications %+v, rejections %+v", body, notes, rejected)
			}
		})
	}
}

func TestReceiverIgnoresOtherPaths(t *testing.T) {
	r, srv := newTestReceiver(t, nil)
	for _, path := range []string{"/", "/integrations/v1/grafana/" + token + "/", "/api/v2/alerts"} {
		if status, _ := send(t, srv, "POST", path, "application/json", alertmanagerPayload(t, false)); status != 404 {
			t.Errorf("POST %s: %d, want 404", path, status)
		}
	}
	if len(r.Notifications()) != 0 || len(r.Rejections()) != 0 {
		t.Errorf("recorded %+v, %+v", r.Notifications(), r.Rejections())
	}
}

func TestReceiverRecordsInOrderAndLogs(t *testing.T) {
	var logs bytes.Buffer
	r, srv := newTestReceiver(t, &logs)
	send(t, srv, "POST", alertPath, "application/json", alertmanagerPayload(t, false))
	send(t, srv, "GET", heartPath, "", nil)
	send(t, srv, "POST", alertPath, "application/json", []byte(`{"version":"3"}`))
	send(t, srv, "POST", alertPath, "application/json", alertmanagerPayload(t, true))

	notes := r.Notifications()
	if len(notes) != 3 {
		t.Fatalf("%d notifications, want 3", len(notes))
	}
	if notes[0].Payload.Status != StatusFiring || !notes[1].Heartbeat || notes[2].Payload.Status != StatusResolved {
		t.Errorf("order: %+v", notes)
	}
	// The clock ticks a second per request, the refused one included.
	for i, tick := range []int{1, 2, 4} {
		if !notes[i].Received.Equal(startsAt.Add(time.Duration(tick) * time.Second)) {
			t.Errorf("notification %d received at %v", i, notes[i].Received)
		}
	}
	if rej := r.Rejections(); len(rej) != 1 || !rej[0].Received.Equal(startsAt.Add(3*time.Second)) {
		t.Errorf("rejections %+v", rej)
	}

	// An escaped group key is one logfmt value; so are the summary and the runbook.
	want := `level=INFO msg=notification integration=health-exporter status=firing group_key="{}/{severity=~\"critical|warning\"}:{alertname=\"HealthDependencyDown\", dependency=\"message_queue\", severity=\"critical\"}" group_labels="alertname=HealthDependencyDown dependency=message_queue severity=critical" firing=1 resolved=0 summary="Dependency message_queue is down (refused)" runbook_url=https://github.com/health-exporter/health-exporter/blob/main/docs/runbooks.md#healthdependencydown
level=INFO msg=heartbeat integration=health-exporter
level=WARN msg="refused request" method=POST path=/integrations/v1/alertmanager/c2VjcmV0LXRva2Vu/ status=400 err="invalid Alertmanager webhook payload: groupKey: missing"
level=INFO msg=notification integration=health-exporter status=resolved group_key="{}/{severity=~\"critical|warning\"}:{alertname=\"HealthDependencyDown\", dependency=\"message_queue\", severity=\"critical\"}" group_labels="alertname=HealthDependencyDown dependency=message_queue severity=critical" firing=0 resolved=1 summary="Dependency message_queue is down (refused)" runbook_url=https://github.com/health-exporter/health-exporter/blob/main/docs/runbooks.md#healthdependencydown
`
	if logs.String() != want {
		t.Errorf("logs:\n%s\nwant:\n%s", logs.String(), want)
	}
}

func TestReceiverList(t *testing.T) {
	_, srv := newTestReceiver(t, nil)
	status, body := send(t, srv, "GET", NotificationsPath, "", nil)
	if status != 200 || !strings.Contains(body, `"notifications": []`) || !strings.Contains(body, `"rejections": []`) {
		t.Fatalf("empty list: %d %s", status, body)
	}
	send(t, srv, "POST", alertPath, "application/json", alertmanagerPayload(t, false))
	send(t, srv, "POST", IntegrationPath+"nope/", "application/json", nil)
	status, body = send(t, srv, "GET", NotificationsPath, "", nil)
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	var list struct {
		Notifications []Notification
		Rejections    []Rejection
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Notifications) != 1 || list.Notifications[0].Payload.GroupKey != groupKey ||
		list.Notifications[0].Payload.Alerts[0].Annotations["runbook_url"] == "" {
		t.Errorf("notifications %+v", list.Notifications)
	}
	if len(list.Rejections) != 1 || list.Rejections[0].Status != 403 || list.Rejections[0].Error != "integration key not found" {
		t.Errorf("rejections %+v", list.Rejections)
	}
	if status, _ := send(t, srv, "POST", NotificationsPath, "", nil); status != 405 {
		t.Errorf("POST %s: %d, want 405", NotificationsPath, status)
	}
}

func TestReceiverWait(t *testing.T) {
	r, srv := newTestReceiver(t, nil)
	resolved := func(notes []Notification) bool {
		for _, n := range notes {
			if n.Payload != nil && n.Payload.Status == StatusResolved {
				return true
			}
		}
		return false
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	done := make(chan []Notification, 1)
	go func() {
		notes, err := r.Wait(ctx, resolved)
		if err != nil {
			t.Error(err)
		}
		done <- notes
	}()
	send(t, srv, "POST", alertPath, "application/json", alertmanagerPayload(t, false))
	send(t, srv, "POST", alertPath, "application/json", alertmanagerPayload(t, true))
	if notes := <-done; len(notes) != 2 {
		t.Errorf("Wait returned %d notifications, want 2", len(notes))
	}

	// A context that ends first: the error says so and wraps its cause.
	short, cancelShort := context.WithCancel(t.Context())
	cancelShort()
	notes, err := r.Wait(short, func(n []Notification) bool { return len(n) > 2 })
	if !errors.Is(err, context.Canceled) || len(notes) != 2 {
		t.Errorf("Wait after cancel: %d notifications, err %v", len(notes), err)
	}
}

func TestNewRefusesBadIntegrations(t *testing.T) {
	for _, integrations := range []map[string]string{
		nil,
		{"": "oncall"},
		{"a/b": "oncall"},
		{"token": ""},
	} {
		if _, err := New(Options{Integrations: integrations}); err == nil {
			t.Errorf("New(%v) accepted", integrations)
		}
	}
}

package oncall_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/health-exporter/health-exporter/monitoring/oncall"
)

// watchdog is what Alertmanager sends to the heartbeat route.
const watchdog = `{
  "version": "4",
  "groupKey": "{}/{alertname=\"Watchdog\"}:{alertname=\"Watchdog\"}",
  "truncatedAlerts": 0,
  "status": "firing",
  "receiver": "oncall-heartbeat",
  "groupLabels": {"alertname": "Watchdog"},
  "commonLabels": {"alertname": "Watchdog", "severity": "none"},
  "commonAnnotations": {"summary": "Alerting pipeline heartbeat"},
  "externalURL": "http://127.0.0.1:9093",
  "alerts": [{
    "status": "firing",
    "labels": {"alertname": "Watchdog", "severity": "none"},
    "annotations": {"summary": "Alerting pipeline heartbeat"},
    "startsAt": "2026-03-14T09:26:53Z",
    "endsAt": "0001-01-01T00:00:00Z",
    "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=vector%281%29",
    "fingerprint": "61ef6efc8fac5f25"
  }]
}`

func ExampleReceiver() {
	r, err := oncall.New(oncall.Options{Integrations: map[string]string{"TOKEN": "health-exporter"}})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(r)
	defer srv.Close()

	// What Alertmanager's url_file for the heartbeat would hold.
	heartbeat := srv.URL + oncall.IntegrationPath + "TOKEN/heartbeat/"
	for _, body := range []string{watchdog, `{"version": "4"}`} {
		resp, err := http.Post(heartbeat, "application/json", strings.NewReader(body))
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Println(resp.Status)
	}

	for _, n := range r.Notifications() {
		fmt.Println(n.Integration, n.Heartbeat, n.Payload.Status, n.Payload.CommonLabels["alertname"])
	}
	fmt.Println(r.Rejections()[0].Error)
	// Output:
	// 200 OK
	// 400 Bad Request
	// health-exporter true firing Watchdog
	// invalid Alertmanager webhook payload: groupKey: missing
}

func ExampleParsePayload() {
	p, err := oncall.ParsePayload([]byte(watchdog))
	if err != nil {
		panic(err)
	}
	firing, resolved := p.Count()
	fmt.Println(p.GroupKey)
	fmt.Println(p.Status, firing, resolved, p.Alerts[0].StartsAt)
	// Output:
	// {}/{alertname="Watchdog"}:{alertname="Watchdog"}
	// firing 1 0 2026-03-14 09:26:53 +0000 UTC
}

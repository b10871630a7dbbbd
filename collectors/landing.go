package collectors

import (
	"html/template"
	"net/http"
	"time"
)

// LandingInfo is what the landing page says about the exporter itself.
type LandingInfo struct {
	Version      string
	MetricsPath  string
	ConfigSource string
}

var landingPage = template.Must(template.New("landing").Funcs(template.FuncMap{
	"ms": func(d time.Duration) string { return d.Round(100 * time.Microsecond).String() },
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return time.Since(t).Round(time.Second).String() + " ago"
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>health-exporter</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}th,td{padding:.35em .8em;border-bottom:1px solid #ddd;text-align:left}
.healthy{color:#1a7f37;font-weight:600}.degraded{color:#b35900;font-weight:600}.down{color:#c62828;font-weight:600}
code{background:#f4f4f4;padding:0 .2em}
</style></head><body>
<h1>health-exporter</h1>
<p>Version {{.Info.Version}} · configuration: <code>{{.Info.ConfigSource}}</code></p>
<p><a href="{{.Info.MetricsPath}}">Metrics</a> · <a href="/health">Health summary (JSON)</a> · <a href="/-/healthy">/-/healthy</a> · <a href="/-/ready">/-/ready</a></p>
<h2>Dependencies</h2>
<table>
<tr><th>Dependency</th><th>Kind</th><th>Endpoint</th><th>State</th><th>Reason</th><th>Detail</th><th>Took</th><th>Last check</th><th>Last healthy</th></tr>
{{range .Deps}}<tr>
<td>{{.Name}}</td><td>{{.Kind}}</td><td><code>{{.Endpoint}}</code></td>
<td class="{{.Result.Status}}">{{.Result.Status}}</td><td>{{.Result.Reason}}</td><td>{{.Result.Detail}}</td>
<td>{{ms .Result.Duration}}</td><td>{{ago .Result.Time}}</td><td>{{ago .LastSuccess}}</td>
</tr>{{else}}<tr><td colspan="9">No dependencies configured.</td></tr>{{end}}
</table>
</body></html>
`))

// LandingHandler serves the landing page at "/" (404 elsewhere): every
// dependency with its state, reason, last check and links to the other
// endpoints. It answers GET and HEAD; other methods get 405.
func LandingHandler(runner *Runner, info LandingInfo) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		if !getOrHead(w, r) {
			return
		}
		snaps := refresh(r, runner, 0)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = landingPage.Execute(w, struct {
			Info LandingInfo
			Deps []Snapshot
		}{info, snaps})
	})
}

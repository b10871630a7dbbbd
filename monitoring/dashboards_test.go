package monitoring

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	goparser "go/parser"
	"go/token"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/prometheus/client_golang/prometheus"
	promcollectors "github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/health-exporter/health-exporter/breaker"
	"github.com/health-exporter/health-exporter/cache"
	"github.com/health-exporter/health-exporter/collectors"
	"github.com/health-exporter/health-exporter/internal/testenv"
	"github.com/health-exporter/health-exporter/search"
)

// The dashboards, by file, with the uids links and bookmarks rely on.
var dashboardUIDs = map[string]string{
	"health-exporter-overview.json":   "health-exporter-overview",
	"health-exporter-dependency.json": "health-exporter-dependency",
}

const (
	dashboardsGlob       = "dashboards/*.json"
	dashboardProvisioner = "dashboards/provisioning.yml"
	dashboardRulesGlob   = "rules/*.yml"
	dashboardMainDir     = "../cmd/health-exporter"
	dashboardReadme      = "../README.md"
	dashboardRunbooks    = "../docs/runbooks.md"
	dashboardRunbookURL  = "https://github.com/health-exporter/health-exporter/blob/main/docs/runbooks.md"
	// The schema Grafana 10.4 writes; Grafana 11 reads it as it is.
	dashboardMinSchema = 39
)

// Stand-ins that make Grafana's interval macros parseable PromQL. They are
// odd durations nobody writes by hand, so a range equal to the rate-interval
// stand-in can only have come from $__rate_interval.
var dashboardMacroStandIns = map[string]string{
	"__rate_interval": "4242s",
	"__interval":      "4243s",
	"__range":         "4244s",
}

const dashboardRateIntervalStandIn = 4242 * time.Second

// Grafana unit ids the dashboards may use.
var dashboardUnits = map[string]bool{
	"none": true, "short": true, "percent": true, "percentunit": true,
	"s": true, "ms": true, "µs": true, "ns": true, "dtdurations": true,
	"ops": true, "reqps": true, "cps": true,
	"dateTimeFromNow": true, "dateTimeAsIso": true,
	"bytes": true, "decbytes": true, "bool": true, "bool_yes_no": true, "bool_on_off": true,
}

// dashPromQL parses the dashboards' queries with Prometheus' default options.
var dashPromQL = parser.NewParser(parser.Options{})

// Functions whose argument may be a counter: they read its increase over a range.
var dashboardCounterFuncs = map[string]bool{"rate": true, "irate": true, "increase": true, "resets": true}

// grafanaDashboard is the part of Grafana's dashboard model the lint reads.
type grafanaDashboard struct {
	ID            *int              `json:"id"`
	UID           string            `json:"uid"`
	Title         string            `json:"title"`
	Description   string            `json:"description"`
	Tags          []string          `json:"tags"`
	SchemaVersion int               `json:"schemaVersion"`
	Editable      bool              `json:"editable"`
	Links         []grafanaLink     `json:"links"`
	Panels        []grafanaPanel    `json:"panels"`
	Templating    grafanaTemplating `json:"templating"`
}

type grafanaTemplating struct {
	List []grafanaVariable `json:"list"`
}

type grafanaRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaVariable struct {
	Name       string      `json:"name"`
	Label      string      `json:"label"`
	Type       string      `json:"type"`
	Datasource *grafanaRef `json:"datasource"`
	Query      any         `json:"query"`
	Definition string      `json:"definition"`
	Multi      bool        `json:"multi"`
	IncludeAll bool        `json:"includeAll"`
	AllValue   string      `json:"allValue"`
	Refresh    int         `json:"refresh"`
}

type grafanaPanel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Datasource  *grafanaRef    `json:"datasource"`
	GridPos     grafanaGridPos `json:"gridPos"`
	Targets     []grafanaQuery `json:"targets"`
	Links       []grafanaLink  `json:"links"`
	FieldConfig struct {
		Defaults struct {
			Unit     string           `json:"unit"`
			Mappings []grafanaMapping `json:"mappings"`
			Links    []grafanaLink    `json:"links"`
		} `json:"defaults"`
		Overrides []struct {
			Properties []struct {
				ID    string          `json:"id"`
				Value json.RawMessage `json:"value"`
			} `json:"properties"`
		} `json:"overrides"`
	} `json:"fieldConfig"`
	Panels []grafanaPanel `json:"panels"` // a collapsed row's
}

type grafanaGridPos struct {
	X int `json:"x"`
	Y int `json:"y"`
	W int `json:"w"`
	H int `json:"h"`
}

type grafanaQuery struct {
	RefID        string      `json:"refId"`
	Expr         string      `json:"expr"`
	LegendFormat string      `json:"legendFormat"`
	Format       string      `json:"format"`
	Datasource   *grafanaRef `json:"datasource"`
}

type grafanaLink struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

type grafanaMapping struct {
	Type    string `json:"type"`
	Options map[string]struct {
		Text  string `json:"text"`
		Color string `json:"color"`
	} `json:"options"`
}

// loadedDashboard is one dashboard file, raw and decoded.
type loadedDashboard struct {
	file      string
	raw       []byte
	variables map[string]grafanaVariable // by name
	grafanaDashboard
}

func loadDashboards(t *testing.T) []loadedDashboard {
	t.Helper()
	files, err := filepath.Glob(dashboardsGlob)
	if err != nil {
		t.Fatalf("list dashboards: %v", err)
	}
	var out []loadedDashboard
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("read dashboard: %v", err)
		}
		d := loadedDashboard{file: filepath.Base(f), raw: raw}
		if err := json.Unmarshal(raw, &d.grafanaDashboard); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		d.variables = map[string]grafanaVariable{}
		for _, v := range d.Templating.List {
			d.variables[v.Name] = v
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		t.Fatalf("no dashboards match %s", dashboardsGlob)
	}
	return out
}

// panels returns every panel, those inside collapsed rows included.
func (d loadedDashboard) panels() []grafanaPanel {
	var out []grafanaPanel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

// hasQueries says whether a panel type shows query results.
func (p grafanaPanel) hasQueries() bool { return p.Type != "row" && p.Type != "text" }

func (p grafanaPanel) where(d loadedDashboard) string {
	return fmt.Sprintf("%s: panel %d %q", d.file, p.ID, p.Title)
}

// allLinks returns the panel's links and the data links of its fields.
func (p grafanaPanel) allLinks(t *testing.T) []grafanaLink {
	t.Helper()
	links := slices.Concat(p.Links, p.FieldConfig.Defaults.Links)
	for _, o := range p.FieldConfig.Overrides {
		for _, prop := range o.Properties {
			if prop.ID != "links" {
				continue
			}
			var ls []grafanaLink
			if err := json.Unmarshal(prop.Value, &ls); err != nil {
				t.Fatalf("panel %q: override links: %v", p.Title, err)
			}
			links = append(links, ls...)
		}
	}
	return links
}

// mappings returns the panel's value mappings, overrides included.
func (p grafanaPanel) mappings(t *testing.T) []grafanaMapping {
	t.Helper()
	out := slices.Clone(p.FieldConfig.Defaults.Mappings)
	for _, o := range p.FieldConfig.Overrides {
		for _, prop := range o.Properties {
			if prop.ID != "mappings" {
				continue
			}
			var ms []grafanaMapping
			if err := json.Unmarshal(prop.Value, &ms); err != nil {
				t.Fatalf("panel %q: override mappings: %v", p.Title, err)
			}
			out = append(out, ms...)
		}
	}
	return out
}

func TestDashboardFiles(t *testing.T) {
	ds := loadDashboards(t)
	seen := map[string]bool{}
	for _, d := range ds {
		seen[d.file] = true
		want, ok := dashboardUIDs[d.file]
		if !ok {
			t.Errorf("%s: unexpected dashboard; give it a fixed uid in dashboardUIDs", d.file)
			continue
		}
		if d.UID != want {
			t.Errorf("%s: uid %q, want %q (links and bookmarks use it)", d.file, d.UID, want)
		}
		if d.ID != nil {
			t.Errorf("%s: id %d: a provisioned dashboard must leave id null", d.file, *d.ID)
		}
		if d.Title == "" || d.Description == "" {
			t.Errorf("%s: needs a title and a description", d.file)
		}
		if d.SchemaVersion < dashboardMinSchema {
			t.Errorf("%s: schemaVersion %d, want at least %d", d.file, d.SchemaVersion, dashboardMinSchema)
		}
		if d.Editable {
			t.Errorf("%s: editable; the files are the source of truth", d.file)
		}
		if !slices.Contains(d.Tags, "health-exporter") {
			t.Errorf("%s: tags %v lack health-exporter", d.file, d.Tags)
		}
	}
	for file := range dashboardUIDs {
		if !seen[file] {
			t.Errorf("dashboard %s is missing", file)
		}
	}
}

var registerGrafanaPlugins = sync.OnceFunc(plugins.RegisterDefaultPlugins)

// The foundation SDK types panel links as dashboard links, which carry more
// required fields; Grafana's panel links are data links (title, url,
// targetBlank), which TestDashboardLinks checks.
var sdkPanelLinkField = regexp.MustCompile(`^panels\[\d+\](\.panels\[\d+\])?\.links\[\d+\]\.(type|icon|tooltip|tags|asDropdown|includeVars|keepTime)$`)

// TestDashboardsMatchGrafanaSchema decodes each dashboard strictly with
// Grafana's own schema: a missing required field, a wrong type, or an
// unknown or misspelt field of the dashboard, a variable, a panel, its
// options, its custom field settings or a query is an error.
func TestDashboardsMatchGrafanaSchema(t *testing.T) {
	registerGrafanaPlugins()
	for _, d := range loadDashboards(t) {
		var sdk dashboard.Dashboard
		err := sdk.UnmarshalJSONStrict(d.raw)
		var buildErrs cog.BuildErrors
		if err != nil && !errors.As(err, &buildErrs) {
			t.Errorf("%s: %v", d.file, err)
			continue
		}
		// Success is a non-nil error holding no BuildError.
		for _, e := range buildErrs {
			if sdkPanelLinkField.MatchString(e.Path) && e.Message == "required field is missing from input" {
				continue
			}
			t.Errorf("%s: %s", d.file, e)
		}
		if sdk.Uid == nil || *sdk.Uid != d.UID {
			t.Errorf("%s: the SDK read uid %v", d.file, sdk.Uid)
		}
	}
}

func TestDashboardVariables(t *testing.T) {
	cat := dashboardCatalog(t)
	for _, d := range loadDashboards(t) {
		ds, ok := d.variables["datasource"]
		switch {
		case !ok:
			t.Errorf("%s: no datasource variable", d.file)
		case ds.Type != "datasource" || ds.Query != "prometheus" || ds.Label != "Data source":
			t.Errorf("%s: datasource variable is %s %v labelled %q, want a datasource variable of prometheus labelled \"Data source\"",
				d.file, ds.Type, ds.Query, ds.Label)
		}
		// All instances is .+, as dashboard-linter asks; All jobs is the
		// jobs the variable lists, because up and scrape_duration_seconds
		// exist for every target Prometheus scrapes and .+ would show them all.
		for name, allValue := range map[string]string{"job": "", "instance": ".+"} {
			v, ok := d.variables[name]
			if !ok {
				t.Errorf("%s: no %s variable", d.file, name)
				continue
			}
			if !v.Multi || !v.IncludeAll || v.AllValue != allValue {
				t.Errorf("%s: variable %s: want multi-select with All meaning %q, got multi=%v includeAll=%v allValue=%q",
					d.file, name, allValue, v.Multi, v.IncludeAll, v.AllValue)
			}
			if want := strings.ToUpper(name[:1]) + name[1:]; v.Label != want {
				t.Errorf("%s: variable %s labelled %q, want %q", d.file, name, v.Label, want)
			}
		}
		// Selectors use dependency="$dependency": one value at a time.
		if v, ok := d.variables["dependency"]; ok && (v.Multi || v.IncludeAll) {
			t.Errorf("%s: variable dependency must be single-valued", d.file)
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			if v.Datasource == nil || v.Datasource.UID != "${datasource}" {
				t.Errorf("%s: variable %s does not query ${datasource}", d.file, v.Name)
			}
			if v.Refresh != 2 {
				t.Errorf("%s: variable %s: refresh %d, want 2 (on time range change)", d.file, v.Name, v.Refresh)
			}
			query, _ := v.Query.(string)
			if query == "" || query != v.Definition {
				t.Errorf("%s: variable %s: query %v and definition %q must be the same label_values query", d.file, v.Name, v.Query, v.Definition)
				continue
			}
			// Each variable narrows by the ones before it.
			var narrowBy []string
			switch v.Name {
			case "instance":
				narrowBy = []string{"job"}
			case "dependency":
				narrowBy = []string{"job", "instance"}
			}
			for _, p := range lintVariableQuery(cat, v.Name, query, narrowBy) {
				t.Errorf("%s: variable %s: %s", d.file, v.Name, p)
			}
		}
	}
}

var labelValuesQuery = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// lintVariableQuery checks a label_values query: its selector parses, names
// only known metrics, filters on the variables in narrowBy, and the label it
// lists belongs to every metric it selects.
func lintVariableQuery(cat metricCatalog, name, query string, narrowBy []string) []string {
	m := labelValuesQuery.FindStringSubmatch(query)
	if m == nil {
		return []string{fmt.Sprintf("%q is not label_values(selector, label)", query)}
	}
	selector, label := m[1], m[2]
	if label != name {
		return []string{fmt.Sprintf("lists label %s, want %s", label, name)}
	}
	expr, err := dashPromQL.ParseExpr(selector)
	if err != nil {
		return []string{fmt.Sprintf("selector %q: %v", selector, err)}
	}
	vs, ok := expr.(*parser.VectorSelector)
	if !ok {
		return []string{fmt.Sprintf("%q is not a series selector", selector)}
	}
	var problems []string
	names := selectorNames(vs)
	if len(names) == 0 {
		problems = append(problems, fmt.Sprintf("%q names no metric, or names them by a pattern other than a|b|c", selector))
	}
	for _, metric := range names {
		ls, known := cat.labels(metric)
		switch {
		case !known:
			problems = append(problems, fmt.Sprintf("unknown metric %s", metric))
		case ls != nil && !ls[label] && !implicitLabel[label]:
			problems = append(problems, fmt.Sprintf("metric %s has no label %s", metric, label))
		}
	}
	for _, v := range narrowBy {
		if !hasMatcher(vs, v, labels.MatchRegexp, "$"+v) {
			problems = append(problems, fmt.Sprintf("%q does not filter on %s=~\"$%s\"", selector, v, v))
		}
	}
	return problems
}

// TestDashboardVariableLintCatches proves the variable lint finds what it
// looks for.
func TestDashboardVariableLintCatches(t *testing.T) {
	cat := dashboardCatalog(t)
	cases := []struct {
		name, variable, query string
		narrowBy              []string
		want                  string
	}{
		{"clean", "instance", `label_values(health_dependency_up{job=~"$job"}, instance)`, []string{"job"}, ""},
		{"clean alternatives", "job", `label_values({__name__=~"health_dependency_up|cache_requests_total"}, job)`, nil, ""},
		{"not label_values", "job", `query_result(up)`, nil, "is not label_values"},
		{"other label", "instance", `label_values(health_dependency_up{job=~"$job"}, job)`, []string{"job"}, "lists label job"},
		{"unknown metric", "job", `label_values(health_dependency_upp, job)`, nil, "unknown metric"},
		{"label not there", "dependency", `label_values(up{job=~"$job", instance=~"$instance"}, dependency)`, []string{"job", "instance"}, "no label dependency"},
		{"not narrowed", "instance", `label_values(health_dependency_up, instance)`, []string{"job"}, "does not filter"},
		{"name pattern", "job", `label_values({__name__=~"health_.*"}, job)`, nil, "names no metric"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			problems := lintVariableQuery(cat, c.variable, c.query, c.narrowBy)
			if c.want == "" {
				if len(problems) > 0 {
					t.Errorf("lintVariableQuery(%s) = %q, want no problem", c.query, problems)
				}
				return
			}
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, c.want) }) {
				t.Errorf("lintVariableQuery(%s) = %q, want a problem mentioning %q", c.query, problems, c.want)
			}
		})
	}
}

// selectorNames returns the metric names a selector selects: its name, or
// the alternatives of a __name__=~"a|b" matcher.
func selectorNames(vs *parser.VectorSelector) []string {
	if vs.Name != "" {
		return []string{vs.Name}
	}
	for _, m := range vs.LabelMatchers {
		if m.Name != labels.MetricName {
			continue
		}
		switch m.Type {
		case labels.MatchEqual:
			return []string{m.Value}
		case labels.MatchRegexp:
			alts := strings.Split(m.Value, "|")
			for _, a := range alts {
				if !metricNamePattern.MatchString(a) {
					return nil
				}
			}
			return alts
		}
	}
	return nil
}

var metricNamePattern = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

func hasMatcher(vs *parser.VectorSelector, name string, typ labels.MatchType, value string) bool {
	return slices.ContainsFunc(vs.LabelMatchers, func(m *labels.Matcher) bool {
		return m.Name == name && m.Type == typ && m.Value == value
	})
}

func TestDashboardPanels(t *testing.T) {
	for _, d := range loadDashboards(t) {
		ids := map[int]bool{}
		for _, p := range d.panels() {
			where := p.where(d)
			if ids[p.ID] {
				t.Errorf("%s: duplicate id", where)
			}
			ids[p.ID] = true
			if strings.TrimSpace(p.Title) == "" {
				t.Errorf("%s: no title", where)
			}
			if !p.hasQueries() {
				continue
			}
			if strings.TrimSpace(p.Description) == "" {
				t.Errorf("%s: no description", where)
			}
			if p.Datasource == nil || *p.Datasource != (grafanaRef{Type: "prometheus", UID: "${datasource}"}) {
				t.Errorf("%s: datasource %v, want prometheus ${datasource}", where, p.Datasource)
			}
			if unit := p.FieldConfig.Defaults.Unit; !dashboardUnits[unit] {
				t.Errorf("%s: unit %q is not one of the known units", where, unit)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no queries", where)
			}
			refs := map[string]bool{}
			for _, q := range p.Targets {
				if q.Datasource != nil && *q.Datasource != (grafanaRef{Type: "prometheus", UID: "${datasource}"}) {
					t.Errorf("%s: query %s uses datasource %v", where, q.RefID, q.Datasource)
				}
				if q.RefID == "" || refs[q.RefID] {
					t.Errorf("%s: query refId %q missing or repeated", where, q.RefID)
				}
				refs[q.RefID] = true
			}
			if !slices.ContainsFunc(p.Links, func(l grafanaLink) bool { return strings.HasPrefix(l.URL, dashboardRunbookURL+"#") }) {
				t.Errorf("%s: links to no runbook", where)
			}
		}
		checkLayout(t, d)
	}
}

// checkLayout requires the top-level panels to fit the 24-column grid
// without overlapping, so Grafana shows them where the file puts them.
func checkLayout(t *testing.T, d loadedDashboard) {
	t.Helper()
	for i, p := range d.Panels {
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v does not fit the grid", p.where(d), g)
		}
		for _, q := range d.Panels[:i] {
			h := q.GridPos
			if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
				t.Errorf("%s overlaps panel %d %q", p.where(d), q.ID, q.Title)
			}
		}
	}
}

func TestDashboardQueries(t *testing.T) {
	cat := dashboardCatalog(t)
	for _, d := range loadDashboards(t) {
		_, scoped := d.variables["dependency"]
		for _, p := range d.panels() {
			for _, q := range p.Targets {
				legend := q.LegendFormat
				if q.Format == "table" {
					legend = ""
				}
				for _, problem := range lintQuery(cat, q.Expr, legend, scoped) {
					t.Errorf("%s, query %s: %s", p.where(d), q.RefID, problem)
				}
			}
		}
	}
}

// TestDashboardLintCatches proves the query lint finds what it looks for.
func TestDashboardLintCatches(t *testing.T) {
	cat := dashboardCatalog(t)
	const m = `job=~"$job", instance=~"$instance"`
	cases := []struct {
		name, expr, legend string
		scoped             bool
		want               string
	}{
		{"clean", `sum by (job, dependency) (rate(health_checks_total{` + m + `}[$__rate_interval]))`, "{{dependency}}", false, ""},
		{"unparsable", `sum by (job (health_checks_total)`, "", false, "does not parse"},
		{"no job matcher", `health_dependency_up{instance=~"$instance"}`, "", false, `job=~"$job"`},
		{"no instance matcher", `health_dependency_up{job=~"$job"}`, "", false, `instance=~"$instance"`},
		{"fixed range", `rate(health_checks_total{` + m + `}[5m])`, "", false, "$__rate_interval"},
		{"interval macro", `rate(health_checks_total{` + m + `}[$__interval])`, "", false, "$__rate_interval"},
		{"bare counter", `health_checks_total{` + m + `}`, "", false, "only inside"},
		{"counter over time", `max_over_time(health_checks_total{` + m + `}[$__rate_interval])`, "", false, "only inside"},
		{"bare histogram count", `cache_operation_duration_seconds_count{` + m + `}`, "", false, "only inside"},
		{"unknown metric", `health_dependency_upp{` + m + `}`, "", false, "unknown metric"},
		{"unknown label", `health_dependency_up{` + m + `, dependecy="x"}`, "", false, "no label dependecy"},
		{"grouping typo", `sum by (tenat) (rate(cache_requests_total{` + m + `}[$__rate_interval]))`, "", false, "tenat"},
		{"grouping dropped", `max by (cache) (max by (job) (cache_operation_duration_seconds_bucket{` + m + `}))`, "", false, "cache"},
		{"legend typo", `health_dependency_up{` + m + `}`, "{{dependecy}}", false, "legend"},
		{"legend after aggregation", `max by (job) (health_dependency_up{` + m + `})`, "{{dependency}}", false, "legend"},
		{"unscoped", `health_dependency_up{` + m + `}`, "", true, `dependency="$dependency"`},
		{"unscoped breaker", `circuit_breaker_state{` + m + `}`, "", true, `breaker="$dependency"`},
		{"primary breaker", `circuit_breaker_state{` + m + `, breaker="${dependency}_primary"}`, "", true, ""},
		{"suffix in the variable", `circuit_breaker_state{` + m + `, breaker="$dependency_primary"}`, "", true, `breaker="$dependency"`},
		{"primary of another label", `health_dependency_up{` + m + `, dependency="${dependency}_primary"}`, "", true, `dependency="$dependency"`},
		{"unscoped searcher", `rate(search_requests_total{` + m + `}[$__rate_interval])`, "", true, `searcher="$dependency"`},
		{"no metric name", `{` + m + `}`, "", false, "names no metric"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			problems := lintQuery(cat, c.expr, c.legend, c.scoped)
			if c.want == "" {
				if len(problems) > 0 {
					t.Errorf("lintQuery(%s) = %q, want no problem", c.expr, problems)
				}
				return
			}
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, c.want) }) {
				t.Errorf("lintQuery(%s) = %q, want a problem mentioning %q", c.expr, problems, c.want)
			}
		})
	}
}

// primaryBreakerSuffix ends the name of a search dependency's breaker
// around its primary.
const primaryBreakerSuffix = "_primary"

// scopedToPrimary says whether a selector picks the breaker around the
// $dependency's search primary: breaker="${dependency}_primary".
func scopedToPrimary(vs *parser.VectorSelector, label string) bool {
	return label == "breaker" && hasMatcher(vs, label, labels.MatchEqual, "${dependency}"+primaryBreakerSuffix)
}

var (
	grafanaMacro  = regexp.MustCompile(`\$\{?(__[a-z_]+)\}?`)
	legendLabel   = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)
	scopeLabels   = []string{"dependency", "breaker", "searcher"} // label holding a dependency's name
	implicitLabel = map[string]bool{"job": true, "instance": true}
)

// lintQuery returns what is wrong with a panel query: it must parse; select
// only metrics the exporter and libraries emit (or the rules record), with
// labels they have, each selector filtered on job=~"$job" and
// instance=~"$instance" (and, when scoped, on the $dependency variable);
// range over $__rate_interval; read counters only through rate-like
// functions; and group and label legends only by labels the result has.
func lintQuery(cat metricCatalog, expr, legend string, scoped bool) []string {
	parsed, err := dashPromQL.ParseExpr(grafanaMacro.ReplaceAllStringFunc(expr, func(s string) string {
		if v, ok := dashboardMacroStandIns[grafanaMacro.FindStringSubmatch(s)[1]]; ok {
			return v
		}
		return s
	}))
	if err != nil {
		return []string{fmt.Sprintf("does not parse: %v", err)}
	}
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	parser.Inspect(parsed, func(node parser.Node, path []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			lintSelector(cat, n, path, scoped, report)
		case *parser.MatrixSelector:
			if n.Range != dashboardRateIntervalStandIn {
				report("range %s must be [$__rate_interval]", n)
			}
		case *parser.AggregateExpr:
			if in, known := cat.resultLabels(n.Expr); known {
				for _, l := range n.Grouping {
					if !in[l] {
						report("%s groups by %s, which its argument does not have", n.Op, l)
					}
				}
			}
		case *parser.BinaryExpr:
			if n.VectorMatching == nil {
				break
			}
			l, lok := cat.resultLabels(n.LHS)
			r, rok := cat.resultLabels(n.RHS)
			if !lok || !rok {
				break
			}
			for _, name := range slices.Concat(n.VectorMatching.MatchingLabels, n.VectorMatching.Include) {
				if !l[name] && !r[name] {
					report("%s matches on %s, which neither side has", n.Op, name)
				}
			}
		}
		return nil
	})
	if out, known := cat.resultLabels(parsed); known && legend != "__auto" {
		for _, m := range legendLabel.FindAllStringSubmatch(legend, -1) {
			if !out[m[1]] {
				report("legend %q uses %s, which the result does not have (it has %v)", legend, m[1], slices.Sorted(maps.Keys(out)))
			}
		}
	}
	return problems
}

func lintSelector(cat metricCatalog, vs *parser.VectorSelector, path []parser.Node, scoped bool, report func(string, ...any)) {
	names := selectorNames(vs)
	if len(names) != 1 {
		report("selector %s names no metric", vs)
		return
	}
	name := names[0]
	for _, v := range []string{"job", "instance"} {
		if !hasMatcher(vs, v, labels.MatchRegexp, "$"+v) {
			report("selector %s lacks %s=~\"$%s\"", vs, v, v)
		}
	}
	ls, known := cat.labels(name)
	if !known {
		report("unknown metric %s: neither the exporter, the libraries nor the rules emit it", name)
		return
	}
	if ls != nil {
		for _, m := range vs.LabelMatchers {
			if m.Name != labels.MetricName && !implicitLabel[m.Name] && !ls[m.Name] {
				report("metric %s has no label %s", name, m.Name)
			}
		}
		if scoped {
			for _, l := range scopeLabels {
				if ls[l] && !hasMatcher(vs, l, labels.MatchEqual, "$dependency") && !scopedToPrimary(vs, l) {
					report("selector %s lacks %s=\"$dependency\"", vs, l)
				}
			}
		}
	}
	if cat.isCounter(name) && !inCounterFunc(path) {
		report("counter %s may appear only inside %v", name, slices.Sorted(maps.Keys(dashboardCounterFuncs)))
	}
}

// inCounterFunc says whether a selector, reached by path, is the range
// argument of a rate-like function.
func inCounterFunc(path []parser.Node) bool {
	i := len(path) - 1
	if i < 0 {
		return false
	}
	if _, ok := path[i].(*parser.MatrixSelector); !ok {
		return false
	}
	for i--; i >= 0; i-- {
		switch n := path[i].(type) {
		case parser.Expressions:
			continue
		case *parser.Call:
			return dashboardCounterFuncs[n.Func.Name]
		default:
			return false
		}
	}
	return false
}

// metricCatalog maps every metric name the dashboards may use to its label
// names, nil for recorded series (whose labels the rules decide).
type metricCatalog map[string]map[string]bool

var histogramSuffixes = []string{"_bucket", "_sum", "_count"}

// labels returns a metric's labels. A Desc does not say whether it is a
// histogram, so _bucket, _sum and _count are derived from any described
// metric that is not a counter.
func (c metricCatalog) labels(name string) (map[string]bool, bool) {
	if ls, ok := c[name]; ok {
		return ls, true
	}
	for _, suffix := range histogramSuffixes {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok || strings.HasSuffix(base, "_total") {
			continue
		}
		ls, ok := c[base]
		if !ok || ls == nil {
			continue
		}
		if suffix == "_bucket" {
			ls = maps.Clone(ls)
			ls["le"] = true
		}
		return ls, true
	}
	return nil, false
}

// isCounter says whether a metric only grows: a _total counter or a
// histogram's _bucket, _sum or _count.
func (c metricCatalog) isCounter(name string) bool {
	if strings.HasSuffix(name, "_total") {
		return true
	}
	_, described := c[name]
	return !described && slices.ContainsFunc(histogramSuffixes, func(s string) bool { return strings.HasSuffix(name, s) })
}

// resultLabels returns the label names an expression's result can carry,
// and false when they depend on series whose labels are unknown.
func (c metricCatalog) resultLabels(e parser.Expr) (map[string]bool, bool) {
	switch n := e.(type) {
	case *parser.VectorSelector:
		names := selectorNames(n)
		if len(names) != 1 {
			return nil, false
		}
		ls, ok := c.labels(names[0])
		if !ok || ls == nil {
			return nil, false
		}
		out := maps.Clone(ls)
		maps.Copy(out, implicitLabel)
		return out, true
	case *parser.MatrixSelector:
		return c.resultLabels(n.VectorSelector)
	case *parser.SubqueryExpr:
		return c.resultLabels(n.Expr)
	case *parser.ParenExpr:
		return c.resultLabels(n.Expr)
	case *parser.UnaryExpr:
		return c.resultLabels(n.Expr)
	case *parser.StepInvariantExpr:
		return c.resultLabels(n.Expr)
	case *parser.NumberLiteral, *parser.StringLiteral:
		return map[string]bool{}, true
	case *parser.AggregateExpr:
		return c.aggregateLabels(n)
	case *parser.Call:
		return c.callLabels(n)
	case *parser.BinaryExpr:
		return c.binaryLabels(n)
	}
	return nil, false
}

func (c metricCatalog) aggregateLabels(n *parser.AggregateExpr) (map[string]bool, bool) {
	in, known := c.resultLabels(n.Expr)
	var out map[string]bool
	switch {
	case n.Op == parser.TOPK || n.Op == parser.BOTTOMK || n.Op == parser.LIMITK || n.Op == parser.LIMIT_RATIO:
		return in, known
	case n.Without:
		if !known {
			return nil, false
		}
		out = maps.Clone(in)
		for _, l := range n.Grouping {
			delete(out, l)
		}
	default:
		out = map[string]bool{}
		for _, l := range n.Grouping {
			out[l] = true
		}
	}
	if n.Op == parser.COUNT_VALUES {
		if s, ok := n.Param.(*parser.StringLiteral); ok {
			out[s.Val] = true
		}
	}
	return out, true
}

func (c metricCatalog) callLabels(n *parser.Call) (map[string]bool, bool) {
	switch n.Func.Name {
	case "time", "vector", "scalar", "pi":
		return map[string]bool{}, true
	case "absent", "absent_over_time":
		return nil, false
	case "label_replace", "label_join":
		in, known := c.resultLabels(n.Args[0])
		dst, ok := n.Args[1].(*parser.StringLiteral)
		if !known || !ok {
			return nil, false
		}
		out := maps.Clone(in)
		out[dst.Val] = true
		return out, true
	case "histogram_quantile":
		in, known := c.resultLabels(n.Args[1])
		if !known {
			return nil, false
		}
		out := maps.Clone(in)
		delete(out, "le")
		return out, true
	}
	for _, a := range n.Args {
		if t := a.Type(); t == parser.ValueTypeVector || t == parser.ValueTypeMatrix {
			return c.resultLabels(a)
		}
	}
	return map[string]bool{}, true
}

func (c metricCatalog) binaryLabels(n *parser.BinaryExpr) (map[string]bool, bool) {
	l, lok := c.resultLabels(n.LHS)
	r, rok := c.resultLabels(n.RHS)
	switch {
	case n.LHS.Type() == parser.ValueTypeScalar:
		return r, rok
	case n.RHS.Type() == parser.ValueTypeScalar:
		return l, lok
	}
	vm := n.VectorMatching
	switch {
	case n.Op == parser.LAND || n.Op == parser.LUNLESS:
		return l, lok
	case n.Op == parser.LOR:
		if !lok || !rok {
			return nil, false
		}
		out := maps.Clone(l)
		maps.Copy(out, r)
		return out, true
	case vm == nil:
		return l, lok
	case vm.Card == parser.CardOneToOne && vm.On:
		out := map[string]bool{}
		for _, name := range vm.MatchingLabels {
			out[name] = true
		}
		return out, true
	case vm.Card == parser.CardOneToOne:
		if !lok {
			return nil, false
		}
		out := maps.Clone(l)
		for _, name := range vm.MatchingLabels {
			delete(out, name)
		}
		return out, true
	}
	// group_left keeps the left side's labels, group_right the right's,
	// plus the included ones.
	side, known := l, lok
	if vm.Card == parser.CardOneToMany {
		side, known = r, rok
	}
	if !known {
		return nil, false
	}
	out := maps.Clone(side)
	for _, name := range vm.Include {
		out[name] = true
	}
	return out, true
}

var (
	catalogOnce sync.Once
	catalog     metricCatalog
	catalogErr  error
)

// dashboardCatalog builds the metric catalog from the code: the
// descriptions the exporter's and the library packages' collectors send,
// the metrics cmd/health-exporter defines itself, the series the rules
// record, and Prometheus' own up and scrape_duration_seconds.
func dashboardCatalog(t *testing.T) metricCatalog {
	t.Helper()
	catalogOnce.Do(func() { catalog, catalogErr = buildCatalog() })
	if catalogErr != nil {
		t.Fatalf("metric catalog: %v", catalogErr)
	}
	return catalog
}

func buildCatalog() (metricCatalog, error) {
	cat := metricCatalog{
		"up":                      {},
		"scrape_duration_seconds": {},
	}
	described, err := describedMetrics(
		collectors.NewExporter(collectors.NewRunner(collectors.RunnerOptions{})),
		breaker.NewCollector(""),
		cache.NewCollector(""),
		search.NewCollector(""),
		// cmd/health-exporter registers the runtime collectors too.
		promcollectors.NewGoCollector(),
		promcollectors.NewProcessCollector(promcollectors.ProcessCollectorOpts{}),
	)
	if err != nil {
		return nil, err
	}
	maps.Copy(cat, described)
	own, err := commandMetrics(dashboardMainDir)
	if err != nil {
		return nil, err
	}
	maps.Copy(cat, own)
	records, _, err := ruleNames(dashboardRulesGlob)
	if err != nil {
		return nil, err
	}
	for _, r := range records {
		cat[r] = nil
	}
	return cat, nil
}

// TestDashboardCatalogFromCode checks that each source of the catalog was
// read: a metric of each, with its labels.
func TestDashboardCatalogFromCode(t *testing.T) {
	cat := dashboardCatalog(t)
	for name, want := range map[string][]string{
		"health_dependency_reason":          {"dependency", "kind", "reason"},  // the exporter
		"health_cache_hits_total":           {"dependency", "cache", "tenant"}, // its redis check
		"circuit_breaker_transitions_total": {"breaker", "to"},
		"cache_hits_total":                  {"cache", "tenant", "tier"},
		"search_fallbacks_total":            {"searcher", "reason"},
		"health_exporter_build_info":        {"version", "revision", "goversion"}, // cmd/health-exporter
		"go_goroutines":                     {},
	} {
		got, known := cat.labels(name)
		if !known {
			t.Errorf("catalog lacks %s", name)
			continue
		}
		if !maps.Equal(got, setOfLabels(want...)) {
			t.Errorf("%s: labels %v, want %v", name, slices.Sorted(maps.Keys(got)), want)
		}
	}
	records, _, err := ruleNames(dashboardRulesGlob)
	if err != nil {
		t.Fatal(err)
	}
	if len(records) == 0 {
		t.Fatal("the rules record nothing")
	}
	for _, r := range records {
		if ls, known := cat.labels(r); !known || ls != nil {
			t.Errorf("recorded series %s: known %v, labels %v; want known with labels left to the rules", r, known, ls)
		}
	}
	if ls, _ := cat.labels("cache_operation_duration_seconds_bucket"); !ls["le"] {
		t.Error("a histogram's _bucket series lacks le")
	}
}

func setOfLabels(names ...string) map[string]bool {
	out := map[string]bool{}
	for _, n := range names {
		out[n] = true
	}
	return out
}

// descString picks the name and label names out of prometheus.Desc.String().
var descString = regexp.MustCompile(`^Desc\{fqName: ("(?:[^"\\]|\\.)*"), help: "(?:[^"\\]|\\.)*",(?: unit: "(?:[^"\\]|\\.)*",)? constLabels: \{(.*)\}, variableLabels: \{([^{}]*)\}\}$`)

var constLabelName = regexp.MustCompile(`(?:^|,)([a-zA-Z_][a-zA-Z0-9_]*)="`)

// describedMetrics collects the metrics collectors describe, by name.
func describedMetrics(cs ...prometheus.Collector) (metricCatalog, error) {
	ch := make(chan *prometheus.Desc)
	go func() {
		for _, c := range cs {
			c.Describe(ch)
		}
		close(ch)
	}()
	out := metricCatalog{}
	var errs []error
	for d := range ch {
		m := descString.FindStringSubmatch(d.String())
		if m == nil {
			errs = append(errs, fmt.Errorf("cannot read %s", d))
			continue
		}
		name, err := strconv.Unquote(m[1])
		if err != nil {
			errs = append(errs, fmt.Errorf("read %s: %w", d, err))
			continue
		}
		ls := map[string]bool{}
		for _, c := range constLabelName.FindAllStringSubmatch(m[2], -1) {
			ls[c[1]] = true
		}
		for _, l := range strings.Split(m[3], ",") {
			if l = strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"); l != "" {
				ls[l] = true
			}
		}
		out[name] = ls
	}
	return out, errors.Join(errs...)
}

// commandMetrics reads the metrics a main package defines with
// prometheus.New*(prometheus.*Opts{Name: ...}, []string{labels...}).
func commandMetrics(dir string) (metricCatalog, error) {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	out := metricCatalog{}
	var errs []error
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := goparser.ParseFile(fset, f, nil, 0)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", f, err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || !isPrometheusCall(call.Fun, "New") || len(call.Args) == 0 {
				return true
			}
			opts, ok := call.Args[0].(*ast.CompositeLit)
			if !ok || !isPrometheusCall(opts.Type, "") || !strings.HasSuffix(opts.Type.(*ast.SelectorExpr).Sel.Name, "Opts") {
				return true
			}
			parts := map[string]string{}
			for _, elt := range opts.Elts {
				kv, ok := elt.(*ast.KeyValueExpr)
				key, _ := kv.Key.(*ast.Ident)
				if !ok || key == nil || (key.Name != "Namespace" && key.Name != "Subsystem" && key.Name != "Name") {
					continue
				}
				s, err := stringLiteral(kv.Value)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %s: %w", fset.Position(kv.Pos()), key.Name, err))
					continue
				}
				parts[key.Name] = s
			}
			ls := map[string]bool{}
			if len(call.Args) > 1 {
				names, ok := call.Args[1].(*ast.CompositeLit)
				if !ok {
					errs = append(errs, fmt.Errorf("%s: label names are not a []string literal", fset.Position(call.Args[1].Pos())))
					return true
				}
				for _, e := range names.Elts {
					s, err := stringLiteral(e)
					if err != nil {
						errs = append(errs, fmt.Errorf("%s: label name: %w", fset.Position(e.Pos()), err))
						continue
					}
					ls[s] = true
				}
			}
			out[prometheus.BuildFQName(parts["Namespace"], parts["Subsystem"], parts["Name"])] = ls
			return true
		})
	}
	if len(out) == 0 {
		errs = append(errs, fmt.Errorf("found no metric defined in %s", dir))
	}
	return out, errors.Join(errs...)
}

func isPrometheusCall(e ast.Expr, prefix string) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && pkg.Name == "prometheus" && strings.HasPrefix(sel.Sel.Name, prefix)
}

func stringLiteral(e ast.Expr) (string, error) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", fmt.Errorf("not a string literal")
	}
	return strconv.Unquote(lit.Value)
}

// ruleNames returns the names the rule files record and alert on.
func ruleNames(glob string) (records, alerts []string, err error) {
	files, err := filepath.Glob(glob)
	if err != nil {
		return nil, nil, fmt.Errorf("list rules: %w", err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("read rules: %w", err)
		}
		var doc struct {
			Groups []struct {
				Rules []struct {
					Record string `yaml:"record"`
					Alert  string `yaml:"alert"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		}
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			return nil, nil, fmt.Errorf("parse %s: %w", f, err)
		}
		for _, g := range doc.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					records = append(records, r.Record)
				}
				if r.Alert != "" {
					alerts = append(alerts, r.Alert)
				}
			}
		}
	}
	if len(alerts) == 0 {
		return nil, nil, fmt.Errorf("no alerting rule in %s", glob)
	}
	return records, alerts, nil
}

// stateKind is a family of one-series-per-state gauges that a panel encodes
// as one number per entity and maps back to state names.
type stateKind struct {
	key    string   // label naming the entity
	states []string // least to most severe
	// suffixes are the endings of entity names that panels select apart
	// from the others, "" for plain names.
	suffixes []string
}

var (
	dependencyStates = stateKind{key: "dependency", suffixes: []string{""}, states: []string{
		collectors.Healthy.String(), collectors.Degraded.String(), collectors.Down.String()}}
	// A search dependency's breaker around its primary is <dependency>_primary.
	breakerStates = stateKind{key: "breaker", suffixes: []string{"", primaryBreakerSuffix}, states: []string{
		breaker.Closed.String(), breaker.HalfOpen.String(), breaker.Open.String()}}

	stateMetrics = map[string]stateKind{
		"health_dependency_status": dependencyStates,
		"circuit_breaker_state":    breakerStates,
	}
	// The colour each state shows in, by rank: a traffic light.
	stateColors = [][]string{{"green"}, {"orange", "yellow"}, {"red"}}
)

// statePanel is a panel showing state gauges, with the mapping it needs.
type statePanel struct {
	grafanaPanel
	dashboard loadedDashboard
	states    []string
	values    map[string]float64 // state name → the value the panel maps to it
	queries   []stateQuery
}

type stateQuery struct {
	expr   string
	metric string
	kind   stateKind
}

// statePanels finds the panels whose queries read state gauges and checks
// their value mappings name every state in traffic-light colours.
func statePanels(t *testing.T) []statePanel {
	t.Helper()
	if len(collectors.Statuses) != len(dependencyStates.states) {
		t.Fatalf("collectors.Statuses has %d states, the dashboards map %d", len(collectors.Statuses), len(dependencyStates.states))
	}
	var out []statePanel
	for _, d := range loadDashboards(t) {
		for _, p := range d.panels() {
			sp := statePanel{grafanaPanel: p, dashboard: d}
			for _, q := range p.Targets {
				parsed, err := dashPromQL.ParseExpr(grafanaMacro.ReplaceAllString(q.Expr, "1m"))
				if err != nil {
					continue // TestDashboardQueries reports it
				}
				parser.Inspect(parsed, func(node parser.Node, _ []parser.Node) error {
					vs, ok := node.(*parser.VectorSelector)
					if !ok {
						return nil
					}
					if kind, ok := stateMetrics[vs.Name]; ok {
						sq := stateQuery{expr: q.Expr, metric: vs.Name, kind: kind}
						if !slices.ContainsFunc(sp.queries, func(x stateQuery) bool { return x.expr == sq.expr }) {
							sp.queries = append(sp.queries, sq)
						}
					}
					return nil
				})
			}
			if len(sp.queries) == 0 {
				continue
			}
			sp.states = sp.queries[0].kind.states
			for _, q := range sp.queries[1:] {
				if !slices.Equal(q.kind.states, sp.states) {
					t.Errorf("%s: mixes %v and %v in one panel", p.where(d), sp.states, q.kind.states)
				}
			}
			sp.values = stateValues(t, p, d, sp.states)
			out = append(out, sp)
		}
	}
	return out
}

func stateValues(t *testing.T, p grafanaPanel, d loadedDashboard, states []string) map[string]float64 {
	t.Helper()
	values := map[string]float64{}
	for _, m := range p.mappings(t) {
		if m.Type != "value" {
			continue
		}
		for value, result := range m.Options {
			rank := slices.Index(states, result.Text)
			if rank < 0 {
				t.Errorf("%s: maps %s to %q, which is no state of %v", p.where(d), value, result.Text, states)
				continue
			}
			if !slices.Contains(stateColors[rank], result.Color) {
				t.Errorf("%s: state %s shows %q, want one of %v", p.where(d), result.Text, result.Color, stateColors[rank])
			}
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Errorf("%s: mapped value %q: %v", p.where(d), value, err)
				continue
			}
			values[result.Text] = v
		}
	}
	for _, s := range states {
		if _, ok := values[s]; !ok {
			t.Errorf("%s: value mappings do not cover state %s", p.where(d), s)
		}
	}
	return values
}

func TestDashboardStateMappings(t *testing.T) {
	panels := statePanels(t)
	titles := map[string][]string{}
	for _, p := range panels {
		titles[p.dashboard.file] = append(titles[p.dashboard.file], p.Title)
	}
	// Both dashboards show the dependency's state and its breaker's.
	for file := range dashboardUIDs {
		if len(titles[file]) < 2 {
			t.Errorf("%s: state panels %v, want the dependency state and the breaker state at least", file, titles[file])
		}
	}
}

// TestDashboardStatesEvaluate runs each state panel's queries through
// promtool over series shaped as the exporter exposes them, one entity in
// each state and one seen healthy by one exporter and in the worst state by
// another, each under every name suffix the panels tell apart (a breaker
// and a search primary's <dependency>_primary). It requires each entity a
// query selects to map to its (worst) state, a query scoped to the
// $dependency variable to select one entity, and any other to select some.
func TestDashboardStatesEvaluate(t *testing.T) {
	cat := dashboardCatalog(t)
	panels := statePanels(t)
	var inputs []string
	var cases []promqlCase
	for _, metric := range slices.Sorted(maps.Keys(stateMetrics)) {
		kind := stateMetrics[metric]
		last := len(kind.states) - 1
		worst := map[string]string{} // entity → expected state
		var bases []string
		for _, base := range append(slices.Clone(kind.states), "split") {
			if base != "split" {
				base = "in_" + base
			}
			bases = append(bases, base)
			for _, suffix := range kind.suffixes {
				entity := base + suffix
				if base == "split" {
					inputs = append(inputs, stateSeries(t, cat, metric, kind, entity, "exporter-a:9808", 0)...)
					inputs = append(inputs, stateSeries(t, cat, metric, kind, entity, "exporter-b:9808", last)...)
					worst[entity] = kind.states[last]
					continue
				}
				state := strings.TrimPrefix(base, "in_")
				inputs = append(inputs, stateSeries(t, cat, metric, kind, entity, "exporter-a:9808", slices.Index(kind.states, state))...)
				worst[entity] = state
			}
		}
		entities := slices.Sorted(maps.Keys(worst))

		for _, p := range panels {
			for _, q := range p.queries {
				if q.metric != metric {
					continue
				}
				perEntity := usesVariable(q.expr, "dependency")
				scopes := []string{"main"} // the value $dependency would have; unused
				if perEntity {
					scopes = bases
				}
				for _, scope := range scopes {
					expr := expandVariables(t, q.expr, scope)
					selected := selectedEntities(t, expr, metric, kind.key, entities)
					if perEntity && len(selected) != 1 || len(selected) == 0 {
						t.Errorf("%s: %s selects %v of %v", p.where(p.dashboard), expr, selected, entities)
						continue
					}
					c := promqlCase{where: p.where(p.dashboard), expr: fmt.Sprintf("max by (%s) (%s)", kind.key, expr)}
					for _, e := range selected {
						c.want = append(c.want, promqlSample{labels: fmt.Sprintf("{%s=%q}", kind.key, e), value: p.values[worst[e]]})
					}
					cases = append(cases, c)
				}
			}
		}
	}
	if len(cases) == 0 {
		t.Fatal("no state panel to evaluate")
	}
	runPromqlCases(t, inputs, cases)
}

// usesVariable says whether a query refers to the Grafana variable name,
// as $name or ${name}.
func usesVariable(expr, name string) bool {
	return slices.ContainsFunc(grafanaVariableRef.FindAllStringSubmatch(expr, -1), func(m []string) bool { return m[1] == name })
}

// selectedEntities returns the entities, by the value of their key label,
// that every selector of metric in expr lets through.
func selectedEntities(t *testing.T, expr, metric, key string, entities []string) []string {
	t.Helper()
	parsed, err := dashPromQL.ParseExpr(expr)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	var matchers []*labels.Matcher
	parser.Inspect(parsed, func(node parser.Node, _ []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok && vs.Name == metric {
			for _, m := range vs.LabelMatchers {
				if m.Name == key {
					matchers = append(matchers, m)
				}
			}
		}
		return nil
	})
	return slices.DeleteFunc(slices.Clone(entities), func(e string) bool {
		return slices.ContainsFunc(matchers, func(m *labels.Matcher) bool { return !m.Matches(e) })
	})
}

// stateSeries returns the one-per-state series of an entity in the state of
// the given rank.
func stateSeries(t *testing.T, cat metricCatalog, metric string, kind stateKind, entity, instance string, rank int) []string {
	t.Helper()
	var out []string
	for i, state := range kind.states {
		value := "0x30"
		if i == rank {
			value = "1x30"
		}
		out = append(out, seriesLine(t, cat, metric, map[string]string{kind.key: entity, "state": state, "instance": instance}, value))
	}
	return out
}

// Label values of the test series where the test does not set them.
var seriesDefaults = map[string]string{
	"job": "health-exporter", "instance": "exporter-a:9808",
	"dependency": "main", "breaker": "main", "searcher": "main",
	"kind": "redis", "cache": "sessions", "tenant": "acme",
}

// seriesLine writes a promtool input series with every label the metric
// really has: the catalog's, filled from set and seriesDefaults.
func seriesLine(t *testing.T, cat metricCatalog, metric string, set map[string]string, values string) string {
	t.Helper()
	ls, known := cat.labels(metric)
	if !known || ls == nil {
		t.Fatalf("no labels known for %s", metric)
	}
	all := maps.Clone(ls)
	maps.Copy(all, implicitLabel)
	var pairs []string
	for _, l := range slices.Sorted(maps.Keys(all)) {
		v, ok := set[l]
		if !ok {
			v, ok = seriesDefaults[l]
		}
		if !ok {
			t.Fatalf("series of %s: no value for label %s", metric, l)
		}
		pairs = append(pairs, fmt.Sprintf("%s=%q", l, v))
	}
	for l := range set {
		if !ls[l] && !implicitLabel[l] {
			t.Fatalf("series of %s: it has no label %s", metric, l)
		}
	}
	return fmt.Sprintf("      - series: '%s{%s}'\n        values: '%s'\n", metric, strings.Join(pairs, ","), values)
}

var grafanaVariableRef = regexp.MustCompile(`\$\{?([a-zA-Z_][a-zA-Z0-9_]*)\}?`)

// expandVariables gives a query the values Grafana would: every job and
// instance, the given dependency, and a rate interval of two samples of the
// tests' 1m interval.
func expandVariables(t *testing.T, expr, dependency string) string {
	t.Helper()
	values := map[string]string{"job": ".+", "instance": ".+", "dependency": dependency, "__rate_interval": "2m"}
	return grafanaVariableRef.ReplaceAllStringFunc(expr, func(s string) string {
		name := grafanaVariableRef.FindStringSubmatch(s)[1]
		v, ok := values[name]
		if !ok {
			t.Fatalf("no test value for variable %s in %s", name, expr)
		}
		return v
	})
}

// TestDashboardRatiosEvaluate feeds every ratio panel (unit percentunit)
// counters in which three lookups of four hit, split over both cache
// tiers, three searches of four go to the fallback, and so on, and
// requires every series of the ratio to be 0.75: a ratio that forgot a
// tier, divided hits by misses or missed a label would not be.
func TestDashboardRatiosEvaluate(t *testing.T) {
	cat := dashboardCatalog(t)
	// A counter rising perSec a second, sampled every minute.
	grow := func(perSec int) string { return fmt.Sprintf("0+%dx30", perSec*60) }
	inputs := []string{
		seriesLine(t, cat, "cache_requests_total", nil, grow(4)),
		seriesLine(t, cat, "cache_hits_total", map[string]string{"tier": "local"}, grow(1)),
		seriesLine(t, cat, "cache_hits_total", map[string]string{"tier": "redis"}, grow(2)),
		seriesLine(t, cat, "health_cache_requests_total", nil, grow(4)),
		seriesLine(t, cat, "health_cache_hits_total", nil, grow(3)),
		seriesLine(t, cat, "health_redis_keyspace_hits_total", nil, grow(3)),
		seriesLine(t, cat, "health_redis_keyspace_misses_total", nil, grow(1)),
		seriesLine(t, cat, "search_requests_total", map[string]string{"backend": "primary"}, grow(1)),
		seriesLine(t, cat, "search_requests_total", map[string]string{"backend": "fallback"}, grow(3)),
	}
	var cases []promqlCase
	for _, d := range loadDashboards(t) {
		for _, p := range d.panels() {
			if p.FieldConfig.Defaults.Unit != "percentunit" {
				continue
			}
			for _, q := range p.Targets {
				expr := expandVariables(t, q.Expr, "main")
				for _, agg := range []string{"min", "max"} {
					cases = append(cases, promqlCase{
						where: p.where(d),
						expr:  fmt.Sprintf("%s(%s)", agg, expr),
						want:  []promqlSample{{labels: "{}", value: 0.75}},
					})
				}
			}
		}
	}
	if len(cases) == 0 {
		t.Fatal("no ratio panel to evaluate")
	}
	runPromqlCases(t, inputs, cases)
}

type promqlSample struct {
	labels string
	value  float64
}

type promqlCase struct {
	where string
	expr  string
	want  []promqlSample
}

// runPromqlCases evaluates the cases with promtool's unit tests at 10m over
// the input series, sampled every minute.
func runPromqlCases(t *testing.T, inputs []string, cases []promqlCase) {
	t.Helper()
	promtool := testenv.Binary(t, "promtool")
	var b strings.Builder
	b.WriteString("rule_files: []\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n")
	for _, in := range inputs {
		b.WriteString(in)
	}
	b.WriteString("    promql_expr_test:\n")
	for _, c := range cases {
		fmt.Fprintf(&b, "      # %s\n      - expr: %s\n        eval_time: 10m\n        exp_samples:\n", c.where, yamlQuote(c.expr))
		for _, s := range c.want {
			fmt.Fprintf(&b, "          - labels: %s\n            value: %s\n", yamlQuote(s.labels), strconv.FormatFloat(s.value, 'g', -1, 64))
		}
	}
	file := filepath.Join(t.TempDir(), "dashboards_test.yml")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), promtool, "test", "rules", file).CombinedOutput()
	if err != nil {
		t.Errorf("promtool test rules: %v\n%s\ntest file:\n%s", err, out, b.String())
	}
}

func yamlQuote(s string) string {
	out, err := json.Marshal(s) // JSON strings are YAML double-quoted scalars
	if err != nil {
		panic(err)
	}
	return string(out)
}

// TestDashboardQueriesPassPromtool has the installed Prometheus' parser
// (through promtool check rules) accept every query, variables expanded.
func TestDashboardQueriesPassPromtool(t *testing.T) {
	promtool := testenv.Binary(t, "promtool")
	type recording struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []recording
	for _, d := range loadDashboards(t) {
		for _, p := range d.panels() {
			for _, q := range p.Targets {
				rules = append(rules, recording{
					Record: fmt.Sprintf("dashboard_query_%d", len(rules)),
					Expr:   expandVariables(t, q.Expr, "main"),
				})
			}
		}
	}
	doc := map[string]any{"groups": []map[string]any{{"name": "dashboards", "rules": rules}}}
	raw, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "dashboards.rules.yml")
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), promtool, "check", "rules", file).CombinedOutput()
	if err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
}

func TestDashboardLinks(t *testing.T) {
	_, alerts, err := ruleNames(dashboardRulesGlob)
	if err != nil {
		t.Fatal(err)
	}
	anchors := runbookAnchors(t)
	ds := loadDashboards(t)
	byUID := map[string]loadedDashboard{}
	for _, d := range ds {
		byUID[d.UID] = d
	}
	linked := map[string]bool{} // alerts the overview links to
	for _, d := range ds {
		for _, l := range d.Links {
			for _, p := range checkLink(l, d, byUID, alerts, anchors) {
				t.Errorf("%s: dashboard link %q: %s", d.file, l.Title, p)
			}
		}
		for _, p := range d.panels() {
			for _, l := range p.allLinks(t) {
				if l.Title == "" {
					t.Errorf("%s: link %s has no title", p.where(d), l.URL)
				}
				for _, problem := range checkLink(l, d, byUID, alerts, anchors) {
					t.Errorf("%s: link %q: %s", p.where(d), l.Title, problem)
				}
				if anchor, ok := strings.CutPrefix(l.URL, dashboardRunbookURL+"#"); ok && d.UID == dashboardUIDs["health-exporter-overview.json"] {
					linked[anchor] = true
				}
			}
		}
	}
	for _, a := range alerts {
		if a != "Watchdog" && !linked[strings.ToLower(a)] {
			t.Errorf("no overview panel links to the runbook of %s", a)
		}
	}
}

// checkLink accepts runbook links to an alert's section, the runbooks
// page, and links to a dashboard here whose var- parameters it has.
func checkLink(l grafanaLink, from loadedDashboard, byUID map[string]loadedDashboard, alerts []string, anchors map[string]bool) []string {
	if l.URL == dashboardRunbookURL {
		return nil
	}
	if anchor, ok := strings.CutPrefix(l.URL, dashboardRunbookURL+"#"); ok {
		var problems []string
		if !slices.ContainsFunc(alerts, func(a string) bool { return strings.ToLower(a) == anchor }) {
			problems = append(problems, fmt.Sprintf("anchor %s names no alert of the rules", anchor))
		}
		if !anchors[anchor] {
			problems = append(problems, fmt.Sprintf("%s has no section #%s", dashboardRunbooks, anchor))
		}
		return problems
	}
	rest, ok := strings.CutPrefix(l.URL, "/d/")
	if !ok {
		return []string{fmt.Sprintf("%s is neither a runbook nor a dashboard of this bundle", l.URL)}
	}
	path, query, _ := strings.Cut(rest, "?")
	uid, _, _ := strings.Cut(path, "/")
	to, ok := byUID[uid]
	if !ok {
		return []string{fmt.Sprintf("no dashboard has uid %s", uid)}
	}
	var problems []string
	for _, param := range strings.Split(query, "&") {
		switch {
		case param == "" || param == "${__url_time_range}":
		case strings.HasPrefix(param, "var-"):
			name, _, _ := strings.Cut(strings.TrimPrefix(param, "var-"), "=")
			if _, ok := to.variables[name]; !ok {
				problems = append(problems, fmt.Sprintf("%s has no variable %s", to.file, name))
			}
		case strings.HasPrefix(param, "${") && strings.HasSuffix(param, ":queryparam}"):
			name := strings.TrimSuffix(strings.TrimPrefix(param, "${"), ":queryparam}")
			_, inFrom := from.variables[name]
			_, inTo := to.variables[name]
			if !inFrom || !inTo {
				problems = append(problems, fmt.Sprintf("variable %s is not in both %s and %s", name, from.file, to.file))
			}
		default:
			problems = append(problems, fmt.Sprintf("unexpected parameter %q", param))
		}
	}
	return problems
}

var markdownHeading = regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*$`)

// runbookAnchors returns the anchors GitHub gives the runbooks' headings.
func runbookAnchors(t *testing.T) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile(dashboardRunbooks)
	if err != nil {
		t.Fatalf("read runbooks: %v", err)
	}
	anchors := map[string]bool{}
	for _, m := range markdownHeading.FindAllStringSubmatch(string(raw), -1) {
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
				b.WriteRune(r)
			}
		}
		anchors[b.String()] = true
	}
	return anchors
}

func TestDashboardProvisioning(t *testing.T) {
	raw, err := os.ReadFile(dashboardProvisioner)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name                  string `yaml:"name"`
			OrgID                 int    `yaml:"orgId"`
			Type                  string `yaml:"type"`
			Folder                string `yaml:"folder"`
			FolderUID             string `yaml:"folderUid"`
			DisableDeletion       bool   `yaml:"disableDeletion"`
			AllowUIUpdates        bool   `yaml:"allowUiUpdates"`
			UpdateIntervalSeconds int    `yaml:"updateIntervalSeconds"`
			Options               struct {
				Path                      string `yaml:"path"`
				FoldersFromFilesStructure bool   `yaml:"foldersFromFilesStructure"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("%s: %v", dashboardProvisioner, err)
	}
	if cfg.APIVersion != 1 || len(cfg.Providers) != 1 {
		t.Fatalf("want apiVersion 1 and one provider, got %d and %d", cfg.APIVersion, len(cfg.Providers))
	}
	p := cfg.Providers[0]
	if p.Type != "file" || p.Folder != "health-exporter" {
		t.Errorf("provider is type %q in folder %q, want type file in folder health-exporter", p.Type, p.Folder)
	}
	if p.AllowUIUpdates {
		t.Error("allowUiUpdates: changes made in Grafana would silently differ from the files")
	}
	if !filepath.IsAbs(p.Options.Path) {
		t.Errorf("path %q is not absolute", p.Options.Path)
	}
	readme, err := os.ReadFile(dashboardReadme)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, []byte(p.Options.Path)) {
		t.Errorf("README.md does not say where the dashboards go (%s)", p.Options.Path)
	}
}

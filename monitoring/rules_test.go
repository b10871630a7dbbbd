package monitoring

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/health-exporter/health-exporter/internal/testenv"
)

func TestAlertsMatchContract(t *testing.T) {
	got := alerts(t)
	for name := range alertContract {
		if _, ok := got[name]; !ok {
			t.Errorf("alert %s of the contract is not defined", name)
		}
	}
	for name, r := range got {
		spec, ok := alertContract[name]
		if !ok {
			t.Errorf("alert %s is not in the contract (alertContract): add it there, with its inhibitions", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			if r.Labels["severity"] != spec.severity {
				t.Errorf("severity = %q, want %q", r.Labels["severity"], spec.severity)
			}
			// A changing reason must not make a new alert, nor reset for:.
			if _, ok := r.Labels["reason"]; ok {
				t.Error("has a reason label; template the reason into the annotations instead")
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("annotation %s is missing", a)
				}
			}
			if !strings.HasPrefix(r.Annotations["runbook_url"], runbookBase) {
				t.Errorf("runbook_url %q does not start with %s", r.Annotations["runbook_url"], runbookBase)
			}
			if name != "Watchdog" && r.For == "" {
				t.Error("has no for:; every alert but the heartbeat waits before paging")
			}
		})
	}
}

func TestRunbookAnchorsExist(t *testing.T) {
	anchors := markdownAnchors(t, runbooksFile)
	for name, r := range alerts(t) {
		anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], runbookBase)
		if !ok || anchor == "" {
			t.Errorf("%s: runbook_url %q has no anchor under %s", name, r.Annotations["runbook_url"], runbookBase)
			continue
		}
		if !anchors[anchor] {
			t.Errorf("%s: runbook_url anchor #%s has no heading in %s", name, anchor, runbooksFile)
		}
	}
}

// markdownAnchors returns the anchors a Markdown renderer (GitHub's rules)
// gives the headings of the file, skipping fenced code, where # starts shell
// comments.
func markdownAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open runbooks: %v", err)
	}
	defer f.Close()
	anchors := map[string]bool{}
	inFence := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			inFence = !inFence
			continue
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		anchors[headingAnchor(strings.TrimLeft(line, "#"))] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read runbooks: %v", err)
	}
	return anchors
}

// headingAnchor is GitHub's anchor for a heading: lower case, punctuation
// dropped, spaces turned into hyphens.
func headingAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

func TestHeadingAnchor(t *testing.T) {
	for heading, want := range map[string]string{
		" HealthDependencyDown":           "healthdependencydown",
		" First checks (at 3am)":          "first-checks-at-3am",
		" cache_tenant: hit ratio & more": "cache_tenant-hit-ratio--more",
	} {
		if got := headingAnchor(heading); got != want {
			t.Errorf("headingAnchor(%q) = %q, want %q", heading, got, want)
		}
	}
}

// TestHoldTimesAreJustified requires a comment on every for: and
// keep_firing_for:, saying why that long.
func TestHoldTimesAreJustified(t *testing.T) {
	for _, f := range loadRuleFiles(t) {
		for _, g := range mappingValue(f.root.Content[0], "groups").seq() {
			for _, r := range mappingValue(g, "rules").seq() {
				name := mappingValue(r, "alert")
				if name.Node == nil {
					continue
				}
				for i := 0; i+1 < len(r.Content); i += 2 {
					key := r.Content[i]
					if !holdKeys[key.Value] {
						continue
					}
					if strings.TrimSpace(key.HeadComment+key.LineComment) == "" {
						t.Errorf("%s: alert %s: %s: %s has no comment saying why", f.path, name.Value, key.Value, r.Content[i+1].Value)
					}
				}
			}
		}
	}
}

// recordName is level:metric:operations, as Prometheus' naming practice has it.
var recordName = regexp.MustCompile(`^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$`)

func TestRecordingRuleNames(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range allRules(t) {
		if r.Record == "" {
			continue
		}
		if !recordName.MatchString(r.Record) {
			t.Errorf("recording rule %s is not named level:metric:operations", r.Record)
		}
		if seen[r.Record] {
			t.Errorf("recording rule %s is defined twice", r.Record)
		}
		seen[r.Record] = true
	}
	if len(seen) == 0 {
		t.Error("no recording rules")
	}
}

// TestRulesUseContractMetrics keeps the rules in step with the metrics
// contract: every series an expression or an annotation's query reads is a
// contract metric or a recording rule of the bundle.
func TestRulesUseContractMetrics(t *testing.T) {
	known := recordedNames(t)
	for m := range contractMetrics {
		known[m] = true
	}
	p := parser.NewParser(parser.Options{})
	for _, r := range allRules(t) {
		expr, err := p.ParseExpr(r.Expr)
		if err != nil {
			t.Errorf("%s: parse expr: %v", r.name(), err)
			continue
		}
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				if name := selectorName(vs.Name, vs.LabelMatchers); !known[name] {
					t.Errorf("%s: expr reads %q, which is neither a contract metric nor a recording rule", r.name(), name)
				}
			}
			return nil
		})
		for a, text := range r.Annotations {
			for _, name := range templateMetrics(text) {
				if !known[name] {
					t.Errorf("%s: annotation %s queries %q, which is neither a contract metric nor a recording rule", r.name(), a, name)
				}
			}
		}
	}
}

// selectorName is the metric name a selector reads, from its name or its
// __name__ matcher.
func selectorName(name string, matchers []*labels.Matcher) string {
	if name != "" {
		return name
	}
	for _, m := range matchers {
		if m.Name == labels.MetricName {
			return m.Value
		}
	}
	return ""
}

// templateMetric finds `name{` in an annotation template: the series its
// query function reads. `}}{{` is template syntax, not a selector.
var templateMetric = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\{[^{]`)

func templateMetrics(text string) []string {
	var names []string
	for _, m := range templateMetric.FindAllStringSubmatch(text, -1) {
		names = append(names, m[1])
	}
	return names
}

// ruleTestFile is what these tests read of a promtool unit test file.
type ruleTestFile struct {
	Tests []struct {
		Name        string `yaml:"name"`
		InputSeries []struct {
			Series string `yaml:"series"`
		} `yaml:"input_series"`
		AlertRuleTests []struct {
			Alertname string           `yaml:"alertname"`
			ExpAlerts []map[string]any `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func loadRuleTests(t *testing.T) map[string]ruleTestFile {
	t.Helper()
	out := map[string]ruleTestFile{}
	for _, path := range globFiles(t, ruleTestsGlob) {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read rule tests: %v", err)
		}
		var f ruleTestFile
		if err := yaml.Unmarshal(src, &f); err != nil {
			t.Fatalf("decode %s: %v", path, err)
		}
		out[path] = f
	}
	return out
}

// TestRuleTestsCoverEveryAlert requires a promtool case where each alert
// fires and one where it stays silent (the heartbeat excepted: it always
// fires).
func TestRuleTestsCoverEveryAlert(t *testing.T) {
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, f := range loadRuleTests(t) {
		for _, tg := range f.Tests {
			for _, at := range tg.AlertRuleTests {
				if len(at.ExpAlerts) > 0 {
					fires[at.Alertname] = true
				} else {
					silent[at.Alertname] = true
				}
			}
		}
	}
	for name := range alertContract {
		if !fires[name] {
			t.Errorf("no promtool case shows %s firing", name)
		}
		if name != "Watchdog" && !silent[name] {
			t.Errorf("no promtool case shows %s staying silent", name)
		}
	}
}

// TestRuleTestInputsUseContractMetrics keeps the promtool inputs honest: a
// test fed a misspelt series would prove nothing about the real exporter.
func TestRuleTestInputsUseContractMetrics(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	for path, f := range loadRuleTests(t) {
		for _, tg := range f.Tests {
			for _, in := range tg.InputSeries {
				ms, err := p.ParseMetricSelector(in.Series)
				if err != nil {
					t.Errorf("%s: %s: parse series %q: %v", path, tg.Name, in.Series, err)
					continue
				}
				if name := selectorName("", ms); !contractMetrics[name] {
					t.Errorf("%s: %s: input series %q is not a contract metric", path, tg.Name, name)
				}
			}
		}
	}
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool := testenv.Binary(t, "promtool")
	args := append([]string{"check", "rules", "--lint=all", "--lint-fatal"}, globFiles(t, rulesGlob)...)
	runTool(t, promtool, args...)
}

func TestPromtoolTestRules(t *testing.T) {
	promtool := testenv.Binary(t, "promtool")
	args := append([]string{"test", "rules"}, globFiles(t, ruleTestsGlob)...)
	runTool(t, promtool, args...)
}

// TestPromtoolChecksShortenedRules proves the demo copy of the rules is as
// valid as the production rules.
func TestPromtoolChecksShortenedRules(t *testing.T) {
	promtool := testenv.Binary(t, "promtool")
	dir := t.TempDir()
	var files []string
	for _, path := range globFiles(t, rulesGlob) {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read rules: %v", err)
		}
		short, err := ShortenHoldTimes(src, 20)
		if err != nil {
			t.Fatalf("ShortenHoldTimes(%s): %v", path, err)
		}
		dst := filepath.Join(dir, filepath.Base(path))
		if err := os.WriteFile(dst, short, 0o644); err != nil {
			t.Fatalf("write shortened rules: %v", err)
		}
		files = append(files, dst)
	}
	sort.Strings(files)
	runTool(t, promtool, append([]string{"check", "rules", "--lint=all", "--lint-fatal"}, files...)...)
}

// runTool runs a tool to completion and fails the test, with its output,
// when it exits non-zero.
func runTool(t *testing.T, path string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), path, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(path), strings.Join(args, " "), err, out)
	}
	return string(out)
}

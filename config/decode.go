package config

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Error is a configuration error. Its message is one line naming the file,
// the line and the setting, e.g.
//
//	config.yml:12: dependencies[2] "db": timeout: invalid duration "5x"
//
// It never contains the value of a secret.
type Error struct {
	// File is the name given to Load or Parse.
	File string
	// Line is the 1-based line of the offending key or value; 0 when the
	// error concerns the document as a whole.
	Line int
	// Path says where in the document: `dependencies[2] "db": http.url`.
	Path string
	// Msg is what is wrong.
	Msg string
	// Err is the underlying error, if any (e.g. an *fs.PathError from a
	// secret file).
	Err error
}

// Error formats e as "file:line: path: msg".
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// errAt builds an *Error located at n; %w in format sets Err.
func errAt(n *yaml.Node, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	e := &Error{Msg: err.Error(), Err: errors.Unwrap(err)}
	if n != nil {
		e.Line = n.Line
	}
	return e
}

// within prefixes the path of err, an *Error, with key: "http" + "url"
// gives "http.url", "expect_status" + "[1]" gives "expect_status[1]".
func within(key string, err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	switch {
	case e.Path == "":
		e.Path = key
	case strings.HasPrefix(e.Path, "["):
		e.Path = key + e.Path
	default:
		e.Path = key + "." + e.Path
	}
	return err
}

// decoder walks a yaml.Node tree into the configuration types. It does
// its own strict decoding, rather than yaml.v3's, so that every error
// carries a line and a path, environment references are expanded per
// scalar, and secret files are read where they are named.
type decoder struct {
	// dir is the directory relative file names are resolved against.
	dir string
	// lookupEnv resolves ${VAR} references.
	lookupEnv func(string) (string, bool)
	// readFile reads secret, CA, certificate and key files.
	readFile func(string) ([]byte, error)
}

// fields maps the keys a mapping may hold to the decoders of their values.
type fields map[string]func(*yaml.Node) error

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	}
	return "nothing"
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// pairs returns the key/value pairs of mapping n with YAML merge keys
// ("<<: *anchor") applied: explicit keys override merged ones, and a key
// given twice explicitly is an error.
func pairs(n *yaml.Node) ([][2]*yaml.Node, error) {
	var explicit, merged [][2]*yaml.Node
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			m, err := mergeSources(v)
			if err != nil {
				return nil, err
			}
			merged = append(merged, m...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return nil, errAt(k, "keys must be single values, got %s", describe(k))
		}
		if first, ok := seen[k.Value]; ok {
			return nil, errAt(k, "key %q repeated (first at line %d)", k.Value, first.Line)
		}
		seen[k.Value] = k
		explicit = append(explicit, [2]*yaml.Node{k, v})
	}
	for _, p := range merged {
		if _, ok := seen[p[0].Value]; !ok {
			seen[p[0].Value] = p[0]
			explicit = append(explicit, p)
		}
	}
	return explicit, nil
}

func mergeSources(v *yaml.Node) ([][2]*yaml.Node, error) {
	v = resolve(v)
	switch v.Kind {
	case yaml.MappingNode:
		return pairs(v)
	case yaml.SequenceNode:
		// Earlier mappings in a merge list win over later ones.
		var out [][2]*yaml.Node
		seen := map[string]bool{}
		for _, item := range v.Content {
			item = resolve(item)
			if item.Kind != yaml.MappingNode {
				return nil, errAt(item, "merge key (<<) needs mappings, got %s", describe(item))
			}
			ps, err := pairs(item)
			if err != nil {
				return nil, err
			}
			for _, p := range ps {
				if !seen[p[0].Value] {
					seen[p[0].Value] = true
					out = append(out, p)
				}
			}
		}
		return out, nil
	}
	return nil, errAt(v, "merge key (<<) needs a mapping, got %s", describe(v))
}

// mapping decodes the mapping n through fs. A null value counts as an
// empty mapping. Unknown keys are errors. It returns the key nodes by key,
// for cross-field checks to point at.
func (d *decoder) mapping(n *yaml.Node, fs fields) (map[string]*yaml.Node, error) {
	n = resolve(n)
	keys := map[string]*yaml.Node{}
	if isNull(n) {
		return keys, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, errAt(n, "expected a mapping, got %s", describe(n))
	}
	ps, err := pairs(n)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		k, v := p[0], p[1]
		decode, ok := fs[k.Value]
		if !ok {
			if near := nearest(k.Value, fs); near != "" {
				return nil, errAt(k, "unknown key %q (did you mean %q?)", k.Value, near)
			}
			return nil, errAt(k, "unknown key %q", k.Value)
		}
		keys[k.Value] = k
		if err := decode(v); err != nil {
			return nil, within(k.Value, err)
		}
	}
	return keys, nil
}

// nearest returns the known key closest to a misspelt one, "" when none
// is within two edits.
func nearest(key string, fs fields) string {
	best, bestDist := "", 3
	for k := range fs {
		if d := editDistance(key, k); d < bestDist || (d == bestDist && k < best) {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// keyErr builds an error about key, located at its line in keys or, when
// the key was not given there (an inherited value), at fallback.
func keyErr(keys map[string]*yaml.Node, key string, fallback *yaml.Node, format string, args ...any) error {
	n := keys[key]
	if n == nil {
		n = fallback
	}
	return within(key, errAt(n, format, args...))
}

// crossErr builds an error about a rule between several keys, located at
// the first of them given at this level, else at fallback. Its message
// names the keys itself, so the path stays that of the enclosing block.
func crossErr(keys map[string]*yaml.Node, candidates []string, fallback *yaml.Node, format string, args ...any) error {
	n := fallback
	for _, k := range candidates {
		if keys[k] != nil {
			n = keys[k]
			break
		}
	}
	return errAt(n, format, args...)
}

// valueOf returns the value node of key in mapping m, nil when absent.
func valueOf(m *yaml.Node, key string) *yaml.Node {
	m = resolve(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	// The explicit keys first: they win, and pairs refuses a document
	// with a repeated key, which must still name its dependency.
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.ShortTag() != "!!merge" && k.Value == key {
			return resolve(m.Content[i+1])
		}
	}
	ps, err := pairs(m)
	if err != nil {
		return nil
	}
	for _, p := range ps {
		if p[0].Value == key {
			return resolve(p[1])
		}
	}
	return nil
}

// scalar returns the value of the scalar n with environment references
// expanded; null is "".
func (d *decoder) scalar(n *yaml.Node) (string, error) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode {
		return "", errAt(n, "expected a single value, got %s", describe(n))
	}
	if isNull(n) {
		return "", nil
	}
	s, err := expand(n.Value, d.lookupEnv)
	if err != nil {
		return "", errAt(n, "%w", err)
	}
	return s, nil
}

// check validates a decoded value; it returns a message, "" when valid.
type check[T any] func(T) string

// value decodes a scalar with parse and checks, storing it in p.
func value[T any](d *decoder, p *T, parse func(string) (T, error), checks ...check[T]) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		s, err := d.scalar(n)
		if err != nil {
			return err
		}
		v, err := parse(s)
		if err != nil {
			return errAt(resolve(n), "%w", err)
		}
		for _, c := range checks {
			if msg := c(v); msg != "" {
				return errAt(resolve(n), "%s", msg)
			}
		}
		*p = v
		return nil
	}
}

func parseString(s string) (string, error) { return s, nil }

func parseDuration(s string) (time.Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return v, nil
}

func parseInt(s string) (int, error) {
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("invalid integer %q", s)
	}
	return v, nil
}

func parseUint32(s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("invalid non-negative integer %q", s)
	}
	return uint32(v), nil
}

func parseFloat(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("invalid number %q", s)
	}
	return v, nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("invalid boolean %q (want true or false)", s)
}

func (d *decoder) str(p *string, checks ...check[string]) func(*yaml.Node) error {
	return value(d, p, parseString, checks...)
}

func (d *decoder) duration(p *time.Duration, checks ...check[time.Duration]) func(*yaml.Node) error {
	return value(d, p, parseDuration, checks...)
}

func (d *decoder) integer(p *int, checks ...check[int]) func(*yaml.Node) error {
	return value(d, p, parseInt, checks...)
}

func (d *decoder) uint32(p *uint32, checks ...check[uint32]) func(*yaml.Node) error {
	return value(d, p, parseUint32, checks...)
}

func (d *decoder) float(p *float64, checks ...check[float64]) func(*yaml.Node) error {
	return value(d, p, parseFloat, checks...)
}

func (d *decoder) boolean(p *bool) func(*yaml.Node) error {
	return value(d, p, parseBool)
}

// path decodes a file name, resolved against the config file's directory.
func (d *decoder) path(p *string) func(*yaml.Node) error {
	return value(d, p, func(s string) (string, error) {
		if s == "" {
			return "", errors.New("file name must not be empty")
		}
		return d.abs(s), nil
	})
}

func (d *decoder) abs(name string) string {
	if filepath.IsAbs(name) || d.dir == "" {
		return name
	}
	return filepath.Join(d.dir, name)
}

// list decodes a sequence, calling item for each element.
func (d *decoder) list(n *yaml.Node, item func(i int, n *yaml.Node) error) error {
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return errAt(n, "expected a list, got %s", describe(n))
	}
	for i, c := range n.Content {
		if err := item(i, c); err != nil {
			return within(fmt.Sprintf("[%d]", i), err)
		}
	}
	return nil
}

func listOf[T any](d *decoder, p *[]T, parse func(string) (T, error), checks ...check[T]) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		var out []T
		err := d.list(n, func(_ int, c *yaml.Node) error {
			var v T
			if err := value(d, &v, parse, checks...)(c); err != nil {
				return err
			}
			out = append(out, v)
			return nil
		})
		if err != nil {
			return err
		}
		*p = out
		return nil
	}
}

// stringMap decodes a mapping of single values; each key is checked with
// keyCheck and each value decoded with parse.
func stringMap[T any](d *decoder, p *map[string]T, keyCheck check[string], parse func(string) (T, error)) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		n = resolve(n)
		if isNull(n) {
			return nil
		}
		if n.Kind != yaml.MappingNode {
			return errAt(n, "expected a mapping, got %s", describe(n))
		}
		ps, err := pairs(n)
		if err != nil {
			return err
		}
		out := make(map[string]T, len(ps))
		for _, kv := range ps {
			k := kv[0]
			if msg := keyCheck(k.Value); msg != "" {
				return within(k.Value, errAt(k, "%s", msg))
			}
			var v T
			if err := value(d, &v, parse)(kv[1]); err != nil {
				return within(k.Value, err)
			}
			out[k.Value] = v
		}
		*p = out
		return nil
	}
}

// Checks shared by several fields.

func positive(v time.Duration) string {
	if v <= 0 {
		return fmt.Sprintf("must be greater than 0, got %s", v)
	}
	return ""
}

func notNegative(v time.Duration) string {
	if v < 0 {
		return fmt.Sprintf("must not be negative, got %s", v)
	}
	return ""
}

func atLeastOne(v uint32) string {
	if v < 1 {
		return "must be at least 1, got 0"
	}
	return ""
}

func intAtLeast(min int) check[int] {
	return func(v int) string {
		if v < min {
			return fmt.Sprintf("must be at least %d, got %d", min, v)
		}
		return ""
	}
}

// ratio accepts (0, 1].
func ratio(v float64) string {
	if v <= 0 || v > 1 {
		return fmt.Sprintf("must be greater than 0 and at most 1, got %g", v)
	}
	return ""
}

func nonEmpty(v string) string {
	if v == "" {
		return "must not be empty"
	}
	return ""
}

func oneOf(allowed ...string) check[string] {
	return func(v string) string {
		for _, a := range allowed {
			if v == a {
				return ""
			}
		}
		quoted := make([]string, len(allowed))
		for i, a := range allowed {
			quoted[i] = strconv.Quote(a)
		}
		return fmt.Sprintf("unknown value %q (want one of %s)", v, strings.Join(quoted, ", "))
	}
}

// identifierRE is a safe, unquoted SQL identifier; also a dependency name.
var identifierRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

func identifier(v string) string {
	if !identifierRE.MatchString(v) {
		return fmt.Sprintf("%q is not a valid identifier (want ^[a-z_][a-z0-9_]*$)", v)
	}
	return ""
}

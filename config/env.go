package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expand replaces environment references in one scalar value:
//
//	${VAR}           the value of VAR, "" when unset
//	${VAR:-default}  the value of VAR, or default when VAR is unset or empty
//	${VAR:?message}  the value of VAR; an error when VAR is unset or empty
//	$$               a literal $
//
// A $ followed by anything else is kept as it is. Errors never repeat the
// value being expanded (it may be a secret), only the variable's name.
func expand(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", errors.New(`unterminated "${": write "$$" for a literal "$"`)
			}
			v, err := substitute(s[i+2:i+2+end], lookup)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String(), nil
}

// substitute resolves the inside of one ${...} reference.
func substitute(ref string, lookup func(string) (string, bool)) (string, error) {
	name, op, arg := ref, "", ""
	if i := strings.Index(ref, ":"); i >= 0 {
		name, op, arg = ref[:i], ref[i:min(i+2, len(ref))], ref[min(i+2, len(ref)):]
	}
	if !envNameRE.MatchString(name) {
		return "", errors.New(`invalid environment reference: want ${NAME}, ${NAME:-default} or ${NAME:?message}; write "$$" for a literal "$"`)
	}
	v, _ := lookup(name)
	switch op {
	case "":
		return v, nil
	case ":-":
		if v == "" {
			return arg, nil
		}
		return v, nil
	case ":?":
		if v == "" {
			if arg == "" {
				arg = "required"
			}
			return "", fmt.Errorf("environment variable %s is not set: %s", name, arg)
		}
		return v, nil
	}
	return "", fmt.Errorf(`invalid environment reference to %s: want ${%s}, ${%s:-default} or ${%s:?message}`, name, name, name, name)
}

package config

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// redacted is what a non-empty Secret prints as.
const redacted = "<secret>"

// Secret is a credential: a password, a token or a header value. Every way
// of printing it — String, GoString, fmt verbs, YAML and JSON — gives
// "<secret>" (or "" when it is empty, so a dump still shows whether one is
// set). Value returns the credential itself.
//
// Print configuration values with %v, %+v or %#v. A verb that does not fit
// a pointer, such as %s, makes fmt print the pointed-to struct inside its
// "%!s(...)" complaint without calling any Format method, so a Secret
// reached through a pointer would show there.
type Secret string

// Value returns the credential.
func (s Secret) Value() string { return string(s) }

// String returns "<secret>", or "" for an empty Secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString returns the redacted form for %#v.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// Format prints the redacted form for every verb: %q quotes it, %#v gives
// GoString, anything else the bare String.
func (s Secret) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'q':
		_, _ = io.WriteString(f, strconv.Quote(s.String()))
	case verb == 'v' && f.Flag('#'):
		_, _ = io.WriteString(f, s.GoString())
	default:
		_, _ = io.WriteString(f, s.String())
	}
}

// MarshalYAML writes the redacted form.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalJSON writes the redacted form.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

var (
	_ fmt.Stringer     = Secret("")
	_ fmt.GoStringer   = Secret("")
	_ fmt.Formatter    = Secret("")
	_ yaml.Marshaler   = Secret("")
	_ json.Marshaler   = Secret("")
	_ yaml.Unmarshaler = (*Config)(nil)
)

// secret decodes an inline secret, typically "${ENV_VAR}".
func (d *decoder) secret(p *Secret) func(*yaml.Node) error {
	return value(d, p, func(s string) (Secret, error) { return Secret(s), nil })
}

// secretFile decodes a file name and reads the secret from it: surrounding
// white space (a trailing newline) is dropped; an empty file is an error.
// Errors name the file, never its contents.
func (d *decoder) secretFile(p *Secret) func(*yaml.Node) error {
	return value(d, p, d.readSecret)
}

func (d *decoder) readSecret(name string) (Secret, error) {
	if name == "" {
		return "", fmt.Errorf("file name must not be empty")
	}
	name = d.abs(name)
	b, err := d.readFile(name)
	if err != nil {
		return "", fmt.Errorf("reading secret: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("secret file %s is empty", name)
	}
	return Secret(s), nil
}

package collectors

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/health-exporter/health-exporter/config"
)

// NewChecker builds the Checker for a configured dependency.
func NewChecker(dc config.Dependency, logger *slog.Logger) (Checker, error) {
	switch dc.Kind {
	case "redis":
		return newRedisCheck(dc)
	case "postgres":
		return newPostgresCheck(dc)
	case "http":
		return newHTTPCheck(dc)
	case "tcp":
		return newTCPCheck(dc)
	case "search":
		return newSearchCheck(dc, logger)
	}
	return nil, fmt.Errorf("unknown kind %q", dc.Kind)
}

// errorResult turns a check's error into a down result whose detail says
// what was being done, without the URL (which may carry credentials).
func errorResult(doing string, err error) Result {
	return Failure(Classify(err), doing+": "+describe(err))
}

// describe renders err for people: url.Error's URL is dropped, since a URL
// can hold a password or a token, and the text is made a tidy detail.
func describe(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return tidyDetail(err.Error())
}

// maxDetail bounds a Result's detail, in bytes.
const maxDetail = 300

// tidyDetail makes s fit to show people as a Result's detail, whoever wrote
// it (a server's error, a body, a version string): one line, with runs of
// whitespace and control characters as single spaces, valid UTF-8, and at
// most maxDetail bytes, cut on a character boundary and marked with "…".
func tidyDetail(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= maxDetail {
		return s
	}
	const ellipsis = "…"
	cut := maxDetail - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.TrimRight(s[:cut], " ") + ellipsis
}

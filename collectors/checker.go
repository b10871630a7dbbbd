package collectors

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

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
// can hold a password or a token.
func describe(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return strings.TrimSpace(msg)
}

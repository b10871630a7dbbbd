package collectors

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"syscall"
	"time"
)

// Status is the verdict of one check.
type Status int

// The three states a dependency can be in, from best to worst.
const (
	Healthy Status = iota
	Degraded
	Down
)

// Statuses lists every Status in exposition order.
var Statuses = [...]Status{Healthy, Degraded, Down}

// String returns the status as it appears in the state label.
func (s Status) String() string {
	switch s {
	case Healthy:
		return "healthy"
	case Degraded:
		return "degraded"
	default:
		return "down"
	}
}

// Reason says why a check did not report healthy. The set is closed so that
// the reason label stays bounded.
type Reason string

// The reasons a check can give.
const (
	ReasonNone               Reason = ""
	ReasonTimeout            Reason = "timeout"
	ReasonRefused            Reason = "refused"
	ReasonDNS                Reason = "dns"
	ReasonTLS                Reason = "tls"
	ReasonAuth               Reason = "auth"
	ReasonUnexpectedResponse Reason = "unexpected_response"
	ReasonQueryFailed        Reason = "query_failed"
	ReasonBreakerOpen        Reason = "breaker_open"
	ReasonStale              Reason = "stale"
	ReasonSlow               Reason = "slow"
	ReasonFallback           Reason = "fallback"
	ReasonError              Reason = "error"
)

// Reasons lists every non-empty Reason.
var Reasons = [...]Reason{
	ReasonTimeout, ReasonRefused, ReasonDNS, ReasonTLS, ReasonAuth,
	ReasonUnexpectedResponse, ReasonQueryFailed, ReasonBreakerOpen,
	ReasonStale, ReasonSlow, ReasonFallback, ReasonError,
}

// Result is what one run of a check found. Detail is for people (the /health
// summary and logs), never a label, and never holds a secret.
type Result struct {
	Status   Status
	Reason   Reason
	Detail   string
	Duration time.Duration // how long the check took
	Timeout  time.Duration // the deadline it ran under
	Time     time.Time     // when it finished
}

// Healthy reports whether the result is healthy.
func (r Result) Healthy() bool { return r.Status == Healthy }

// Failure builds a down result from a reason and detail. The detail is
// made one line of at most 300 bytes.
func Failure(reason Reason, detail string) Result {
	return Result{Status: Down, Reason: reason, Detail: tidyDetail(detail)}
}

// Degradation builds a degraded result from a reason and detail. The
// detail is made one line of at most 300 bytes.
func Degradation(reason Reason, detail string) Result {
	return Result{Status: Degraded, Reason: reason, Detail: tidyDetail(detail)}
}

// CheckError is an error that already knows its Reason. Checks return it
// where the protocol tells them more than the network does (an
// authentication error, an unexpected reply).
type CheckError struct {
	Reason Reason
	Err    error
}

// Error returns the underlying error's text: the reason is for Classify
// and the metrics, not for the message.
func (e *CheckError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *CheckError) Unwrap() error { return e.Err }

// WithReason wraps err so that Classify reports reason for it.
func WithReason(reason Reason, err error) error {
	if err == nil {
		return nil
	}
	return &CheckError{Reason: reason, Err: err}
}

// Classify maps an error from a check to its Reason.
func Classify(err error) Reason {
	if err == nil {
		return ReasonNone
	}
	var ce *CheckError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return ReasonTimeout
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsTimeout {
			return ReasonTimeout
		}
		return ReasonDNS
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return ReasonRefused
	}
	if isTLSError(err) {
		return ReasonTLS
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return ReasonTimeout
	}
	return ReasonError
}

// isTLSError reports whether err is a failed handshake or certificate
// check, on either side: a remote alert (the server refusing our client
// certificate, or our protocol version) arrives as a *net.OpError with Op
// "remote error" around crypto/tls' unexported alert type.
func isTLSError(err error) bool {
	var remote *net.OpError
	if errors.As(err, &remote) && remote.Op == "remote error" {
		return true
	}
	var (
		unknownAuthority x509.UnknownAuthorityError
		invalid          x509.CertificateInvalidError
		hostname         x509.HostnameError
		record           tls.RecordHeaderError
		alert            tls.AlertError
		verify           *tls.CertificateVerificationError
	)
	return errors.As(err, &unknownAuthority) || errors.As(err, &invalid) ||
		errors.As(err, &hostname) || errors.As(err, &record) ||
		errors.As(err, &alert) || errors.As(err, &verify)
}

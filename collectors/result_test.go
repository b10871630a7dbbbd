package collectors

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/health-exporter/health-exporter/config"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Reason
	}{
		{"nil", nil, ReasonNone},
		{"deadline", context.DeadlineExceeded, ReasonTimeout},
		{"wrapped deadline", fmt.Errorf("ping: %w", context.DeadlineExceeded), ReasonTimeout},
		{"os deadline", &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, ReasonTimeout},
		{"refused", &net.OpError{Op: "dial", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}, ReasonRefused},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), ReasonRefused},
		{"dns", &net.DNSError{Err: "no such host", Name: "nowhere.invalid", IsNotFound: true}, ReasonDNS},
		{"dns timeout", &net.DNSError{Err: "timeout", Name: "slow.invalid", IsTimeout: true}, ReasonTimeout},
		{"tls unknown authority", fmt.Errorf("handshake: %w", x509.UnknownAuthorityError{}), ReasonTLS},
		{"remote tls alert", fmt.Errorf("get: %w", &net.OpError{Op: "remote error", Err: errors.New("tls: certificate required")}), ReasonTLS},
		{"explicit reason", WithReason(ReasonAuth, errors.New("WRONGPASS")), ReasonAuth},
		{"explicit reason wrapped", fmt.Errorf("ping: %w", WithReason(ReasonAuth, errors.New("NOAUTH"))), ReasonAuth},
		{"other", errors.New("boom"), ReasonError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestWithReasonNil(t *testing.T) {
	if WithReason(ReasonAuth, nil) != nil {
		t.Fatal("WithReason(nil) must stay nil")
	}
}

func TestBudget(t *testing.T) {
	tests := []struct {
		header string
		offset time.Duration
		want   time.Duration
	}{
		{"", 500 * time.Millisecond, 0},
		{"10", 500 * time.Millisecond, 9500 * time.Millisecond},
		{"2.5", 500 * time.Millisecond, 2 * time.Second},
		{"0.51", 500 * time.Millisecond, 10 * time.Millisecond},
		{"0.5", 500 * time.Millisecond, 0}, // nothing left after the offset
		{"0.2", 500 * time.Millisecond, 0}, // less than the offset
		{"0.001", 0, time.Millisecond},     // no offset: tiny but usable
		{"nonsense", 500 * time.Millisecond, 0},
		{"-3", 0, 0},
		{"0", 0, 0},
		{"NaN", 500 * time.Millisecond, 0},
		{"nan", 0, 0},
		{"Inf", 500 * time.Millisecond, 0},
		{"+Inf", 0, 0},
		{"-Inf", 0, 0},
		{"1e300", 500 * time.Millisecond, 0}, // past time.Duration's range
		{"1e10", 500 * time.Millisecond, 0},  // just past it
		{"86400", 0, 24 * time.Hour},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/metrics", nil)
		if tt.header != "" {
			r.Header.Set(ScrapeTimeoutHeader, tt.header)
		}
		if got := Budget(r, tt.offset); got != tt.want {
			t.Errorf("Budget(%q, %s) = %s, want %s", tt.header, tt.offset, got, tt.want)
		}
	}
}

func TestDescribeDropsURL(t *testing.T) {
	err := fmt.Errorf("request: %w", &url.Error{Op: "Get", URL: "http://user:hunter2@db.internal/x?token=abc", Err: errors.New("connection refused")})
	got := describe(err)
	if got != "connection refused" {
		t.Fatalf("describe = %q", got)
	}
}

func TestTidyDetail(t *testing.T) {
	long := strings.Repeat("a", 400)
	accents := strings.Repeat("é", 200) // 2 bytes each: 400 bytes
	tests := []struct {
		name, in, want string
	}{
		{"plain", "status 200", "status 200"},
		{"newlines and tabs", "ERROR: syntax error\n\tat line 1\r\nHINT:  check it", "ERROR: syntax error at line 1 HINT: check it"},
		{"control characters", "bad\x00byte\x1b[31mred", "bad byte [31mred"},
		{"surrounding space", "  \n padded \t ", "padded"},
		{"invalid UTF-8", "caf\xe9", "caf\uFFFD"},
		{"at the limit", long[:maxDetail], long[:maxDetail]},
		{"long ASCII", long, long[:maxDetail-len("…")] + "…"},
		{"long multibyte", accents, accents[:296] + "…"}, // 297 would split an é
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tidyDetail(tt.in)
			if got != tt.want {
				t.Errorf("tidyDetail(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if len(got) > maxDetail || !utf8.ValidString(got) || strings.ContainsAny(got, "\n\r\t") {
				t.Errorf("tidyDetail(%q) = %q: not one valid line of at most %d bytes", tt.in, got, maxDetail)
			}
		})
	}
}

func TestDetailsAreTidyWhereBuilt(t *testing.T) {
	hostile := "first line\nsecond line\t" + strings.Repeat("x", 1000)
	pgErr := &pgconn.PgError{Severity: "ERROR", Code: "42P01", Message: "relation \"t\" does not exist\nLINE 1: SELECT * FROM t\n                      ^"}
	results := map[string]Result{
		"errorResult":  errorResult("query", errors.New(hostile)),
		"pgx error":    errorResult("query", postgresError(pgErr)),
		"Failure":      Failure(ReasonError, hostile),
		"Degradation":  Degradation(ReasonSlow, hostile),
		"json healthy": evaluateJSONStatus(&config.JSONStatus{Field: "status", Healthy: []string{hostile}}, []byte(`{"status":`+strconv.Quote(hostile)+`}`)),
		"json down":    evaluateJSONStatus(&config.JSONStatus{Field: "status", Healthy: []string{"green"}}, []byte(`{"status":`+strconv.Quote(hostile)+`}`)),
		"postgres":     evaluatePostgres(postgresState{version: "15.4\n" + hostile, maxConnections: 100}, &config.Postgres{}),
	}
	for name, res := range results {
		if len(res.Detail) > maxDetail || strings.ContainsAny(res.Detail, "\n\t") || res.Detail == "" {
			t.Errorf("%s: detail %q is not one line of at most %d bytes", name, res.Detail, maxDetail)
		}
	}
	if got := results["pgx error"].Detail; !strings.HasPrefix(got, `query: ERROR: relation "t" does not exist LINE 1: SELECT * FROM t ^ (SQLSTATE 42P01)`) {
		t.Errorf("pgx error detail = %q", got)
	}
}

package collectors

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/health-exporter/health-exporter/config"
)

func runTCPCheck(t *testing.T, tc config.TCP, timeout time.Duration) Result {
	t.Helper()
	d := dep("broker")
	d.TCP = &tc
	c, err := newTCPCheck(d)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Check(ctx)
}

func TestTCPCheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if res := runTCPCheck(t, config.TCP{Address: addr}, time.Second); res.Status != Healthy {
		t.Fatalf("open port: %+v", res)
	}
	ln.Close()
	if res := runTCPCheck(t, config.TCP{Address: addr}, time.Second); res.Reason != ReasonRefused {
		t.Fatalf("closed port: %+v", res)
	}
}

func TestTCPCheckTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "https://")

	if res := runTCPCheck(t, config.TCP{Address: addr, TLS: config.TLS{Enabled: true}}, time.Second); res.Reason != ReasonTLS {
		t.Fatalf("untrusted certificate: %+v", res)
	}
	res := runTCPCheck(t, config.TCP{Address: addr, TLS: config.TLS{Enabled: true, CAFile: writeCA(t, srv), ServerName: "example.com"}}, time.Second)
	if res.Status != Healthy {
		t.Fatalf("trusted certificate: %+v", res)
	}
}

func TestTCPCheckHungHandshakeTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		<-done // accept, then never speak
		c.Close()
	}()
	res := runTCPCheck(t, config.TCP{Address: ln.Addr().String(), TLS: config.TLS{Enabled: true}}, 50*time.Millisecond)
	if res.Status != Down || res.Reason != ReasonTimeout {
		t.Fatalf("silent server: %+v", res)
	}
}

// TestTLSBuildErrorsSayWhatFailed: a CA file that disappeared after the
// configuration was validated is reported as what was being built.
func TestTLSBuildErrorsSayWhatFailed(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "gone.pem")
	bad := config.TLS{Enabled: true, CAFile: missing}
	h := httpDep("https://127.0.0.1:1/", &config.HTTP{HTTPClient: config.HTTPClient{TLS: bad}})
	tc := dep("broker")
	tc.TCP = &config.TCP{Address: "127.0.0.1:1", TLS: bad}
	r := redisDep("127.0.0.1:1")
	r.Redis.URL, r.Redis.Addrs, r.Redis.TLS = "", []string{"127.0.0.1:1"}, bad

	for _, d := range []config.Dependency{h, tc, r} {
		_, err := NewChecker(d, nil)
		if err == nil || !strings.HasPrefix(err.Error(), "building the TLS configuration: ") || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s check with a missing CA file: %v", d.Kind, err)
		}
	}
}

package collectors

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"github.com/health-exporter/health-exporter/config"
)

// tcpCheck connects to an address and, optionally, completes a TLS handshake.
type tcpCheck struct {
	address string
	tls     *tls.Config // nil: plain TCP
}

func newTCPCheck(dc config.Dependency) (*tcpCheck, error) {
	c := &tcpCheck{address: dc.TCP.Address}
	if dc.TCP.TLS.Enabled {
		tc, err := dc.TCP.TLS.Build()
		if err != nil {
			return nil, fmt.Errorf("building the TLS configuration: %w", err)
		}
		if tc.ServerName == "" {
			host, _, _ := net.SplitHostPort(c.address)
			tc.ServerName = host
		}
		c.tls = tc
	}
	return c, nil
}

func (c *tcpCheck) Check(ctx context.Context) Result {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.address)
	if err != nil {
		return errorResult("connect", err)
	}
	defer conn.Close()
	if c.tls == nil {
		return Result{Detail: fmt.Sprintf("connected to %s", c.address)}
	}
	tc := tls.Client(conn, c.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		if r := Classify(err); r != ReasonTimeout && r != ReasonRefused {
			return Failure(ReasonTLS, "tls handshake: "+describe(err))
		}
		return errorResult("tls handshake", err)
	}
	return Result{Detail: fmt.Sprintf("TLS %s handshake with %s", tls.VersionName(tc.ConnectionState().Version), c.address)}
}

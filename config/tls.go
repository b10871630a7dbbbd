package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"
)

// TLS configures TLS towards a dependency (YAML key tls). For kinds with a
// URL the scheme decides whether TLS is used (rediss://, https://) and this
// block only tunes it; for tcp and for Redis addrs, giving the block turns
// TLS on. File names are resolved against the config file's directory and
// the files are read and checked on every load.
type TLS struct {
	// Enabled says whether to use TLS (enabled). Default: true when the
	// tls block is given or the URL scheme is rediss or https.
	Enabled bool
	// CAFile is a PEM bundle of the CAs to trust (ca_file). Default: the
	// system roots.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and its key
	// (cert_file, key_file), given together. Default: none.
	CertFile, KeyFile string
	// ServerName overrides the name verified in the server's certificate
	// (server_name). Default: the target's host.
	ServerName string
	// InsecureSkipVerify turns certificate verification off
	// (insecure_skip_verify). Default: false.
	InsecureSkipVerify bool
}

// Build returns the *tls.Config t describes, reading its files now (so a
// rotated certificate is picked up by the next Build). It builds one
// whether or not Enabled is set: an HTTP client needs it for https
// redirects of an http:// URL, while a dialer uses TLS only when Enabled.
// The minimum version is TLS 1.2.
func (t TLS) Build() (*tls.Config, error) {
	c := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // the operator's explicit choice
	}
	if t.CAFile != "" {
		pool, err := loadCA(os.ReadFile, t.CAFile)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, _, err := loadKeyPair(os.ReadFile, t.CertFile, t.KeyFile)
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

func loadCA(read func(string) ([]byte, error), name string) (*x509.CertPool, error) {
	pem, err := read(name)
	if err != nil {
		return nil, fmt.Errorf("reading CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", name)
	}
	return pool, nil
}

// loadKeyPair loads a certificate and its key; on error, badKey says
// whether the key file (rather than the certificate file) is to blame.
func loadKeyPair(read func(string) ([]byte, error), certFile, keyFile string) (cert tls.Certificate, badKey bool, err error) {
	certPEM, err := read(certFile)
	if err != nil {
		return cert, false, fmt.Errorf("reading certificate: %w", err)
	}
	keyPEM, err := read(keyFile)
	if err != nil {
		return cert, true, fmt.Errorf("reading key: %w", err)
	}
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The error from X509KeyPair names no key material.
		return cert, true, fmt.Errorf("loading key pair %s and %s: %w", certFile, keyFile, err)
	}
	return cert, false, nil
}

// tls decodes a tls block into t: giving the block enables TLS unless it
// says enabled: false. The files are read and checked now.
func (d *decoder) tls(t *TLS) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		t.Enabled = true
		keys, err := d.mapping(n, fields{
			"enabled":              d.boolean(&t.Enabled),
			"ca_file":              d.path(&t.CAFile),
			"cert_file":            d.path(&t.CertFile),
			"key_file":             d.path(&t.KeyFile),
			"server_name":          d.str(&t.ServerName),
			"insecure_skip_verify": d.boolean(&t.InsecureSkipVerify),
		})
		if err != nil {
			return err
		}
		at := resolve(n)
		switch {
		case t.CertFile != "" && t.KeyFile == "":
			return keyErr(keys, "cert_file", at, "cert_file needs key_file")
		case t.KeyFile != "" && t.CertFile == "":
			return keyErr(keys, "key_file", at, "key_file needs cert_file")
		}
		if t.CAFile != "" {
			if _, err := loadCA(d.readFile, t.CAFile); err != nil {
				return keyErr(keys, "ca_file", at, "%w", err)
			}
		}
		if t.CertFile != "" {
			if _, badKey, err := loadKeyPair(d.readFile, t.CertFile, t.KeyFile); err != nil {
				key := "cert_file"
				if badKey {
					key = "key_file"
				}
				return keyErr(keys, key, at, "%w", err)
			}
		}
		return nil
	}
}

// schemeTLS reconciles t with a URL whose scheme decides whether TLS is
// used. block is the tls value node, nil when absent. An explicit
// enabled: that contradicts the scheme is an error; so is a tls block on a
// plaintext URL when onlySecure (Redis: no redirect could ever use it).
func schemeTLS(t *TLS, block *yaml.Node, secure bool, secureScheme string, onlySecure bool) error {
	if block != nil {
		if valueOf(block, "enabled") != nil && t.Enabled != secure {
			if secure {
				return fmt.Errorf("enabled: false contradicts the URL scheme %s, which always uses TLS", secureScheme)
			}
			return fmt.Errorf("enabled: true needs the URL scheme %s", secureScheme)
		}
		if !secure && onlySecure {
			return fmt.Errorf("TLS settings need the URL scheme %s", secureScheme)
		}
	}
	t.Enabled = secure
	return nil
}

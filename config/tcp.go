package config

import "gopkg.in/yaml.v3"

// TCP configures a tcp check (YAML key tcp): the dependency is healthy when
// a connection (and, with TLS, a handshake) succeeds.
type TCP struct {
	// Address is host:port (address), required.
	Address string
	// TLS, when the block is given, performs a TLS handshake after
	// connecting (tls).
	TLS TLS
}

func (d *decoder) tcp(n *yaml.Node) (*TCP, error) {
	t := &TCP{}
	keys, err := d.mapping(n, fields{
		"address": d.str(&t.Address, hostPort),
		"tls":     d.tls(&t.TLS),
	})
	if err != nil {
		return nil, err
	}
	if keys["address"] == nil {
		return nil, errAt(resolve(n), "address is required")
	}
	return t, nil
}

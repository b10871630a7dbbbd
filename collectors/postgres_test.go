package collectors

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/health-exporter/health-exporter/config"
)

func pgxConnect(ctx context.Context, dsn string) (*pgx.Conn, error) { return pgx.Connect(ctx, dsn) }

func TestEvaluatePostgres(t *testing.T) {
	cfg := func(role string) *config.Postgres { return &config.Postgres{Role: role, MaxConnectionsRatio: 0.9} }
	primary := postgresState{connections: 3, maxConnections: 100, version: "15.4"}
	standby := primary
	standby.inRecovery = true
	busy := func(n int) postgresState { s := primary; s.connections = n; return s }
	tests := []struct {
		name   string
		st     postgresState
		cfg    *config.Postgres
		status Status
		detail string
	}{
		{"healthy primary", primary, cfg(""), Healthy, "PostgreSQL 15.4, primary, 3 of 100 connections in use"},
		{"healthy standby", standby, cfg("standby"), Healthy, "PostgreSQL 15.4, standby, 3 of 100 connections in use"},
		{"standby where a primary is expected", standby, cfg("primary"), Degraded, "server is a standby, expected primary"},
		{"primary where a standby is expected", primary, cfg("standby"), Degraded, "server is a primary, expected standby"},
		{"connections over the ratio", busy(91), cfg(""), Degraded, "91 of 100 connections in use"},
		{"connections at the ratio", busy(90), cfg(""), Healthy, "PostgreSQL 15.4, primary, 90 of 100 connections in use"},
		{"no ratio", busy(100), &config.Postgres{}, Healthy, "PostgreSQL 15.4, primary, 100 of 100 connections in use"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := evaluatePostgres(tt.st, tt.cfg)
			wantReason := ReasonNone
			if tt.status != Healthy {
				wantReason = ReasonUnexpectedResponse
			}
			if res.Status != tt.status || res.Reason != wantReason || res.Detail != tt.detail {
				t.Errorf("got %s/%s %q, want %s/%s %q", res.Status, res.Reason, res.Detail, tt.status, wantReason, tt.detail)
			}
		})
	}
}

func TestPostgresError(t *testing.T) {
	tests := []struct {
		code string
		want Reason
	}{
		{"28P01", ReasonAuth},    // invalid_password
		{"28000", ReasonAuth},    // invalid_authorization_specification (pg_hba.conf)
		{"53300", ReasonRefused}, // too_many_connections
		{"57P03", ReasonRefused}, // cannot_connect_now: starting up or shutting down
		{"42P01", ReasonError},   // undefined_table: the caller decides
		{"3D000", ReasonError},   // invalid_catalog_name
	}
	for _, tt := range tests {
		pgErr := &pgconn.PgError{Severity: "FATAL", Code: tt.code, Message: "from the server"}
		for _, err := range []error{pgErr, fmt.Errorf("failed to connect: %w", pgErr)} {
			if got := Classify(postgresError(err)); got != tt.want {
				t.Errorf("SQLSTATE %s in %q: %s, want %s", tt.code, err, got, tt.want)
			}
		}
	}
	plain := errors.New("unexpected EOF")
	if got := postgresError(plain); got != plain {
		t.Errorf("an error without SQLSTATE was changed: %v", got)
	}
}

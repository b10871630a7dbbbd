package collectors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/health-exporter/health-exporter/config"
)

// postgresCheck connects, runs the configured query, and reads the server's
// role and connection use to judge degradation. Each check opens its own
// connection, so authentication and connection limits are tested every time.
type postgresCheck struct {
	cfg  *config.Postgres
	conn *pgx.ConnConfig
}

// pgStatsQuery reads what evaluatePostgres needs in one round trip.
const pgStatsQuery = `SELECT pg_is_in_recovery(),
	(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
	current_setting('max_connections')::int,
	current_setting('server_version')`

func newPostgresCheck(dc config.Dependency) (*postgresCheck, error) {
	cc, err := pgx.ParseConfig(dc.Postgres.DSN)
	if err != nil {
		// pgx quotes the DSN in its errors; keep only the cause.
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) && pe.Unwrap() != nil {
			err = pe.Unwrap()
		}
		return nil, fmt.Errorf("postgres dsn: %s", describe(err))
	}
	if dc.Postgres.Password != "" {
		cc.Password = string(dc.Postgres.Password)
	}
	cc.RuntimeParams["application_name"] = "health-exporter"
	return &postgresCheck{cfg: dc.Postgres, conn: cc}, nil
}

// postgresState is what the server said about itself.
type postgresState struct {
	inRecovery     bool
	connections    int
	maxConnections int
	version        string
}

func (c *postgresCheck) Check(ctx context.Context) Result {
	conn, err := pgx.ConnectConfig(ctx, c.conn.Copy())
	if err != nil {
		return errorResult("connect", postgresError(err))
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, c.cfg.Query); err != nil {
		if r := Classify(postgresError(err)); r == ReasonTimeout || r == ReasonRefused || r == ReasonAuth {
			return errorResult("query", postgresError(err))
		}
		return Failure(ReasonQueryFailed, "query: "+describe(err))
	}
	var st postgresState
	if err := conn.QueryRow(ctx, pgStatsQuery).Scan(&st.inRecovery, &st.connections, &st.maxConnections, &st.version); err != nil {
		if r := Classify(postgresError(err)); r == ReasonTimeout || r == ReasonRefused {
			return errorResult("read server state", err)
		}
		return Failure(ReasonQueryFailed, "read server state: "+describe(err))
	}
	return evaluatePostgres(st, c.cfg)
}

// postgresError marks the SQLSTATEs that say more than the network does.
func postgresError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "28P01", "28000": // invalid_password, invalid_authorization_specification
			return WithReason(ReasonAuth, err)
		case "53300", "57P03": // too_many_connections, cannot_connect_now
			return WithReason(ReasonRefused, err)
		}
	}
	return err
}

// evaluatePostgres judges a server that answered; it does no I/O.
func evaluatePostgres(st postgresState, cfg *config.Postgres) Result {
	role := "primary"
	if st.inRecovery {
		role = "standby"
	}
	if cfg.Role != "" && cfg.Role != role {
		return Degradation(ReasonUnexpectedResponse, fmt.Sprintf("server is a %s, expected %s", role, cfg.Role))
	}
	if st.maxConnections > 0 && cfg.MaxConnectionsRatio > 0 &&
		float64(st.connections) > cfg.MaxConnectionsRatio*float64(st.maxConnections) {
		return Degradation(ReasonUnexpectedResponse, fmt.Sprintf("%d of %d connections in use", st.connections, st.maxConnections))
	}
	return Result{Detail: tidyDetail(fmt.Sprintf("PostgreSQL %s, %s, %d of %d connections in use", st.version, role, st.connections, st.maxConnections))}
}

package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
)

// redisPing checks that the server at addr answers PING with PONG, or asks
// for a password (a server started with --requirepass is up all the same).
func redisPing(ctx context.Context, addr string) error {
	reply, err := redisCommand(ctx, addr, "PING")
	if err != nil {
		if strings.Contains(err.Error(), "NOAUTH") {
			return nil
		}
		return err
	}
	if reply != "PONG" {
		return fmt.Errorf("redis %s: PING answered %q: %w", addr, reply, errNotReady)
	}
	return nil
}

// redisCommand sends one command over a new connection and returns a
// simple, integer or bulk reply as text; an error reply becomes an error.
func redisCommand(ctx context.Context, addr string, args ...string) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("redis dial %s: %w", addr, err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	var req strings.Builder
	fmt.Fprintf(&req, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&req, "$%d\r\n%s\r\n", len(a), a)
	}
	reply, err := func() (string, error) {
		if _, err := conn.Write([]byte(req.String())); err != nil {
			return "", err
		}
		return readReply(bufio.NewReader(conn))
	}()
	if err != nil && ctx.Err() != nil {
		// The deadline or the cancellation closed the connection: say so.
		err = ctx.Err()
	}
	if err != nil {
		return "", fmt.Errorf("redis %s %s: %w", addr, args[0], err)
	}
	return reply, nil
}

// readReply reads one RESP reply: simple, integer and bulk replies as
// their text, arrays as their elements joined by spaces.
func readReply(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read reply: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return "", fmt.Errorf("read bulk reply: %w", err)
		}
		return string(buf[:n]), nil
	case '*':
		n, _ := strconv.Atoi(line[1:])
		parts := make([]string, 0, max(n, 0))
		for range n {
			part, err := readReply(br)
			if err != nil {
				return "", err
			}
			parts = append(parts, part)
		}
		return strings.Join(parts, " "), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}

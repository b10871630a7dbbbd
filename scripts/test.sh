#!/usr/bin/env bash
# Runs every test: Go tests under the race detector, against real services.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -race -count=1 ./...

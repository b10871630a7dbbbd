#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")/../bench"
go test -run '^$' -bench . -benchmem ./...

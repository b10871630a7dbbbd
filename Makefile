# health-exporter — see README.md.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)

GO        ?= go
BIN       := bin/health-exporter
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.revision=$(REVISION)

.PHONY: all build run demo test lint vet fmt bench docker deps clean

all: lint test build

## deps: install the system packages tests and the demo need (Debian, as root).
deps:
	@scripts/install-deps.sh

## build: a static binary in bin/.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/health-exporter

## run: build and run the exporter with the embedded default config.
run: build
	./$(BIN)

## demo: the whole stack on loopback, with a scripted outage.
demo:
	@scripts/demo.sh

## test: every test there is, against real services the scripts start.
test: deps lint
	@scripts/test.sh

## lint: gofmt and go vet.
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

## bench: benchmarks against the named competitors, one summary line each.
bench:
	@scripts/bench.sh

## docker: the container image.
docker:
	docker build --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) \
		-t health-exporter:$(VERSION) -t health-exporter:latest .

clean:
	rm -rf bin .tmp

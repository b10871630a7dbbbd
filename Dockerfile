# Build: a static binary from the module.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" \
      -o /out/health-exporter ./cmd/health-exporter

# Run: the binary, CA certificates and the default configuration only; no
# shell, no package manager, and an unprivileged user (nobody).
FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/health-exporter /bin/health-exporter
COPY config/default.yml /etc/health-exporter/config.yml
USER 65534:65534
EXPOSE 9808
ENTRYPOINT ["/bin/health-exporter"]
CMD ["--config.file=/etc/health-exporter/config.yml"]

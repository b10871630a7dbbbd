// Package bench holds benchmarks that compare health-exporter's packages
// with other libraries that do the same job. It is a module of its own so
// those libraries never become dependencies of the product.
package bench

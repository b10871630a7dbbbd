package breaker

// ErrOpen and ErrTooManyRequests are the rejections of Allow, Run and Do.
// Match them with errors.Is, which also sees them through %w wrapping. Both
// have a Retryable method returning false: retrying a refused call right
// away only adds load, so retry policies that honour the method stop.
var (
	// ErrOpen means the breaker is open and the call was not made.
	ErrOpen error = &rejection{msg: "circuit breaker is open"}
	// ErrTooManyRequests means the breaker is half-open and its trial calls
	// are taken; the call was not made.
	ErrTooManyRequests error = &rejection{msg: "circuit breaker is half-open: too many trial calls"}
)

// rejection is the type of the sentinel errors and of their per-breaker
// forms, which carry the breaker's name and unwrap to the sentinel.
type rejection struct {
	msg      string
	sentinel error // nil for the sentinels themselves
}

func (e *rejection) Error() string { return e.msg }

// Unwrap returns the sentinel a named rejection stands for.
func (e *rejection) Unwrap() error { return e.sentinel }

// Retryable reports false: a refused call should not be retried at once.
func (e *rejection) Retryable() bool { return false }

// named builds, once per breaker, the error its rejections return, so that
// refusing a call allocates nothing.
func named(name string, sentinel error) error {
	if name == "" {
		return sentinel
	}
	return &rejection{msg: "breaker " + name + ": " + sentinel.Error(), sentinel: sentinel}
}

// Package retry calls an operation again after a failure, waiting longer
// each time, for as long as a Policy allows.
//
// A Policy is the origin's retry_with_backoff made safe for services: waits
// grow as BaseDelay × Factor^n up to MaxDelay, randomised by one of four
// Jitter modes; retries stop at MaxRetries, at MaxElapsed, when the context
// ends or its deadline would pass during the next wait, when the error is
// not worth retrying, and when a shared Budget says retries already make up
// too large a share of the calls.
//
// Errors that carry a Retryable() bool method returning false anywhere in
// their chain are never retried; the circuit breaker's rejections are such
// errors, so a retry loop never hammers an open breaker. Permanent marks any
// other error the same way.
//
// Do returns nil or an *Error holding the attempt count and the last error,
// which errors.Is and errors.As see through. The hooks OnRetry and OnGiveUp
// let callers count retries and give-ups as metrics.
package retry

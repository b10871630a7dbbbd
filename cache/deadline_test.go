package cache

import (
	"context"
	"testing"
	"time"
)

func TestDeadlines(t *testing.T) {
	d := newDeadlines(64 * time.Millisecond)
	now := monoNow()
	want := epoch.Add(now + 64*time.Millisecond)

	// A caller ending sooner is passed as is.
	soon, cancel := context.WithDeadline(context.Background(), epoch.Add(now+time.Millisecond))
	defer cancel()
	if ctx, _ := d.context(soon, now); ctx != soon {
		t.Fatal("a sooner caller deadline was not used as is")
	}

	// Another caller gets its own context, ending at the timeout.
	type key struct{}
	valued := context.WithValue(context.Background(), key{}, "v")
	ctx, cancel := d.context(valued, now)
	if dl, ok := ctx.Deadline(); !ok || !dl.Equal(want) || ctx.Value(key{}) != "v" {
		t.Fatalf("own context: deadline %v, %v; value %v", dl, ok, ctx.Value(key{}))
	}
	cancel()
	if ctx.Err() == nil {
		t.Fatal("cancel did not end the call's own context")
	}

	// Background callers within one slack share a context.
	first, _ := d.context(context.Background(), now)
	later, _ := d.context(context.Background(), now+d.slack/2)
	if first != later {
		t.Fatal("calls within the slack did not share a deadline context")
	}
	if dl, _ := later.Deadline(); dl.After(epoch.Add(now+d.slack/2+64*time.Millisecond)) || dl.Before(epoch.Add(now+d.slack/2+64*time.Millisecond-d.slack)) {
		t.Fatalf("shared deadline %v outside [timeout - slack, timeout] of the later call", dl)
	}
	next, _ := d.context(context.Background(), now+d.slack)
	if next == first {
		t.Fatal("a call a full slack later reused the old deadline")
	}
	if dl, _ := next.Deadline(); !dl.Equal(epoch.Add(now + d.slack + 64*time.Millisecond)) {
		t.Fatalf("new shared deadline %v", dl)
	}
}

package retry

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestJitterNames(t *testing.T) {
	for _, j := range []Jitter{NoJitter, FullJitter, EqualJitter, DecorrelatedJitter} {
		got, err := ParseJitter(j.String())
		if err != nil || got != j {
			t.Errorf("ParseJitter(%q) = %v, %v; want %v", j.String(), got, err, j)
		}
		text, err := j.MarshalText()
		if err != nil {
			t.Fatalf("%v.MarshalText: %v", j, err)
		}
		var back Jitter
		if err := back.UnmarshalText(text); err != nil || back != j {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", text, back, err, j)
		}
	}
	for _, bad := range []string{"", "Full", "exponential", " none"} {
		if _, err := ParseJitter(bad); err == nil {
			t.Errorf("ParseJitter(%q) succeeded", bad)
		}
		j := EqualJitter
		if err := j.UnmarshalText([]byte(bad)); err == nil || j != EqualJitter {
			t.Errorf("UnmarshalText(%q) = %v, left %v", bad, err, j)
		}
	}
	if got := Jitter(7).String(); got != "Jitter(7)" {
		t.Errorf("Jitter(7).String() = %q", got)
	}
	if _, err := Jitter(-1).MarshalText(); err == nil {
		t.Error("Jitter(-1).MarshalText succeeded")
	}
}

func TestBackoffWaits(t *testing.T) {
	const s = time.Second
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	tests := []struct {
		name   string
		policy Policy
		rand   float64
		want   []time.Duration
	}{
		{"none doubles to the cap", Policy{BaseDelay: s, MaxDelay: 10 * s, Jitter: NoJitter}, 0.5,
			[]time.Duration{1 * s, 2 * s, 4 * s, 8 * s, 10 * s, 10 * s}},
		{"zero policy defaults", Policy{}, 0,
			[]time.Duration{ms(100), ms(200), ms(400), ms(800), ms(1600), ms(3200), ms(6400), 10 * s, 10 * s}},
		{"factor 3", Policy{BaseDelay: s, MaxDelay: 100 * s, Factor: 3}, 0,
			[]time.Duration{1 * s, 3 * s, 9 * s, 27 * s, 81 * s, 100 * s}},
		{"factor below 1 is constant", Policy{BaseDelay: s, Factor: 0.5}, 0,
			[]time.Duration{s, s, s}},
		{"base above max waits max", Policy{BaseDelay: time.Minute, MaxDelay: s}, 0,
			[]time.Duration{s, s}},
		{"base above the default max", Policy{BaseDelay: time.Minute}, 0,
			[]time.Duration{time.Minute, time.Minute}},
		{"full at 0", Policy{BaseDelay: s, MaxDelay: 10 * s, Jitter: FullJitter}, 0,
			[]time.Duration{0, 0, 0}},
		{"full at half", Policy{BaseDelay: s, MaxDelay: 10 * s, Jitter: FullJitter}, 0.5,
			[]time.Duration{ms(500), 1 * s, 2 * s, 4 * s, 5 * s, 5 * s}},
		{"full at 1", Policy{BaseDelay: s, MaxDelay: 10 * s, Jitter: FullJitter}, 1,
			[]time.Duration{1 * s, 2 * s, 4 * s, 8 * s, 10 * s}},
		{"equal at 0", Policy{BaseDelay: s, MaxDelay: 10 * s, Jitter: EqualJitter}, 0,
			[]time.Duration{ms(500), 1 * s, 2 * s, 4 * s, 5 * s}},
		{"equal at half", Policy{BaseDelay: s, MaxDelay: 10 * s, Jitter: EqualJitter}, 0.5,
			[]time.Duration{ms(750), ms(1500), 3 * s, 6 * s, ms(7500)}},
		{"equal at 1", Policy{BaseDelay: s, MaxDelay: 10 * s, Jitter: EqualJitter}, 1,
			[]time.Duration{1 * s, 2 * s, 4 * s, 8 * s, 10 * s}},
		{"seed at 0", Seed, 0,
			[]time.Duration{ms(500), 1 * s, 2 * s, 4 * s, 8 * s, 16 * s, 30 * s, 30 * s}},
		{"seed at 1", Seed, 1,
			[]time.Duration{1 * s, 2 * s, 4 * s, 8 * s, 16 * s, 32 * s, 60 * s, 60 * s}},
		{"decorrelated at 0 stays at base", Policy{BaseDelay: s, MaxDelay: 10 * s, Jitter: DecorrelatedJitter}, 0,
			[]time.Duration{s, s, s}},
		{"decorrelated at half", Policy{BaseDelay: s, MaxDelay: 10 * s, Jitter: DecorrelatedJitter}, 0.5,
			[]time.Duration{2 * s, ms(3500), ms(5750), ms(9125), 10 * s, 10 * s}},
		{"decorrelated at 1 triples", Policy{BaseDelay: s, MaxDelay: 10 * s, Jitter: DecorrelatedJitter, Factor: 7}, 1,
			[]time.Duration{3 * s, 9 * s, 10 * s, 10 * s}},
		{"rand above 1 clamps", Policy{BaseDelay: s, MaxDelay: 10 * s, Jitter: FullJitter}, 2,
			[]time.Duration{1 * s, 2 * s}},
		{"negative rand clamps", Policy{BaseDelay: s, MaxDelay: 10 * s, Jitter: EqualJitter}, -1,
			[]time.Duration{ms(500), 1 * s}},
		{"NaN rand clamps", Policy{BaseDelay: s, MaxDelay: 10 * s, Jitter: FullJitter}, math.NaN(),
			[]time.Duration{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.policy
			p.Rand = constRand(tt.rand)
			b := newBackoff(&p)
			got := make([]time.Duration, len(tt.want))
			for i := range got {
				got[i] = b.wait()
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("waits = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBackoffNeverOverflows(t *testing.T) {
	p := Policy{BaseDelay: time.Hour, MaxDelay: math.MaxInt64, Factor: 1000}
	b := newBackoff(&p)
	prev := time.Duration(0)
	for range 20 {
		d := b.wait()
		if d < prev {
			t.Fatalf("wait %v after %v: went down (overflow)", d, prev)
		}
		prev = d
	}
	if prev != math.MaxInt64 {
		t.Errorf("last wait = %v, want the cap %v", prev, time.Duration(math.MaxInt64))
	}
}

// TestBackoffBounds draws real random waits and checks each mode's range.
func TestBackoffBounds(t *testing.T) {
	const base, maxDelay = 10 * time.Millisecond, time.Second
	for _, j := range []Jitter{NoJitter, FullJitter, EqualJitter, DecorrelatedJitter} {
		t.Run(j.String(), func(t *testing.T) {
			for range 200 {
				p := Policy{BaseDelay: base, MaxDelay: maxDelay, Jitter: j}
				b := newBackoff(&p)
				exp, prev := base, base
				for n := range 12 {
					d := b.wait()
					lo, hi := exp, exp
					switch j {
					case FullJitter:
						lo = 0
					case EqualJitter:
						lo = exp / 2
					case DecorrelatedJitter:
						lo, hi = base, min(3*prev, maxDelay)
					}
					if d < lo || d > hi {
						t.Fatalf("wait %d = %v, want within [%v, %v]", n, d, lo, hi)
					}
					exp, prev = min(2*exp, maxDelay), d
				}
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		ok     bool
	}{
		{"zero", Policy{}, true},
		{"seed", Seed, true},
		{"default max rises to base", Policy{BaseDelay: time.Minute}, true},
		{"negative retries", Policy{MaxRetries: -1}, false},
		{"negative base", Policy{BaseDelay: -time.Second}, false},
		{"negative max", Policy{MaxDelay: -time.Second}, false},
		{"negative elapsed", Policy{MaxElapsed: -time.Second}, false},
		{"factor below 1", Policy{Factor: 0.5}, false},
		{"factor NaN", Policy{Factor: math.NaN()}, false},
		{"factor 1", Policy{Factor: 1}, true},
		{"unknown jitter", Policy{Jitter: 9}, false},
		{"max below base", Policy{BaseDelay: 2 * time.Second, MaxDelay: time.Second}, false},
	}
	for _, tt := range tests {
		if err := tt.policy.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

package cache

import (
	"context"
	"reflect"
	"testing"
	"time"
)

type copyNode struct {
	Val  int
	Next *copyNode
}

type copyNested struct {
	Name   string
	Labels map[string][]string
	Parent *copyNested
	Any    any
	Pairs  [2][]int
	When   time.Time
	Ptrs   []*int
	Empty  []string
	None   []string
}

type copyHidden struct {
	Name  string
	Tags  []string
	notes []string
}

type copyChan struct {
	Tags []string
	Done chan struct{}
}

type copyFunc struct {
	Tags []string
	F    func()
}

// checkDeepCopy copies the value build returns, checks that the copy equals
// it, then changes the copy with mutate and checks that the original still
// equals a fresh build.
func checkDeepCopy[T any](t *testing.T, build func() T, mutate func(*T)) {
	t.Helper()
	orig := build()
	var dst T
	if !copyValue(&dst, reflect.ValueOf(orig)) {
		t.Fatalf("copyValue of %T refused", orig)
	}
	if !reflect.DeepEqual(dst, orig) {
		t.Fatalf("copy = %#v, want %#v", dst, orig)
	}
	mutate(&dst)
	if want := build(); !reflect.DeepEqual(orig, want) {
		t.Fatalf("changing the copy changed the original to %#v, want %#v", orig, want)
	}
}

// checkRefused checks that copyValue refuses the value build returns and
// leaves dst zero, for the caller to decode instead.
func checkRefused[T any](t *testing.T, build func() T) {
	t.Helper()
	var dst T
	if copyValue(&dst, reflect.ValueOf(build())) {
		t.Fatalf("copyValue of %T = true, want a refusal", dst)
	}
	if !reflect.ValueOf(&dst).Elem().IsZero() {
		t.Fatalf("a refused copy left %#v, want the zero value", dst)
	}
}

func TestDeepCopy(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"map of ints", func(t *testing.T) {
			checkDeepCopy(t, func() map[string]int { return map[string]int{"a": 1, "b": 2} },
				func(m *map[string]int) { (*m)["a"], (*m)["c"] = 99, 3; delete(*m, "b") })
		}},
		{"map of slices", func(t *testing.T) {
			checkDeepCopy(t, func() map[string][]string { return map[string][]string{"a": {"x", "y"}, "b": nil} },
				func(m *map[string][]string) { (*m)["a"][0] = "changed"; (*m)["a"] = append((*m)["a"], "z") })
		}},
		{"slice of maps of interfaces", func(t *testing.T) {
			checkDeepCopy(t, func() []map[string]any {
				return []map[string]any{{"n": 1.5, "list": []any{"a", map[string]any{"k": "v"}}, "nil": nil}}
			}, func(s *[]map[string]any) {
				(*s)[0]["n"] = 2.0
				list := (*s)[0]["list"].([]any)
				list[0] = "changed"
				list[1].(map[string]any)["k"] = "changed"
			})
		}},
		{"nested struct with pointers", func(t *testing.T) {
			checkDeepCopy(t, func() *copyNested {
				one, two := 1, 2
				return &copyNested{
					Name:   "child",
					Labels: map[string][]string{"env": {"prod"}},
					Parent: &copyNested{Name: "parent", Any: []int{1, 2}},
					Any:    map[string]any{"deep": []any{[]int{7}}},
					Pairs:  [2][]int{{1}, {2, 3}},
					When:   time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
					Ptrs:   []*int{&one, nil, &two},
					Empty:  []string{},
				}
			}, func(p **copyNested) {
				n := *p
				n.Labels["env"][0] = "dev"
				n.Parent.Name = "changed"
				n.Parent.Any.([]int)[0] = 99
				n.Any.(map[string]any)["deep"].([]any)[0].([]int)[0] = 99
				n.Pairs[1][0] = 99
				*n.Ptrs[0] = 99
				n.When = n.When.Add(time.Hour)
			})
		}},
		{"interface holding a pointer", func(t *testing.T) {
			checkDeepCopy(t, func() []any { v := 5; return []any{&v, nil} }, func(a *[]any) { *(*a)[0].(*int) = 6 })
		}},
		{"linked list", func(t *testing.T) {
			checkDeepCopy(t, func() copyNode { return copyNode{1, &copyNode{2, &copyNode{3, nil}}} },
				func(n *copyNode) { n.Next.Next.Val = 99 })
		}},
		{"nil values", func(t *testing.T) {
			checkDeepCopy(t, func() copyNested { return copyNested{} }, func(n *copyNested) { n.Name = "x" })
			checkDeepCopy(t, func() []*copyNode { return []*copyNode{nil, {Val: 1}} },
				func(s *[]*copyNode) { (*s)[1].Val = 2 })
			var m map[string]int
			if !copyValue(&m, reflect.ValueOf(map[string]int(nil))) || m != nil {
				t.Fatalf("copy of a nil map = %v, want nil", m)
			}
		}},
		{"empty slice stays non-nil", func(t *testing.T) {
			var s []string
			if !copyValue(&s, reflect.ValueOf([]string{})) || s == nil {
				t.Fatalf("copy of an empty slice = %#v, want []string{}", s)
			}
		}},
		{"unexported fields are refused", func(t *testing.T) {
			checkRefused(t, func() copyHidden { return copyHidden{Name: "n", Tags: []string{"a"}, notes: []string{"b"}} })
			checkRefused(t, func() []copyHidden { return []copyHidden{{Name: "n"}} })
		}},
		{"channels and functions are refused", func(t *testing.T) {
			checkRefused(t, func() copyChan { return copyChan{Tags: []string{"a"}} })
			checkRefused(t, func() copyFunc { return copyFunc{Tags: []string{"a"}} })
			checkRefused(t, func() []any { return []any{[]string{"a"}, make(chan int)} })
		}},
		{"cycles are refused", func(t *testing.T) {
			checkRefused(t, func() *copyNode { n := &copyNode{Val: 1}; n.Next = n; return n })
		}},
		{"a non-zero destination is left to the decoder", func(t *testing.T) {
			dst := map[string]int{"z": 9}
			if copyValue(&dst, reflect.ValueOf(map[string]int{"a": 1})) || len(dst) != 1 || dst["z"] != 9 {
				t.Fatalf("copyValue into a non-zero map changed it to %v", dst)
			}
		}},
		{"another type is refused", func(t *testing.T) {
			var dst []string
			if copyValue(&dst, reflect.ValueOf([]int{1})) || dst != nil {
				t.Fatalf("copyValue of []int into []string = %v", dst)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

// Local hits on values that hold maps and slices are deep copies of what the
// tier decoded once; types that cannot be deep-copied are decoded each time.
// Either way callers get private copies and no Redis call.
func TestLocalTierDeepCopies(t *testing.T) {
	c, _ := sharedCache(t, Options{LocalSize: 100, LocalTTL: time.Hour})
	v := c.Tenant("acme")
	nested := map[string][]map[string]int{"a": {{"x": 1}}}
	if err := v.Set(bg, "nested", nested); err != nil {
		t.Fatal(err)
	}
	if err := v.Set(bg, "hidden", copyHidden{Name: "n", Tags: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"nested", "hidden"} {
		var first uint64
		for i := range 3 { // from Redis, then twice from the local tier
			if key == "nested" {
				var m map[string][]map[string]int
				if found, err := v.Get(bg, key, &m); !found || err != nil || !reflect.DeepEqual(m, nested) {
					t.Fatalf("Get %d of %s = %v, %v, %v; want %v", i, key, found, err, m, nested)
				}
				m["a"][0]["x"], m["b"] = 99, nil
			} else {
				var h copyHidden
				if found, err := v.Get(bg, key, &h); !found || err != nil || h.Name != "n" || len(h.Tags) != 1 || h.Tags[0] != "a" {
					t.Fatalf("Get %d of %s = %v, %v, %+v", i, key, found, err, h)
				}
				h.Tags[0] = "changed"
			}
			if i == 0 {
				first = getCount(c)
			}
		}
		if n := getCount(c); n != first {
			t.Fatalf("local hits of %s made %d Redis calls, want none", key, n-first)
		}
		e, ok := c.local.get([]byte(v.Key(key)))
		if !ok {
			t.Fatalf("%s is not in the local tier", key)
		}
		p, private := e.(*privateEntry)
		if !private {
			t.Fatalf("the local tier holds %T for %s, want a private entry", e, key)
		}
		if decoded := p.decoded.Load() != nil; decoded != (key == "nested") {
			t.Fatalf("%s decoded in the tier = %v, want it only for deep-copyable types", key, decoded)
		}
	}

	// Into a non-zero dst a local hit merges, as decoding from Redis does.
	m := map[string][]map[string]int{"z": nil}
	if found, err := v.Get(bg, "nested", &m); !found || err != nil || len(m) != 2 || m["a"][0]["x"] != 1 {
		t.Fatalf("Get into a non-empty map = %v, %v, %v; want the entry merged into it", found, err, m)
	}
	many, err := GetMany[map[string][]map[string]int](bg, v, []string{"nested"})
	if err != nil || !reflect.DeepEqual(many["nested"], nested) {
		t.Fatalf("GetMany = %v, %v; want %v", many, err, nested)
	}
}

// GetMany serves a value GetOrLoad shares from the in-process tier as a
// private copy, without a Redis call.
func TestGetManyCopiesWhatGetOrLoadShares(t *testing.T) {
	c, _ := sharedCache(t, Options{LocalSize: 100, LocalTTL: time.Hour})
	v := c.Tenant("acme")
	load := func(context.Context) (workflow, error) { return workflow{ID: 1, Tags: []string{"x"}}, nil }
	shared, err := GetOrLoad(bg, v, "w", load)
	if err != nil {
		t.Fatal(err)
	}
	getsBefore := getCount(c)
	for range 2 {
		many, err := GetMany[workflow](bg, v, []string{"w"})
		if err != nil || len(many["w"].Tags) != 1 || many["w"].Tags[0] != "x" {
			t.Fatalf("GetMany = %+v, %v; want tags [x]", many, err)
		}
		many["w"].Tags[0] = "changed"
	}
	if shared.Tags[0] != "x" {
		t.Fatalf("GetOrLoad's shared value changed to %+v by a GetMany caller", shared)
	}
	if n := getCount(c) - getsBefore; n != 0 {
		t.Fatalf("GetMany made %d Redis calls, want the local tier to answer", n)
	}
}

// Callers that hit a fresh entry at once, while the tier decodes it for
// itself, each get a private copy.
func TestLocalTierDeepCopiesConcurrently(t *testing.T) {
	c, _ := sharedCache(t, Options{LocalSize: 100, LocalTTL: time.Hour})
	v := c.Tenant("acme")
	if err := v.Set(bg, "w", workflow{ID: 1, Tags: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	var w workflow
	if found, err := v.Get(bg, "w", &w); !found || err != nil {
		t.Fatalf("Get = %v, %v", found, err)
	}
	errs := make(chan string, 8)
	for range 8 {
		go func() {
			for range 50 {
				var w workflow
				if found, err := v.Get(bg, "w", &w); !found || err != nil || len(w.Tags) != 1 || w.Tags[0] != "x" {
					errs <- "a concurrent Get saw a changed or missing value"
					return
				}
				w.Tags[0] = "changed"
			}
			errs <- ""
		}()
	}
	for range 8 {
		if msg := <-errs; msg != "" {
			t.Fatal(msg)
		}
	}
}

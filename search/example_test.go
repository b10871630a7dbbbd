package search_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/health-exporter/health-exporter/search"
)

// offline is a primary whose engine is down.
type offline struct{}

func (offline) Search(context.Context, search.Query) ([]search.Workflow, error) {
	return nil, errors.New("connection refused")
}

// catalog is a fallback over a fixed list, standing in for Postgres.
type catalog []search.Workflow

func (c catalog) Search(_ context.Context, q search.Query) ([]search.Workflow, error) {
	var out []search.Workflow
	for _, w := range c {
		if strings.Contains(strings.ToLower(w.Name), strings.ToLower(q.Text)) {
			out = append(out, w)
		}
	}
	return out, nil
}

func ExampleResilient() {
	r, err := search.NewResilient(search.Options{
		Name:     "workflows",
		Primary:  offline{},
		Fallback: catalog{{ID: "1", Name: "Customer onboarding"}, {ID: "2", Name: "Expense report"}},
	})
	if err != nil {
		panic(err)
	}
	for range 4 {
		a, err := r.Ask(context.Background(), search.Query{Text: "onboarding", Tenant: "acme"})
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s served %q (%s)\n", a.Backend, a.Workflows[0].Name, a.Reason)
	}
	fmt.Println("breaker:", r.Breaker().State())
	// Output:
	// fallback served "Customer onboarding" (error)
	// fallback served "Customer onboarding" (error)
	// fallback served "Customer onboarding" (error)
	// fallback served "Customer onboarding" (breaker_open)
	// breaker: open
}

func ExampleQuery_Normalize() {
	q, err := search.Query{Text: "  onboarding\x00 \xffchecklist ", Tenant: "acme"}.Normalize()
	fmt.Printf("%q %d %v\n", q.Text, q.Limit, err)
	_, err = search.Query{Text: " ", Tenant: "acme"}.Normalize()
	fmt.Println(errors.Is(err, search.ErrInvalidQuery), err)
	// Output:
	// "onboarding checklist" 10 <nil>
	// true invalid search query: empty text
}

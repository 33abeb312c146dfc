package webui_test

import (
	"context"
	"fmt"
	"html"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

// An account's page shows its newest events first and pages to the
// oldest: a long log cannot hide its end.
func TestAnAccountsEventLogIsNewestFirstWithOlderPages(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	accts, _, err := f.store.AccountList(ctx, &ovm.AccountListParams{})
	if err != nil || len(accts) == 0 {
		t.Fatalf("no account: %v", err)
	}
	a := accts[0]
	for i := range 150 {
		if err := f.store.EventAppend(ctx, &ovm.Event{Time: t0.Add(time.Duration(i) * time.Second), Kind: ovm.EventDrift,
			AccountID: a.ID, Pool: a.Pool, Actor: ovm.ActorDrift, Reason: fmt.Sprintf("finding %03d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	b := f.browser()
	b.signIn(f.admin)
	first := b.get("/ui/accounts/" + a.ID)
	if first.status != 200 || !strings.Contains(first.body, "finding 149") || strings.Contains(first.body, "finding 000") {
		t.Fatalf("the first page: %d, newest shown %v, oldest shown %v", first.status,
			strings.Contains(first.body, "finding 149"), strings.Contains(first.body, "finding 000"))
	}
	if strings.Index(first.body, "finding 149") > strings.Index(first.body, "finding 148") {
		t.Fatal("the log is not newest first")
	}
	older := regexp.MustCompile(`href="(/ui/accounts/[^"]+\?events=[^"]+)">Older events`).FindStringSubmatch(first.body)
	if older == nil {
		t.Fatal("no link to the older events")
	}
	second := b.get(html.UnescapeString(older[1]))
	if second.status != 200 || !strings.Contains(second.body, "finding 000") || strings.Contains(second.body, "finding 149") ||
		!strings.Contains(second.body, "The newest events") {
		t.Fatalf("the older page: %d %q", second.status, second.body[:min(len(second.body), 300)])
	}
}

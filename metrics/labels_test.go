package metrics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
	"github.com/ovmdev/ovm/httpapi"
)

// do sends method path with key ("" for none) and returns the status and
// the body.
func (w *world) do(method, path, key, body string) (int, []byte) {
	w.t.Helper()
	req, err := http.NewRequest(method, w.api.URL+path, strings.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// series returns the ovm_ samples of a scrape (one line per series).
func series(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "ovm_") {
			out = append(out, l[:strings.LastIndexByte(l, ' ')])
		}
	}
	return out
}

var labelRe = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// labelValues returns every label value of the ovm_ series of a scrape.
func labelValues(text string) []string {
	var out []string
	for _, s := range series(text) {
		for _, m := range labelRe.FindAllStringSubmatch(s, -1) {
			out = append(out, m[1]+"="+m[2])
		}
	}
	return out
}

func TestMadeUpMethodsAndPathsAddNoSeries(t *testing.T) {
	w := newWorld(t)
	w.tick(8)
	w.do("GET", "/v1/pools", w.key, "")
	// Each round sends made-up methods to every kind of route, made-up
	// paths, and routes with made-up ids: the first round may add a
	// series per kind (method "other", route ""), the second none.
	round := func(from, to int) {
		for i := from; i < to; i++ {
			method := fmt.Sprintf("XM%05d", i)
			for _, path := range []string{"/v1/leases", "/v1/leases/lse_flood" + fmt.Sprint(i), "/healthz", "/vend",
				"/madeup/" + fmt.Sprint(i)} {
				if code, body := w.do(method, path, "", ""); code != 405 && code != 404 {
					t.Fatalf("%s %s: %d %s", method, path, code, body)
				}
			}
			if code, _ := w.do("GET", fmt.Sprintf("/madeup/%d/x", i), "", ""); code != 404 {
				t.Fatalf("GET of a made-up path: %d", code)
			}
			if code, _ := w.do("DELETE", fmt.Sprintf("/v1/leases/lse_flood%d", i), "", ""); code != 401 {
				t.Fatalf("DELETE of a made-up lease without a key: %d", code)
			}
		}
		// The longest method and path allowed, and one byte more.
		long := strings.Repeat("Y", httpapi.MaxMethodBytes-5) + fmt.Sprintf("%05d", from)
		if code, _ := w.do(long, "/v1/leases", "", ""); code != 405 {
			t.Fatalf("a method of %d bytes: %d", len(long), code)
		}
		if code, _ := w.do(long+"Y", "/v1/leases", "", ""); code != 400 {
			t.Fatalf("a method of %d bytes: %d", len(long)+1, code)
		}
		path := fmt.Sprintf("/v1/leases/%05d", from)
		path += strings.Repeat("p", httpapi.MaxPathBytes-len(path))
		if code, _ := w.do("GET", path, "", ""); code != 401 {
			t.Fatalf("a path of %d bytes: %d", len(path), code)
		}
		if code, _ := w.do("GET", path+"p", "", ""); code != 400 {
			t.Fatalf("a path of %d bytes: %d", len(path)+1, code)
		}
	}
	round(0, 150)
	before := series(w.scrape())
	round(150, 300)
	text := w.scrape()
	if after := series(text); len(after) != len(before) {
		t.Errorf("150 more made-up methods and paths grew the ovm_ series from %d to %d", len(before), len(after))
	}
	var chosen []string
	for _, v := range labelValues(text) {
		if strings.Contains(v, "XM") || strings.Contains(v, "flood") || strings.Contains(v, "madeup") ||
			strings.Contains(v, "YYYY") || strings.Contains(v, "ppp") {
			chosen = append(chosen, clip(v))
		}
	}
	if len(chosen) > 0 {
		t.Errorf("%d label values the client chose, among them %q", len(chosen), chosen[:min(3, len(chosen))])
	}
	if got := value(t, text, `ovm_http_request_duration_seconds_count{code="405",method="other",route="/v1/leases"}`); got != "302" {
		t.Errorf("405s of non-standard methods on /v1/leases: %s, want 302", got)
	}
}

func TestAnUnknownMethodIsLabelledOther(t *testing.T) {
	w := newWorld(t)
	for _, m := range []string{"PROPFIND", "get", "XM00001", "GETX"} {
		w.met.Request("/v1/leases", m, 405, time.Millisecond)
	}
	w.met.Request("/v1/leases", "PATCH", 401, time.Millisecond)
	text := w.scrape()
	if got := value(t, text, `ovm_http_request_duration_seconds_count{code="405",method="other",route="/v1/leases"}`); got != "4" {
		t.Errorf("unknown methods: %s, want 4 under other", got)
	}
	value(t, text, `ovm_http_request_duration_seconds_count{code="401",method="PATCH",route="/v1/leases"}`)
}

func TestNoLabelNamesALeaseOrItsOwnerAfterItsRoutes(t *testing.T) {
	w := newWorld(t)
	w.tick(8)
	const owner = "owner-q7zk"
	k, secret, _ := ovm.NewAPIKey(owner, ovm.RoleUser, w.clock.Now())
	if err := w.store.KeyCreate(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	code, body := w.do("POST", "/v1/leases", secret, `{"ttl":"1h"}`)
	var l client.Lease
	if code != 201 || json.Unmarshal(body, &l) != nil || l.ID == "" || l.Owner != owner {
		t.Fatalf("lease: %d %s", code, body)
	}
	for _, r := range []struct{ method, key string }{{"GET", secret}, {"GET", w.key}, {"PATCH", secret}, {"DELETE", secret},
		{"GET", ""}, {"DELETE", ""}} {
		w.do(r.method, "/v1/leases/"+l.ID, r.key, `{"ttl":"2h"}`)
	}
	w.do("POST", "/v1/leases/"+l.ID+"/credentials", secret, "")
	w.do("POST", "/v1/leases/"+l.ID+"/console", secret, "")
	w.do("GET", "/v1/leases?owner="+owner, w.key, "")
	w.do("GET", "/v1/accounts/"+l.OVMAccountID, w.key, "")

	text := w.scrape()
	for _, v := range labelValues(text) {
		for _, named := range []string{l.ID, owner, l.OVMAccountID, l.AccountID} {
			if strings.Contains(v, named) {
				t.Errorf("label %s names %q", clip(v), named)
			}
		}
	}
	if got := value(t, text, `ovm_http_request_duration_seconds_count{code="200",method="GET",route="/v1/leases/{id}"}`); got != "2" {
		t.Errorf("GETs of the lease: %s", got)
	}
	if got := value(t, text, `ovm_http_request_duration_seconds_count{code="200",method="DELETE",route="/v1/leases/{id}"}`); got != "1" {
		t.Errorf("DELETEs of the lease: %s", got)
	}
}

// clip shortens a label value for a failure message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

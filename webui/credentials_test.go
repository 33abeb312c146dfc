package webui_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/ovmdev/ovm/webui"
)

// The credential_process line names where the CLI reaches OVM from the
// configuration (ui.public_url, else a reachable listen address), never
// from the request's Host header, which is the client's to say.
func TestTheCredentialsPageNeverWritesTheHostHeader(t *testing.T) {
	processRe := regexp.MustCompile(`credential_process = ovm lease credentials (lse_\S+) --format process([^\n<]*)\n`)
	for _, c := range []struct {
		name       string
		public     string
		listen     string
		wantSuffix string
	}{
		{"neither public_url nor a listen address", "", "", ""},
		{"a loopback listen address", "", "127.0.0.1:8080", " --url http://127.0.0.1:8080"},
		{"a wildcard listen address", "", "0.0.0.0:8080", ""},
		{"an IPv6 wildcard", "", "[::]:8080", ""},
		{"public_url", "https://ovm.example.com", "0.0.0.0:8080", " --url https://ovm.example.com"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, func(cfg *webui.Config) { cfg.PublicURL, cfg.ListenAddr = c.public, c.listen })
			b := f.browser()
			tok := b.signIn(f.user)
			p := b.post("/ui/leases", url.Values{"csrf": {tok}, "pool": {"default"}})
			if p.status != http.StatusSeeOther {
				t.Fatalf("take: %d", p.status)
			}
			req, _ := http.NewRequest("POST", f.srv.URL+p.location+"/credentials", strings.NewReader(url.Values{"csrf": {tok}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Host = "evil.example:6666"
			for _, c := range b.c.Jar.Cookies(req.URL) {
				req.AddCookie(c)
			}
			res, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			page := read(t, res)
			m := processRe.FindStringSubmatch(html.UnescapeString(page.body))
			if page.status != http.StatusOK || m == nil {
				t.Fatalf("credentials: %d %s\n%s", page.status, page.location, page.body)
			}
			if strings.Contains(page.body, "evil.example") || m[2] != c.wantSuffix {
				t.Fatalf("the line ends %q, want %q", m[2], c.wantSuffix)
			}
		})
	}
}

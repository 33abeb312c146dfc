package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// rawRequest writes one request line by hand (any method, any length) and
// returns the status line of the answer, or why there was none (net/http
// may close the connection on a request line it refuses).
func rawRequest(t *testing.T, base, method, path string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	go fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", method, path, u.Host)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "no answer: " + err.Error()
	}
	return strings.TrimSpace(line)
}

// scrapeHTTP returns the request metric's series and the size of the
// whole scrape.
func scrapeHTTP(t *testing.T, metricsURL string) (series []string, size int) {
	t.Helper()
	res, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("scrape: %d %v", res.StatusCode, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "ovm_http_request_duration_seconds_count") {
			series = append(series, l[:strings.LastIndexByte(l, ' ')])
		}
	}
	return series, len(b)
}

// TestAFloodOfMadeUpMethodsAddsNoMetricSeries is the attack of issue 20
// on the real binary: made-up methods and paths, and methods of 500 KB,
// grew the request metric by a series each (and its scrape to 1.4 GB),
// and wrote each method whole into the log.
func TestAFloodOfMadeUpMethodsAddsNoMetricSeries(t *testing.T) {
	s := newServer(t, `
metrics: {listen: "127.0.0.1:0"}
pools:
  - name: default
    stock: {target: 0, ceiling: 1}
`)
	s.start()
	if s.metricsURL == "" {
		t.Fatal("the server did not say where its metrics are")
	}
	round := func(from, to int) {
		for i := from; i < to; i++ {
			for _, path := range []string{"/v1/leases", fmt.Sprintf("/v1/leases/lse_flood%d", i), fmt.Sprintf("/madeup/%d", i),
				fmt.Sprintf("/ui/madeup%d", i), "/"} {
				if got := rawRequest(t, s.url, fmt.Sprintf("XM%05d", i), path); !strings.HasPrefix(got, "HTTP/1.1 4") {
					t.Fatalf("XM%05d %s: %s", i, path, got)
				}
			}
		}
		// Methods of 500 KB: net/http refuses them (431) before OVM
		// sees them; one a byte over OVM's bound is OVM's 400.
		for i := range 3 {
			huge := fmt.Sprintf("H%05d", from+i) + strings.Repeat("M", 500<<10)
			if got := rawRequest(t, s.url, huge, "/v1/leases"); !strings.HasPrefix(got, "HTTP/1.1 431") && !strings.HasPrefix(got, "no answer") {
				t.Fatalf("a method of 500 KB: %s", got)
			}
		}
		over := fmt.Sprintf("O%05d", from) + strings.Repeat("M", 40)
		if got := rawRequest(t, s.url, over, "/v1/leases"); !strings.HasPrefix(got, "HTTP/1.1 400") {
			t.Fatalf("a method of %d bytes: %s", len(over), got)
		}
		if got := rawRequest(t, s.url, over, "/ui/"); !strings.HasPrefix(got, "HTTP/1.1 400") {
			t.Fatalf("a method of %d bytes to the console: %s", len(over), got)
		}
	}
	round(0, 200)
	before, sizeBefore := scrapeHTTP(t, s.metricsURL)
	round(200, 400)
	after, sizeAfter := scrapeHTTP(t, s.metricsURL)
	if len(after) != len(before) {
		t.Errorf("200 more made-up methods grew ovm_http_request_duration_seconds from %d to %d series", len(before), len(after))
	}
	var named []string
	for _, l := range after {
		if strings.Contains(l, "XM") || strings.Contains(l, "flood") || strings.Contains(l, "madeup") || strings.Contains(l, "MMMM") {
			named = append(named, l)
		}
	}
	if len(named) > 0 {
		t.Errorf("%d series name what the client sent, the first %.200s", len(named), named[0])
	}
	if sizeAfter > sizeBefore+4096 {
		t.Errorf("the scrape grew from %d to %d bytes", sizeBefore, sizeAfter)
	}
	if log := s.stderr.String(); strings.Contains(log, strings.Repeat("M", 100)) || len(log) > 1<<20 {
		t.Errorf("the log holds a method whole (%d bytes of log)", len(log))
	}
	t.Logf("after 400 made-up methods and 6 of 500 KB: %d request series, a scrape of %d bytes, %d bytes of log",
		len(after), sizeAfter, len(s.stderr.String()))
}

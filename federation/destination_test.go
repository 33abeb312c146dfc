package federation_test

import (
	"bufio"
	"context"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/federation"
	"github.com/ovmdev/ovm/internal/federationtest"
)

// destinations reads testdata/destinations.txt: the destinations to
// refuse (those of issue 20's attack among them) and to accept.
func destinations(t testing.TB) (refuse, accept []string) {
	f, err := os.Open("testdata/destinations.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		verdict, quoted, _ := strings.Cut(line, " ")
		d, err := strconv.Unquote(quoted)
		if err != nil {
			t.Fatalf("destinations.txt:%d: %v", n, err)
		}
		switch verdict {
		case "refuse":
			refuse = append(refuse, d)
		case "accept":
			accept = append(accept, d)
		default:
			t.Fatalf("destinations.txt:%d: %q is neither refuse nor accept", n, verdict)
		}
	}
	// Lengths around MaxDestinationBytes, made here to keep the file short.
	page := "https://console.aws.amazon.com/"
	accept = append(accept, page+strings.Repeat("a", federation.MaxDestinationBytes-len(page)))
	refuse = append(refuse, page+strings.Repeat("a", federation.MaxDestinationBytes-len(page)+1))
	return refuse, accept
}

func TestOnlyPagesOfTheAWSConsoleAreDestinations(t *testing.T) {
	refuse, accept := destinations(t)
	if len(refuse) < 70 {
		t.Fatalf("only %d destinations to refuse", len(refuse))
	}
	for _, d := range refuse {
		err := federation.CheckDestination(d)
		if err == nil {
			t.Errorf("accepted %.120q", d)
			continue
		}
		if ovm.ErrorCodeOf(err) != ovm.EInvalid || len(err.Error()) > 500 {
			t.Errorf("%.120q: %v", d, err)
		}
	}
	for _, d := range accept {
		if err := federation.CheckDestination(d); err != nil {
			t.Errorf("refused %.120q: %v", d, err)
		}
	}
	if err := federation.CheckDestination(""); err != nil {
		t.Errorf("no destination (the configured one): %v", err)
	}
}

func TestTheReasonIsNamedAndTheDestinationQuotedShort(t *testing.T) {
	for d, why := range map[string]string{
		"https://evil.com\uff0f.console.aws.amazon.com":               "non-ASCII",
		"https://evil.com%C0%AF.console.aws.amazon.com":               "letter, a digit, a hyphen or a dot",
		"https://user@console.aws.amazon.com/":                        "names a user",
		"https://console.aws.amazon.com:8443/":                        "port",
		"https://evil.com\\.console.aws.amazon.com/":                  "backslash",
		"http://console.aws.amazon.com/":                              "https://",
		"https://console.aws.amazon.com.evil.com/":                    "not under",
		"https://-x.console.aws.amazon.com/":                          "hyphen",
		"https://console.aws.amazon.com/" + strings.Repeat("x", 5000): "longer than 4096",
	} {
		err := federation.CheckDestination(d)
		if err == nil || !strings.Contains(err.Error(), why) || len(err.Error()) > 400 {
			t.Errorf("%.60q: %v, want it to say %q", d, err, why)
		}
	}
}

func TestASigninURLLandsOnlyOnAnAcceptedDestination(t *testing.T) {
	fed := federationtest.New(t)
	cl := federation.New(federation.Config{Endpoint: fed.Endpoint()}, nil, quiet)
	if _, err := cl.SigninURL(context.Background(), creds("ASIA1"), "https://evil.com%C0%AF.console.aws.amazon.com", time.Hour); err == nil {
		t.Fatal("a sign-in URL to a refused destination")
	}
	if n := len(fed.SignIns()); n != 0 {
		t.Fatalf("the endpoint was asked %d time(s) for a refused destination", n)
	}
	d := "https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1#Instances:"
	u, err := cl.SigninURL(context.Background(), creds("ASIA2"), d, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if res := open(t, u); res.Header.Get("Location") != d {
		t.Fatalf("landed on %q", res.Header.Get("Location"))
	}
	// A configured destination is held to the same rule.
	for _, d := range []string{"https://evil.com%2F.console.aws.amazon.com/", "https://console.aws.amazon.com:8443/"} {
		if err := (federation.Config{Destination: d}).Validate("access."); err == nil || !strings.Contains(err.Error(), "access.console_destination") {
			t.Errorf("console_destination %q: %v", d, err)
		}
	}
}

// FuzzCheckDestination checks what an accepted destination is, with
// other means than CheckDestination's: Go's URL parser and a byte scan.
func FuzzCheckDestination(f *testing.F) {
	refuse, accept := destinations(f)
	for _, d := range append(refuse, accept...) {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, d string) {
		if federation.CheckDestination(d) != nil || d == "" {
			return
		}
		if !utf8.ValidString(d) || strings.ContainsFunc(d, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == '\\' }) {
			t.Fatalf("accepted %q: not printable ASCII without a backslash", d)
		}
		u, err := url.Parse(d)
		if err != nil || u.Scheme != "https" || u.User != nil || u.Opaque != "" || (u.Port() != "" && u.Port() != "443") {
			t.Fatalf("accepted %q: %+v %v", d, u, err)
		}
		host := strings.ToLower(u.Hostname())
		under := false
		for _, c := range federation.ConsoleDomains {
			under = under || host == c || strings.HasSuffix(host, "."+c)
		}
		if !under {
			t.Fatalf("accepted %q: host %q is not the console's", d, host)
		}
		for _, label := range strings.Split(host, ".") {
			if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") ||
				strings.Trim(label, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
				t.Fatalf("accepted %q: label %q", d, label)
			}
		}
		// The login URL carries it unchanged.
		login := url.Values{"Destination": {d}}.Encode()
		back, err := url.ParseQuery(login)
		if err != nil || back.Get("Destination") != d {
			t.Fatalf("accepted %q does not survive the login URL's query: %q", d, back.Get("Destination"))
		}
	})
}

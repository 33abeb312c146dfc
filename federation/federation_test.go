package federation_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/federation"
	"github.com/ovmdev/ovm/internal/federationtest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func creds(id string) *ovm.Credentials {
	return &ovm.Credentials{AccessKeyID: id, SecretAccessKey: "secret-" + id, SessionToken: "token-" + id}
}

// open follows a sign-in URL the way a browser would, without following
// the redirect into the console.
func open(t *testing.T, u string) *http.Response {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

func TestASigninURLIsMadeFromATokenTheEndpointIssuedAndThenAccepts(t *testing.T) {
	fed := federationtest.New(t)
	fed.Valid = func(c federationtest.Credentials) bool { return c.Key == "secret-"+c.ID && c.Token == "token-"+c.ID }
	cl := federation.New(federation.Config{Endpoint: fed.Endpoint(), Issuer: "https://ovm.example/"}, nil, quiet)
	u, err := cl.SigninURL(context.Background(), creds("ASIA1"), "https://console.aws.amazon.com/s3/", 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(u, "secret-ASIA1") || strings.Contains(u, "token-ASIA1") {
		t.Fatalf("the login URL holds the credentials: %s", u)
	}
	res := open(t, u)
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "https://console.aws.amazon.com/s3/" {
		t.Fatalf("login: %d to %q (refused: %v)", res.StatusCode, res.Header.Get("Location"), fed.Refused())
	}
	in := fed.SignIns()
	if len(in) != 1 || in[0].ID != "ASIA1" || in[0].Duration != 2*time.Hour || in[0].Issuer != "https://ovm.example/" {
		t.Fatalf("sign-ins %+v", in)
	}
	if res := open(t, u); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("a sign-in URL works once: %d", res.StatusCode)
	}

	// The configured destination, and a session clamped to AWS's bounds.
	u, _ = cl.SigninURL(context.Background(), creds("ASIA2"), "", time.Minute)
	if res := open(t, u); res.Header.Get("Location") != "https://console.aws.amazon.com/" || fed.SignIns()[1].Duration != federation.MinSession {
		t.Fatalf("default destination %q, duration %s", res.Header.Get("Location"), fed.SignIns()[1].Duration)
	}

	// Credentials the endpoint refuses are an error that holds no secret.
	_, err = cl.SigninURL(context.Background(), &ovm.Credentials{AccessKeyID: "ASIA3", SecretAccessKey: "wrong-secret", SessionToken: "wrong-token"}, "", time.Hour)
	if err == nil || strings.Contains(err.Error(), "wrong-") {
		t.Fatalf("refused credentials: %v", err)
	}
}

// The trap: getSigninToken refuses SessionDuration for credentials of a
// role-chained session.
func TestRoleChainedCredentialsAreSentWithoutADuration(t *testing.T) {
	fed := federationtest.New(t)
	fed.Chained = func(c federationtest.Credentials) bool { return strings.HasPrefix(c.ID, "CHAINED") }
	cl := federation.New(federation.Config{Endpoint: fed.Endpoint()}, nil, quiet)

	c := creds("CHAINED1")
	c.RoleChained = true
	u, err := cl.SigninURL(context.Background(), c, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	open(t, u)
	if len(fed.Refused()) != 0 || len(fed.SignIns()) != 1 || fed.SignIns()[0].Duration != 0 {
		t.Fatalf("known chained credentials: refused %v, sign-ins %+v", fed.Refused(), fed.SignIns())
	}

	// Not known to be chained: refused once with a duration, then asked
	// again without one.
	u, err = cl.SigninURL(context.Background(), creds("CHAINED2"), "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	open(t, u)
	if len(fed.Refused()) != 1 || len(fed.SignIns()) != 2 || fed.SignIns()[1].Duration != 0 {
		t.Fatalf("refused %v, sign-ins %+v", fed.Refused(), fed.SignIns())
	}
}

func TestAnUnreachableEndpointNamesItselfAndNoSecret(t *testing.T) {
	cl := federation.New(federation.Config{Endpoint: "http://127.0.0.1:1/federation", Timeout: time.Second}, nil, quiet)
	_, err := cl.SigninURL(context.Background(), creds("ASIA9"), "", time.Hour)
	if err == nil || strings.Contains(err.Error(), "secret-ASIA9") || strings.Contains(err.Error(), "token-ASIA9") ||
		!strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("error %v", err)
	}
}

func TestTheConfigNamesTheBadKey(t *testing.T) {
	for cfg, key := range map[federation.Config]string{
		{Endpoint: "http://signin.example/federation"}:  "access.federation_endpoint",
		{Endpoint: "not a url"}:                         "access.federation_endpoint",
		{Destination: "http://console.aws.amazon.com/"}: "access.console_destination",
		{Issuer: "ovm"}:                                 "access.issuer",
		{Timeout: -time.Second}:                         "access.timeout",
	} {
		if err := cfg.Validate("access."); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%+v: %v, want it to name %s", cfg, err, key)
		}
	}
	if err := (federation.Config{Endpoint: "http://127.0.0.1:8080/federation"}).Validate("access."); err != nil {
		t.Errorf("loopback http is for tests: %v", err)
	}
}

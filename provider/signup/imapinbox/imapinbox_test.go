package imapinbox_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/ovmdev/ovm/internal/imaptest"
	"github.com/ovmdev/ovm/provider/signup/imapinbox"
)

// mailServer runs a real IMAP server (internal/imaptest) and returns its
// address and a logged-in client.
func mailServer(t *testing.T, tlsCfg *tls.Config) (string, *imapclient.Client) {
	srv := imaptest.Start(t, tlsCfg)
	return srv.Addr, srv.Client
}

func deliver(t *testing.T, c *imapclient.Client, at time.Time, to, body string) {
	t.Helper()
	msg := "From: no-reply@signup.aws\r\nTo: " + to + "\r\nSubject: Verify your e-mail\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + body + "\r\n"
	if err := (&imaptest.Server{Client: c}).Deliver(msg, at); err != nil {
		t.Fatal(err)
	}
}

var code = regexp.MustCompile(`code: (\d{6})`)

func TestTheNewestCodeForTheAddressIsFoundAndLeftUnread(t *testing.T) {
	addr, c := mailServer(t, nil)
	in := &imapinbox.Inbox{Address: addr, Username: imaptest.User, Password: imaptest.Password, Security: imapinbox.None}
	ctx := context.Background()
	since := time.Now().Add(-10 * time.Minute)

	if _, ok, err := in.Find(ctx, "root+acc-1@example.com", since, code); ok || err != nil {
		t.Fatalf("empty mailbox: %v, %v", ok, err)
	}
	deliver(t, c, since.Add(-time.Hour), "root+acc-1@example.com", "Your code: 111111")         // before the sign-up
	deliver(t, c, since.Add(time.Minute), "root+acc-2@example.com", "Your code: 222222")        // someone else's
	deliver(t, c, since.Add(2*time.Minute), "root+acc-1@example.com", "Your code: 33=\r\n3333") // soft line break
	deliver(t, c, since.Add(time.Minute), "root+acc-1@example.com", "Your code: 444444")        // older than the one above

	got, ok, err := in.Find(ctx, "root+acc-1@example.com", since, code)
	if err != nil || !ok || got != "333333" {
		t.Fatalf("Find = %q, %v, %v; want 333333", got, ok, err)
	}
	if got, ok, _ := in.Find(ctx, "root+acc-2@example.com", since, code); !ok || got != "222222" {
		t.Fatalf("acc-2: %q %v", got, ok)
	}
	if _, ok, _ := in.Find(ctx, "root+acc-3@example.com", since, code); ok {
		t.Fatal("found a code for an address that got no mail")
	}
	// Reading is read-only: nothing is marked seen.
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	seen, err := c.UIDSearch(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, nil).Wait()
	if err != nil || len(seen.AllUIDs()) != 0 {
		t.Fatalf("messages marked seen: %v, %v", seen, err)
	}
}

func TestTLSAndABadPasswordGiveAClearErrorWithoutThePassword(t *testing.T) {
	cert, pool := testCert(t)
	addr, c := mailServer(t, &tls.Config{Certificates: []tls.Certificate{cert}})
	deliver(t, c, time.Now(), "root+acc-1@example.com", "Your code: 555555")
	ctx := context.Background()
	in := &imapinbox.Inbox{Address: addr, Username: imaptest.User, Password: imaptest.Password, TLSConfig: &tls.Config{RootCAs: pool}}
	if got, ok, err := in.Find(ctx, "root+acc-1@example.com", time.Now().Add(-time.Minute), code); err != nil || !ok || got != "555555" {
		t.Fatalf("over TLS: %q %v %v", got, ok, err)
	}
	bad := &imapinbox.Inbox{Address: addr, Username: imaptest.User, Password: "wr0ng-pw", TLSConfig: &tls.Config{RootCAs: pool}}
	_, _, err := bad.Find(ctx, "root+acc-1@example.com", time.Now(), code)
	if err == nil || !strings.Contains(err.Error(), "login as ovm") || strings.Contains(err.Error(), "wr0ng-pw") {
		t.Fatalf("bad password: %v", err)
	}
	// A server whose certificate the system does not trust is refused.
	untrusted := &imapinbox.Inbox{Address: addr, Username: imaptest.User, Password: imaptest.Password}
	if _, _, err := untrusted.Find(ctx, "root+acc-1@example.com", time.Now(), code); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate: %v", err)
	}
}

// testCert is a self-signed certificate for 127.0.0.1 and a pool trusting it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "imap.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(parsed)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

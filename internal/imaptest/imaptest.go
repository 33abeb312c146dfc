// Package imaptest runs a real IMAP4rev1 server (go-imap's, with in-memory
// mailboxes) on loopback for tests, with one user and its INBOX, and a
// logged-in client to deliver mail and look at the mailbox.
package imaptest

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// User and Password are the mailbox's credentials.
const (
	User     = "ovm"
	Password = "s3cret-imap-pw"
)

// Server is a running IMAP server.
type Server struct {
	Addr   string
	Client *imapclient.Client // logged in as User
}

// Start runs a server until t ends; over TLS when tlsCfg is set, else in
// plain text.
func Start(t testing.TB, tlsCfg *tls.Config) *Server {
	t.Helper()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(User, Password)
	user.Create("INBOX", nil)
	mem.AddUser(user)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}},
		InsecureAuth: tlsCfg == nil,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	c, err := imapclient.DialInsecure(ln.Addr().String(), nil)
	if tlsCfg != nil {
		c, err = imapclient.DialTLS(ln.Addr().String(), &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(User, Password).Wait(); err != nil {
		t.Fatal(err)
	}
	return &Server{Addr: ln.Addr().String(), Client: c}
}

// Deliver appends a raw message to INBOX as received at at.
func (s *Server) Deliver(raw string, at time.Time) error {
	cmd := s.Client.Append("INBOX", int64(len(raw)), &imap.AppendOptions{Time: at})
	if _, err := cmd.Write([]byte(raw)); err != nil {
		return err
	}
	if err := cmd.Close(); err != nil {
		return err
	}
	_, err := cmd.Wait()
	return err
}

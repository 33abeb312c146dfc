// Package imapinbox reads one-time codes from a mailbox over IMAP, for
// operators whose sign-up addresses land in an ordinary mail server instead
// of SES. It implements signup.Inbox: read-only (EXAMINE, BODY.PEEK), one
// connection per look, the newest matching message first.
package imapinbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/ovmdev/ovm/provider/signup"
)

// Security is how the connection is protected.
type Security string

// Connection security modes.
const (
	TLS      Security = "tls"      // IMAPS (port 993), the default
	StartTLS Security = "starttls" // STARTTLS on port 143
	None     Security = "none"     // plain text: only for a server on loopback (tests)
)

// Inbox implements signup.Inbox over IMAP.
type Inbox struct {
	Address  string // host:port
	Username string
	Password string // a secret: never in errors or logs
	Mailbox  string // default INBOX
	Security Security
	// TLSConfig overrides the TLS settings (e.g. a private CA).
	TLSConfig *tls.Config
	// Timeout bounds one look (default 30s).
	Timeout time.Duration
	// Window is how many of the newest candidate messages are read (default 20).
	Window int
}

var _ signup.Inbox = (*Inbox)(nil)

func (in *Inbox) dial() (*imapclient.Client, error) {
	opts := &imapclient.Options{TLSConfig: in.TLSConfig}
	switch in.Security {
	case "", TLS:
		return imapclient.DialTLS(in.Address, opts)
	case StartTLS:
		return imapclient.DialStartTLS(in.Address, opts)
	case None:
		return imapclient.DialInsecure(in.Address, opts)
	}
	return nil, fmt.Errorf("imap: security %q must be tls, starttls or none", in.Security)
}

// Find implements signup.Inbox.
func (in *Inbox) Find(ctx context.Context, to string, since time.Time, pattern *regexp.Regexp) (string, bool, error) {
	timeout, window, box := in.Timeout, in.Window, in.Mailbox
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	if window == 0 {
		window = 20
	}
	if box == "" {
		box = "INBOX"
	}
	c, err := in.dial()
	if err != nil {
		return "", false, fmt.Errorf("imap: connect to %s: %w", in.Address, err)
	}
	defer c.Close()
	// The client's commands do not take a context: closing the connection
	// ends a look that outlives the context or the timeout.
	done := make(chan struct{})
	defer close(done)
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	go func() {
		select {
		case <-lctx.Done():
			c.Close()
		case <-done:
		}
	}()
	if err := c.Login(in.Username, in.Password).Wait(); err != nil {
		var ie *imap.Error
		if errors.As(err, &ie) {
			return "", false, fmt.Errorf("imap: login as %s at %s refused: %s", in.Username, in.Address, ie.Text)
		}
		return "", false, fmt.Errorf("imap: login at %s: %v", in.Address, err)
	}
	if _, err := c.Select(box, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return "", false, fmt.Errorf("imap: open mailbox %s: %w", box, err)
	}
	// SINCE has a day's granularity (and the server's time zone): search a
	// day wider, then keep what arrived from a minute before since.
	found, err := c.UIDSearch(&imap.SearchCriteria{Since: since.AddDate(0, 0, -1),
		Header: []imap.SearchCriteriaHeaderField{{Key: "To", Value: to}}}, nil).Wait()
	if err != nil {
		return "", false, fmt.Errorf("imap: search %s: %w", box, err)
	}
	uids := found.AllUIDs()
	if len(uids) == 0 {
		c.Logout().Wait() // the answer is known; a failed goodbye changes nothing
		return "", false, nil
	}
	sort.Slice(uids, func(i, j int) bool { return uids[i] > uids[j] })
	if len(uids) > window {
		uids = uids[:window]
	}
	body := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{body}}).Collect()
	if err != nil {
		return "", false, fmt.Errorf("imap: fetch from %s: %w", box, err)
	}
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].InternalDate.After(msgs[j].InternalDate) })
	for _, m := range msgs {
		if m.InternalDate.Before(since.Add(-time.Minute)) {
			continue
		}
		if code, ok := signup.MatchMail(m.FindBodySection(body), to, pattern); ok {
			c.Logout().Wait()
			return code, true, nil
		}
	}
	c.Logout().Wait()
	return "", false, nil
}

package signup

// This file holds the two outside stores a sign-up writes to or reads from
// besides the vault: the Inbox that one-time codes arrive in, with the mail
// matching that every inbox shares, and the EvidenceCopy of failed steps.
// The implementations live in sub-packages, one per dependency: s3bucket
// (SES receipt to S3, evidence in S3) and imapinbox.

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
	"time"
)

// Inbox finds one-time codes in received e-mail.
type Inbox interface {
	// Find returns the first group of pattern in the newest message to to
	// received at or after since, and false when there is none yet.
	Find(ctx context.Context, to string, since time.Time, pattern *regexp.Regexp) (string, bool, error)
}

// MatchMail checks that a raw message is addressed to to and finds pattern
// in its text.
func MatchMail(raw []byte, to string, pattern *regexp.Regexp) (string, bool) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", false
	}
	addrs, _ := msg.Header.AddressList("To")
	found := false
	for _, a := range addrs {
		found = found || strings.EqualFold(a.Address, to)
	}
	if !found {
		return "", false
	}
	text := bodyText(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	m := pattern.FindStringSubmatch(text)
	if len(m) < 2 {
		return "", false
	}
	return m[1], true
}

// bodyText returns the text of a message body (plain or multipart, with
// quoted-printable decoded).
func bodyText(ctype, enc string, r io.Reader) string {
	if strings.EqualFold(enc, "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if err == nil && strings.HasPrefix(mt, "multipart/") {
		var b strings.Builder
		mr := multipart.NewReader(r, params["boundary"])
		for {
			part, err := mr.NextPart()
			if err != nil {
				break
			}
			b.WriteString(bodyText(part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"), part))
			b.WriteString("\n")
		}
		return b.String()
	}
	b, _ := io.ReadAll(io.LimitReader(r, 1<<20))
	return string(b)
}

// EvidenceCopy keeps a copy of a failed step's evidence somewhere every
// replica's operator can reach (S3: s3bucket.Evidence), besides the local
// directory.
type EvidenceCopy interface {
	// Copy stores files under name and returns where they are.
	Copy(ctx context.Context, name string, files map[string][]byte) (string, error)
}

package signup

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Inbox finds one-time codes in received e-mail.
type Inbox interface {
	// Find returns the first group of pattern in the newest message to to
	// received at or after since, and false when there is none yet.
	Find(ctx context.Context, to string, since time.Time, pattern *regexp.Regexp) (string, bool, error)
}

type s3API interface {
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// S3Inbox reads the mail an SES receipt rule stores in S3 (one raw MIME
// message per object under Prefix).
type S3Inbox struct {
	Client s3API
	Bucket string
	Prefix string
}

// NewS3Inbox returns an inbox on bucket/prefix.
func NewS3Inbox(c *s3.Client, bucket, prefix string) *S3Inbox {
	return &S3Inbox{Client: c, Bucket: bucket, Prefix: prefix}
}

// Find implements Inbox.
func (in *S3Inbox) Find(ctx context.Context, to string, since time.Time, pattern *regexp.Regexp) (string, bool, error) {
	var objs []struct {
		key string
		at  time.Time
	}
	p := s3.NewListObjectsV2Paginator(in.Client, &s3.ListObjectsV2Input{Bucket: aws.String(in.Bucket), Prefix: aws.String(in.Prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", false, fmt.Errorf("inbox: list s3://%s/%s: %w", in.Bucket, in.Prefix, err)
		}
		for _, o := range page.Contents {
			// A minute of slack for clocks; the e-mail's own checks decide.
			if o.LastModified != nil && o.LastModified.After(since.Add(-time.Minute)) {
				objs = append(objs, struct {
					key string
					at  time.Time
				}{aws.ToString(o.Key), *o.LastModified})
			}
		}
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].at.After(objs[j].at) }) // newest first
	for _, o := range objs {
		out, err := in.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(in.Bucket), Key: aws.String(o.key)})
		if err != nil {
			return "", false, fmt.Errorf("inbox: get %s: %w", o.key, err)
		}
		raw, err := io.ReadAll(io.LimitReader(out.Body, 10<<20))
		out.Body.Close()
		if err != nil {
			return "", false, err
		}
		if code, ok := MatchMail(raw, to, pattern); ok {
			return code, true, nil
		}
	}
	return "", false, nil
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
// replica's operator can reach (S3), besides the local directory.
type EvidenceCopy interface {
	// Copy stores files under name and returns where they are.
	Copy(ctx context.Context, name string, files map[string][]byte) (string, error)
}

type s3PutAPI interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// S3Evidence implements EvidenceCopy on an S3 bucket.
type S3Evidence struct {
	Client s3PutAPI
	Bucket string
	Prefix string // e.g. "evidence/"
}

// Copy implements EvidenceCopy.
func (e *S3Evidence) Copy(ctx context.Context, name string, files map[string][]byte) (string, error) {
	base := e.Prefix + name + "/"
	for f, b := range files {
		if _, err := e.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(e.Bucket), Key: aws.String(base + f),
			Body: bytes.NewReader(b)}); err != nil {
			return "", fmt.Errorf("evidence: put s3://%s/%s: %w", e.Bucket, base+f, err)
		}
	}
	return "s3://" + e.Bucket + "/" + base, nil
}

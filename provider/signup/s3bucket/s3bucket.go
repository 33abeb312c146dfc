// Package s3bucket is the signup provider's S3 side: an Inbox that reads
// the mail an SES receipt rule stores in a bucket, and an Evidence copy that
// keeps failed steps' screenshots, pages and logs in a bucket every
// replica's operator can reach. The signup package itself does not import
// the S3 SDK; cmd/ovm wires these in.
package s3bucket

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ovmdev/ovm/provider/signup"
)

var (
	_ signup.Inbox        = (*Inbox)(nil)
	_ signup.EvidenceCopy = (*Evidence)(nil)
)

// readAPI is what Inbox needs of S3.
type readAPI interface {
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Inbox reads the mail an SES receipt rule stores in S3 (one raw MIME
// message per object under Prefix).
type Inbox struct {
	Client readAPI
	Bucket string
	Prefix string
}

// NewInbox returns an inbox on bucket/prefix.
func NewInbox(c *s3.Client, bucket, prefix string) *Inbox {
	return &Inbox{Client: c, Bucket: bucket, Prefix: prefix}
}

// Find implements signup.Inbox.
func (in *Inbox) Find(ctx context.Context, to string, since time.Time, pattern *regexp.Regexp) (string, bool, error) {
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
		if code, ok := signup.MatchMail(raw, to, pattern); ok {
			return code, true, nil
		}
	}
	return "", false, nil
}

// putAPI is what Evidence needs of S3.
type putAPI interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Evidence implements signup.EvidenceCopy on an S3 bucket.
type Evidence struct {
	Client putAPI
	Bucket string
	Prefix string // e.g. "evidence/"
}

// Copy implements signup.EvidenceCopy.
func (e *Evidence) Copy(ctx context.Context, name string, files map[string][]byte) (string, error) {
	base := e.Prefix + name + "/"
	for f, b := range files {
		if _, err := e.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(e.Bucket), Key: aws.String(base + f),
			Body: bytes.NewReader(b)}); err != nil {
			return "", fmt.Errorf("evidence: put s3://%s/%s: %w", e.Bucket, base+f, err)
		}
	}
	return "s3://" + e.Bucket + "/" + base, nil
}

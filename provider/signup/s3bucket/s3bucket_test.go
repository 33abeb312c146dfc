package s3bucket_test

import (
	"context"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ovmdev/ovm/internal/mototest"
	"github.com/ovmdev/ovm/provider/signup/s3bucket"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

func newBucket(t *testing.T, name string) *s3.Client {
	t.Helper()
	c := s3.NewFromConfig(mototest.Require(t).Config(), func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	return c
}

func put(t *testing.T, c *s3.Client, bucket, key, body string) {
	t.Helper()
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: strings.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

var code = regexp.MustCompile(`code: (\d{6})`)

func TestTheInboxFindsTheCodeOfAMailToTheAccountUnderItsPrefix(t *testing.T) {
	c := newBucket(t, "mail")
	since := time.Now()
	in := s3bucket.NewInbox(c, "mail", "inbound/")
	ctx := context.Background()
	if _, ok, err := in.Find(ctx, "root+a@example.com", since, code); ok || err != nil {
		t.Fatalf("an empty bucket: found=%v, %v", ok, err)
	}
	put(t, c, "mail", "inbound/1", "To: root+b@example.com\r\nSubject: x\r\n\r\nYour code: 111111\r\n")
	put(t, c, "mail", "elsewhere/1", "To: root+a@example.com\r\nSubject: x\r\n\r\nYour code: 222222\r\n")
	if _, ok, err := in.Find(ctx, "root+a@example.com", since, code); ok || err != nil {
		t.Fatalf("another's mail, or one outside the prefix: found=%v, %v", ok, err)
	}
	// SES stores the raw message: multipart, quoted-printable.
	put(t, c, "mail", "inbound/2", "To: Root <ROOT+a@example.com>\r\nSubject: Verify\r\n"+
		"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"+
		"Your verification code: 3=\r\n33333\r\n--b--\r\n")
	got, ok, err := in.Find(ctx, "root+a@example.com", since, code)
	if err != nil || !ok || got != "333333" {
		t.Fatalf("Find = %q, %v, %v; want 333333", got, ok, err)
	}
	// Mail older than since (less a minute of slack) is not looked at.
	if _, ok, err := in.Find(ctx, "root+a@example.com", time.Now().Add(5*time.Minute), code); ok || err != nil {
		t.Fatalf("old mail: found=%v, %v", ok, err)
	}
	missing := s3bucket.NewInbox(c, "no-such-bucket", "inbound/")
	if _, _, err := missing.Find(ctx, "root+a@example.com", since, code); err == nil || !strings.Contains(err.Error(), "s3://no-such-bucket/inbound/") {
		t.Fatalf("a missing bucket: %v", err)
	}
}

func TestEvidenceIsCopiedUnderItsNameAndTheCopyIsNamed(t *testing.T) {
	c := newBucket(t, "evidence")
	e := &s3bucket.Evidence{Client: c, Bucket: "evidence", Prefix: "ev/"}
	files := map[string][]byte{"step.log": []byte("FAILED: no page\n"), "page.html": []byte("<html></html>")}
	where, err := e.Copy(context.Background(), "acc-1/20261124T100000.000-signup-contact", files)
	if err != nil || where != "s3://evidence/ev/acc-1/20261124T100000.000-signup-contact/" {
		t.Fatalf("Copy = %q, %v", where, err)
	}
	for name, want := range files {
		out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("evidence"),
			Key: aws.String("ev/acc-1/20261124T100000.000-signup-contact/" + name)})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(got) != string(want) {
			t.Fatalf("%s = %q, want %q", name, got, want)
		}
	}
	e.Bucket = "no-such-bucket"
	if _, err := e.Copy(context.Background(), "acc-1/x", files); err == nil || !strings.Contains(err.Error(), "s3://no-such-bucket/ev/acc-1/x/") {
		t.Fatalf("a missing bucket: %v", err)
	}
}

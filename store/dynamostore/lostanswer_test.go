package dynamostore_test

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/internal/dynalitetest"
	"github.com/ovmdev/ovm/store/storetest"
)

// losingTransport performs every request, but loses the answer of every
// nth write: the caller sees a timeout after the table changed, and the
// SDK sends the write again. It fills a gap dynalite cannot show: a
// response lost on the network after DynamoDB applied the write.
type losingTransport struct {
	next   http.RoundTripper
	every  int64
	writes atomic.Int64
}

type lostAnswer struct{}

func (lostAnswer) Error() string   { return "the answer was lost (test)" }
func (lostAnswer) Timeout() bool   { return true }
func (lostAnswer) Temporary() bool { return true }

func (t *losingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	op := r.Header.Get("X-Amz-Target")
	write := strings.HasSuffix(op, ".UpdateItem") || strings.HasSuffix(op, ".PutItem") ||
		strings.HasSuffix(op, ".DeleteItem") || strings.HasSuffix(op, ".TransactWriteItems")
	first := strings.HasPrefix(r.Header.Get("Amz-Sdk-Request"), "attempt=1;") // the SDK's resends are answered
	resp, err := t.next.RoundTrip(r)
	if err != nil || !write || !first || t.writes.Add(1)%t.every != 0 {
		return resp, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil, lostAnswer{}
}

// Every store operation gives the same answers when the SDK retries a
// write whose first attempt was applied but whose answer was lost.
func TestConformanceWithLostAnswers(t *testing.T) {
	storetest.Run(t, func(t *testing.T) ovm.Store {
		cfg := dynalitetest.Require(t).Config()
		cfg.HTTPClient = &http.Client{Transport: &losingTransport{next: http.DefaultTransport, every: 3}}
		// A third of the writes resent would drain the SDK's retry quota,
		// which is there for a service in trouble, not a lost answer.
		cfg.Retryer = func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.RateLimiter = ratelimit.None })
		}
		return open(t, cfg)
	})
}

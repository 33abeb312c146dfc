package httpapi

import (
	"testing"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
)

// FuzzDecode feeds arbitrary bodies to the request decoders: they must never
// panic, and every refusal must be a client error.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{}`, `{"pool":"default","ttl":"1h","labels":{"a":"b"},"wait":"5s"}`,
		`{"expires_at":"2026-11-24T10:00:00Z"}`, `{"extend_by":"-1h"}`, `{"name":"x","role":"admin"}`,
		`{"ttl":1}`, `[`, `{"labels":{"":""}}`, "\x00", `{"ttl":"9999999999999h"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, v := range []any{&client.LeaseRequest{}, &client.ExtendRequest{}, &client.KeyRequest{}} {
			err := decodeBytes(body, v, true)
			if err != nil && ovm.ErrorCodeOf(err) != ovm.EInvalid {
				t.Fatalf("%T: error %v has code %s, want invalid", v, err, ovm.ErrorCodeOf(err))
			}
			if lr, ok := v.(*client.LeaseRequest); ok && err == nil {
				_ = checkLabels(lr.Labels)
			}
		}
	})
}

package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/ovmdev/ovm"
)

// maxKeySetBytes bounds an issuer's key set (a few keys are a few KiB).
const maxKeySetBytes = 1 << 20

// keySet is an issuer's key set (JWKS), fetched on the first token and
// again for a token that no key held verifies, but at most once per
// RefetchKeys: a flood of tokens with made-up key ids costs the issuer one
// fetch per interval, and those in between are refused without one.
// go-oidc's RemoteKeySet fetches again for every such token (and for a
// known key id with a bad signature), so this takes its place as the
// verifier's oidc.KeySet. go-jose parses the keys and checks signatures.
type keySet struct {
	url    string
	client *http.Client
	clock  ovm.Clock
	// fetching admits one fetch at a time; callers that wait for it find
	// its keys.
	fetching chan struct{}

	mu        sync.Mutex
	keys      []jose.JSONWebKey
	fetchedAt time.Time // of the last fetch, zero before the first
	fetchErr  error     // of the last fetch
}

func newKeySet(url string, client *http.Client, clock ovm.Clock) *keySet {
	return &keySet{url: url, client: client, clock: clock, fetching: make(chan struct{}, 1)}
}

// errNoKey is a signature that no key of the issuer's set verifies.
var errNoKey = errors.New("no key of the issuer's key set verifies the signature")

// keyFetchError is a key set that could not be fetched: OVM cannot tell a
// good token from a bad one until the issuer answers.
type keyFetchError struct {
	err error
	// retry is when the next fetch may happen.
	retry time.Duration
	// fresh is set when this call fetched (and so should log the failure);
	// calls within RefetchKeys of it repeat its error without fetching.
	fresh bool
}

func (e *keyFetchError) Error() string { return "fetching the key set: " + e.err.Error() }
func (e *keyFetchError) Unwrap() error { return e.err }

// keySetResult records in a verification's context what became of the
// signature (go-oidc keeps only the text of a key set's error).
type keySetResult struct {
	verified bool
	err      error
}

type keySetResultKey struct{}

// VerifySignature implements oidc.KeySet: it returns the payload of jwt
// when a key of the set verifies its signature. Errors are errNoKey or a
// *keyFetchError.
func (k *keySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := k.verifySignature(ctx, jwt)
	if r, ok := ctx.Value(keySetResultKey{}).(*keySetResult); ok {
		r.verified, r.err = err == nil, err
	}
	return payload, err
}

func (k *keySet) verifySignature(ctx context.Context, jwt string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(jwt, joseAlgs(algorithms))
	if err != nil || len(jws.Signatures) != 1 {
		return nil, errNoKey // go-oidc parsed it already: not reached
	}
	if p, ok := k.verify(jws); ok {
		return p, nil
	}
	select {
	case k.fetching <- struct{}{}:
		defer func() { <-k.fetching }()
	case <-ctx.Done():
		return nil, &keyFetchError{err: ctx.Err(), retry: RefetchKeys}
	}
	if p, ok := k.verify(jws); ok {
		return p, nil // fetched while this call waited
	}
	now := k.clock.Now()
	k.mu.Lock()
	at, lastErr := k.fetchedAt, k.fetchErr
	k.mu.Unlock()
	if next := at.Add(RefetchKeys); !at.IsZero() && now.Before(next) {
		if lastErr != nil {
			return nil, &keyFetchError{err: lastErr, retry: next.Sub(now)}
		}
		return nil, errNoKey
	}
	keys, err := k.fetch(ctx)
	k.mu.Lock()
	k.fetchedAt, k.fetchErr = now, err
	if err == nil {
		k.keys = keys
	}
	k.mu.Unlock()
	if err != nil {
		return nil, &keyFetchError{err: err, retry: RefetchKeys, fresh: true}
	}
	if p, ok := k.verify(jws); ok {
		return p, nil
	}
	return nil, errNoKey
}

// verify checks jws with the keys held: those of its key id, or all of
// them when it names none.
func (k *keySet) verify(jws *jose.JSONWebSignature) ([]byte, bool) {
	k.mu.Lock()
	keys := k.keys
	k.mu.Unlock()
	kid := jws.Signatures[0].Header.KeyID
	for i := range keys {
		if kid != "" && keys[i].KeyID != kid {
			continue
		}
		if p, err := jws.Verify(&keys[i]); err == nil {
			return p, true
		}
	}
	return nil, false
}

// fetch gets the key set, within FetchTimeout whatever the caller's
// context (other tokens wait for it). Keys of a type go-jose does not
// know, and encryption keys, are left out.
func (k *keySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	res, err := k.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", k.url, res.Status)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxKeySetBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxKeySetBytes {
		return nil, fmt.Errorf("%s is larger than %d KiB", k.url, maxKeySetBytes>>10)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("%s is not a JSON key set: %w", k.url, err)
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var key jose.JSONWebKey
		if json.Unmarshal(raw, &key) != nil || !key.Valid() || key.Use != "" && key.Use != "sig" {
			continue
		}
		if !key.IsPublic() {
			if key = key.Public(); !key.Valid() {
				continue
			}
		}
		keys = append(keys, key)
	}
	return keys, nil
}

package signup

// This file keeps a sign-up's browser state in the vault, so that a fresh
// browser (after a crash or a failed step) goes on where the last one
// stopped: the session's cookies (browser-session/{id}), and the URL of the
// page a step ended on when it has a query (browser-url/{id}/{section}),
// which may carry a credential such as a reset link's token; the store then
// records only a marker.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/vault"
)

// sealedURL marks a resume URL kept in the vault.
const sealedURL = "(sealed in the vault)"

// sealedURLKey names the vault secret of a section's sealed resume URL.
func sealedURLKey(id, section string) string { return "browser-url/" + id + "/" + section }

// keepURL returns how the store records the page a step ended on: the URL
// itself when it has no query, else a marker, with the URL sealed in the
// vault (a query may carry a credential, such as a reset link's token).
func (r *stepRun) keepURL(ctx context.Context, u string) (string, error) {
	if !strings.ContainsAny(u, "?#") {
		return u, nil
	}
	if err := r.p.deps.Vault.Put(ctx, sealedURLKey(r.a.ID, r.section), u); err != nil {
		return "", fmt.Errorf("vault: %w", err)
	}
	return sealedURL, nil
}

// resumeURL is the page a fresh browser resumes at: the URL the store
// recorded, taken from the vault when the store holds the marker.
func (r *stepRun) resumeURL(ctx context.Context, recorded string) (string, error) {
	if recorded != sealedURL {
		return recorded, nil
	}
	return r.p.deps.Vault.Get(ctx, sealedURLKey(r.a.ID, r.section))
}

// redactURL drops a URL's query and fragment, for logs.
func redactURL(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i] + "?…"
	}
	return u
}

// sessionKey names the vault secret of an account's browser session.
func sessionKey(id string) string { return "browser-session/" + id }

// saveSession seals the browser's cookies in the vault: a browser that
// dies (or an OVM that is killed) loses nothing of the session. It runs as
// a step ends, so the vault write outlives ctx (context.WithoutCancel, with
// a timeout of its own); the cookies are read while ctx lasts, as before.
func (r *stepRun) saveSession(ctx context.Context) {
	if r.b == nil || r.b.ctx.Err() != nil {
		return
	}
	cs, err := r.b.cookies(ctx)
	if err != nil || len(cs) == 0 {
		return
	}
	b, _ := json.Marshal(cs)
	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := r.p.deps.Vault.Put(vctx, sessionKey(r.a.ID), string(b)); err != nil {
		r.p.deps.Log.Warn("could not save the browser session", ovm.LogAccountID, r.a.ID, ovm.LogError, err)
	}
}

// restoreSession puts the cookies saveSession sealed into a fresh browser.
func (r *stepRun) restoreSession(ctx context.Context) error {
	saved, err := r.p.deps.Vault.Get(ctx, sessionKey(r.a.ID))
	if errors.Is(err, vault.ErrNoSecret) {
		return nil
	}
	if err != nil {
		return err
	}
	var cs []*network.Cookie
	if err := json.Unmarshal([]byte(saved), &cs); err != nil {
		return err
	}
	r.logf("restored %d session cookies", len(cs))
	return r.b.setCookies(ctx, cs)
}

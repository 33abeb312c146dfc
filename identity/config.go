package identity

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"unicode"

	"github.com/ovmdev/ovm"
)

// Config is the `auth:` block of `ovm serve` (docs/config.md). The zero
// value accepts API keys only.
type Config struct {
	// OIDC lists the issuers whose ID tokens are accepted as bearer tokens
	// (default: none).
	OIDC []IssuerConfig `yaml:"oidc"`
}

// IssuerConfig is one accepted OIDC issuer.
type IssuerConfig struct {
	// Issuer is the issuer URL, exactly as in the tokens' iss claim and in
	// its discovery document (https; http only on loopback, for tests).
	Issuer string `yaml:"issuer"`
	// Audience must be one of the token's aud values: OVM's own URL, as the
	// CI job asks for it (required).
	Audience string `yaml:"audience"`
	// OwnerClaim names the string claim whose value owns the leases
	// (required; with GitHub Actions, repository).
	OwnerClaim string `yaml:"owner_claim"`
	// OwnerPrefix is put before the claim's value (default ""). The owner
	// must contain '/' or ':', which no API key name may hold: with a claim
	// such as email, set a prefix like "google:".
	OwnerPrefix string `yaml:"owner_prefix"`
	// Require maps claim names to the exact string each must hold; a
	// missing or non-string claim refuses the token (default: none, which is
	// refused for the public CI issuers of publicIssuers).
	Require map[string]string `yaml:"require"`
	// Role is the role of every token of this issuer: user or admin
	// (default user).
	Role ovm.Role `yaml:"role"`
}

// publicIssuers are issuers where anyone can get a token with any
// audience (any GitHub repository, any GitLab.com project, any Google
// account): without a require block, all of them could sign in.
var publicIssuers = []string{
	"https://token.actions.githubusercontent.com",
	"https://gitlab.com",
	"https://accounts.google.com",
}

// maxOwnerPrefix bounds owner_prefix.
const maxOwnerPrefix = 64

// Validate checks c and returns an *ovm.FieldError naming the first wrong
// key (auth.oidc[0].issuer: ...).
func (c Config) Validate() error {
	seen := map[string]int{}
	for i, ic := range c.OIDC {
		key := fmt.Sprintf("auth.oidc[%d].", i)
		bad := func(field, format string, args ...any) error {
			return &ovm.FieldError{Field: key + field, Message: fmt.Sprintf(format, args...)}
		}
		if err := checkIssuerURL(ic.Issuer); err != nil {
			return bad("issuer", "%v", err)
		}
		// "https://gitlab.com" and "https://gitlab.com/" name one issuer
		// (a token's iss matches one of them, never both).
		same := strings.TrimRight(ic.Issuer, "/")
		if j, ok := seen[same]; ok {
			return bad("issuer", "%q is configured twice (also auth.oidc[%d]); a token's iss picks one entry", ic.Issuer, j)
		}
		seen[same] = i
		switch {
		case strings.TrimSpace(ic.Audience) == "":
			return bad("audience", "must not be empty (use OVM's URL, and ask the CI for a token with that audience)")
		case strings.TrimSpace(ic.OwnerClaim) == "":
			return bad("owner_claim", "must name the claim that owns the leases (with GitHub Actions: repository)")
		case len(ic.OwnerPrefix) > maxOwnerPrefix || strings.IndexFunc(ic.OwnerPrefix, unprintable) >= 0:
			return bad("owner_prefix", "%q must be at most %d printable characters without spaces", ic.OwnerPrefix, maxOwnerPrefix)
		case ic.Role != "" && !ic.Role.Valid():
			return bad("role", "%q must be user or admin", ic.Role)
		}
		for _, name := range slices.Sorted(maps.Keys(ic.Require)) {
			if strings.TrimSpace(name) == "" || ic.Require[name] == "" {
				return bad("require", "claim %q: names and values must not be empty", name)
			}
		}
		if len(ic.Require) == 0 && isPublic(ic.Issuer) {
			return bad("require", "must name at least one claim for %s (e.g. repository_owner: my-org): anyone can get a token from this issuer, so without it any of its users could sign in", ic.Issuer)
		}
	}
	return nil
}

// role is the role of ic's tokens, with the default.
func (ic IssuerConfig) role() ovm.Role {
	if ic.Role == "" {
		return ovm.RoleUser
	}
	return ic.Role
}

func isPublic(issuer string) bool {
	for _, p := range publicIssuers {
		if issuer == p || strings.HasPrefix(issuer, p+"/") {
			return true
		}
	}
	return false
}

func unprintable(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }

// checkIssuerURL accepts an absolute https URL, or http on a loopback
// host (a test issuer); never a query, a fragment or user info.
func checkIssuerURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return fmt.Errorf("must not be empty")
	case err != nil || u.Host == "" || u.Opaque != "":
		return fmt.Errorf("%q is not an absolute URL", s)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return fmt.Errorf("%q must not have a query, a fragment or user info", s)
	case !secureURL(s):
		return fmt.Errorf("%q must be https (http only on a loopback address, for tests)", s)
	}
	return nil
}

// secureURL reports whether s is an absolute https URL, or http on a
// loopback host.
func secureURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Host != "" && (u.Scheme == "https" || u.Scheme == "http" && loopback(u.Hostname()))
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

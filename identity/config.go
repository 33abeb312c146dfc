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
	// RoleClaim, when set, names a claim (a string or a list of strings,
	// such as groups) that makes a token admin when it holds one of
	// AdminValues; other tokens get Role (default: none).
	RoleClaim string `yaml:"role_claim"`
	// AdminValues are the RoleClaim values that make a token admin.
	AdminValues []string `yaml:"admin_values"`
	// GroupsClaim, when set, names a claim (a string or a list of strings)
	// whose values are the token's teams (templates' allowed and
	// max_per_team). With GroupsPrefix, only values that start with it
	// are teams, the prefix taken off. Values that are not team names
	// (ovm.CheckTeamName) are ignored, and at most ovm.MaxTeams are kept.
	GroupsClaim  string `yaml:"groups_claim"`
	GroupsPrefix string `yaml:"groups_prefix"`
	// Console, when set, lets people sign in to the web console with
	// this issuer (authorization code with PKCE; the client id is
	// Audience). Default: CI tokens only.
	Console *ConsoleConfig `yaml:"console"`
}

// ConsoleConfig is an issuer's web console sign-in.
type ConsoleConfig struct {
	// Name is the sign-in button's label (default: the issuer's host).
	Name string `yaml:"name"`
	// ClientSecret is the client's secret, a secret reference
	// (secret:<name>); empty for a public client, which PKCE protects.
	ClientSecret string `yaml:"client_secret"`
	// Scopes asked for besides openid (default: email, profile).
	Scopes []string `yaml:"scopes"`
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
		if (ic.RoleClaim == "") != (len(ic.AdminValues) == 0) {
			return bad("role_claim", "role_claim and admin_values go together: the claim, and the values of it that make a token admin")
		}
		if ic.GroupsPrefix != "" && ic.GroupsClaim == "" {
			return bad("groups_prefix", "needs groups_claim: the claim whose values, with this prefix, are the token's teams")
		}
		if ic.Role == ovm.RoleAdmin && ic.RoleClaim != "" {
			return bad("role_claim", "every token of this issuer is admin (role: admin); a role_claim would change nothing")
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

// Warnings returns what c accepts but is most likely a mistake, each as
// a *ovm.FieldError naming its key. New logs them at Warn, so they show
// when ovm serve starts.
func (c Config) Warnings() []*ovm.FieldError {
	var out []*ovm.FieldError
	for i, ic := range c.OIDC {
		if ic.OwnerClaim == "repository_owner" && ic.OwnerPrefix == "" {
			// GitHub's owner names hold neither '/' nor ':': without a
			// prefix, such an owner could be an API key's name, a GitHub
			// user's or another issuer's principal, and check refuses it.
			out = append(out, &ovm.FieldError{Field: fmt.Sprintf("auth.oidc[%d].owner_claim", i),
				Message: "repository_owner without owner_prefix: a GitHub repository owner's name (my-org) is also the name " +
					"of other principals (an API key, a GitHub user, another issuer's owner), so OVM refuses it as an owner " +
					"and every token of this issuer is refused; set owner_prefix (\"github:\"), or use owner_claim: repository"})
		}
	}
	return out
}

// strings is claim name of claims as strings: a string, or the strings
// of a list.
func strs(claims map[string]any, name string) []string {
	var held []string
	switch v := claims[name].(type) {
	case string:
		held = []string{v}
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok {
				held = append(held, s)
			}
		}
	}
	return held
}

// teams are the teams of a token of ic with claims.
func (ic IssuerConfig) teams(claims map[string]any) []string {
	if ic.GroupsClaim == "" {
		return nil
	}
	var out []string
	for _, g := range strs(claims, ic.GroupsClaim) {
		t, ok := strings.CutPrefix(g, ic.GroupsPrefix)
		if !ok || ovm.CheckTeamName(t) != nil || slices.Contains(out, t) {
			continue
		}
		if out = append(out, t); len(out) == ovm.MaxTeams {
			break
		}
	}
	return out
}

// role is the role of a token of ic with claims.
func (ic IssuerConfig) role(claims map[string]any) ovm.Role {
	if ic.RoleClaim != "" {
		for _, h := range strs(claims, ic.RoleClaim) {
			if slices.Contains(ic.AdminValues, h) {
				return ovm.RoleAdmin
			}
		}
	}
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

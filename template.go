package ovm

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Template is the terms of a lease: which pool its account comes from, how
// long it may last, who may take it, how many one team may hold, and the
// guardrails AWS enforces for the lease's life. Every pool has an implicit
// template named after it (its lease policy, no guardrails, everyone), so
// that a configuration without templates leases as before. Budgets,
// approvals and blueprints are to hang off templates: new terms are new
// fields here, and a lease keeps a copy of the terms it was made under
// (LeaseTerms).
type Template struct {
	// Name identifies the template: 1-63 of a-z, 0-9 and '-' (an implicit
	// template is named after its pool).
	Name        string
	Description string
	// Pool is the pool whose stock the template's leases draw from.
	Pool string
	// Lease bounds the lease's duration and how many one owner holds.
	Lease LeasePolicy
	// MaxPerTeam caps the active leases of the template held by one team's
	// members (0: no cap). A lease counts for its owner's first team.
	MaxPerTeam int
	// Allowed lists who may lease the template (empty: everyone):
	// "team:NAME", "key:GLOB" (an API key's name), "oidc:GLOB" (a token's
	// owner), or "*".
	Allowed []string
	// Guardrails are what AWS lets the lessee do.
	Guardrails Guardrails
	// Budget bounds what one lease may spend (nil: no budget).
	Budget *Budget
	// Implicit marks a pool's own template.
	Implicit bool
	// GuardrailDocument is the policy document the guardrails make
	// (package guardrail; "" when they make none), GuardrailVersion its
	// hash: set where the configuration is read, kept on each lease.
	GuardrailDocument string
	GuardrailVersion  string
}

// Guardrails bound what a lessee may do in its account, enforced by AWS
// (a service control policy on a member account; a permissions boundary
// and an inline deny on a management account's vended role).
type Guardrails struct {
	// Regions, when set, denies every other Region (global services spared).
	Regions []string `json:"regions,omitempty"`
	// DenyActions are IAM actions (service:Action, wildcards allowed) denied.
	DenyActions []string `json:"deny_actions,omitempty"`
	// InstanceTypes, when set, bounds the EC2 instance types launched
	// (patterns such as t3.*).
	InstanceTypes []string `json:"instance_types,omitempty"`
	// Policies are the operator's own SCPs, by id (p-...), attached as they
	// are (checked, never changed), or JSON files whose statements OVM
	// manages as its own policy.
	Policies []string `json:"policies,omitempty"`
}

// Empty reports whether g guards nothing.
func (g Guardrails) Empty() bool {
	return len(g.Regions) == 0 && len(g.DenyActions) == 0 && len(g.InstanceTypes) == 0 && len(g.Policies) == 0
}

// PolicyIDs are the operator's SCPs g names by id; PolicyFiles the files.
func (g Guardrails) PolicyIDs() []string {
	var out []string
	for _, p := range g.Policies {
		if policyIDRe.MatchString(p) {
			out = append(out, p)
		}
	}
	return out
}

// PolicyFiles are the policy documents g names by file.
func (g Guardrails) PolicyFiles() []string {
	var out []string
	for _, p := range g.Policies {
		if !policyIDRe.MatchString(p) {
			out = append(out, p)
		}
	}
	return out
}

var (
	templateNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	regionRe       = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$`)
	actionRe       = regexp.MustCompile(`^[a-z0-9-]{2,64}:[A-Za-z0-9*?]{1,128}$`)
	instanceTypeRe = regexp.MustCompile(`^[a-z0-9*?][a-z0-9.*?-]{0,63}$`)
	policyIDRe     = regexp.MustCompile(`^p-[0-9a-z_]{8,128}$`)
	teamNameRe     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@/-]{0,127}$`)
	allowGlobRe    = regexp.MustCompile(`^[A-Za-z0-9*?._@/:-]{1,256}$`)
)

// CheckTeamName reports whether name may name a team.
func CheckTeamName(name string) error {
	if !teamNameRe.MatchString(name) {
		return Errorf(EInvalid, "team %q must be 1-128 letters, digits or . _ @ / - (starting with a letter or digit)", quoteStart(name))
	}
	return nil
}

// Validate checks t (its lease policy after WithDefaults) and returns a
// *FieldError naming the first wrong key, relative to the template.
func (t Template) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
	}
	switch {
	case !t.Implicit && !templateNameRe.MatchString(t.Name):
		return bad("name", "%q must be 1-63 of a-z, 0-9 and '-', starting with a letter or digit", t.Name)
	case len(t.Description) > 1024:
		return bad("description", "must be at most 1024 characters")
	case t.Pool == "":
		return bad("pool", "is required: the pool whose accounts the template leases")
	case t.Lease.validate() != nil:
		return t.Lease.validate()
	case t.MaxPerTeam < 0:
		return bad("max_per_team", "must not be negative (0: no cap)")
	}
	if fe := checkAllowedList(t.Allowed); fe != nil {
		return fe
	}
	if t.Budget != nil {
		if err := t.Budget.Validate(); err != nil {
			fe := err.(*FieldError)
			return &FieldError{Field: "budget." + fe.Field, Message: fe.Message}
		}
	}
	return t.Guardrails.validate(bad)
}

// checkAllowedList checks an allowed list, naming the wrong entry
// (allowed[i]).
func checkAllowedList(allowed []string) *FieldError {
	for i, a := range allowed {
		if err := checkAllowed(a); err != nil {
			return &FieldError{Field: fmt.Sprintf("allowed[%d]", i), Message: err.Error()}
		}
	}
	return nil
}

func checkAllowed(a string) error {
	if a == "*" {
		return nil
	}
	kind, v, ok := strings.Cut(a, ":")
	switch {
	case !ok || (kind != "team" && kind != "key" && kind != "oidc"):
		return fmt.Errorf("%q must be team:NAME, key:GLOB, oidc:GLOB or *", quoteStart(a))
	case kind == "team":
		return CheckTeamName(v)
	case !allowGlobRe.MatchString(v):
		return fmt.Errorf("%q: the pattern must be 1-256 letters, digits, * ? . _ @ / : -", quoteStart(a))
	}
	if _, err := path.Match(v, ""); err != nil {
		return fmt.Errorf("%q: %v", quoteStart(a), err)
	}
	return nil
}

func (g Guardrails) validate(bad func(field, format string, args ...any) error) error {
	each := func(key string, vs []string, re *regexp.Regexp, what string) error {
		seen := map[string]bool{}
		for i, v := range vs {
			switch {
			case !re.MatchString(v):
				return bad(fmt.Sprintf("guardrails.%s[%d]", key, i), "%q is not %s", quoteStart(v), what)
			case seen[v]:
				return bad(fmt.Sprintf("guardrails.%s[%d]", key, i), "%q is listed twice", v)
			}
			seen[v] = true
		}
		return nil
	}
	if err := each("regions", g.Regions, regionRe, "a Region name (eu-west-1)"); err != nil {
		return err
	}
	if err := each("deny_actions", g.DenyActions, actionRe, "an IAM action (service:Action, wildcards * and ?)"); err != nil {
		return err
	}
	for i, a := range g.DenyActions {
		if svc, _, _ := strings.Cut(a, ":"); strings.Trim(a[len(svc)+1:], "*?") == "" && (svc == "iam" || svc == "sts" || svc == "organizations") {
			// Denying all of IAM or STS would stop OVM's own role too: the
			// revocation, the cleaning and the guardrails' own upkeep.
			return bad(fmt.Sprintf("guardrails.deny_actions[%d]", i), "%q would deny OVM's own role what it needs to revoke, clean and retire the account; deny single actions instead", a)
		}
	}
	if err := each("instance_types", g.InstanceTypes, instanceTypeRe, "an EC2 instance type or pattern (t3.*, m5.large)"); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, p := range g.Policies {
		key := fmt.Sprintf("guardrails.policies[%d]", i)
		switch {
		case seen[p]:
			return bad(key, "%q is listed twice", p)
		case policyIDRe.MatchString(p):
		case strings.HasPrefix(p, "p-"):
			return bad(key, "%q is not a policy id (p- and 8-128 lowercase letters or digits)", quoteStart(p))
		case !strings.HasSuffix(p, ".json") || strings.ContainsAny(p, "\x00\n\r"):
			return bad(key, "%q must be a policy id (p-...) or a .json file", quoteStart(p))
		}
		seen[p] = true
	}
	return nil
}

// TokenIdentity is who a verified token names: its owner, role, teams and
// the last instant it is valid.
type TokenIdentity struct {
	Owner string
	Role  Role
	Until time.Time
	Teams []string
}

// Requester is who asks for a lease, as templates see it.
type Requester struct {
	// Kind is "key" (an API key) or "oidc" (a token).
	Kind string
	// Name is the key's name or the token's owner.
	Name string
	// Teams are the requester's teams (a key's, or a token's groups claim).
	Teams []string
}

// TeamOf is the team a lease of t by r counts for (max_per_team): the
// first of r's teams that t's allowed list names, so that a team t admits
// is charged, not another of r's; r's first team when t admits r
// otherwise (by key, token or everyone); "" for none.
func (t Template) TeamOf(r Requester) string {
	for _, team := range r.Teams {
		if slices.Contains(t.Allowed, "team:"+team) {
			return team
		}
	}
	if len(r.Teams) == 0 {
		return ""
	}
	return r.Teams[0]
}

// Allows reports whether r may lease t.
func (t Template) Allows(r Requester) bool {
	if len(t.Allowed) == 0 {
		return true
	}
	for _, a := range t.Allowed {
		kind, v, _ := strings.Cut(a, ":")
		switch {
		case a == "*":
			return true
		case kind == "team" && slices.Contains(r.Teams, v):
			return true
		case kind == r.Kind && kind != "team":
			if ok, _ := path.Match(v, r.Name); ok {
				return true
			}
		}
	}
	return false
}

// ImplicitTemplate is pool p's own template: named after it, its lease
// policy, open to whom its lease policy allows (everyone by default), no
// guardrails.
func ImplicitTemplate(p Pool) Template {
	return Template{Name: p.Name, Pool: p.Name, Lease: p.Lease, Allowed: p.Lease.Allowed, Implicit: true, Budget: p.Budget}
}

// LeaseTerms are a template's terms as a lease keeps them from its vend.
type LeaseTerms struct {
	Template   string      `json:"template"`
	Lease      LeasePolicy `json:"lease"`
	MaxPerTeam int         `json:"max_per_team,omitempty"`
	Guardrails Guardrails  `json:"guardrails,omitzero"`
	// GuardrailDocument is the policy document AWS enforces for the lease
	// (as sent), GuardrailVersion its hash; "" when the terms have none.
	GuardrailDocument string `json:"guardrail_document,omitempty"`
	GuardrailVersion  string `json:"guardrail_version,omitempty"`
}

// Terms are t's terms, to keep on a lease made under it; nil for a pool's
// own template, whose leases follow the pool's lease policy as it is now,
// as before templates (a pool's bounds tightened bind its leases).
func (t Template) Terms() *LeaseTerms {
	if t.Implicit {
		return nil
	}
	return (&LeaseTerms{Template: t.Name, Lease: t.Lease, MaxPerTeam: t.MaxPerTeam, Guardrails: t.Guardrails,
		GuardrailDocument: t.GuardrailDocument, GuardrailVersion: t.GuardrailVersion}).Clone()
}

// Clone returns a deep copy of lt (nil for nil).
func (lt *LeaseTerms) Clone() *LeaseTerms {
	if lt == nil {
		return nil
	}
	c := *lt
	c.Guardrails = Guardrails{Regions: slices.Clone(lt.Guardrails.Regions), DenyActions: slices.Clone(lt.Guardrails.DenyActions),
		InstanceTypes: slices.Clone(lt.Guardrails.InstanceTypes), Policies: slices.Clone(lt.Guardrails.Policies)}
	return &c
}

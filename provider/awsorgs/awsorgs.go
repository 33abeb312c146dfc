// Package awsorgs is the `organizations` provider: member accounts made with
// AWS Organizations CreateAccount, prepared through the creation role, and
// closed with CloseAccount under a persistent 30-day close ledger.
//
// It is as careful as AWS requires: the e-mail is single-use forever and
// there is no idempotency token, so a create is only started after looking
// for an earlier request of the same account (by name in the create-status
// history, by e-mail among the accounts); every bootstrap step converges when
// run again; a closure is done only when DescribeAccount reports the account
// SUSPENDED or CLOSED (State, not the retired Status); a quota refusal is a
// wait, never a failure. The AWS SDK sits behind the narrow interfaces of
// api.go; tests run it against moto_server and, for what moto cannot show,
// a fake Organizations client.
package awsorgs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/ovmdev/ovm/federation"

	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/ovmdev/ovm"
)

// Config is one pool's `organizations:` block. Zero fields take the
// documented defaults (see WithDefaults). Pool is set by the binary; RoleName
// defaults to the pool's role_name.
type Config struct {
	// Pool is the pool's name, tagged on every account (ovm:pool).
	Pool string `yaml:"-"`
	// EmailTemplate makes the account's e-mail; {id} is the OVM account id.
	EmailTemplate string `yaml:"email_template"`
	// NamePrefix prefixes the account name (default "ovm-").
	NamePrefix string `yaml:"name_prefix"`
	// ParentOU is where bootstrapped accounts are moved ("" = leave them
	// under the root).
	ParentOU string `yaml:"parent_ou"`
	// CreationRole is the role CreateAccount makes in the new account and
	// OVM assumes to bootstrap it (default OrganizationAccountAccessRole).
	CreationRole string `yaml:"creation_role"`
	// RoleName is the vended cross-account role (default OVMCrossAccountRole).
	RoleName string `yaml:"role_name"`
	// TrustPrincipals are the ARNs trusted by the vended role, in addition
	// to the management account itself (used for the smoke test).
	TrustPrincipals []string `yaml:"trust_principals"`
	// RolePolicyARNs are attached to the vended role (default
	// arn:aws:iam::aws:policy/AdministratorAccess).
	RolePolicyARNs []string `yaml:"role_policy_arns"`
	// BillingContact is set as the BILLING alternate contact, when given.
	BillingContact *Contact `yaml:"billing_contact"`
	// Tags are added to every created account.
	Tags map[string]string `yaml:"tags"`
	// CloseQuota is how many closures the organization allows per rolling
	// 30 days (default 10: the most conservative AWS figure; raise it to
	// what AWS documents for your organization).
	CloseQuota int `yaml:"close_quota"`
	// PollInterval is the wait between status polls (default 10s).
	PollInterval time.Duration `yaml:"poll_interval"`
	// IAMWait is how long the creation role or the vended role may be
	// refused after creation while IAM catches up (default 10m).
	IAMWait time.Duration `yaml:"iam_wait"`
	// MaxInFlight caps the pool's creations in progress (1-5, default 5:
	// AWS allows 5 CreateAccount requests in progress per organization).
	MaxInFlight int `yaml:"max_in_flight"`
	// RetiringOU, when set, is where an account goes when its lease ends,
	// until it is closed or, recycled, ready again: an OU under an SCP that
	// denies everything but OVM's creation role.
	RetiringOU string `yaml:"retiring_ou"`
	// RetiringSCP is an existing SCP (p-...) that OVM checks is attached to
	// RetiringOU; "" lets OVM create and keep its own (ovm-retiring-<pool>).
	RetiringSCP string `yaml:"retiring_scp"`
	// GuardrailGrace is how long a guardrail SCP of an older version must
	// be seen unused (attached to no target, wanted by no lease, not the
	// current version of a template) before OVM deletes it (default 1h, at
	// least 1m): replicas of a rolling deploy may still vend it.
	GuardrailGrace time.Duration `yaml:"guardrail_grace"`
	// Region is the region lessees' credentials name (the aws: block's).
	Region string `yaml:"-"`
	// SpendBus is the event bus in OVM's account that each account's
	// management events are forwarded to (spend.event_bus_arn; "" = none).
	SpendBus string `yaml:"-"`
}

// Contact is an alternate contact.
type Contact struct {
	Name  string `json:"name" yaml:"name"`
	Title string `json:"title" yaml:"title"`
	Email string `json:"email" yaml:"email"`
	Phone string `json:"phone" yaml:"phone"`
}

// MaxCreationsInProgress is AWS's limit of CreateAccount requests in
// progress in one organization.
const MaxCreationsInProgress = 5

// CloseWindow is the rolling window of the close quota.
const CloseWindow = 30 * 24 * time.Hour

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.NamePrefix == "" {
		c.NamePrefix = "ovm-"
	}
	if c.CreationRole == "" {
		c.CreationRole = "OrganizationAccountAccessRole"
	}
	if c.RoleName == "" {
		c.RoleName = ovm.DefaultRoleName
	}
	if len(c.RolePolicyARNs) == 0 {
		c.RolePolicyARNs = []string{"arn:aws:iam::aws:policy/AdministratorAccess"}
	}
	if c.CloseQuota == 0 {
		c.CloseQuota = 10
	}
	if c.PollInterval == 0 {
		c.PollInterval = 10 * time.Second
	}
	if c.IAMWait == 0 {
		c.IAMWait = 10 * time.Minute
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = MaxCreationsInProgress
	}
	if c.GuardrailGrace == 0 {
		c.GuardrailGrace = time.Hour
	}
	return c
}

var (
	scpRe = regexp.MustCompile(`^p-[0-9a-z_]{8,128}$`)
	ouRe  = regexp.MustCompile(`^(r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$`)
	arnRe = regexp.MustCompile(`^arn:aws[a-z-]*:iam::(aws|[0-9]{12}):`)
)

// Validate checks c (after WithDefaults) and names the wrong key.
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &ovm.FieldError{Field: "organizations." + field, Message: fmt.Sprintf(format, args...)}
	}
	at := strings.LastIndex(c.EmailTemplate, "@")
	switch {
	case !strings.Contains(c.EmailTemplate, "{id}"):
		return bad("email_template", "%q must contain {id} (each account needs its own e-mail, forever)", c.EmailTemplate)
	case at < 1 || at == len(c.EmailTemplate)-1 || strings.Contains(c.EmailTemplate[at:], "{id}"):
		return bad("email_template", "%q must be an e-mail address with {id} before the @", c.EmailTemplate)
	case len(c.NamePrefix) > 20:
		return bad("name_prefix", "must be at most 20 characters")
	case c.ParentOU != "" && !ouRe.MatchString(c.ParentOU):
		return bad("parent_ou", "%q is not an OU id (ou-...) or root id (r-...)", c.ParentOU)
	case c.RetiringOU != "" && (!ouRe.MatchString(c.RetiringOU) || strings.HasPrefix(c.RetiringOU, "r-")):
		return bad("retiring_ou", "%q is not an OU id (ou-...)", c.RetiringOU)
	case c.RetiringOU != "" && c.RetiringOU == c.ParentOU:
		return bad("retiring_ou", "must differ from parent_ou: the SCP would stop every account of the pool")
	case c.RetiringSCP != "" && c.RetiringOU == "":
		return bad("retiring_scp", "needs retiring_ou")
	case c.RetiringSCP != "" && !scpRe.MatchString(c.RetiringSCP):
		return bad("retiring_scp", "%q is not a policy id (p-...)", c.RetiringSCP)
	case c.CloseQuota < 1:
		return bad("close_quota", "must be at least 1")
	case c.MaxInFlight < 1 || c.MaxInFlight > MaxCreationsInProgress:
		return bad("max_in_flight", "must be between 1 and 5 (AWS allows 5 creations in progress)")
	case c.GuardrailGrace < time.Minute:
		return bad("guardrail_grace", "must be at least 1m (a vend on another replica may be about to attach the policy)")
	}
	for _, p := range c.TrustPrincipals {
		if !arnRe.MatchString(p) {
			return bad("trust_principals", "%q is not an IAM ARN", p)
		}
	}
	for _, p := range c.RolePolicyARNs {
		if !strings.HasPrefix(p, "arn:aws") || !strings.Contains(p, ":policy/") {
			return bad("role_policy_arns", "%q is not a policy ARN", p)
		}
	}
	if bc := c.BillingContact; bc != nil && (bc.Name == "" || bc.Email == "" || bc.Phone == "" || bc.Title == "") {
		return bad("billing_contact", "needs name, title, email and phone")
	}
	return nil
}

// Ledger keeps the closures of an organization (the store implements it).
type Ledger interface {
	CloseLedgerAdd(ctx context.Context, e *ovm.CloseEntry) error
	CloseLedgerList(ctx context.Context, ledger string, since time.Time) ([]*ovm.CloseEntry, error)
}

// Provider implements ovm.Provider on AWS Organizations.
type Provider struct {
	cfg    Config
	c      *Clients
	ledger Ledger
	clock  ovm.Clock
	log    *slog.Logger

	nuker   Nuker
	nukeCfg NukeConfig
	fed     *federation.Client

	mu        sync.Mutex
	orgID     string // the close ledger's name
	mgmtID    string // the management account
	callerARN string
	// scpChecked: the retiring OU's SCP was found in place.
	scpChecked bool
	// guardIDs caches the ids of the guardrail SCPs by name.
	guardIDs map[string]string
}

var (
	_ ovm.Provider      = (*Provider)(nil)
	_ ovm.QuotaReporter = (*Provider)(nil)
	_ ovm.Inventory     = (*Provider)(nil)
	_ ovm.CloseLister   = (*Provider)(nil)
)

// New returns a provider for one pool. It makes no AWS call; the
// organization is looked up on first use.
func New(cfg Config, c *Clients, ledger Ledger, clock ovm.Clock, log *slog.Logger) (*Provider, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Provider{cfg: cfg, c: c, ledger: ledger, clock: clock, log: log, guardIDs: map[string]string{}}, nil
}

// org returns the organization id and management account id, looked up
// once.
func (p *Provider) org(ctx context.Context) (orgID, mgmtID string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.orgID != "" {
		return p.orgID, p.mgmtID, nil
	}
	out, err := p.c.Orgs.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil {
		return "", "", fmt.Errorf("describe organization: %w", err)
	}
	id, err := p.c.STS.GetCallerIdentity(ctx, nil)
	if err != nil {
		return "", "", fmt.Errorf("get caller identity: %w", err)
	}
	p.orgID, p.mgmtID, p.callerARN = deref(out.Organization.Id), deref(out.Organization.MasterAccountId), deref(id.Arn)
	if acct := deref(id.Account); acct != p.mgmtID {
		p.log.Warn("the credentials are not of the management account", "caller_account", acct, "management_account", p.mgmtID)
	}
	return p.orgID, p.mgmtID, nil
}

// Reserve implements ovm.Provider.
func (p *Provider) Reserve(id string) (name, email string) {
	return p.cfg.NamePrefix + id, strings.ReplaceAll(p.cfg.EmailTemplate, "{id}", id)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// apiCode returns the AWS error code of err, or "".
func apiCode(err error) string {
	var ae interface{ ErrorCode() string }
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

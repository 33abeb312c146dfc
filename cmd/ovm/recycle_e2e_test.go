package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/ovmdev/ovm/cleaner/awsnuke"
	"github.com/ovmdev/ovm/client"
	"github.com/ovmdev/ovm/internal/mototest"
	"github.com/ovmdev/ovm/internal/testtool"
	"github.com/ovmdev/ovm/provider/roleaccess"
)

// recycleServer is `ovm serve` with a one-account recycle pool in moto.
func recycleServer(t *testing.T, include []string, retry string) (*server, aws.Config, []string) {
	testtool.Require(t, "aws-nuke", "make deps installs it (apt-get install -y aws-nuke)")
	srv := mototest.Require(t)
	cfg := srv.Config()
	if _, err := organizations.NewFromConfig(cfg).CreateOrganization(context.Background(),
		&organizations.CreateOrganizationInput{FeatureSet: types.OrganizationFeatureSetAll}); err != nil {
		t.Fatal(err)
	}
	inc, _ := json.Marshal(include)
	orgs := organizations.NewFromConfig(cfg)
	roots, err := orgs.ListRoots(context.Background(), &organizations.ListRootsInput{})
	if err != nil {
		t.Fatal(err)
	}
	ou, err := orgs.CreateOrganizationalUnit(context.Background(), &organizations.CreateOrganizationalUnitInput{ParentId: roots.Roots[0].Id, Name: aws.String("retiring")})
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, fmt.Sprintf(`
aws: {region: us-east-1, endpoint: %q}
engine: {tick: 100ms, drift_interval: 1h}
api: {default_pool: sandbox}
pools:
  - name: sandbox
    provider: organizations
    stock: {target: 1, ceiling: 1}
    lease: {default_ttl: 1h, min_ttl: 1s}
    retire: {mode: recycle, max_generations: 5, clean_timeout: 2m, clean_passes: 2, clock_margin: 1s}
    retry: %s
    organizations:
      email_template: "sandbox+{id}@example.com"
      poll_interval: 200ms
      retiring_ou: %s
    nuke:
      include: %s
`, srv.URL, retry, aws.ToString(ou.OrganizationalUnit.Id), inc))
	return s, cfg, []string{"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_SESSION_TOKEN=",
		"AWS_PROFILE=", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
}

func assumeInto(cfg aws.Config, acct, role string) aws.Config {
	c := cfg.Copy()
	c.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg),
		"arn:aws:iam::"+acct+":role/"+role))
	return c
}

// lesseeWork creates resources of several types as the lessee (through the
// vended role) and lets its own principal into the vended role's trust.
func lesseeWork(t *testing.T, lessee aws.Config, gen int) {
	ctx := context.Background()
	name := fmt.Sprintf("lessee-%d", gen)
	im := iam.NewFromConfig(lessee)
	trust := aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::666666666666:root"},"Action":"sts:AssumeRole"}]}`)
	steps := []func() error{
		func() error {
			_, err := im.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)})
			return err
		},
		func() error {
			_, err := im.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: trust})
			return err
		},
		func() error {
			_, err := im.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(name),
				PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`)})
			return err
		},
		func() error {
			_, err := sqs.NewFromConfig(lessee).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
			return err
		},
		func() error {
			_, err := sns.NewFromConfig(lessee).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
			return err
		},
		func() error {
			_, err := cloudwatchlogs.NewFromConfig(lessee).CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(name)})
			return err
		},
		func() error {
			_, err := ssm.NewFromConfig(lessee).PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String("x"), Type: "String"})
			return err
		},
		// The lessee widens the vended role and lets itself in.
		func() error {
			_, err := im.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("OVMCrossAccountRole"),
				PolicyArn: aws.String("arn:aws:iam::aws:policy/ReadOnlyAccess")})
			return err
		},
		func() error {
			_, err := im.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("OVMCrossAccountRole"), PolicyName: aws.String(name),
				PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)})
			return err
		},
		func() error {
			_, err := im.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("OVMCrossAccountRole"), PolicyDocument: trust})
			return err
		},
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("lessee step %d: %v", i, err)
		}
	}
}

// leftovers lists, with the account's own credentials, what the lessee made
// that still exists, and checks OVM's role and alias.
func leftovers(t *testing.T, acct aws.Config, wiped bool) []string {
	ctx := context.Background()
	var left []string
	im := iam.NewFromConfig(acct)
	users, _ := im.ListUsers(ctx, &iam.ListUsersInput{})
	for _, u := range users.Users {
		left = append(left, "user "+aws.ToString(u.UserName))
	}
	roles, _ := im.ListRoles(ctx, &iam.ListRolesInput{})
	for _, r := range roles.Roles {
		if n := aws.ToString(r.RoleName); strings.HasPrefix(n, "lessee") {
			left = append(left, "role "+n)
		}
	}
	pols, _ := im.ListPolicies(ctx, &iam.ListPoliciesInput{Scope: "Local"})
	for _, p := range pols.Policies {
		left = append(left, "policy "+aws.ToString(p.PolicyName))
	}
	qs, _ := sqs.NewFromConfig(acct).ListQueues(ctx, &sqs.ListQueuesInput{})
	left = append(left, qs.QueueUrls...)
	topics, _ := sns.NewFromConfig(acct).ListTopics(ctx, &sns.ListTopicsInput{})
	for _, tp := range topics.Topics {
		left = append(left, aws.ToString(tp.TopicArn))
	}
	groups, _ := cloudwatchlogs.NewFromConfig(acct).DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{})
	for _, g := range groups.LogGroups {
		left = append(left, "log group "+aws.ToString(g.LogGroupName))
	}
	params, _ := ssm.NewFromConfig(acct).DescribeParameters(ctx, &ssm.DescribeParametersInput{})
	for _, p := range params.Parameters {
		left = append(left, "parameter "+aws.ToString(p.Name))
	}
	role, err := im.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("OVMCrossAccountRole")})
	if err != nil {
		t.Fatalf("OVM's role did not survive: %v", err)
	}
	if doc, _ := url.QueryUnescape(aws.ToString(role.Role.AssumeRolePolicyDocument)); wiped && strings.Contains(doc, "666666666666") {
		t.Fatalf("the lessee is still trusted: %s", doc)
	}
	if wiped {
		att, _ := im.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String("OVMCrossAccountRole")})
		inl, _ := im.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String("OVMCrossAccountRole")})
		// Only the deny of the last lease's sessions stays inline.
		if len(att.AttachedPolicies) != 1 || aws.ToString(att.AttachedPolicies[0].PolicyName) != "AdministratorAccess" ||
			len(inl.PolicyNames) != 1 || inl.PolicyNames[0] != "OVMRevokeOlderSessions" {
			t.Fatalf("the vended role keeps the lessee's policies, or lost the deny of its sessions: %+v %v", att.AttachedPolicies, inl.PolicyNames)
		}
	}
	aliases, _ := im.ListAccountAliases(ctx, &iam.ListAccountAliasesInput{})
	if len(aliases.AccountAliases) != 1 {
		t.Fatalf("the alias did not survive: %v", aliases.AccountAliases)
	}
	return left
}

// recycleMargin is the pool's retire.clock_margin in recycleServer.
const recycleMargin = time.Second

// Two generations: the second shows a recycled account vended, wiped and
// vended again as the first (a third, until 2026-12, added 20 s of CI and
// nothing the second does not show).
func TestTheSameAccountIsVendedWipedAndVendedAgain(t *testing.T) {
	s, cfg, env := recycleServer(t, awsnuke.MotoTypes, "{base_delay: 1s, max_delay: 5s}")
	s.start(env...)
	var first string
	for gen := 0; gen < 2; gen++ {
		var l client.Lease
		s.ovmJSON(&l, "lease", "create", "--wait", "2m")
		if first == "" {
			first = l.AccountID
		}
		if l.AccountID != first {
			t.Fatalf("generation %d vended %s, want the recycled %s", gen, l.AccountID, first)
		}
		lesseeWork(t, assumeInto(cfg, l.AccountID, "OVMCrossAccountRole"), gen)
		if len(leftovers(t, assumeInto(cfg, l.AccountID, "OrganizationAccountAccessRole"), false)) < 6 {
			t.Fatal("the lessee's resources were not created")
		}
		start := time.Now()
		if _, err := s.ovm("lease", "release", l.ID); err != nil {
			t.Fatal(err)
		}
		var a client.Account
		eventually(t, 3*time.Minute, "the account back in stock", func() bool {
			s.ovmJSON(&a, "account", "get", l.AccountID)
			return a.State == "ready" && a.Generation == gen+1 || a.State == "quarantined"
		})
		if a.State != "ready" {
			t.Fatalf("generation %d: %s: %s", gen, a.State, a.LastError)
		}
		t.Logf("recycle %d of account %s took %s", gen+1, a.AccountID, time.Since(start).Round(100*time.Millisecond))
		if left := leftovers(t, assumeInto(cfg, l.AccountID, "OrganizationAccountAccessRole"), true); len(left) != 0 {
			t.Fatalf("generation %d left: %v", gen, left)
		}
		reports := 0
		for _, e := range a.Events {
			if strings.Contains(e.Reason, "aws-nuke: found") {
				reports++
			}
		}
		if reports < 2*(gen+1) {
			t.Fatalf("generation %d: %d wipe reports in the account's events", gen, reports)
		}
		if !strings.Contains(a.Progress["awsorgs.last_clean_report"], `"found":0`) {
			t.Fatalf("last report %s", a.Progress["awsorgs.last_clean_report"])
		}
		// Vended again only after the revocation (the log is newest first:
		// the revocation's event comes after the return to stock) and the
		// clock margin; the deny keeps the lease's end and the margin, and
		// the account is back under the root, out of the retiring OU.
		var ended client.Lease
		s.ovmJSON(&ended, "lease", "get", l.ID)
		revokedAt, cleanedAt := -1, -1
		var readyAt time.Time
		for i, e := range a.Events {
			if strings.Contains(e.Reason, "access of lease "+l.ID+" revoked") && revokedAt < 0 {
				revokedAt = i
			}
			if e.From == "cleaning" && e.To == "ready" && cleanedAt < 0 {
				cleanedAt, readyAt = i, e.Time
			}
		}
		if revokedAt < 0 || cleanedAt < 0 || cleanedAt > revokedAt {
			t.Fatalf("generation %d: revocation event %d, ready again at event %d (newest first)", gen, revokedAt, cleanedAt)
		}
		if readyAt.Before(ended.EndedAt.Add(2 * recycleMargin)) {
			t.Fatalf("generation %d: stock again at %s, within twice the clock margin of the end %s", gen, readyAt, ended.EndedAt)
		}
		member := iam.NewFromConfig(assumeInto(cfg, l.AccountID, "OrganizationAccountAccessRole"))
		pol, err := member.GetRolePolicy(context.Background(), &iam.GetRolePolicyInput{RoleName: aws.String("OVMCrossAccountRole"),
			PolicyName: aws.String("OVMRevokeOlderSessions")})
		if doc, _ := url.QueryUnescape(aws.ToString(pol.PolicyDocument)); err != nil || !strings.Contains(doc, roleaccess.DenyTime(ended.EndedAt.Add(recycleMargin)).Format(time.RFC3339)) {
			t.Fatalf("generation %d: the deny is not dated at the lease's end %s: %s %v", gen, ended.EndedAt, doc, err)
		}
		orgs := organizations.NewFromConfig(cfg)
		parents, _ := orgs.ListParents(context.Background(), &organizations.ListParentsInput{ChildId: aws.String(l.AccountID)})
		if len(parents.Parents) != 1 || parents.Parents[0].Type != types.ParentTypeRoot {
			t.Fatalf("generation %d: a recycled account is under %+v, not back under the root", gen, parents.Parents)
		}
	}
}

func TestAWipeThatCannotFinishEndsInQuarantineWithItsReport(t *testing.T) {
	// IAMUser without IAMUserPolicyAttachment: a user with an attached
	// policy cannot be deleted (DeleteConflict).
	s, cfg, env := recycleServer(t, []string{"IAMUser"}, "{max_attempts: 2, base_delay: 1s, max_delay: 2s}")
	s.start(env...)
	var l client.Lease
	s.ovmJSON(&l, "lease", "create", "--wait", "2m")
	im := iam.NewFromConfig(assumeInto(cfg, l.AccountID, "OVMCrossAccountRole"))
	ctx := context.Background()
	if _, err := im.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("stuck")}); err != nil {
		t.Fatal(err)
	}
	if _, err := im.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String("stuck"),
		PolicyArn: aws.String("arn:aws:iam::aws:policy/ReadOnlyAccess")}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s.ovm("lease", "release", l.ID)
	var a client.Account
	eventually(t, 3*time.Minute, "quarantine", func() bool {
		s.ovmJSON(&a, "account", "get", l.AccountID)
		return a.State == "quarantined"
	})
	t.Logf("quarantined after %s", time.Since(start).Round(100*time.Millisecond))
	if a.QuarantinedFrom != "cleaning" || !strings.Contains(a.LastError, "DeleteConflict") || !strings.Contains(a.LastError, "failed 1") {
		t.Fatalf("quarantined from %s with %q", a.QuarantinedFrom, a.LastError)
	}
	// The operator retires it: it is closed.
	if _, err := s.ovm("account", "retire", a.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "the retired account closed", func() bool {
		s.ovmJSON(&a, "account", "get", l.AccountID)
		return a.State == "closed"
	})
}

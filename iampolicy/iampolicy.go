// Package iampolicy is the one definition of the IAM permissions OVM's own
// principal needs: per provider and feature, the actions each part of OVM
// calls (read off its narrow AWS interfaces) on the resources it calls them
// on, as tightly scoped as AWS allows.
//
// For builds the least-privilege policy of one configuration: only the
// store, providers, vault and sinks that configuration uses. `ovm
// iam-policy --config FILE` prints it; the policies shown in docs/aws.md and
// docs/signup.md and the role of deploy/cloudformation/ovm.yaml are
// generated from it (Examples, Template), and a test fails when they drift.
//
// What needs no statement here: calls OVM makes inside an account with that
// account's own role (bootstrap's IAM calls run as the creation role, a
// signup account's revocation as its vended role, aws-nuke with the creation
// role's credentials, burial's client-side calls as the vended role), the
// console federation endpoint (it takes session credentials, not IAM
// permissions), webhooks and IMAP (no AWS), and sts:GetCallerIdentity (never
// refused).
package iampolicy

import (
	"slices"
	"strings"
)

// TagPool is the tag every account of an organizations pool carries: its
// pool's name (provider/awsorgs.TagPool).
const TagPool = "ovm:pool"

// For is the least-privilege policy of c. Statements come in a fixed order
// and lists are sorted, so the same configuration always gives the same
// document.
func For(c Config) Policy {
	g := gen{c: c, out: []Statement{}}
	if g.c.Partition == "" {
		g.c.Partition = "aws"
	}
	if g.c.Region == "" {
		g.c.Region = "*"
	}
	if g.c.Account == "" {
		g.c.Account = "*"
	}
	g.store()
	g.organizations()
	g.signup()
	g.sessions()
	g.vault()
	g.notify()
	g.spend()
	return Policy{Version: Version, Statement: g.out}
}

type gen struct {
	c   Config
	out []Statement
}

// add appends a statement with sorted, unique actions and resources.
func (g *gen) add(sid string, actions, resources []string, cond map[string]map[string][]string) {
	for _, vs := range cond {
		for k, v := range vs {
			vs[k] = uniq(v)
		}
	}
	g.out = append(g.out, Statement{Sid: sid, Effect: "Allow", Action: uniq(actions), Resource: uniq(resources), Condition: cond})
}

func uniq(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// arn makes an ARN of OVM's own partition.
func (g *gen) arn(service, region, account, resource string) string {
	return "arn:" + g.c.Partition + ":" + service + ":" + region + ":" + account + ":" + resource
}

// store: the DynamoDB table and its indexes (store/dynamostore's API).
func (g *gen) store() {
	d := g.c.DynamoDB
	if d == nil {
		return
	}
	table := g.arn("dynamodb", g.c.Region, g.c.Account, "table/"+d.Table)
	g.add("StoreTable", []string{"dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
		"dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:Scan"}, []string{table, table + "/index/*"}, nil)
	if d.CreateTable {
		g.add("StoreCreateTable", []string{"dynamodb:CreateTable"}, []string{table}, nil)
	}
}

// orgARN is an Organizations resource of the management account's
// organization (the account is OVM's own; the organization id is not
// known before start).
func (g *gen) orgARN(resource string) string {
	return g.arn("organizations", "", g.c.Account, resource)
}

// organizations: what provider/awsorgs calls as the management account
// (create, bootstrap's OU and contact, close, drift, revocation's retiring
// OU), and the graveyard side of signup burial.
func (g *gen) organizations() {
	var (
		pools, ous, guarded                                []string
		read                                               []string
		retiring, ownSCP, billing, burial, anyOrgs, guards bool
	)
	for _, p := range g.c.Organizations {
		anyOrgs = true
		pools = append(pools, p.Pool)
		for _, ou := range []string{p.ParentOU, p.RetiringOU} {
			if ou != "" {
				ous = append(ous, ou)
			}
		}
		if p.RetiringOU != "" {
			retiring = true
			ownSCP = ownSCP || p.RetiringSCP == ""
		}
		billing = billing || p.BillingContact
		if p.Guardrails {
			guards = true
			guarded = append(guarded, p.Pool)
		}
	}
	for _, p := range g.c.Signup {
		if p.Burial != nil {
			burial = true
			if p.Burial.GraveyardOU != "" {
				ous = append(ous, p.Burial.GraveyardOU)
			}
		}
	}
	if !anyOrgs && !burial {
		return
	}
	read = []string{"organizations:DescribeOrganization", "organizations:DescribeAccount", "organizations:ListParents"}
	if anyOrgs {
		read = append(read, "organizations:ListAccounts", "organizations:ListCreateAccountStatus",
			"organizations:DescribeCreateAccountStatus", "organizations:ListTagsForResource")
	}
	if retiring {
		read = append(read, "organizations:ListRoots")
	}
	if retiring || guards {
		read = append(read, "organizations:ListPoliciesForTarget")
	}
	if ownSCP || guards {
		read = append(read, "organizations:ListPolicies", "organizations:DescribePolicy")
	}
	if guards {
		read = append(read, "organizations:ListTargetsForPolicy")
	}
	g.add("OrganizationsRead", read, []string{"*"}, nil)
	accounts := g.orgARN("account/o-*/*")
	if anyOrgs {
		g.add("CreateAccountsOfThesePools", []string{"organizations:CreateAccount", "organizations:TagResource"}, []string{"*"},
			map[string]map[string][]string{"StringEquals": {"aws:RequestTag/" + TagPool: pools}})
		g.add("CloseAccountsOfThesePools", []string{"organizations:CloseAccount"}, []string{accounts},
			map[string]map[string][]string{"StringEquals": {"aws:ResourceTag/" + TagPool: pools}})
		// CreateAccount makes Organizations' service-linked role once.
		g.add("OrganizationsServiceLinkedRole", []string{"iam:CreateServiceLinkedRole"},
			[]string{"arn:" + g.c.Partition + ":iam::*:role/aws-service-role/organizations.amazonaws.com/*"},
			map[string]map[string][]string{"StringLike": {"iam:AWSServiceName": {"organizations.amazonaws.com"}}})
	}
	if burial {
		// Buried accounts joined by invitation: they carry no pool tag.
		g.add("BuryIntoTheGraveyard", []string{"organizations:InviteAccountToOrganization"}, []string{"*"}, nil)
		g.add("CloseBuriedAccounts", []string{"organizations:CloseAccount"}, []string{accounts}, nil)
	}
	moveTo := []string{accounts, g.orgARN("root/o-*/r-*")}
	for _, ou := range ous {
		moveTo = append(moveTo, g.orgARN("ou/o-*/"+ou))
	}
	g.add("MoveAccountsBetweenTheseParents", []string{"organizations:MoveAccount"}, moveTo, nil)
	if ownSCP {
		// Only without organizations.retiring_scp: OVM makes its own SCP.
		// Give it an SCP you made (the CloudFormation stack does) and these
		// go away.
		g.add("CreateTheRetiringSCP", []string{"organizations:CreatePolicy"}, []string{"*"},
			map[string]map[string][]string{"StringEquals": {"organizations:PolicyType": {"SERVICE_CONTROL_POLICY"}}})
		targets := []string{g.orgARN("policy/o-*/service_control_policy/p-*")}
		for _, p := range g.c.Organizations {
			if p.RetiringOU != "" && p.RetiringSCP == "" {
				targets = append(targets, g.orgARN("ou/o-*/"+p.RetiringOU))
			}
		}
		g.add("KeepTheRetiringSCP", []string{"organizations:UpdatePolicy", "organizations:AttachPolicy"}, targets, nil)
	}
	if guards {
		// Templates' guardrails: OVM makes one SCP per template and version,
		// tagged with its pool, keeps its content, and attaches it (with the
		// organization's own policies a template names) to the pools'
		// leased accounts. Attaching cannot be scoped by tag: the
		// organization's policies carry none.
		scps := g.orgARN("policy/o-*/service_control_policy/p-*")
		g.add("CreateGuardrailSCPs", []string{"organizations:CreatePolicy"}, []string{"*"},
			map[string]map[string][]string{"StringEquals": {"organizations:PolicyType": {"SERVICE_CONTROL_POLICY"},
				"aws:RequestTag/" + TagPool: guarded}})
		g.add("TagGuardrailSCPs", []string{"organizations:TagResource"}, []string{scps},
			map[string]map[string][]string{"StringEquals": {"aws:RequestTag/" + TagPool: guarded}})
		g.add("KeepGuardrailSCPs", []string{"organizations:UpdatePolicy"}, []string{scps},
			map[string]map[string][]string{"StringEquals": {"aws:ResourceTag/" + TagPool: guarded}})
		g.add("AttachGuardrails", []string{"organizations:AttachPolicy", "organizations:DetachPolicy"}, []string{scps, accounts}, nil)
		// Versions no lease uses any more: the pool's SCPs only, and of
		// their tags only the mark of when they were first seen unused.
		g.add("DeleteUnusedGuardrailSCPs", []string{"organizations:DeletePolicy"}, []string{scps},
			map[string]map[string][]string{"StringEquals": {"aws:ResourceTag/" + TagPool: guarded}})
		g.add("UnmarkGuardrailSCPsInUse", []string{"organizations:UntagResource"}, []string{scps},
			map[string]map[string][]string{"StringEquals": {"aws:ResourceTag/" + TagPool: guarded},
				"ForAllValues:StringEquals": {"aws:TagKeys": {"ovm:unused-since"}}})
	}
	if billing {
		g.add("BillingContact", []string{"account:PutAlternateContact"}, []string{g.arn("account", "", g.c.Account, "account/o-*/*")}, nil)
	}
}

// sessions: STS into the accounts (awsorgs' creation role; the vended role
// for the smoke test, lessees' sessions with tags and SourceIdentity, and
// signup's management of its own role and burial).
func (g *gen) sessions() {
	role := func(name string) string { return "arn:" + g.c.Partition + ":iam::*:role/" + name }
	var creation, vended []string
	for _, p := range g.c.Organizations {
		creation = append(creation, role(p.CreationRole))
		vended = append(vended, role(p.RoleName))
	}
	for _, p := range g.c.Signup {
		vended = append(vended, role(p.RoleName))
	}
	if len(creation) > 0 {
		g.add("AssumeTheCreationRole", []string{"sts:AssumeRole"}, creation, nil)
	}
	if len(vended) > 0 {
		g.add("AssumeTheVendedRoleForLessees", []string{"sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"}, vended, nil)
	}
}

// s3 returns the bucket and object ARNs of l.
func (g *gen) s3(l S3Location) (bucket, objects string) {
	bucket = "arn:" + g.c.Partition + ":s3:::" + l.Bucket
	return bucket, bucket + "/" + l.Prefix + "*"
}

// signup: the sign-up's channels (provider/signup/s3bucket,
// transcribesolver, awsconnect).
func (g *gen) signup() {
	var inboxBuckets, inboxPrefixes, inboxObjects, evidence, audio, prompts, connect []string
	for _, p := range g.c.Signup {
		if l := p.Inbox; l != nil {
			b, o := g.s3(*l)
			inboxBuckets, inboxObjects = append(inboxBuckets, b), append(inboxObjects, o)
			inboxPrefixes = append(inboxPrefixes, l.Prefix+"*")
		}
		if l := p.Evidence; l != nil {
			_, o := g.s3(*l)
			evidence = append(evidence, o)
		}
		for _, l := range p.Transcribe {
			_, o := g.s3(l)
			audio = append(audio, o)
		}
		if c := p.Connect; c != nil {
			_, o := g.s3(c.Prompts)
			prompts = append(prompts, o)
			connect = append(connect, c.InstanceARN, c.InstanceARN+"/*")
			// arn:aws:connect:REGION:ACCOUNT:instance/ID -> phone-number/*
			if parts := strings.SplitN(c.InstanceARN, ":", 6); len(parts) == 6 {
				connect = append(connect, strings.Join(append(parts[:5:5], "phone-number/*"), ":"))
			}
		}
	}
	if len(inboxBuckets) > 0 {
		g.add("SignupMailList", []string{"s3:ListBucket"}, inboxBuckets,
			map[string]map[string][]string{"StringLike": {"s3:prefix": inboxPrefixes}})
		g.add("SignupMailRead", []string{"s3:GetObject"}, inboxObjects, nil)
	}
	if len(evidence) > 0 {
		g.add("SignupEvidence", []string{"s3:PutObject"}, evidence, nil)
	}
	if len(audio) > 0 {
		// Amazon Transcribe has no resource-level permissions; it reads
		// the audio and writes the transcript with the caller's.
		g.add("CaptchaTranscribe", []string{"transcribe:StartTranscriptionJob", "transcribe:GetTranscriptionJob",
			"transcribe:DeleteTranscriptionJob"}, []string{"*"}, nil)
		g.add("CaptchaAudio", []string{"s3:PutObject", "s3:GetObject", "s3:DeleteObject"}, audio, nil)
	}
	if len(connect) > 0 {
		g.add("VerificationCallFlows", []string{"connect:ListPrompts", "connect:CreatePrompt", "connect:ListContactFlows",
			"connect:CreateContactFlow", "connect:UpdateContactFlowContent", "connect:DescribeContactFlow",
			"connect:ListPhoneNumbersV2", "connect:AssociatePhoneNumberContactFlow"}, connect, nil)
		g.add("VerificationCallPrompts", []string{"s3:PutObject"}, prompts, nil)
	}
}

// vault: vault/smvault on Secrets Manager, and the KMS key of
// new secrets.
func (g *gen) vault() {
	v := g.c.SecretsManager
	if v == nil {
		return
	}
	prefix := v.Prefix
	if prefix == "" {
		prefix = "ovm/"
	}
	g.add("Vault", []string{"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:CreateSecret",
		"secretsmanager:RestoreSecret", "secretsmanager:TagResource"},
		[]string{g.arn("secretsmanager", g.c.Region, g.c.Account, "secret:"+prefix+"*")}, nil)
	if v.KMSKeyID == "" {
		return
	}
	via := map[string][]string{"kms:ViaService": {"secretsmanager." + g.c.Region + ".amazonaws.com"}}
	cond := map[string]map[string][]string{"StringEquals": via}
	key := v.KMSKeyID
	switch {
	case strings.HasPrefix(key, "arn:") && strings.Contains(key, ":alias/"):
		key = key[strings.Index(key, ":alias/")+1:]
		fallthrough
	case strings.HasPrefix(key, "alias/"):
		// KMS authorizes against the key, not its alias.
		cond["ForAnyValue:StringEquals"] = map[string][]string{"kms:ResourceAliases": {key}}
		key = g.arn("kms", g.c.Region, g.c.Account, "key/*")
	case !strings.HasPrefix(key, "arn:"):
		key = g.arn("kms", g.c.Region, g.c.Account, "key/"+key)
	}
	g.add("VaultKey", []string{"kms:GenerateDataKey", "kms:Decrypt"}, []string{key}, cond)
}

// notify: the SNS and EventBridge sinks.
func (g *gen) notify() {
	if len(g.c.SNSTopics) > 0 {
		g.add("NotifySNS", []string{"sns:Publish"}, g.c.SNSTopics, nil)
	}
	if len(g.c.EventBuses) > 0 {
		var buses []string
		for _, b := range g.c.EventBuses {
			if !strings.HasPrefix(b, "arn:") {
				b = g.arn("events", g.c.Region, g.c.Account, "event-bus/"+b)
			}
			buses = append(buses, b)
		}
		g.add("NotifyEventBridge", []string{"events:PutEvents"}, buses, nil)
	}
}

// spend: the queue of the accounts' events (spend/sqsqueue), Cost
// Explorer (spend/costexplorer), and the bus statements of a signup pool's
// accounts (provider/signup/setup).
func (g *gen) spend() {
	sp := g.c.Spend
	if sp == nil {
		return
	}
	if sp.QueueARN != "" {
		// DeleteMessageBatch is authorized as sqs:DeleteMessage.
		g.add("SpendEvents", []string{"sqs:DeleteMessage", "sqs:ReceiveMessage"}, []string{sp.QueueARN}, nil)
	}
	if sp.CostExplorer {
		// Cost Explorer's API has no resource-level permissions.
		g.add("SpendBill", []string{"ce:GetCostAndUsage"}, []string{"*"}, nil)
	}
	if sp.SignupBus != "" {
		g.add("SpendLetSignupAccountsPutEvents", []string{"events:PutPermission", "events:RemovePermission"}, []string{sp.SignupBus}, nil)
	}
}

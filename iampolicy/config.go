package iampolicy

// Config is what a configuration uses, as far as IAM is concerned. Empty
// parts need no permissions.
type Config struct {
	// Partition, Region and Account place OVM's own resources (the table,
	// the vault's secrets, KMS keys, event buses): default "aws", "*" and
	// "*". `ovm iam-policy` takes the region from the aws: block and the
	// account from --account.
	Partition, Region, Account string

	// DynamoDB is the store: dynamodb table, nil for SQLite.
	DynamoDB *DynamoDB
	// SecretsManager is the vault with secrets.backend: secretsmanager,
	// nil for the local file.
	SecretsManager *SecretsManager
	// Organizations are the pools of the organizations provider.
	Organizations []OrganizationsPool
	// Signup are the pools of the signup provider.
	Signup []SignupPool
	// SNSTopics are the topic ARNs of SNS subscriptions.
	SNSTopics []string
	// EventBuses are the buses (names or ARNs) of EventBridge subscriptions.
	EventBuses []string
	// Spend is the spend block's AWS parts (nil: none).
	Spend *Spend
}

// Spend is what the spend block reads and writes on AWS.
type Spend struct {
	// QueueARN is the SQS queue of the accounts' events (spend.queue_url
	// as an ARN; "" = none).
	QueueARN string
	// CostExplorer is spend.cost_explorer.
	CostExplorer bool
	// SignupBus is spend.event_bus_arn when a signup pool's accounts are
	// let to put events on it, one statement each ("" = none).
	SignupBus string
}

// DynamoDB is the store's table.
type DynamoDB struct {
	Table string
	// CreateTable is dynamodb.create_table: OVM may create the table.
	CreateTable bool
}

// SecretsManager is the vault on AWS Secrets Manager.
type SecretsManager struct {
	// Prefix is secrets.prefix (default "ovm/").
	Prefix string
	// KMSKeyID is secrets.kms_key_id: a key id, key ARN, alias name or
	// alias ARN ("" = the aws/secretsmanager key, which needs nothing).
	KMSKeyID string
}

// OrganizationsPool is one pool of the organizations provider, its values
// after defaults.
type OrganizationsPool struct {
	// Pool is the pool's name, tagged on its accounts (ovm:pool): OVM may
	// create and close only accounts carrying it.
	Pool string
	// CreationRole is organizations.creation_role; RoleName the vended role.
	CreationRole, RoleName string
	// ParentOU, RetiringOU and RetiringSCP are the organizations block's.
	ParentOU, RetiringOU, RetiringSCP string
	// BillingContact is set when organizations.billing_contact is.
	BillingContact bool
	// Guardrails is set when a template of the pool has guardrails, or a
	// budget that freezes: OVM makes, tags, attaches and detaches their
	// SCPs (the guardrails', the deny-all of frozen leases).
	Guardrails bool
}

// SignupPool is one pool of the signup provider, its values after defaults.
type SignupPool struct {
	Pool, RoleName string
	// SmokeTest is signup.smoke_test (assume the vended role).
	SmokeTest bool
	// Inbox is the SES receipt bucket (nil with IMAP).
	Inbox *S3Location
	// Evidence is signup.evidence's bucket (nil: none).
	Evidence *S3Location
	// Transcribe are the buckets of transcribe captcha solvers.
	Transcribe []S3Location
	// Connect is signup.connect (nil: none).
	Connect *Connect
	// Burial is signup.burial when enabled (nil: not enabled).
	Burial *Burial
}

// S3Location is a bucket and a key prefix ("" = the whole bucket).
type S3Location struct{ Bucket, Prefix string }

// Connect is an Amazon Connect instance and its prompt bucket.
type Connect struct {
	InstanceARN string
	Prompts     S3Location
}

// Burial is a signup pool's burial into OVM's graveyard organization.
type Burial struct {
	// GraveyardOU is where buried accounts go ("" = the root).
	GraveyardOU string
}

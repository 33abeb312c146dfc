package ovm

// Attribute keys of structured log lines (log/slog), in one place so every
// package logs the same names.
const (
	LogAccountID    = "account_id" // OVM account id
	LogAWSAccountID = "aws_account_id"
	LogLeaseID      = "lease_id"
	LogPool         = "pool"
	LogState        = "state"
	LogFrom         = "from"
	LogTo           = "to"
	LogAttempt      = "attempt"
	LogError        = "error"
	LogKeyName      = "key_name"
	LogWorker       = "worker"
	LogCount        = "count"
	LogDuration     = "duration"
	LogDeliveryID   = "delivery_id"  // an outbox entry (a notification's id)
	LogSubscription = "subscription" // a notification subscription's name
	LogPolicy       = "policy"       // a policy's name in AWS (a guardrail SCP)
)

package cloudtrail

import (
	"encoding/json"
	"strings"
	"time"
)

// Spec describes one API call, for Build.
type Spec struct {
	// ID is the CloudTrail eventID.
	ID      string
	Account string
	Region  string
	At      time.Time
	// Name is the call (RunInstances); Service its endpoint's service
	// (ec2, rds, elasticloadbalancing, eks, sagemaker, es).
	Name, Service string
	Request       map[string]any
	Response      map[string]any
	// Role is the role the caller's session was issued by, SourceIdentity
	// the session's source identity ("" for none).
	Role, SourceIdentity string
	ErrorCode            string
}

// Build returns the call as EventBridge delivers it from CloudTrail (the
// envelope, detail-type "AWS API Call via CloudTrail", the CloudTrail
// record in detail): what the simulated AWS puts on its queue and what the
// tests put on a real bus.
func Build(s Spec) []byte {
	session := map[string]any{"sessionIssuer": map[string]any{"type": "Role", "userName": s.Role,
		"arn": "arn:aws:iam::" + s.Account + ":role/" + s.Role}}
	if s.SourceIdentity != "" {
		session["sourceIdentity"] = s.SourceIdentity
	}
	detail := map[string]any{
		"eventVersion": "1.09", "eventID": s.ID, "eventName": s.Name, "eventSource": s.Service + ".amazonaws.com",
		"eventTime": s.At.UTC().Format(time.RFC3339), "awsRegion": s.Region, "recipientAccountId": s.Account,
		"eventType": "AwsApiCall", "managementEvent": true, "readOnly": false,
		"userIdentity": map[string]any{"type": "AssumedRole", "accountId": s.Account,
			"arn": "arn:aws:sts::" + s.Account + ":assumed-role/" + s.Role + "/session", "sessionContext": session},
		"requestParameters": s.Request, "responseElements": s.Response,
	}
	if s.ErrorCode != "" {
		detail["errorCode"] = s.ErrorCode
	}
	b, _ := json.Marshal(map[string]any{"version": "0", "id": "eb-" + s.ID, "detail-type": DetailType,
		"source": "aws." + strings.TrimSuffix(s.Service, ".amazonaws.com"), "account": s.Account,
		"time": s.At.UTC().Format(time.RFC3339), "region": s.Region, "resources": []string{}, "detail": detail})
	return b
}

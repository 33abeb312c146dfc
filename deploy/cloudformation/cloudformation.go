// Package cloudformation holds OVM's CloudFormation stack (ovm.yaml): the
// DynamoDB table as store/dynamostore makes it, the role OVM runs as with
// the policy package iampolicy generates, the retiring OU's SCP, the first
// admin key in Secrets Manager and the service on ECS Fargate. Its test
// lints the template with cfn-lint and deploys the table and the role on
// moto's CloudFormation, then runs OVM on that table. See docs/deploy.md.
package cloudformation

import _ "embed"

// Template is deploy/cloudformation/ovm.yaml.
//
//go:embed ovm.yaml
var Template string

package roleaccess

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// lateIAM answers NoSuchEntity to the first PutRolePermissionsBoundary
// calls, as IAM may for a policy made a moment before (it is eventually
// consistent). It fills a gap of moto's, which is consistent at once.
type lateIAM struct {
	BoundaryIAM
	notYet, calls int
	err           error
}

func (l *lateIAM) PutRolePermissionsBoundary(context.Context, *iam.PutRolePermissionsBoundaryInput, ...func(*iam.Options)) (*iam.PutRolePermissionsBoundaryOutput, error) {
	l.calls++
	if l.calls <= l.notYet {
		return nil, &iamtypes.NoSuchEntityException{Message: new(string)}
	}
	return &iam.PutRolePermissionsBoundaryOutput{}, l.err
}

// A boundary set just after its policy was made is tried again while IAM
// does not find the policy yet, a few times; other errors are not.
func TestABoundaryIsSetAgainWhileIAMDoesNotFindItsNewPolicy(t *testing.T) {
	ctx := context.Background()
	late := &lateIAM{notYet: 2}
	if err := putBoundary(ctx, late, "r", "arn"); err != nil || late.calls != 3 {
		t.Fatalf("after two NoSuchEntity: %v in %d calls", err, late.calls)
	}
	never := &lateIAM{notYet: 100}
	var nf *iamtypes.NoSuchEntityException
	if err := putBoundary(ctx, never, "r", "arn"); !errors.As(err, &nf) || never.calls > 6 {
		t.Fatalf("a policy that never appears: %v after %d calls", err, never.calls)
	}
	denied := &lateIAM{err: errors.New("AccessDenied")}
	if err := putBoundary(ctx, denied, "r", "arn"); err == nil || denied.calls != 1 {
		t.Fatalf("another error was tried again: %v, %d calls", err, denied.calls)
	}
}

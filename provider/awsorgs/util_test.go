package awsorgs

import (
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/ovmdev/ovm"
)

func asFieldError(err error, fe **ovm.FieldError) bool { return errors.As(err, fe) }

func nil2(id string) *organizations.CloseAccountInput {
	return &organizations.CloseAccountInput{AccountId: &id}
}

package awsorgs

import (
	"errors"

	"github.com/ovmdev/ovm"
)

func asFieldError(err error, fe **ovm.FieldError) bool { return errors.As(err, fe) }

package federation

import "github.com/ovmdev/ovm"

// ConsoleDomains are the domains of the AWS console (ovm.ConsoleDomains).
var ConsoleDomains = ovm.ConsoleDomains

// MaxDestinationBytes bounds a destination (ovm.MaxDestinationBytes).
const MaxDestinationBytes = ovm.MaxDestinationBytes

// CheckDestination refuses a destination that is not plainly a page of the
// AWS console: ovm.CheckConsoleDestination, the domain's rule, which the
// engine applies too without importing this package.
func CheckDestination(d string) error { return ovm.CheckConsoleDestination(d) }

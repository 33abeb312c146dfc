package main

import (
	"sort"
	"strings"

	"github.com/ovmdev/ovm/provider"
	"github.com/ovmdev/ovm/provider/awsorgs"
	"github.com/ovmdev/ovm/provider/signup/setup"
	"github.com/ovmdev/ovm/provider/sim"
)

// kinds is the registry of provider kinds: a pool's `provider:` value to
// its kind. Adding a provider is its package and one line here.
var kinds = map[string]provider.Kind{
	"sim":           sim.Kind{},
	"organizations": awsorgs.Kind{},
	"signup":        setup.Kind{},
}

// kindNames lists the registry's kinds for messages ("organizations, signup or sim").
func kindNames() string {
	names := keysOf(kinds)
	sort.Strings(names)
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// kindOfBlock names the kind a pool key belongs to, or "".
func kindOfBlock(key string) string {
	names := keysOf(kinds)
	sort.Strings(names)
	for _, n := range names {
		if _, ok := kinds[n].NewConfig().Blocks()[key]; ok {
			return n
		}
	}
	return ""
}

package ovm_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
)

// module is this module's path; the rules below name its packages relative
// to it ("." is the root, "store/..." a package and those under it).
const module = "github.com/ovmdev/ovm"

// A layer is a set of the module's packages and the dependencies, direct or
// not, that they must not have, each with the reason. Test files do not
// count: a provider's tests may run against a real store.
type layer struct {
	// pkgs are the packages the rule covers.
	pkgs []string
	// bad maps a forbidden dependency to why it is forbidden. A name with a
	// dot in its first element is a full import path (an outside module);
	// one ending in "/..." forbids that package and everything under it.
	bad map[string]string
	// stdOnly, when set, forbids every dependency outside the standard
	// library and allow, for this reason.
	stdOnly string
	allow   []string
}

// layering is the module's dependency rules, checked with go list -deps in
// the manner of tailscale's tstest/deptest. Change a rule only together
// with the design it guards (docs/design.md, Architecture).
var layering = []layer{
	{
		pkgs:    []string{"."},
		stdOnly: "the domain is what every package shares: a dependency of the root is a dependency of everything, so it uses the standard library only",
	},
	{
		pkgs: []string{"engine"},
		bad: map[string]string{
			"federation":         "a console destination is checked by the domain's rule (ovm.CheckConsoleDestination); the sign-in URL is a provider's (ovm.Access), so the engine needs no HTTP client of its own",
			"store/...":          "the engine works on ovm.Store; cmd/ovm chooses the store, so a store is added without touching the engine",
			"provider/...":       "the engine works on ovm.Provider and the capabilities it finds by type assertion; cmd/ovm builds the providers (provider.Kind)",
			"cleaner/...":        "recycling reaches the engine as a provider's ovm.Cleaner, never as aws-nuke itself",
			"notify/...":         "the notifier sends through ovm.Sink; which sinks exist, and their AWS clients, is cmd/ovm's choice",
			"identity":           "who a caller is is the edge's question; the engine is given an actor",
			"httpapi":            "the engine holds the use cases; the edges call it, never the reverse",
			"webui":              "the engine holds the use cases; the edges call it, never the reverse",
			"client":             "the engine holds the use cases; the edges call it, never the reverse",
			"cmd/...":            "cmd/ovm wires the engine; nothing imports a command",
			"github.com/aws/...": "the AWS SDK sits behind the providers' narrow interfaces: the engine decides, the providers call AWS",
		},
	},
	{
		pkgs:    []string{"federation"},
		stdOnly: "the providers import federation (the sign-in URL): whatever it imports, they import too",
		allow:   []string{"."},
	},
	{
		pkgs: []string{"store/..."},
		bad: map[string]string{
			"engine":       "a store keeps records and applies the domain's transitions (compare-and-set); the rules are the domain's and the engine's, so every store behaves alike",
			"provider/...": "a store knows nothing of how accounts are made; only the engine reaches providers",
			"notify/...":   "a store writes the outbox entry with the change; sending it is the engine's, through the sinks",
			"httpapi":      "stores sit under the edges, which reach them through ovm.Store",
			"webui":        "stores sit under the edges, which reach them through ovm.Store",
			"client":       "stores sit under the edges, which reach them through ovm.Store",
		},
	},
	{
		pkgs: []string{"provider/..."},
		bad: map[string]string{
			"store/...": "a provider acts on AWS and reports an outcome; the engine writes it to the store, so no provider can skip a transition",
			"engine":    "the engine drives providers through ovm.Provider; a provider that called back into it would make decisions of its own",
			"httpapi":   "providers sit under the engine; an edge reaches them only through it",
			"webui":     "providers sit under the engine; an edge reaches them only through it",
			"client":    "providers sit under the engine; an edge reaches them only through it",
			"cmd/...":   "cmd/ovm builds providers from their provider.Kind; nothing imports a command",
		},
	},
	{
		pkgs: []string{"notify/..."},
		bad: map[string]string{
			"engine":       "a sink sends the one notification it is given (ovm.Sink); the outbox, retries and who is subscribed are the engine's",
			"store/...":    "a sink only sends; the engine reads and updates the outbox",
			"provider/...": "a sink sends a notification, it does not act on accounts",
		},
	},
	{
		pkgs: []string{"client"},
		bad: map[string]string{
			"httpapi":      "other Go programs import the client to use the API; the server imports the client for its types, never the reverse (Nomad's and Vault's api packages)",
			"engine":       "a program that leases an account must not build the reconciler",
			"store/...":    "a program that leases an account must not build a store or its database driver",
			"provider/...": "a program that leases an account must not build the providers or the AWS SDK",
			"webui":        "the console uses the client, not the reverse",
		},
		stdOnly: "the client is imported by other programs: everything it imports, they build, so it keeps to the standard library and the domain",
		allow:   []string{"."},
	},
	{
		pkgs: []string{"guardrail"},
		bad: map[string]string{
			"engine":       "the documents are pure functions of a template's guardrails; the engine and the providers use them, not the reverse",
			"provider/...": "a provider attaches what guardrail writes; guardrail knows no AWS client",
		},
		stdOnly: "the configuration's start-up check and every provider build the documents: nothing but the standard library and the domain",
		allow:   []string{"."},
	},
	{
		pkgs: []string{"webui"},
		bad: map[string]string{
			"httpapi":      "the console calls the API in-process through the client with the signed-in person's credential (cmd/ovm hands it the API's handler), so it shows only what the API lets that person see",
			"engine":       "the console calls the API, never the engine: the API's authorisation is the only door",
			"store/...":    "the console calls the API, never a store: the API's authorisation is the only door",
			"provider/...": "the console calls the API, never a provider: the API's authorisation is the only door",
		},
	},
	{
		pkgs: []string{"httpapi"},
		bad: map[string]string{
			"store/...":    "the API works on ovm.Store and the engine; cmd/ovm chooses the implementations",
			"provider/...": "the API reaches providers only through the engine",
			"webui":        "the console sits beside the API and calls it; the API does not know it",
		},
	},
}

// listed is one package of go list -deps -json.
type listed struct {
	ImportPath string
	Standard   bool
	Imports    []string
	Deps       []string
}

// goList lists the module's packages and everything they depend on.
func goList(t *testing.T) map[string]*listed {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Standard,Imports,Deps", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	pkgs := map[string]*listed{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs[p.ImportPath] = &p
	}
	return pkgs
}

// full is the import path of a rule's name.
func full(name string) string {
	first, _, _ := strings.Cut(name, "/")
	switch {
	case name == ".":
		return module
	case strings.Contains(first, "."):
		return name
	}
	return module + "/" + name
}

// matches reports whether import path p is the rule's name, or under it
// for a name ending in "/...".
func matches(name, p string) bool {
	if base, ok := strings.CutSuffix(name, "/..."); ok {
		base = full(base)
		return p == base || strings.HasPrefix(p, base+"/")
	}
	return p == full(name)
}

// short is an import path as the messages name it: relative to the module.
func short(p string) string {
	if p == module {
		return "ovm (the root)"
	}
	return strings.TrimPrefix(p, module+"/")
}

// chain is a shortest import path from one package to another, for the
// message.
func chain(pkgs map[string]*listed, from, to string) string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == to {
			var path []string
			for ; p != ""; p = prev[p] {
				path = append(path, short(p))
			}
			slices.Reverse(path)
			return strings.Join(path, " -> ")
		}
		if lp := pkgs[p]; lp != nil {
			for _, imp := range lp.Imports {
				if _, seen := prev[imp]; !seen {
					prev[imp] = p
					queue = append(queue, imp)
				}
			}
		}
	}
	return from + " -> ... -> " + to
}

// TestLayering checks every rule of layering against go list: a package
// that depends on what its layer forbids fails, naming the import chain
// and the rule's reason.
func TestLayering(t *testing.T) {
	pkgs := goList(t)
	var paths []string
	for p := range pkgs {
		if p == module || strings.HasPrefix(p, module+"/") {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, l := range layering {
		covered := 0
		for _, p := range paths {
			if !slices.ContainsFunc(l.pkgs, func(name string) bool { return matches(name, p) }) {
				continue
			}
			covered++
			for _, dep := range pkgs[p].Deps {
				why := ""
				for name, reason := range l.bad {
					if matches(name, dep) {
						why = reason
					}
				}
				if why == "" && l.stdOnly != "" && (pkgs[dep] == nil || !pkgs[dep].Standard) &&
					!slices.ContainsFunc(l.allow, func(name string) bool { return matches(name, dep) }) {
					why = l.stdOnly
				}
				if why != "" {
					t.Errorf("%s must not depend on %s (%s): %s", short(p), dep, chain(pkgs, p, dep), why)
				}
			}
		}
		if covered == 0 {
			t.Errorf("the rule for %v covers no package: was one renamed?", l.pkgs)
		}
	}
}

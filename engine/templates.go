package engine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ovmdev/ovm"
)

// buildTemplates indexes the pools' implicit templates and the configured
// ones, each checked against its pool.
func (e *Engine) buildTemplates() error {
	e.templates = map[string]*ovm.Template{}
	for name, p := range e.pools {
		t := ovm.ImplicitTemplate(p.Policy)
		e.templates[name] = &t
	}
	for i := range e.cfg.Templates {
		t := e.cfg.Templates[i]
		if e.pools[t.Pool] == nil {
			return fmt.Errorf("engine: template %q: pool %q is not defined", t.Name, t.Pool)
		}
		if prev := e.templates[t.Name]; prev != nil {
			if prev.Implicit {
				return fmt.Errorf("engine: template %q: a pool of that name has it as its own template", t.Name)
			}
			return fmt.Errorf("engine: template %q is defined twice", t.Name)
		}
		if err := t.Validate(); err != nil {
			return fmt.Errorf("engine: template %q: %w", t.Name, err)
		}
		if _, ok := e.pools[t.Pool].Provider.(ovm.Guardrailer); !t.Guardrails.Empty() && !ok {
			// A lease would run without them: refused, not ignored.
			return fmt.Errorf("engine: template %q has guardrails, which pool %q's provider (%s) does not enforce (docs/guardrails.md)",
				t.Name, t.Pool, e.pools[t.Pool].Policy.Provider)
		}
		if !t.Guardrails.Empty() && t.GuardrailDocument == "" && len(t.Guardrails.PolicyIDs()) == 0 {
			return fmt.Errorf("engine: template %q has guardrails but no policy document: build it with package guardrail", t.Name)
		}
		e.templates[t.Name] = &t
	}
	for _, t := range e.templates {
		own := e.templates[t.Pool]
		if t.Implicit || len(own.Allowed) > 0 || t.Guardrails.Empty() && len(t.Allowed) == 0 {
			continue
		}
		// Anyone may lease the same stock through the pool's own template,
		// without this template's guardrails or its allowed list.
		e.log.Warn("configuration warning: a pool's own template is open to everyone", ovm.LogPool, t.Pool, "template", t.Name,
			"reason", fmt.Sprintf("leases of pool %q (its own template) skip template %q's guardrails and allowed list; restrict the pool's own with its lease.allowed", t.Pool, t.Name))
	}
	e.defaultTemplate = e.cfg.DefaultTemplate
	if e.defaultTemplate == "" {
		e.defaultTemplate = "default"
		if len(e.pools) == 1 {
			for name := range e.pools {
				e.defaultTemplate = name
			}
		}
	}
	if e.templates[e.defaultTemplate] == nil {
		if e.cfg.DefaultTemplate != "" {
			return fmt.Errorf("engine: the default template %q is not defined", e.defaultTemplate)
		}
		e.defaultTemplate = "" // several pools, none named default: a vend names one
	}
	return nil
}

// Template returns the named template (a pool's implicit one under the
// pool's name), or nil.
func (e *Engine) Template(name string) *ovm.Template { return e.templates[name] }

// Templates returns every template, by name.
func (e *Engine) Templates() []*ovm.Template {
	out := make([]*ovm.Template, 0, len(e.templates))
	for _, t := range e.templates {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *ovm.Template) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// DefaultTemplate is the template of a vend that names neither a template
// nor a pool (GET /vend).
func (e *Engine) DefaultTemplate() string { return e.defaultTemplate }

// resolveTemplate finds the template and pool of vend r: its template, its
// pool's own, or the default; and checks that r's requester may use it.
func (e *Engine) resolveTemplate(r *VendRequest) (*ovm.Template, *Pool, error) {
	name := r.Template
	switch {
	case name == "" && r.Pool != "":
		if e.pools[r.Pool] == nil {
			return nil, nil, ovm.Errorf(ovm.ENotFound, "pool %q: %w", r.Pool, ovm.ErrNotFound)
		}
		name = r.Pool
	case name == "" && e.defaultTemplate == "":
		return nil, nil, ovm.Errorf(ovm.EInvalid, "name a template or a pool: there is no default template")
	case name == "":
		name = e.defaultTemplate
	}
	t := e.templates[name]
	switch {
	case t == nil:
		return nil, nil, ovm.Errorf(ovm.ENotFound, "template %q: %w", name, ovm.ErrNotFound)
	case !t.Allows(r.Requester): // before anything that would tell more of it
		return nil, nil, ovm.Errorf(ovm.EForbidden, "template %q is not open to %s (GET /v1/templates lists the ones you may use)", t.Name, r.Owner)
	case r.Pool != "" && r.Pool != t.Pool:
		return nil, nil, ovm.Errorf(ovm.EInvalid, "template %q leases from pool %q, not %q: name the template alone", t.Name, t.Pool, r.Pool)
	}
	return t, e.pools[t.Pool], nil
}

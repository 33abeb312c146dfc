package httpapi

import (
	"strings"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
)

func leaseDTO(l *ovm.Lease) client.Lease {
	return client.Lease{ID: l.ID, AccountID: l.AWSAccountID, CrossAccountRole: l.RoleARN, OVMAccountID: l.AccountID,
		Pool: l.Pool, Owner: l.Owner, State: l.Status(), EndReason: string(l.EndReason), Labels: l.Labels, Principal: l.Principal,
		CreatedAt: l.CreatedAt.UTC(), ExpiresAt: l.ExpiresAt.UTC(), EndedAt: timePtr(l.EndedAt),
		Template: l.Template, Team: l.Team, Terms: termsDTO(l.Terms), Budget: budgetDTO(l.Budget), Frozen: freezeDTO(l.Frozen)}
}

func budgetDTO(b *ovm.LeaseBudget) *client.LeaseBudget {
	if b == nil {
		return nil
	}
	d := &client.LeaseBudget{LimitUSD: b.LimitUSD, Project: client.Duration(b.Project), FreezeStop: b.FreezeStop,
		LesseeMayLower: b.LesseeMayLower, Thresholds: []client.BudgetThreshold{}, Acted: []client.BudgetAct{}}
	for _, t := range b.Thresholds {
		d.Thresholds = append(d.Thresholds, client.BudgetThreshold{At: t.Percent(), Action: string(t.Action)})
	}
	for _, a := range b.Acted {
		d.Acted = append(d.Acted, client.BudgetAct{At: ovm.Threshold{At: a.At}.Percent(), Action: string(a.Action), LimitUSD: a.LimitUSD,
			Time: a.Time.UTC(), SpendUSD: a.SpendUSD, ProjectedUSD: a.ProjectedUSD})
	}
	return d
}

func freezeDTO(f *ovm.LeaseFreeze) *client.Freeze {
	if f == nil {
		return nil
	}
	return &client.Freeze{At: f.At.UTC(), Actor: f.Actor, Reason: f.Reason, Stop: f.Stop}
}

func termsDTO(t *ovm.LeaseTerms) *client.Terms {
	if t == nil {
		return nil
	}
	return &client.Terms{Template: t.Template, DefaultTTL: client.Duration(t.Lease.DefaultTTL), MaxTTL: client.Duration(t.Lease.MaxTTL),
		MinTTL: client.Duration(t.Lease.MinTTL), MaxPerOwner: t.Lease.MaxPerOwner, MaxPerTeam: t.MaxPerTeam,
		Guardrails: t.Guardrails, GuardrailVersion: t.GuardrailVersion}
}

func accountDTO(a *ovm.Account) client.Account {
	d := client.Account{ID: a.ID, AccountID: a.AWSAccountID, Pool: a.Pool, State: a.State, Generation: a.Generation,
		Name: a.Name, Email: a.Email, CrossAccountRole: a.RoleARN, LeaseID: a.LeaseID, ExternalRef: a.ExternalRef,
		Attempts: a.Attempts, LastError: a.LastError, Waiting: a.Waiting, QuarantinedFrom: string(a.QuarantinedFrom),
		Progress: publicProgress(a.Progress), Version: a.Version, CreatedAt: a.CreatedAt.UTC(), UpdatedAt: a.UpdatedAt.UTC(),
		StateChangedAt: a.StateChangedAt.UTC()}
	if a.State.Working() {
		d.NextAttemptAt = timePtr(a.NextAttemptAt)
	}
	return d
}

func eventDTO(e *ovm.Event) client.Event {
	return client.Event{Seq: e.Seq, Time: e.Time.UTC(), Kind: string(e.Kind), LeaseID: e.LeaseID, Actor: e.Actor,
		From: e.From, To: e.To, Reason: e.Reason}
}

func keyDTO(k *ovm.APIKey) client.Key {
	return client.Key{ID: k.ID, Name: k.Name, Role: k.Role, CreatedAt: k.CreatedAt.UTC(), RevokedAt: timePtr(k.RevokedAt), Teams: k.Teams}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// publicProgress is an account's progress without the inputs it was given
// (captcha answers, bank codes): those are never shown back.
func publicProgress(p map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range p {
		if !strings.HasPrefix(k, "input.") {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

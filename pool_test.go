package ovm_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

func TestPoolValidationNamesTheKey(t *testing.T) {
	base := ovm.Pool{Name: "default", Provider: "sim", Stock: ovm.StockPolicy{Target: 3}}.WithDefaults()
	if err := base.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	cases := map[string]func(*ovm.Pool){
		"name":              func(p *ovm.Pool) { p.Name = "Bad Name" },
		"stock.ceiling":     func(p *ovm.Pool) { p.Stock.Ceiling = 2 },
		"stock.target":      func(p *ovm.Pool) { p.Stock.Target = -1 },
		"lease.max_ttl":     func(p *ovm.Pool) { p.Lease.MaxTTL = time.Hour },
		"lease.default_ttl": func(p *ovm.Pool) { p.Lease.DefaultTTL = time.Second },
		"retire.mode":       func(p *ovm.Pool) { p.Retire.Mode = "burn" },
		"role_name":         func(p *ovm.Pool) { p.RoleName = "no spaces allowed" },
	}
	for field, mod := range cases {
		p := base
		mod(&p)
		var fe *ovm.FieldError
		if err := p.Validate(); !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: got %v", field, err)
		}
	}
}

func TestLeaseTTLAndExtensionStayWithinThePolicy(t *testing.T) {
	lp := ovm.LeasePolicy{DefaultTTL: time.Hour, MaxTTL: 3 * time.Hour, MinTTL: time.Minute}
	if d, err := lp.LeaseTTL(0); err != nil || d != time.Hour {
		t.Errorf("default: %s %v", d, err)
	}
	for _, bad := range []time.Duration{time.Second, 4 * time.Hour, -time.Hour} {
		if _, err := lp.LeaseTTL(bad); ovm.ErrorCodeOf(err) != ovm.EInvalid {
			t.Errorf("ttl %s: %v", bad, err)
		}
	}
	l := &ovm.Lease{ID: "lse_1", State: ovm.LeaseActive, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := lp.CheckExtend(l, t0.Add(3*time.Hour), t0.Add(time.Minute)); err != nil {
		t.Errorf("extend to max: %v", err)
	}
	if err := lp.CheckExtend(l, t0.Add(3*time.Hour+time.Second), t0); ovm.ErrorCodeOf(err) != ovm.EInvalid {
		t.Errorf("beyond max: %v", err)
	}
	l.State = ovm.LeaseEnded
	if err := lp.CheckExtend(l, t0.Add(2*time.Hour), t0); ovm.ErrorCodeOf(err) != ovm.EConflict {
		t.Errorf("ended lease: %v", err)
	}
}

func TestIDsSortByTimeAndNeverLookLikeAWSIDs(t *testing.T) {
	a, b := ovm.NewID("acc", t0), ovm.NewID("acc", t0.Add(time.Millisecond))
	if !(a < b) || ovm.IsAWSAccountID(a) || len(a) != len("acc_")+26 {
		t.Errorf("ids %q %q", a, b)
	}
	k, secret, err := ovm.NewAPIKey("ci-bot", ovm.RoleUser, t0)
	if err != nil || ovm.HashKey(secret) != k.Hash || k.Hash == secret {
		t.Fatalf("key %+v err %v", k, err)
	}
	if _, _, err := ovm.NewAPIKey("bad name", ovm.RoleUser, t0); ovm.ErrorCodeOf(err) != ovm.EInvalid {
		t.Errorf("bad name: %v", err)
	}
}

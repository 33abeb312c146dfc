package engine

import (
	"context"
	"errors"
	"time"

	"github.com/ovmdev/ovm"
)

// RetryAccount sends quarantined account id (OVM or AWS id) back to the
// state it failed in, with its attempts reset (ovm.RetryAccount).
func (e *Engine) RetryAccount(ctx context.Context, id, actor string) (*ovm.Account, error) {
	return e.operate(ctx, id, actor, ovm.RetryAccount)
}

// RetireAccount closes a quarantined or ready account id, or abandons a
// quarantined one that never reached AWS (ovm.RetireAccount).
func (e *Engine) RetireAccount(ctx context.Context, id, actor string) (*ovm.Account, error) {
	return e.operate(ctx, id, actor, ovm.RetireAccount)
}

// InputAccount gives a working account's waiting step an outside value
// (ovm.RecordInput): a human's captcha answer, a relayed code.
func (e *Engine) InputAccount(ctx context.Context, id, name, value, actor string) (*ovm.Account, error) {
	return e.operate(ctx, id, actor, func(a *ovm.Account, actor string, now time.Time) (*ovm.AccountUpdate, error) {
		return ovm.RecordInput(a, name, value, actor, now)
	})
}

// operate applies an operator's transition to account id and wakes the
// runner for the account's next step.
func (e *Engine) operate(ctx context.Context, id, actor string,
	build func(*ovm.Account, string, time.Time) (*ovm.AccountUpdate, error)) (*ovm.Account, error) {
	a, err := e.store.AccountGet(ctx, id)
	if err != nil {
		return nil, err
	}
	u, err := build(a, actor, e.clock.Now())
	if err != nil {
		return nil, err
	}
	a, err = e.store.AccountUpdate(ctx, u)
	if errors.Is(err, ovm.ErrConflict) {
		return nil, ovm.Errorf(ovm.EConflict, "account %s changed meanwhile; read it again and retry", u.Account.ID)
	}
	if err != nil {
		return nil, err
	}
	e.log.Info("operator action", ovm.LogAccountID, a.ID, ovm.LogFrom, u.ExpectState, ovm.LogTo, a.State, "actor", actor)
	e.runner.Kick()
	return a, nil
}

package engine

import (
	"context"

	"github.com/ovmdev/ovm"
)

// Evidence lists what the provider of account id's pool kept of its failed
// steps (ovm.EvidenceKeeper), newest first: none when it keeps none.
func (e *Engine) Evidence(ctx context.Context, id string) ([]ovm.Evidence, error) {
	k, a, err := e.evidenceKeeper(ctx, id)
	if err != nil || k == nil {
		return nil, err
	}
	return k.Evidence(ctx, a.ID)
}

// EvidenceFile reads one file of one of account id's evidence records.
// ErrNotFound when the provider kept no such file.
func (e *Engine) EvidenceFile(ctx context.Context, id, record, file string) ([]byte, error) {
	k, a, err := e.evidenceKeeper(ctx, id)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, ovm.Errorf(ovm.ENotFound, "account %s has no evidence %s/%s: %w", a.ID, record, file, ovm.ErrNotFound)
	}
	return k.EvidenceFile(ctx, a.ID, record, file)
}

// evidenceKeeper is the capability of account id's provider, if it has it,
// and the account (by OVM or AWS id).
func (e *Engine) evidenceKeeper(ctx context.Context, id string) (ovm.EvidenceKeeper, *ovm.Account, error) {
	a, err := e.store.AccountGet(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if p := e.pools[a.Pool]; p != nil {
		if k, ok := p.Provider.(ovm.EvidenceKeeper); ok {
			return k, a, nil
		}
	}
	return nil, a, nil
}

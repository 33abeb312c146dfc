package signup

import (
	"context"
	"path/filepath"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/evidence"
)

// evidenceDir is where failed steps keep their evidence (stepRun.fail).
func (p *Provider) evidenceDir() evidence.Dir {
	return evidence.Dir{Root: filepath.Join(p.cfg.DataDir, "evidence")}
}

// Evidence implements ovm.EvidenceKeeper: the records this replica kept
// (a copy of each is in S3 when signup.evidence.s3_bucket is set).
func (p *Provider) Evidence(_ context.Context, accountID string) ([]ovm.Evidence, error) {
	return p.evidenceDir().List(accountID)
}

// EvidenceFile implements ovm.EvidenceKeeper.
func (p *Provider) EvidenceFile(_ context.Context, accountID, record, file string) ([]byte, error) {
	return p.evidenceDir().Read(accountID, record, file)
}

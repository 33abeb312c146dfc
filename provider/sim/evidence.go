package sim

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/evidence"
)

// pageChanged is the definitive failure of BootstrapFailures, with its
// evidence kept the way the sign-up provider keeps a failed step's. The
// screenshot is drawn, not taken: the simulation has no browser.
func (p *Provider) pageChanged(a *ovm.Account, now time.Time) ovm.StepResult {
	const step = "bootstrap-simulated-page"
	reason := "the page changed: no element matches #submit (simulated)"
	where := "none kept"
	if p.cfg.EvidenceDir != "" {
		name := now.UTC().Format("20060102T150405.000") + "-" + step
		page := "<!doctype html><title>Simulated AWS page</title><h1>Simulated AWS page</h1><p>" +
			html.EscapeString(reason) + "</p>"
		files := map[string][]byte{"screenshot.jpg": simulatedScreenshot(), "page.html": []byte(page),
			"step.log": []byte(now.UTC().Format(time.RFC3339) + " FAILED: " + reason + "\n")}
		if err := (evidence.Dir{Root: p.cfg.EvidenceDir}).Keep(a.ID, name, files); err == nil {
			where = name
		}
	}
	return ovm.Failed(fmt.Sprintf("step %s: %s (evidence: %s)", step, reason, where))
}

// simulatedScreenshot is a small JPEG: a page with a header bar and a red
// box where the missing button should be.
func simulatedScreenshot() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 320, 200))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(0, 0, 320, 28), image.NewUniform(color.RGBA{35, 47, 62, 255}), image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(110, 120, 210, 150), image.NewUniform(color.RGBA{200, 40, 40, 255}), image.Point{}, draw.Src)
	var b bytes.Buffer
	jpeg.Encode(&b, img, &jpeg.Options{Quality: 80})
	return b.Bytes()
}

// Evidence implements ovm.EvidenceKeeper.
func (p *Provider) Evidence(_ context.Context, accountID string) ([]ovm.Evidence, error) {
	return evidence.Dir{Root: p.cfg.EvidenceDir}.List(accountID)
}

// EvidenceFile implements ovm.EvidenceKeeper.
func (p *Provider) EvidenceFile(_ context.Context, accountID, record, file string) ([]byte, error) {
	return evidence.Dir{Root: p.cfg.EvidenceDir}.Read(accountID, record, file)
}

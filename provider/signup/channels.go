package signup

// This file holds the channels that outside values come through: captcha
// solvers (an external command, a human; more in twocaptcha and
// transcribesolver), and the PhonePool of verification numbers with the
// PhoneAnswerer that makes a number's call key in its PIN (awsconnect).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// errWaiting means a step waits for something outside OVM (an e-mail, a
// human, a bank code); the step is tried again later, without counting a
// failure.
type errWaiting struct{ what string }

func (e *errWaiting) Error() string { return "waiting for " + e.what }

// Captcha is one captcha to solve.
type Captcha struct {
	Kind string // "audio" or "image"
	Data []byte
	// Ext is the file extension of Data (".wav", ".png", ...).
	Ext string
}

// CaptchaSolver answers captchas. Solvers are tried in order until one
// answers.
type CaptchaSolver interface {
	Name() string
	// Kinds are the captcha kinds it solves.
	Kinds() []string
	Solve(ctx context.Context, c Captcha) (string, error)
}

// CommandSolver runs an external program with the captcha file as its last
// argument and reads the answer from its standard output.
type CommandSolver struct {
	Command []string
	For     []string // captcha kinds (default audio and image)
	Timeout time.Duration
}

// Name implements CaptchaSolver.
func (c *CommandSolver) Name() string { return "command:" + filepath.Base(c.Command[0]) }

// Kinds implements CaptchaSolver.
func (c *CommandSolver) Kinds() []string {
	if len(c.For) == 0 {
		return []string{"audio", "image"}
	}
	return c.For
}

// Solve implements CaptchaSolver.
func (c *CommandSolver) Solve(ctx context.Context, cp Captcha) (string, error) {
	f, err := os.CreateTemp("", "ovm-captcha-*"+cp.Ext)
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(cp.Data); err != nil {
		f.Close()
		return "", err
	}
	f.Close()
	timeout := c.Timeout
	if timeout == 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Command[0], append(c.Command[1:], f.Name())...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %v: %s", c.Name(), err, strings.TrimSpace(errOut.String()))
	}
	answer := strings.TrimSpace(out.String())
	if answer == "" {
		return "", fmt.Errorf("%s gave no answer", c.Name())
	}
	return answer, nil
}

// HumanSolver asks a person: the captcha is kept as a file, and the answer
// comes through POST /v1/accounts/{id}/input with name "captcha".
type HumanSolver struct{}

// Name implements CaptchaSolver.
func (HumanSolver) Name() string { return "human" }

// Kinds implements CaptchaSolver.
func (HumanSolver) Kinds() []string { return []string{"audio", "image"} }

// Solve implements CaptchaSolver; the provider answers it from the
// account's inputs (see Provider.captcha).
func (HumanSolver) Solve(context.Context, Captcha) (string, error) {
	return "", &errWaiting{what: "a human to answer the captcha (POST /v1/accounts/{id}/input name=captcha)"}
}

// PhoneAnswerer makes a verification number's next incoming call key in a
// PIN (Amazon Connect: provider/signup/awsconnect). Without one, the PIN
// is only served at GET /v1/phone/{number}/pin for a flow of the
// operator's own.
type PhoneAnswerer interface {
	Arm(ctx context.Context, number, pin string) error
	Disarm(ctx context.Context, number string) error
}

// PhoneNumber is one verification number and its health.
type PhoneNumber struct {
	Number        string    `json:"number"`
	LastUsed      time.Time `json:"last_used"`
	Uses          int       `json:"uses"`
	Failures      int       `json:"failures"` // in a row
	CooldownUntil time.Time `json:"cooldown_until"`
	// Busy is true while a verification uses the number (its PIN is never
	// shown here).
	Busy    bool `json:"busy"`
	busyPIN string
}

// PhonePool hands out verification numbers one verification at a time,
// healthiest first, and keeps the PIN the call must key in for the contact
// flow (Amazon Connect, or the replica) to read.
type PhonePool struct {
	// Cooldown after a failed verification (default 1h), doubled per
	// failure in a row.
	Cooldown time.Duration
	mu       sync.Mutex
	numbers  map[string]*PhoneNumber
}

// NewPhonePool returns a pool of numbers.
func NewPhonePool(numbers []string) *PhonePool {
	p := &PhonePool{Cooldown: time.Hour, numbers: map[string]*PhoneNumber{}}
	for _, n := range numbers {
		p.numbers[n] = &PhoneNumber{Number: n}
	}
	return p
}

// ErrNoNumber means every number is busy or cooling down.
var ErrNoNumber = errors.New("no phone number is free")

// Pick chooses the healthiest free number: not busy, not cooling down,
// fewest failures in a row, least recently used.
func (p *PhonePool) Pick(now time.Time) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var free []*PhoneNumber
	for _, n := range p.numbers {
		if n.busyPIN == "" && !now.Before(n.CooldownUntil) {
			free = append(free, n)
		}
	}
	if len(free) == 0 {
		return "", ErrNoNumber
	}
	sort.Slice(free, func(i, j int) bool {
		if free[i].Failures != free[j].Failures {
			return free[i].Failures < free[j].Failures
		}
		return free[i].LastUsed.Before(free[j].LastUsed)
	})
	return free[0].Number, nil
}

// Prepare makes number answer the next call with pin. One verification per
// number at a time: a busy number refuses.
func (p *PhonePool) Prepare(number, pin string, now time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.numbers[number]
	switch {
	case n == nil:
		return fmt.Errorf("phone number %s is not in the pool", number)
	case n.busyPIN != "" && n.busyPIN != pin:
		return fmt.Errorf("phone number %s is busy with another verification", number)
	}
	n.busyPIN, n.LastUsed = pin, now
	return nil
}

// PIN is what the contact flow plays as DTMF when number is called.
func (p *PhonePool) PIN(number string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.numbers[number]
	if n == nil || n.busyPIN == "" {
		return "", false
	}
	return n.busyPIN, true
}

// Done ends number's verification and records its outcome.
func (p *PhonePool) Done(number string, ok bool, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.numbers[number]
	if n == nil {
		return
	}
	n.busyPIN = ""
	n.Uses++
	if ok {
		n.Failures = 0
		return
	}
	n.Failures++
	n.CooldownUntil = now.Add(p.Cooldown << min(n.Failures-1, 6))
}

// Health returns every number's state.
func (p *PhonePool) Health() []PhoneNumber {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []PhoneNumber
	for _, n := range p.numbers {
		c := *n
		c.Busy, c.busyPIN = n.busyPIN != "", ""
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out
}

// Export returns the numbers' health as JSON (never a PIN), for keeping
// across restarts: a number AWS blocked must stay cooled down.
func (p *PhonePool) Export() []byte {
	b, _ := json.Marshal(p.Health())
	return b
}

// Import restores health saved by Export for the numbers still in the
// pool. Busy is not restored: a verification in flight at a crash is over.
func (p *PhonePool) Import(b []byte) error {
	var saved []PhoneNumber
	if err := json.Unmarshal(b, &saved); err != nil {
		return fmt.Errorf("phone number health: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range saved {
		if n := p.numbers[s.Number]; n != nil {
			n.LastUsed, n.Uses, n.Failures, n.CooldownUntil = s.LastUsed, s.Uses, s.Failures, s.CooldownUntil
		}
	}
	return nil
}

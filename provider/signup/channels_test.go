package signup

import (
	"testing"
	"time"
)

func TestThePhonePoolPicksTheHealthiestFreeNumberAndCoolsFailuresDown(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	p := NewPhonePool([]string{"+1a", "+1b", "+1c"})
	p.Cooldown = time.Hour
	// Least recently used first.
	p.Prepare("+1a", "1111", t0)
	p.Done("+1a", true, t0)
	p.Prepare("+1b", "2222", t0.Add(time.Minute))
	p.Done("+1b", true, t0.Add(time.Minute))
	if n, _ := p.Pick(t0.Add(2 * time.Minute)); n != "+1c" {
		t.Fatalf("picked %s, want the unused +1c", n)
	}
	// Busy numbers are not picked, and refuse a second verification.
	p.Prepare("+1c", "3333", t0.Add(2*time.Minute))
	if err := p.Prepare("+1c", "4444", t0.Add(2*time.Minute)); err == nil {
		t.Fatal("a busy number took a second verification")
	}
	if pin, ok := p.PIN("+1c"); !ok || pin != "3333" {
		t.Fatalf("PIN = %q %v", pin, ok)
	}
	if n, _ := p.Pick(t0.Add(3 * time.Minute)); n != "+1a" {
		t.Fatalf("picked %s, want +1a (least recently used, free)", n)
	}
	// A failure cools the number down, doubling per failure in a row.
	p.Done("+1c", false, t0.Add(3*time.Minute))
	p.Prepare("+1c", "5555", t0.Add(4*time.Hour))
	p.Done("+1c", false, t0.Add(4*time.Hour))
	h := health(p, "+1c")
	if h.Failures != 2 || !h.CooldownUntil.Equal(t0.Add(6*time.Hour)) || h.Busy {
		t.Fatalf("after two failures: %+v", h)
	}
	if _, ok := p.PIN("+1c"); ok {
		t.Fatal("a done number still serves its PIN")
	}
	// Fewest failures first, even when more recently used.
	if n, _ := p.Pick(t0.Add(7 * time.Hour)); n == "+1c" {
		t.Fatal("the failing number was picked over healthy ones")
	}
	p.Prepare("+1a", "1", t0)
	p.Prepare("+1b", "2", t0)
	if _, err := p.Pick(t0.Add(5 * time.Hour)); err != ErrNoNumber {
		t.Fatalf("all busy or cooling: %v", err)
	}

	// Health survives a restart; busy does not.
	q := NewPhonePool([]string{"+1a", "+1b", "+1c", "+1d"})
	if err := q.Import(p.Export()); err != nil {
		t.Fatal(err)
	}
	if h := health(q, "+1c"); h.Failures != 2 || !h.CooldownUntil.Equal(t0.Add(6*time.Hour)) {
		t.Fatalf("restored: %+v", h)
	}
	if h := health(q, "+1a"); h.Busy || h.Uses != 1 {
		t.Fatalf("restored +1a: %+v", h)
	}
	if err := q.Import([]byte("{")); err == nil {
		t.Fatal("garbage imported")
	}
}

func health(p *PhonePool, number string) PhoneNumber {
	for _, h := range p.Health() {
		if h.Number == number {
			return h
		}
	}
	return PhoneNumber{}
}

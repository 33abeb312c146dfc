package webui

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/ovmdev/ovm/client"
)

var funcs = template.FuncMap{
	"left": left,
	"join": strings.Join,
	"dur":  func(d client.Duration) string { return time.Duration(d).String() },
	// clip cuts s to n runes with an ellipsis: a long error in a list; the
	// whole text is on the item's own page.
	"clip": clip,
	"long": func(n int, s string) bool { return len([]rune(s)) > n },
	// sent says what became of a delivery: "no subscriber" when no
	// subscription wanted it (it reached no one), else its state.
	"sent": func(d client.Delivery) string {
		if len(d.Targets) == 0 && d.State == "delivered" {
			return "no subscriber"
		}
		return d.State
	},
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"whenp": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"pct": func(n, of int) int {
		if of <= 0 {
			return 0
		}
		return min(100, n*100/of)
	},
	"field": func(v *view, name string) string { // a refused form's value
		if v.Form == nil {
			return ""
		}
		return v.Form.Get(name)
	},
}

// left says how long until t from now, in words ("2h 5m left", "ended").
func left(now, t time.Time) string {
	d := t.Sub(now)
	if d <= 0 {
		return "expired"
	}
	d = d.Round(time.Minute)
	if d < time.Minute {
		return "less than a minute left"
	}
	h, m := int(d.Hours()), int(d.Minutes())%60
	if h == 0 {
		return fmt.Sprintf("%dm left", m)
	}
	return fmt.Sprintf("%dh %dm left", h, m)
}

// clip cuts s to n runes, ending with an ellipsis when it was longer.
func clip(n int, s string) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return strings.TrimSpace(string(r[:n-1])) + "…"
}

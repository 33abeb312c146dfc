package webui

import (
	"fmt"
	"html/template"
	"strings"
	"time"
)

var funcs = template.FuncMap{
	"left": left,
	"join": strings.Join,
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

package webui

// Route is a route of the console as the tests see it: its pattern
// ("POST /ui/keys") and whether only admins may use it.
type Route struct {
	Pattern string
	Admin   bool
}

// Routes lists every route the console serves, from the table its router
// is built from: a test that goes through them misses no new form.
func (u *UI) Routes() []Route {
	var out []Route
	for _, rt := range u.table() {
		out = append(out, Route{Pattern: rt.pattern, Admin: rt.admin})
	}
	return out
}

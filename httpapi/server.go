// Package httpapi is OVM's HTTP edge: JSON over HTTP, bearer API keys with
// roles, the seed's GET /vend and the /v1 API of docs/api.md. It holds no
// business rules: it decodes, checks the caller's role, calls the store and
// the engine, and maps domain error codes to statuses in one table
// (errors.go). The request and answer types it encodes, and the Go client,
// are in package client, which imports no server; this package converts
// domain records to them (dto.go).
package httpapi

import (
	"context"
	_ "embed"
	"log/slog"
	"net/http"
	"path"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
)

// Config tunes the API. Zero fields take the documented defaults.
type Config struct {
	// DefaultPool is the pool GET /vend leases from (default "default").
	DefaultPool string
	// MaxBodyBytes caps request bodies (default 64 KiB).
	MaxBodyBytes int64
	// Observer, when set, is told of every request and vend (metrics).
	Observer Observer
	// Tokens, when set, verifies bearer tokens that are not API keys
	// (OIDC ID tokens; default: API keys only).
	Tokens TokenVerifier
}

// Observer is told what the API serves, for metrics. Its methods must be
// quick and never block.
type Observer interface {
	// Request reports one answered request: the route pattern that matched
	// ("" for none: never the path itself), the method as the client sent
	// it (at most MaxMethodBytes: any token, so an observer that labels
	// by method must map those it does not know to one value), the status
	// code and the duration.
	Request(route, method string, code int, d time.Duration)
	// Vend reports one vend of pool: its result (ok, empty, limit, error)
	// and how long it took, waiting included.
	Vend(pool, result string, d time.Duration)
}

type nopObserver struct{}

func (nopObserver) Request(string, string, int, time.Duration) {}
func (nopObserver) Vend(string, string, time.Duration)         {}

// WithDefaults returns c with every zero field set to its documented default.
func (c Config) WithDefaults() Config {
	if c.DefaultPool == "" {
		c.DefaultPool = "default"
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 64 << 10
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	return c
}

// Server serves the API.
type Server struct {
	store  ovm.Store
	engine *engine.Engine
	clock  ovm.Clock
	log    *slog.Logger
	cfg    Config
	mux    *http.ServeMux

	table map[string]map[string]method
}

// New returns a server over store and engine.
func New(store ovm.Store, eng *engine.Engine, clock ovm.Clock, log *slog.Logger, cfg Config) *Server {
	s := &Server{store: store, engine: eng, clock: clock, log: log, cfg: cfg.WithDefaults(), mux: http.NewServeMux()}
	s.routes()
	return s
}

// handler serves one method of one route for an authenticated principal.
type handler func(w http.ResponseWriter, r *http.Request, p *principal) error

// method is one method of a route and the role it needs ("" = no auth).
// A GET that changes state (the seed's /vend) is marked: HEAD is not
// answered by it.
type method struct {
	role     ovm.Role
	fn       handler
	mutating bool
}

// Route is one method of one route of the API and the role it needs
// ("" = none); Routes lists them for documentation and tests.
type Route struct {
	Pattern, Method string
	Role            ovm.Role
}

// Routes returns the API's routes, sorted.
func (s *Server) Routes() []Route {
	var out []Route
	for pattern, methods := range s.table {
		for m, h := range methods {
			out = append(out, Route{Pattern: pattern, Method: m, Role: h.role})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Pattern < out[j].Pattern || out[i].Pattern == out[j].Pattern && out[i].Method < out[j].Method
	})
	return out
}

func (s *Server) routes() {
	user, admin := ovm.RoleUser, ovm.RoleAdmin
	table := map[string]map[string]method{
		"/healthz":                                   {"GET": {"", s.healthz, false}},
		"/openapi.json":                              {"GET": {"", s.openAPI, false}},
		"/vend":                                      {"GET": {user, s.vend, true}, "POST": {user, s.vend, true}},
		"/v1/leases":                                 {"GET": {user, s.leaseList, false}, "POST": {user, s.leaseCreate, false}},
		"/v1/leases/{id}":                            {"GET": {user, s.leaseGet, false}, "PATCH": {user, s.leaseExtend, false}, "DELETE": {user, s.leaseEnd, false}},
		"/v1/leases/{id}/credentials":                {"POST": {user, s.leaseCredentials, false}},
		"/v1/leases/{id}/console":                    {"POST": {user, s.leaseConsole, false}},
		"/v1/leases/{id}/events":                     {"GET": {user, s.leaseEvents, false}},
		"/v1/leases/{id}/freeze":                     {"POST": {admin, s.leaseFreeze, false}},
		"/v1/leases/{id}/unfreeze":                   {"POST": {admin, s.leaseUnfreeze, false}},
		"/v1/pools":                                  {"GET": {user, s.poolList, false}},
		"/v1/pools/{name}":                           {"GET": {user, s.poolGet, false}},
		"/v1/templates":                              {"GET": {user, s.templateList, false}},
		"/v1/spend":                                  {"GET": {user, s.spendReport, false}},
		"/v1/templates/{name}":                       {"GET": {user, s.templateGet, false}},
		"/v1/pools/{name}/history":                   {"GET": {user, s.poolHistory, false}},
		"/v1/pools/{name}/demand":                    {"GET": {admin, s.poolDemand, false}},
		"/v1/accounts":                               {"GET": {admin, s.accountList, false}},
		"/v1/accounts/{id}":                          {"GET": {admin, s.accountGet, false}},
		"/v1/accounts/{id}/retry":                    {"POST": {admin, s.accountRetry, false}},
		"/v1/accounts/{id}/events":                   {"GET": {admin, s.accountEvents, false}},
		"/v1/accounts/{id}/retire":                   {"POST": {admin, s.accountRetire, false}},
		"/v1/accounts/{id}/input":                    {"POST": {admin, s.accountInput, false}},
		"/v1/accounts/{id}/evidence":                 {"GET": {admin, s.evidenceList, false}},
		"/v1/accounts/{id}/evidence/{record}/{file}": {"GET": {admin, s.evidenceFile, false}},
		"/v1/me":                                     {"GET": {user, s.me, false}},
		"/v1/phone/{number}/pin":                     {"GET": {admin, s.phonePIN, false}},
		"/v1/keys":                                   {"GET": {admin, s.keyList, false}, "POST": {admin, s.keyCreate, false}},
		"/v1/keys/{id}":                              {"DELETE": {admin, s.keyRevoke, false}},
		"/v1/deliveries":                             {"GET": {admin, s.deliveryList, false}},
		"/v1/deliveries/{id}":                        {"GET": {admin, s.deliveryGet, false}},
		"/v1/deliveries/{id}/retry":                  {"POST": {admin, s.deliveryRetry, false}},
	}
	s.table = table
	for path, methods := range table {
		s.mux.HandleFunc(path, s.dispatch(methods))
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, ovm.Errorf(ovm.ENotFound, "no route %s %s", r.Method, r.URL.Path))
	})
}

// dispatch picks the method, authenticates and authorises, and runs it.
func (s *Server) dispatch(methods map[string]method) http.HandlerFunc {
	var allow []string
	for m := range methods {
		allow = append(allow, m)
	}
	sort.Strings(allow)
	allowHeader := strings.Join(allow, ", ")
	return func(w http.ResponseWriter, r *http.Request) {
		m, ok := methods[r.Method]
		if !ok && r.Method == http.MethodHead {
			// HEAD is GET without the body: never for a GET that changes state.
			m, ok = methods[http.MethodGet]
			ok = ok && !m.mutating
		}
		if !ok {
			w.Header().Set("Allow", allowHeader)
			s.writeError(w, r, ovm.Errorf(ovm.EMethodNotAllowed, "method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allowHeader))
			return
		}
		var p *principal
		if m.role != "" {
			var err error
			if p, err = s.authenticate(r); err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="ovm"`)
				s.writeError(w, r, err)
				return
			}
			if m.role == ovm.RoleAdmin && p.Role != ovm.RoleAdmin {
				s.writeError(w, r, ovm.Errorf(ovm.EForbidden, "%s %s needs an admin key", r.Method, r.URL.Path))
				return
			}
			if holder, ok := r.Context().Value(principalKey{}).(*principal); ok {
				*holder = *p // for the request log
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		if err := m.fn(w, r, p); err != nil {
			s.writeError(w, r, err)
		}
	}
}

// Bounds of a request line. A request whose method or path is longer is
// refused with a 400 before it reaches a route, a metric or a log line
// whole: a caller without a key must not be able to grow the process's
// memory, its metrics or its logs with values of its own.
const (
	// MaxMethodBytes bounds the method (the longest standard one, OPTIONS
	// or CONNECT, has 7 bytes).
	MaxMethodBytes = 32
	// MaxPathBytes bounds the path, the query not counted.
	MaxPathBytes = 2048
	// logPathBytes is how much of a path a log line keeps.
	logPathBytes = 256
)

// absurd reports whether r's request line is beyond MaxMethodBytes or
// MaxPathBytes, and answers it (400, the values cut short in the log).
func (s *Server) absurd(w http.ResponseWriter, r *http.Request) bool {
	if len(r.Method) <= MaxMethodBytes && len(r.URL.Path) <= MaxPathBytes {
		return false
	}
	s.log.Info("http request refused: request line too long", "method", clip(r.Method, MaxMethodBytes),
		"method_bytes", len(r.Method), "path", clip(r.URL.Path, logPathBytes), "path_bytes", len(r.URL.Path))
	s.writeError(w, r, ovm.Errorf(ovm.EInvalid, "request line too long: the method may have %d bytes and the path %d",
		MaxMethodBytes, MaxPathBytes))
	return true
}

// Guard answers a request whose line is beyond MaxMethodBytes or
// MaxPathBytes with a 400 before next sees it, as ServeHTTP does for the
// API's own routes; cmd/ovm puts it in front of the web console too.
func (s *Server) Guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.absurd(w, r) {
			next.ServeHTTP(w, r)
		}
	})
}

// clip is s cut to at most n bytes (on a rune boundary) for a log line,
// marked when cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}

// ServeHTTP implements http.Handler with panic recovery, request logs and
// the request metric (Observer.Request). A request line beyond
// MaxMethodBytes or MaxPathBytes is refused first and reaches neither.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.absurd(w, r) {
		return
	}
	start := s.clock.Now()
	rw := &statusWriter{ResponseWriter: w}
	who := &principal{}
	r = r.WithContext(context.WithValue(r.Context(), principalKey{}, who))
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic serving request", "method", r.Method, "path", clip(r.URL.Path, logPathBytes), "panic", v, "stack", string(debug.Stack()))
			if rw.status == 0 {
				s.writeError(rw, r, ovm.Errorf(ovm.EInternal, "internal error"))
			}
		}
		level := slog.LevelDebug
		if r.Method != http.MethodGet && r.Method != http.MethodHead || rw.status >= 500 {
			level = slog.LevelInfo
		}
		took := s.clock.Now().Sub(start)
		_, route := s.mux.Handler(r)
		if route == "/" || !cleanPath(r.URL.Path) {
			route = "" // no route: never the raw path (unbounded labels)
		}
		s.cfg.Observer.Request(route, r.Method, rw.status, took)
		attrs := []any{"method", r.Method, "path", clip(r.URL.Path, logPathBytes), "status", rw.status, ovm.LogDuration, took}
		if who.KeyID != "" {
			attrs = append(attrs, ovm.LogKeyName, who.Name)
		}
		if who.Name != "" {
			attrs = append(attrs, "actor", who.actor())
		}
		s.log.Log(r.Context(), level, "http request", attrs...)
	}()
	if p := r.URL.Path; !cleanPath(p) {
		// ServeMux would answer a 307 redirect in HTML; paths with "..",
		// "//" or a trailing slash name no route.
		s.writeError(rw, r, ovm.Errorf(ovm.ENotFound, "no route %s %s", r.Method, p))
		return
	}
	s.mux.ServeHTTP(rw, r)
}

// cleanPath reports whether p names a route as given: absolute, without
// "..", "//" or a trailing slash.
func cleanPath(p string) bool {
	return p != "" && p[0] == '/' && (p == "/" || path.Clean(p) == p)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// OpenAPI is the API's contract, an OpenAPI 3 document (openapi.json),
// served at GET /openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request, _ *principal) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, err := w.Write(OpenAPI)
	return err
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request, _ *principal) error {
	if err := s.engine.Fenced(); err != nil {
		// A newer OVM writes the store: take this replica out of service.
		return writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "read-only", "reason": ovm.ErrorMessage(err)})
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/httpapi"
	"github.com/ovmdev/ovm/identity"
	"github.com/ovmdev/ovm/metrics"
	"github.com/ovmdev/ovm/provider"
	"github.com/ovmdev/ovm/store/dynamostore"
	"github.com/ovmdev/ovm/store/sqlitestore"
	"github.com/ovmdev/ovm/vault"
	"github.com/ovmdev/ovm/webui"
	"github.com/spf13/cobra"
)

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("%q must be debug, info, warn or error", s)
	}
	return l, nil
}

// serveOptions are the flags of `ovm serve`.
type serveOptions struct {
	config, listen, data string
}

func serveCommand(stdout, stderr io.Writer) *cobra.Command {
	var o serveOptions
	c := &cobra.Command{Use: "serve", Short: "run the API and the workers until SIGINT or SIGTERM", Args: exactArgs(),
		Long: `Runs the API, the web console (/ui/) and the workers until SIGINT or SIGTERM.

Without --config it runs the embedded default: SQLite and the simulated AWS in
./ovm-data (--data), listening on 127.0.0.1:8080 (--listen). On first start it
writes an admin API key to <data>/admin.key and prints its path.`,
		Example: `  ovm serve
  ovm serve --listen 127.0.0.1:8081 --data /tmp/ovm-data
  ovm serve --config /etc/ovm/ovm.yaml`,
		RunE: func(*cobra.Command, []string) error { return serve(o, stdout, stderr) }}
	c.Flags().StringVar(&o.config, "config", "", "YAML configuration file (default: the embedded default)")
	c.Flags().StringVar(&o.listen, "listen", "", "listen address, overrides the config's listen")
	c.Flags().StringVar(&o.data, "data", "", "data directory, overrides the config's data_dir")
	return c
}

// serve runs `ovm serve`: the API and the workers, until SIGINT or SIGTERM.
func serve(o serveOptions, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(o.config)
	if err != nil {
		return err
	}
	if o.listen != "" {
		if err := checkListen(o.listen); err != nil {
			return fmt.Errorf("--listen: %w", err)
		}
		cfg.Listen = o.listen
	}
	if o.data != "" {
		cfg.DataDir = o.data
	}
	level, _ := parseLevel(cfg.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	var log *slog.Logger
	if cfg.LogFormat == "json" {
		log = slog.New(slog.NewJSONHandler(stderr, opts))
	} else {
		log = slog.New(slog.NewTextHandler(stderr, opts))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	clock := ovm.SystemClock()
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	// Bind before the admin key is written: a port in use fails the start
	// with nothing left behind.
	ln, err := net.Listen("tcp", cfg.Listen)
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("listen %s: the address is already in use (another ovm serve?): stop it, or listen elsewhere with --listen 127.0.0.1:8081 (or the config's listen)", cfg.Listen)
	}
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	keyPath := filepath.Join(cfg.DataDir, "admin.key")
	fenced := error(nil)
	if f, ok := store.(ovm.Fencer); ok {
		if fenced = f.Fenced(); fenced != nil {
			// A newer OVM writes the table (a rolling upgrade): serve reads,
			// write nothing, and say so (docs/upgrades.md).
			fmt.Fprintf(stderr, "ovm: read-only: %s\n", ovm.ErrorMessage(fenced))
			log.Warn("serving read-only: a newer OVM writes the store", ovm.LogError, fenced)
		}
	}
	usable := false
	if fenced == nil { // a read-only replica writes no key: the newer ones have it
		if usable, err = ensureAdminKey(ctx, store, keyPath, clock.Now(), log); err != nil {
			return fmt.Errorf("admin key: %w", err)
		}
	}
	if usable { // the file holds an active admin key
		fmt.Fprintf(stdout, "admin API key: %s\n", keyPath)
	}

	var (
		pools    []engine.Pool
		shutdown []func()
	)
	defer func() {
		for _, fn := range shutdown {
			fn()
		}
	}()
	var (
		awsOnce  sync.Once
		awsCfg   aws.Config
		awsErr   error
		vaultCfg vault.Vault
	)
	env := provider.Env{Settings: cfg.providerSettings(),
		DataDir: cfg.DataDir, Store: store, Clock: clock,
		AWS: func(ctx context.Context) (aws.Config, error) {
			awsOnce.Do(func() { awsCfg, awsErr = loadAWSConfig(ctx, cfg.AWS) })
			return awsCfg, awsErr
		},
		Vault: func(ctx context.Context) (vault.Vault, error) {
			if vaultCfg == nil {
				v, _, err := openVault(ctx, cfg)
				if err != nil {
					return nil, err
				}
				vaultCfg = v
			}
			return vaultCfg, nil
		},
		OnShutdown: func(fn func()) { shutdown = append(shutdown, fn) },
	}
	for _, pc := range cfg.Pools {
		env.Pool, env.Log = pc.Policy(), log.With(ovm.LogPool, pc.Name)
		prov, err := pc.Kind.New(ctx, env)
		if err != nil {
			return fmt.Errorf("pool %s: %w", pc.Name, err)
		}
		pools = append(pools, engine.Pool{Policy: pc.Policy(), Provider: prov})
	}
	notify, err := notifyConfig(ctx, cfg, env)
	if err != nil {
		return err
	}
	met := metrics.New(log, metrics.Config{Version: version})
	ec := cfg.engineConfig()
	ec.CrashPoint, ec.Observer, ec.Notify = crashPointFromEnv(log), met, notify
	if ec.Spend, err = spendConfig(ctx, cfg, env, clock); err != nil {
		return err
	}
	ec.Spend.Observer = met
	ec.BudgetObserver = met
	eng, err := engine.New(store, pools, clock, log, ec)
	if err != nil {
		return err
	}
	met.Watch(eng)
	var tokens httpapi.TokenVerifier
	if len(cfg.Auth.OIDC) > 0 {
		if tokens, err = identity.New(cfg.Auth, clock, log); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	api := httpapi.New(store, eng, clock, log, httpapi.Config{DefaultPool: cfg.API.DefaultPool,
		MaxBodyBytes: cfg.API.MaxBodyBytes, Observer: met, Tokens: tokens})
	var metricsSrv *http.Server
	if cfg.Metrics.Listen != "" {
		mln, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			return fmt.Errorf("metrics.listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", met.Handler())
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: maxHeaderBytes,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		go metricsSrv.Serve(mln)
		fmt.Fprintf(stdout, "ovm metrics on http://%s/metrics\n", mln.Addr())
	}

	var handler http.Handler = api
	if !cfg.UI.Disabled {
		uc := webui.Config{SessionTTL: cfg.UI.SessionTTL, DefaultPool: cfg.API.DefaultPool, PublicURL: cfg.UI.PublicURL,
			ListenAddr: ln.Addr().String(), AdminKeyFile: keyPath}
		for i, ic := range cfg.Auth.OIDC {
			if ic.Console == nil {
				continue
			}
			is := webui.Issuer{Name: ic.Console.Name, URL: ic.Issuer, ClientID: ic.Audience, Scopes: ic.Console.Scopes}
			if is.Name == "" {
				if u, err := url.Parse(ic.Issuer); err == nil {
					is.Name = u.Host
				}
			}
			if ic.Console.ClientSecret != "" {
				if is.ClientSecret, err = vaultSecret(ctx, env, fmt.Sprintf("auth.oidc[%d].console.client_secret", i), ic.Console.ClientSecret); err != nil {
					return err
				}
			}
			uc.Issuers = append(uc.Issuers, is)
		}
		ui, err := webui.New(api, clock, log, uc)
		if err != nil {
			return fmt.Errorf("ui: %w", err)
		}
		handler = webui.Mount(api, ui)
	}
	// The request line and headers fit in maxHeaderBytes (net/http answers
	// 431 beyond, before any handler), and a method or path beyond the
	// API's bounds is a 400 before the console or the API sees it.
	srv := &http.Server{Handler: api.Guard(handler), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: eng.Config().Vend.MaxWait + 30*time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: maxHeaderBytes,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	eng.Start()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "ovm listening on http://%s (data in %s, %d pool(s))\n", ln.Addr(), cfg.DataDir, len(pools))
	if !cfg.UI.Disabled {
		fmt.Fprintf(stdout, "ovm console on http://%s/ui/\n", ln.Addr())
	}
	log.Info("ovm serving", "listen", ln.Addr().String(), "data_dir", cfg.DataDir)

	select {
	case <-ctx.Done():
		log.Info("shutting down: finishing requests and steps in flight")
	case err := <-serveErr:
		log.Error("http server stopped", ovm.LogError, err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	eng.Drain() // vends waiting for stock answer 503 now
	errHTTP := srv.Shutdown(shutdownCtx)
	if metricsSrv != nil {
		metricsSrv.Close()
	}
	// The engine gets its own time: a slow HTTP shutdown must not make it
	// skip handing its leader leases back.
	engineCtx, cancelEngine := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancelEngine()
	errEngine := eng.Stop(engineCtx)
	if err := errors.Join(errHTTP, errEngine); err != nil {
		log.Warn("shutdown incomplete", ovm.LogError, err)
		return err
	}
	log.Info("shutdown complete")
	return nil
}

// maxHeaderBytes bounds a request's line and headers on the API's and the
// metrics' ports (net/http's default is 1 MiB). An OIDC ID token or the
// console's cookie takes a few KiB.
const maxHeaderBytes = 64 << 10

// vaultSecret reads the vault entry that ref ("secret:NAME") names; key
// names the config key in errors, which never hold the value.
func vaultSecret(ctx context.Context, env provider.Env, key, ref string) (string, error) {
	v, err := env.Vault(ctx)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	return vault.Resolve(ctx, v, key, ref)
}

// openStore opens the configured store: SQLite in the data directory, or
// the DynamoDB table shared by replicas.
func openStore(ctx context.Context, cfg *Config) (ovm.Store, error) {
	if cfg.Store == "dynamodb" {
		ac, err := loadAWSConfig(ctx, cfg.AWS)
		if err != nil {
			return nil, err
		}
		return dynamostore.Open(ctx, dynamodb.NewFromConfig(ac), dynamostore.Options{Table: cfg.DynamoDB.Table, CreateTable: cfg.DynamoDB.CreateTable})
	}
	return sqlitestore.Open(ctx, filepath.Join(cfg.DataDir, "ovm.db"))
}

// loadAWSConfig is the AWS configuration of the `aws:` block: the default
// credential chain (environment, shared files, instance role), the region,
// and one endpoint for every service when set (moto in tests).
func loadAWSConfig(ctx context.Context, c AWSConfig) (aws.Config, error) {
	ac, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(c.Region))
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws: %w", err)
	}
	if c.Endpoint != "" {
		ac.BaseEndpoint = aws.String(c.Endpoint)
	}
	return ac, nil
}

// crashPointFromEnv is a test hook: OVM_TEST_CRASH_POINT names an engine
// crash point (e.g. runner.after-call:creating) and OVM_TEST_CRASH_AFTER
// the hit that kills the process with SIGKILL (default 1). Unset, it
// does nothing.
func crashPointFromEnv(log *slog.Logger) func(string) {
	point := os.Getenv("OVM_TEST_CRASH_POINT")
	if point == "" {
		return nil
	}
	after, _ := strconv.Atoi(os.Getenv("OVM_TEST_CRASH_AFTER"))
	after = max(after, 1)
	var hits atomic.Int64
	log.Warn("test crash point armed", "point", point, "after", after)
	return func(p string) {
		if p == point && hits.Add(1) == int64(after) {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // never returns: the process is gone
		}
	}
}

// Command samtal is the samtal messaging server and its administration
// tool.
//
//	samtal [serve] [flags]          start the server (no config needed)
//	samtal config check FILE        report every mistake in a config file
//	samtal check [DOMAIN]           check DNS, certificates and ports
//	samtal user add|passwd|remove|list ...
//	samtal invite create [--domain D] [--ttl 7d]
//	samtal storage migrate [--from STORE] [--to STORE]
//	samtal storage backup --to DIR
//	samtal version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"samtal.org/samtal/internal/config"
	"samtal.org/samtal/internal/server"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage: samtal <command> [arguments]

commands:
  serve [flags]                  start the server (the default command)
  config check FILE              check a configuration file and list every mistake
  check [DOMAIN...]              check what clients and servers will find: DNS
                                 records, certificates, reachable ports
  user add JID                   create an account (password from standard input)
  user passwd JID                change an account's password
  user remove JID                remove an account and everything it stored
  user list [DOMAIN]             list accounts
  invite create [--domain D] [--ttl 7d]
                                 make an invitation to register (XEP-0401)
  cluster status                 list the live nodes of the cluster and their
                                 sessions
  storage migrate [--from STORE] [--to STORE]
                                 copy a whole store (sqlite:PATH, postgres://...)
                                 into an empty one, e.g. SQLite into PostgreSQL
  storage backup --to DIR        write a checked copy of the server's data
                                 (SQLite snapshot, secrets, uploads) into a new
                                 directory, while the server runs
  version                        print the version

Run "samtal serve -h" for the server's flags.
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return serve(args, stdout, stderr)
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "config":
		return configCmd(args[1:], stdout, stderr)
	case "user":
		return userCmd(args[1:], stdin, stdout, stderr)
	case "invite":
		return inviteCmd(args[1:], stdout, stderr)
	case "check":
		return checkCmd(args[1:], stdout, stderr)
	case "cluster":
		return clusterCmd(args[1:], stdout, stderr)
	case "storage":
		return storageCmd(args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "samtal", server.Version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "samtal: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// commonFlags are the flags that locate and override the configuration;
// every command that touches the server's data takes them.
type commonFlags struct {
	configFile string
	o          config.Overrides
	c2s, tls   stringList
	web        stringList
	plain      bool
}

func (c *commonFlags) register(fs *flag.FlagSet, serverFlags bool) {
	fs.StringVar(&c.configFile, "config", "", "configuration `file` (TOML)")
	fs.StringVar(&c.o.DataDir, "data-dir", "", "data `directory` (default ./samtal-data)")
	fs.StringVar(&c.o.Domain, "domain", "", "serve this one `domain` instead of the configured hosts")
	if !serverFlags {
		return
	}
	fs.StringVar(&c.o.Registration, "registration", "", "in-band registration `policy`: closed, invite or open")
	fs.StringVar(&c.o.LogLevel, "log-level", "", "log `level`: debug, info, warn or error")
	fs.Var(&c.c2s, "c2s", "client listener `address` with STARTTLS (repeatable)")
	fs.Var(&c.tls, "c2s-tls", "client listener `address` with direct TLS (repeatable)")
	fs.Var(&c.web, "web", "web (HTTPS: WebSocket, BOSH, upload, web client) listener `address` (repeatable)")
	fs.StringVar(&c.o.Admin, "admin", "", "admin (metrics) listener `address`")
	fs.BoolVar(&c.plain, "allow-plaintext", false, "allow clients without TLS on loopback listeners (development only)")
}

// newFlagSet returns the flag set of the subcommand name, its errors and
// usage going to stderr, with the common flags registered on c.
func (c *commonFlags) newFlagSet(name string, serverFlags bool, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.register(fs, serverFlags)
	return fs
}

// config returns the configuration as load does, once fs is parsed. An
// invalid one is reported on stderr, and ok is false: the subcommand
// exits with 1.
func (c *commonFlags) config(fs *flag.FlagSet, stderr io.Writer) (cfg config.Config, ok bool) {
	cfg, err := c.load(fs)
	if err != nil {
		fmt.Fprintf(stderr, "samtal: invalid configuration: %v\n", err)
		return cfg, false
	}
	return cfg, true
}

// load returns the configuration: defaults, the file, then the flags.
func (c *commonFlags) load(fs *flag.FlagSet) (config.Config, error) {
	cfg := config.Default()
	if c.configFile != "" {
		var err error
		if cfg, err = config.Load(c.configFile); err != nil {
			return cfg, err
		}
	}
	c.o.C2S, c.o.C2STLS, c.o.WebHTTPS = c.c2s, c.tls, c.web
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "allow-plaintext" {
			c.o.AllowPlaintext = &c.plain
		}
	})
	c.o.Apply(&cfg)
	return cfg, cfg.Validate()
}

type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

func serve(args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	fs := c.newFlagSet("samtal serve", true, stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, ok := c.config(fs, stderr)
	if !ok {
		return 1
	}
	log := server.NewLogger(cfg.LogLevel, stderr)
	// A client that closes its socket right after its closing tag makes
	// the server's last write (TLS close_notify) meet a closed connection;
	// the kernel then signals SIGPIPE, which Go catches and discards, once
	// per such login. Ignored, the write just fails. A closed standard
	// error no longer stops the server either: it goes on serving.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := server.Start(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "samtal: %v\n", err)
		return 1
	}
	hosts := make([]string, len(cfg.Hosts))
	for i, h := range cfg.Hosts {
		hosts[i] = h.Domain
	}
	fmt.Fprintf(stdout, "samtal %s serving %s\n", server.Version, strings.Join(hosts, ", "))
	for _, a := range srv.Addrs() {
		fmt.Fprintf(stdout, "  %s\n", a)
	}
	fmt.Fprintf(stdout, "data in %s\n", cfg.DataDir)
	// The account command must find the same store and hosts.
	dataFlag := ""
	if c.configFile != "" {
		dataFlag += " --config " + c.configFile
	}
	if c.o.DataDir != "" {
		dataFlag += " --data-dir " + c.o.DataDir
	}
	if c.o.Domain != "" {
		dataFlag += " --domain " + c.o.Domain
	}
	fmt.Fprintf(stdout, "create the first account with:  samtal user add%s admin@%s\n", dataFlag, hosts[0])
	<-ctx.Done()
	stop()
	fmt.Fprintln(stdout, "samtal: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	return 0
}

// checkCmd checks the DNS records, certificates and ports of the hosts,
// before users notice what is wrong. It exits 1 when it found problems.
func checkCmd(args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	fs := c.newFlagSet("samtal check", false, stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, ok := c.config(fs, stderr)
	if !ok {
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if server.Check(ctx, cfg, fs.Args(), stdout) > 0 {
		return 1
	}
	return 0
}

func configCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 || args[0] != "check" {
		fmt.Fprint(stderr, "usage: samtal config check FILE\n")
		return 2
	}
	cfg, err := config.Load(args[1])
	if err == nil {
		err = cfg.Validate()
	}
	var ps *config.Problems
	switch {
	case err == nil:
		fmt.Fprintf(stdout, "%s: ok\n", args[1])
		return 0
	case errors.As(err, &ps):
		for _, p := range *ps {
			fmt.Fprintln(stdout, p.String())
		}
		fmt.Fprintf(stdout, "%d problem(s)\n", len(*ps))
	default:
		fmt.Fprintf(stdout, "%s: %v\n", args[1], err)
	}
	return 1
}

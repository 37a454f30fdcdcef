// Command samtal-bench is a load generator for any XMPP server: it speaks
// real XMPP (STARTTLS, SCRAM, resource binding), creates its accounts by
// in-band registration or uses existing ones, and runs bounded scenarios
// that measure throughput, latency, logins, memory per session, group
// chat fan-out and archive queries. See BENCHMARKS.md.
//
//	samtal-bench SCENARIO [flags]
//
// Scenarios: register, msg, login, idle, muc, mam, table. Every scenario
// stops by itself; -timeout bounds the whole run.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"samtal.org/samtal/internal/bench"
)

func usage() {
	fmt.Fprint(os.Stderr, `usage: samtal-bench SCENARIO [flags]

scenarios:
  register  create accounts by in-band registration (-n)
  msg       1:1 messages at saturation (-rate 0) or at a fixed offered rate
  login     full logins per second (-parallel 1 is sequential)
  idle      hold -n authenticated TLS sessions; server memory per session
  muc       group chat fan-out (XEP-0045)
  mam       archive queries (XEP-0313) under 1:1 message load
  table     read result lines (JSON) on standard input, print a comparison

run "samtal-bench SCENARIO -h" for the flags.
`)
}

// generatorGCPercent is the generator's GOGC in the scenarios that
// measure rates. With the default 100, its live heap of a few MiB (a few
// dozen connections) made it collect for every few dozen logins: at 16
// logins in flight the background sweeper, the mark workers and their
// scheduling took about a tenth of the generator's CPU, on the cores it
// shares with the server it measures. At 400, alternating runs against
// one samtal (four pairs) took 350–397 µs of generator CPU per login
// instead of 373–434 and logged in about 6% more per second; 1600 did
// no better.
const generatorGCPercent = 400

// lighterGC sets generatorGCPercent unless GOGC is in the environment.
// The idle scenario holds thousands of sessions per process, and there
// the heap, not the generator's CPU, is what must stay small.
func lighterGC(scenario string) {
	if scenario == "idle" || os.Getenv("GOGC") != "" {
		return
	}
	debug.SetGCPercent(generatorGCPercent)
}

func main() {
	if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") {
		usage()
		os.Exit(2)
	}
	scenario := os.Args[1]
	if scenario == "table" {
		if err := table(os.Stdin, os.Stdout, os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "samtal-bench:", err)
			os.Exit(1)
		}
		return
	}
	fs := flag.NewFlagSet(scenario, flag.ExitOnError)
	var (
		addr     = fs.String("addr", "127.0.0.1:5222", "the server's STARTTLS client listener")
		servers  = fs.String("servers", "", "several servers' STARTTLS client listeners, comma-separated (the nodes of a cluster), instead of -addr: connections go to each in turn")
		place    = fs.String("placement", "cross", "msg with -servers: cross puts each pair's receiver on the next server after its sender's, same puts both on one server; the pairs go round the servers")
		domain   = fs.String("domain", "localhost", "the XMPP domain")
		mech     = fs.String("mech", "", "SASL mechanism (SCRAM-SHA-1, SCRAM-SHA-256, PLAIN); empty: the best offered")
		sasl2    = fs.Bool("sasl2", false, "log in with SASL2 and Bind 2 (XEP-0388, XEP-0386) where the server offers them, RFC 6120 SASL and bind elsewhere")
		ca       = fs.String("ca", "", "PEM certificate to verify the server with; empty: do not verify")
		sources  = fs.String("sources", "", "local source addresses, e.g. 127.0.0.2-127.0.0.9 or a comma list")
		users    = fs.String("users", "bench%d", "account name pattern, with one %d")
		password = fs.String("password", "bench-password", "password of every account")
		register = fs.Bool("register", false, "create the accounts first by in-band registration (existing ones are fine)")
		pid      = fs.String("pid", "", "the server's process ID, to read its CPU time and memory; with -servers, every node's, comma-separated, summed")
		auxPID   = fs.String("aux-pid", "", "processes the server depends on (a database, a cluster's message bus), comma-separated: their CPU time is reported apart")
		label    = fs.String("label", "server", "the server's name in results")
		asJSON   = fs.Bool("json", false, "print the result as one JSON line")
		timeout  = fs.Duration("timeout", 10*time.Minute, "bound on the whole run")
		setupPar = fs.Int("setup-parallel", 16, "connections opened at once while setting up")
		quiet    = fs.Bool("q", false, "no progress on standard error")

		n        = fs.Int("n", 1000, "register/idle: accounts or sessions")
		from     = fs.Int("from", 0, "first account index")
		duration = fs.Duration("duration", 10*time.Second, "measured time")
		pairs    = fs.Int("pairs", 20, "msg: sender/receiver pairs")
		rate     = fs.Float64("rate", 0, "msg: offered messages/s in all; 0: saturation")
		windows  = fs.String("window", "4,32", "msg, muc: messages in flight per sender at saturation; msg runs once per comma-separated value and keeps the best")
		body     = fs.Int("body", 64, "msg: body bytes")
		name     = fs.String("name", "", "msg, login, idle, muc: scenario name in the result")
		par      = fs.Int("parallel", 1, "login: logins at once")
		accounts = fs.Int("accounts", 50, "login: accounts logged in in turn")
		hold     = fs.Duration("hold", 0, "idle: how long to hold the sessions once up")
		settle   = fs.Duration("settle", 5*time.Second, "idle: wait before each reading of the server's memory")
		procs    = fs.Int("procs", 1, "idle: spread the sessions over this many processes")
		presence = fs.Bool("presence", true, "idle: send initial presence")
		child    = fs.Bool("child", false, "idle: run as a child holding sessions until standard input closes")
		perAcct  = fs.Int("per-account", 1, "idle: sessions (resources) per account")
		first    = fs.Int("first", 0, "idle child: the account index of session 0")
		occ      = fs.Int("occupants", 50, "muc: occupants")
		senders  = fs.Int("senders", 2, "muc: senders among the occupants")
		service  = fs.String("service", "", "muc: group chat service domain (default conference.DOMAIN)")
		room     = fs.String("room", "benchroom", "muc: room name")
		queriers = fs.Int("queriers", 8, "mam: accounts querying in parallel")
		stored   = fs.Int("stored", 200, "mam: messages in each archive")
		bgRate   = fs.Float64("bg-rate", 1000, "mam: background 1:1 messages/s")
		cpuProf  = fs.String("cpuprofile", "", "write the generator's own CPU profile to this file")
	)
	_ = fs.Parse(os.Args[2:])
	lighterGC(scenario)
	if *cpuProf != "" {
		// The generator shares the machine with the server: where its
		// time goes says what a run measures of the generator itself.
		f, err := os.Create(*cpuProf)
		if err != nil {
			fmt.Fprintln(os.Stderr, "samtal-bench: -cpuprofile:", err)
			os.Exit(2)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "samtal-bench: -cpuprofile:", err)
			os.Exit(2)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	srcs, err := parseSources(*sources)
	if err != nil {
		fmt.Fprintln(os.Stderr, "samtal-bench:", err)
		os.Exit(2)
	}
	addrs, err := serverList(fs, *addr, *servers)
	if err != nil {
		fmt.Fprintln(os.Stderr, "samtal-bench:", err)
		os.Exit(2)
	}
	pids, err := pidList(*pid)
	if err != nil {
		fmt.Fprintln(os.Stderr, "samtal-bench: -pid:", err)
		os.Exit(2)
	}
	auxPIDs, err := pidList(*auxPID)
	if err != nil {
		fmt.Fprintln(os.Stderr, "samtal-bench: -aux-pid:", err)
		os.Exit(2)
	}
	placement, err := bench.ParsePlacement(*place)
	if err != nil {
		fmt.Fprintln(os.Stderr, "samtal-bench: -placement:", err)
		os.Exit(2)
	}
	env := &bench.Env{
		Users:    *users,
		Password: *password,
		Register: *register,
		PIDs:     pids,
		AuxPIDs:  auxPIDs,
		Label:    *label,
		Parallel: *setupPar,
	}
	for _, a := range addrs {
		env.Targets = append(env.Targets, &bench.Target{Addr: a, Domain: *domain, Mechanism: *mech, CAFile: *ca, Sources: srcs, SASL2: *sasl2})
	}
	if !*quiet {
		env.Log = os.Stderr
	}

	var r *bench.Result
	switch scenario {
	case "register":
		env.Register = true
		t0 := time.Now()
		if err := env.Provision(ctx, *from, *from+*n); err != nil {
			fmt.Fprintln(os.Stderr, "samtal-bench:", err)
			os.Exit(1)
		}
		env.Log = os.Stderr
		env.Register = false
		fmt.Fprintf(os.Stderr, "registered %d accounts in %v\n", *n, time.Since(t0).Round(time.Millisecond))
		return
	case "msg":
		ws, err := intList(*windows)
		if err != nil {
			fmt.Fprintln(os.Stderr, "samtal-bench: -window:", err)
			os.Exit(2)
		}
		if *rate > 0 {
			ws = ws[:1]
		}
		for _, w := range ws {
			res := env.Messages(ctx, bench.MsgOptions{Pairs: *pairs, Rate: *rate, Window: w, Duration: *duration, Body: *body, Name: *name, Placement: placement})
			if len(ws) > 1 && !*quiet {
				fmt.Fprintln(os.Stderr, res.String())
			}
			if r == nil || res.Skipped == "" && res.Metrics["msgs_per_s"] > r.Metrics["msgs_per_s"] {
				r = res
			}
		}
	case "login":
		r = env.Logins(ctx, bench.LoginOptions{Parallel: *par, Accounts: *accounts, Duration: *duration, Name: *name})
	case "idle":
		if *child {
			env.First = *first
			os.Exit(runChild(ctx, env, *from, *from+*n, *perAcct, *presence))
		}
		args := childArgs(os.Args[2:])
		r = env.Idle(ctx, bench.IdleOptions{
			Sessions: *n, From: *from, Hold: *hold, Settle: *settle, Presence: *presence, Procs: *procs, PerAccount: *perAcct, Name: *name,
			Child: func(f, t int) *exec.Cmd {
				self, _ := os.Executable()
				a := append([]string{"idle"}, args...)
				a = append(a, "-child", "-q", "-register=false", "-first", strconv.Itoa(*from), "-from", strconv.Itoa(f), "-n", strconv.Itoa(t-f))
				return exec.CommandContext(ctx, self, a...)
			},
		})
	case "muc":
		ws, err := intList(*windows)
		if err != nil {
			fmt.Fprintln(os.Stderr, "samtal-bench: -window:", err)
			os.Exit(2)
		}
		r = env.MUC(ctx, bench.MUCOptions{Service: *service, Room: *room, Occupants: *occ, Senders: *senders, Window: ws[0], From: *from, Duration: *duration, Name: *name})
	case "mam":
		r = env.MAM(ctx, bench.MAMOptions{Queriers: *queriers, Stored: *stored, From: *from, Duration: *duration, BackgroundRate: *bgRate, BackgroundPairs: 4})
	default:
		usage()
		os.Exit(2)
	}
	// This machine may be shared: say how busy it was.
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				r.Metrics["machine_load_1m"] = v
			}
		}
	}
	if *asJSON {
		fmt.Println(r.JSON())
	} else {
		fmt.Println(r.String())
	}
}

// childArgs drops the flags a child gets its own values for.
func childArgs(args []string) []string {
	var out []string
	skipNext := false
	for _, a := range args {
		if skipNext {
			skipNext = false
			continue
		}
		k := strings.TrimLeft(a, "-")
		k, _, hasValue := strings.Cut(k, "=")
		switch k {
		case "from", "n", "procs", "json", "pid", "aux-pid", "first":
			if !hasValue && k != "json" {
				skipNext = true
			}
			continue
		}
		out = append(out, a)
	}
	return out
}

// runChild holds sessions until standard input closes.
func runChild(ctx context.Context, env *bench.Env, from, to, perAccount int, presence bool) int {
	conns, err := env.Hold(ctx, from, to, perAccount, presence)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("ready", len(conns))
	_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
	for _, c := range conns {
		c.Close()
	}
	return 0
}

// serverList returns the servers to connect to: -servers if given (and
// then -addr must not be), else -addr.
func serverList(fs *flag.FlagSet, addr, servers string) ([]string, error) {
	if servers == "" {
		return []string{addr}, nil
	}
	addrSet := false
	fs.Visit(func(f *flag.Flag) { addrSet = addrSet || f.Name == "addr" })
	if addrSet {
		return nil, fmt.Errorf("-addr and -servers: give one")
	}
	var out []string
	for _, a := range strings.Split(servers, ",") {
		a = strings.TrimSpace(a)
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("-servers: %w", err)
		}
		out = append(out, a)
	}
	return out, nil
}

// pidList reads "", "123" or "123,456".
func pidList(s string) ([]int, error) {
	if s = strings.TrimSpace(s); s == "" || s == "0" {
		return nil, nil // not measured, as -pid 0 always meant
	}
	return intList(s)
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad number %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseSources reads "127.0.0.2-127.0.0.9" or "127.0.0.2,127.0.0.3".
func parseSources(s string) ([]net.IP, error) {
	if s == "" {
		return nil, nil
	}
	var out []net.IP
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a := net.ParseIP(lo).To4()
		if a == nil {
			return nil, fmt.Errorf("bad source address %q", lo)
		}
		if !isRange {
			out = append(out, a)
			continue
		}
		b := net.ParseIP(hi).To4()
		if b == nil || b[0] != a[0] || b[1] != a[1] || b[2] != a[2] || b[3] < a[3] {
			return nil, fmt.Errorf("bad source range %q", part)
		}
		for i := int(a[3]); i <= int(b[3]); i++ {
			out = append(out, net.IPv4(a[0], a[1], a[2], byte(i)).To4())
		}
	}
	for _, ip := range out {
		if !ip.IsLoopback() {
			return nil, fmt.Errorf("source %s is not a loopback address", ip)
		}
	}
	return out, nil
}

// row is one line of the comparison table: a metric of a scenario.
type row struct {
	scenario, metric, title string
	// over, when set, makes the row a server's median of the metric in
	// scenario divided by its median in scenario over: how one measure
	// of a server compares with another of the same server.
	over string
	// paired makes an over row the median of each round's ratio: the
	// i-th result in scenario over the i-th in over, rounds that ran
	// side by side (compare.sh's burst beside its control).
	paired bool
}

var rows = []row{
	{"msg-saturate", "msgs_per_s", "1:1 messages/s at saturation", "", false},
	{"msg-saturate", "server_cpu_us_per_msg", "server CPU µs per delivered message", "", false},
	{"msg-saturate", "server_user_us_per_msg", "… of which the server's own code (user time)", "", false},
	{"msg-saturate", "server_sys_us_per_msg", "… of which the kernel working for it (system time)", "", false},
	{"msg-saturate", "gen_cpu_us_per_msg", "load generator CPU µs per delivered message", "", false},
	{"msg-saturate", "aux_cpu_us_per_msg", "CPU µs per delivered message of the processes beside the server (-aux-pid)", "", false},
	{"msg-saturate", "lost", "messages lost (saturation)", "", false},
	{"msg-pinned", "msgs_per_s", "1:1 messages/s at saturation, server and generator on a core each", "", false},
	{"msg-pinned", "server_cpu_us_per_msg", "server CPU µs per delivered message (a core each)", "", false},
	{"msg-pinned", "server_user_us_per_msg", "… of which the server's own code (a core each)", "", false},
	{"msg-pinned", "server_sys_us_per_msg", "… of which the kernel working for it (a core each)", "", false},
	{"msg-pinned", "gen_cpu_us_per_msg", "load generator CPU µs per delivered message (a core each)", "", false},
	{"msg-pinned", "lost", "messages lost (a core each)", "", false},
	{"msg-rate", "msgs_per_s", "messages/s delivered at the fixed rate", "", false},
	{"msg-rate", "p50_us", "latency p50 at the fixed rate (µs)", "", false},
	{"msg-rate", "p99_us", "latency p99 at the fixed rate (µs)", "", false},
	{"msg-rate", "p999_us", "latency p99.9 at the fixed rate (µs)", "", false},
	{"msg-rate", "lost", "messages lost (fixed rate)", "", false},
	{"msg-rate", "server_cpu_us_per_msg", "server CPU µs per message (fixed rate)", "", false},
	{"msg-rate", "aux_cpu_us_per_msg", "CPU µs per message of the processes beside the server (fixed rate)", "", false},
	{"idle", "kib_per_session", "KiB per idle authenticated TLS session", "", false},
	{"login-sequential", "logins_per_s", "logins/s, sequential", "", false},
	{"login-parallel", "logins_per_s", "logins/s, parallel", "", false},
	{"login-parallel", "server_cpu_us_per_login", "server CPU µs per login (parallel)", "", false},
	{"login-parallel", "gen_cpu_us_per_login", "load generator CPU µs per login (parallel)", "", false},
	{"login-sasl2", "logins_per_s", "logins/s, parallel, SASL2 and Bind 2 where offered (as Conversations and Monal log in)", "", false},
	{"login-sasl2", "sasl2_share", "… share of those logins by SASL2 and Bind 2", "", false},
	{"login-sasl2", "server_cpu_us_per_login", "server CPU µs per login (SASL2 where offered)", "", false},
	{"login-sasl2", "gen_cpu_us_per_login", "load generator CPU µs per login (SASL2 where offered)", "", false},
	{"login-pinned", "logins_per_s", "logins/s, parallel, server and generator on a core each", "", false},
	{"login-pinned", "server_cpu_us_per_login", "server CPU µs per login (a core each)", "", false},
	{"login-pinned", "gen_cpu_us_per_login", "load generator CPU µs per login (a core each)", "", false},
	{"msg-before-burst", "msgs_per_s", "1:1 messages/s before a burst of sessions (same process as after)", "", false},
	{"msg-after-burst", "msgs_per_s", "1:1 messages/s after a burst of sessions", "", false},
	{"msg-after-burst-control", "msgs_per_s", "1:1 messages/s meanwhile, in turns, in a process that took no burst", "", false},
	{"msg-after-burst", "msgs_per_s", "messages/s after the burst / the untouched process's (median of the rounds)", "msg-after-burst-control", true},
	{"msg-before-burst", "msgs_per_s", "messages/s before the burst / the other process's (two alike)", "msg-before-burst-control", true},
	{"msg-after-burst", "server_cpu_us_per_msg", "server CPU per message after the burst / the untouched process's", "msg-after-burst-control", true},
	{"msg-after-burst", "msgs_per_s", "messages/s after the burst / before it (one process, minutes apart)", "msg-before-burst", false},
	{"msg-after-burst", "lost", "messages lost (after the burst)", "", false},
	{"muc", "stanzas_per_s", "group chat stanzas delivered/s, 50 occupants", "", false},
	{"muc", "server_cpu_us_per_stanza", "server CPU µs per group chat stanza delivered, 50 occupants", "", false},
	{"muc", "lost", "group chat stanzas lost, 50 occupants", "", false},
	{"muc-1000", "stanzas_per_s", "group chat stanzas delivered/s, 1,000 occupants", "", false},
	{"muc-1000", "server_cpu_us_per_stanza", "server CPU µs per group chat stanza delivered, 1,000 occupants", "", false},
	{"muc-1000", "lost", "group chat stanzas lost, 1,000 occupants", "", false},
	{"msg-archive", "msgs_per_s", "1:1 messages/s at saturation, message archive on", "", false},
	{"msg-archive", "server_cpu_us_per_msg", "server CPU µs per delivered message, message archive on", "", false},
	{"msg-archive", "lost", "messages lost (archive on)", "", false},
	{"mam", "queries_per_s", "archive queries/s under load", "", false},
	{"mam", "p99_us", "archive query p99 (µs)", "", false},
	{"mam", "background_msgs_per_s", "background messages/s delivered during the archive queries (1,000 offered)", "", false},
	{"msg-saturate", "machine_load_1m", "machine load average during saturation", "", false},
	{"idle", "machine_load_1m", "machine load average during the idle test", "", false},
}

// table reads result lines and prints one Markdown table with a column
// per server and the ratio of the first server to each other one (or,
// with -ratio each, of each other one to the first).
func table(in io.Reader, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("table", flag.ExitOnError)
	order := fs.String("order", "samtal,prosody,ejabberd,bound", "servers, in column order; the first is compared with the others")
	ratio := fs.String("ratio", "first", "first: the first server's value over each other's; each: each other's over the first's")
	_ = fs.Parse(args)
	if *ratio != "first" && *ratio != "each" {
		return fmt.Errorf("table: -ratio %q is neither first nor each", *ratio)
	}
	eachOverFirst := *ratio == "each"
	servers := strings.Split(*order, ",")
	// scenario -> server -> its results: a scenario run several times
	// (compare.sh REPEAT) shows the median of each metric.
	res := map[string]map[string][]*bench.Result{}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var r bench.Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return fmt.Errorf("bad result line: %w", err)
		}
		if res[r.Scenario] == nil {
			res[r.Scenario] = map[string][]*bench.Result{}
		}
		res[r.Scenario][r.Server] = append(res[r.Scenario][r.Server], &r)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	head := "| measure |"
	sep := "|---|"
	for _, s := range servers {
		head += " " + s + " |"
		sep += "---:|"
	}
	for _, s := range servers[1:] {
		if eachOverFirst {
			head += " " + s + "/" + servers[0] + " |"
		} else {
			head += " " + servers[0] + "/" + s + " |"
		}
		sep += "---:|"
	}
	fmt.Fprintln(out, head)
	fmt.Fprintln(out, sep)
	for _, rw := range rows {
		byServer := res[rw.scenario]
		if byServer == nil {
			continue
		}
		line := "| " + rw.title + " |"
		vals := make([]float64, len(servers))
		have := make([]bool, len(servers))
		shown := false // a value or an n/a: else the row says nothing
		for i, s := range servers {
			rs := byServer[s]
			v, ok := median(rs, rw.metric)
			switch {
			case rw.over != "" && rw.paired:
				v, ok = medianRatio(rs, res[rw.over][s], rw.metric)
			case rw.over != "":
				d, dok := median(res[rw.over][s], rw.metric)
				v, ok = v/d, ok && dok && d != 0
			}
			switch {
			case ok:
				vals[i], have[i], shown = v, true, true
				line += " " + format(v) + " |"
			case skipped(rs) != nil:
				line += " n/a |"
				shown = true
			default:
				line += " – |"
			}
		}
		for i := 1; i < len(servers); i++ {
			switch {
			case eachOverFirst && have[0] && have[i] && vals[0] != 0:
				line += fmt.Sprintf(" %.2f |", vals[i]/vals[0])
			case !eachOverFirst && have[0] && have[i] && vals[i] != 0:
				line += fmt.Sprintf(" %.2f |", vals[0]/vals[i])
			default:
				line += " – |"
			}
		}
		if shown {
			fmt.Fprintln(out, line)
		}
	}
	// Why a scenario did not run, so that an n/a is explained.
	for _, rw := range rows {
		for _, s := range servers {
			if r := skipped(res[rw.scenario][s]); r != nil && rw.metric == firstMetric(rw.scenario) && rw.over == "" {
				fmt.Fprintf(out, "\n%s on %s: not run: %s", rw.scenario, s, r.Skipped)
			}
		}
	}
	fmt.Fprintln(out)
	return nil
}

// median returns the median of metric over the results that ran and
// have it (the mean of the middle two for an even count).
func median(rs []*bench.Result, metric string) (float64, bool) {
	var vs []float64
	for _, r := range rs {
		if v, ok := r.Metrics[metric]; ok && r.Skipped == "" {
			vs = append(vs, v)
		}
	}
	return medianOf(vs)
}

// medianOf returns the median of vs, which it sorts (the mean of the
// middle two for an even count).
func medianOf(vs []float64) (float64, bool) {
	if len(vs) == 0 {
		return 0, false
	}
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2], true
	}
	return (vs[n/2-1] + vs[n/2]) / 2, true
}

// medianRatio returns the median over the rounds of the i-th result's
// metric in rs over the i-th's in over, for the rounds where both ran.
func medianRatio(rs, over []*bench.Result, metric string) (float64, bool) {
	var ratios []float64
	for i := range min(len(rs), len(over)) {
		v, ok := rs[i].Metrics[metric]
		d, dok := over[i].Metrics[metric]
		if ok && dok && d != 0 && rs[i].Skipped == "" && over[i].Skipped == "" {
			ratios = append(ratios, v/d)
		}
	}
	return medianOf(ratios)
}

// skipped returns a result that says why the scenario did not run, when
// none of rs ran.
func skipped(rs []*bench.Result) *bench.Result {
	for _, r := range rs {
		if r.Skipped == "" {
			return nil
		}
	}
	if len(rs) == 0 {
		return nil
	}
	return rs[0]
}

func firstMetric(scenario string) string {
	for _, rw := range rows {
		if rw.scenario == scenario {
			return rw.metric
		}
	}
	return ""
}

func format(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

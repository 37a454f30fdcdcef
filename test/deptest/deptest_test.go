// Package deptest checks the import tiers of docs/ARCHITECTURE.md with
// `go list`, as tailscale's deptest does: a package imports only packages
// of lower tiers (tier 0 also its own tier), features never import each
// other, and the pure tier 0 depends on nothing but the standard library
// and golang.org/x/text.
package deptest

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "samtal.org/samtal/"

// tiers is docs/ARCHITECTURE.md's list. A new package must be added here,
// so that its place is a decision.
var tiers = map[string]int{
	// Tier 0: pure, no I/O, no goroutines.
	"internal/xmlel":      0,
	"internal/xmlstream":  0,
	"internal/jid":        0,
	"internal/stanza":     0,
	"internal/stream":     0,
	"internal/sasl":       0,
	"internal/rsm":        0,
	"internal/dataform":   0,
	"internal/nodeconfig": 0,
	"internal/archive":    0,
	"internal/ircmsg":     0,
	// Tier 1: shared services.
	"internal/storage":                 1,
	"internal/storage/sqlite":          1,
	"internal/storage/postgres":        1,
	"internal/storage/postgres/pgtest": 1,
	"internal/storage/migrate":         1,
	"internal/storage/storagetest":     1,
	"internal/storage/sqlutil":         1,
	"internal/transport":               1,
	"internal/durable":                 1,
	"internal/listener":                1,
	"internal/router":                  1,
	"internal/iq":                      1,
	"internal/metrics":                 1,
	"internal/certs":                   1,
	"internal/caps":                    1,
	"internal/xmpptest":                1,
	"internal/conntest":                1,
	"internal/disco":                   1,
	"internal/adhoc":                   1,
	"internal/dns":                     1,
	"internal/dns/dnstest":             1,
	"internal/cluster/natstest":        1,
	"internal/bench":                   1,
	// Tier 2: features.
	"internal/c2s":         2,
	"internal/component":   2,
	"internal/im":          2,
	"internal/ping":        2,
	"internal/private":     2,
	"internal/register":    2,
	"internal/vcard":       2,
	"internal/version":     2,
	"internal/pep":         2,
	"internal/pubsub":      2,
	"internal/mam":         2,
	"internal/carbons":     2,
	"internal/abuse":       2,
	"internal/push":        2,
	"internal/admin":       2,
	"internal/s2s":         2,
	"internal/turn":        2,
	"internal/bytestreams": 2,
	"internal/muc":         2,
	"internal/web":         2,
	"internal/upload":      2,
	"internal/webclient":   2,
	"internal/cluster":     2,
	"internal/ircgw":       2,
	// Tier 3: wiring.
	"internal/config":   3,
	"internal/server":   3,
	"internal/userdata": 3,
	"cmd/samtal":        4,
	"cmd/samtal-bench":  4,
	"cmd/xmpp-bound":    4,
}

// tier0Forbidden is what tier 0 may not import from the standard library: it
// does no I/O of its own.
var tier0Forbidden = []string{"os", "os/exec", "os/signal", "net", "net/http", "database/sql", "log", "log/slog", "syscall", "unsafe", "plugin"}

// sameTier lists the tiers whose packages may import each other: not
// the features.
var sameTier = map[int]bool{0: true, 1: true, 3: true}

func goCmd(t *testing.T) string {
	p, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not on the PATH: %v", err)
	}
	return p
}

// list runs go list with a template, one line per package.
func list(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command(goCmd(t), append([]string{"list"}, args...)...)
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %q: %v\n%s", args, err, stderr.String())
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if sc.Text() != "" {
			lines = append(lines, sc.Text())
		}
	}
	return lines
}

func TestTiers(t *testing.T) {
	lines := list(t, "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./internal/...", "./cmd/...")
	seen := map[string]bool{}
	for _, line := range lines {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		seen[pkg] = true
		tier, ok := tiers[pkg]
		if !ok {
			t.Errorf("%s has no tier: add it to docs/ARCHITECTURE.md and to this test", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module) {
				if tier == 0 {
					for _, f := range tier0Forbidden {
						if imp == f {
							t.Errorf("tier-0 %s imports %s: tier 0 does no I/O", pkg, imp)
						}
					}
				}
				continue
			}
			dep := strings.TrimPrefix(imp, module)
			dt, ok := tiers[dep]
			switch {
			case !ok:
				// Reported when the package itself is listed.
			case dt > tier:
				t.Errorf("%s (tier %d) imports %s (tier %d): a higher tier", pkg, tier, dep, dt)
			case dt == tier && !sameTier[tier]:
				t.Errorf("%s imports %s: tier-%d packages never import each other (features talk through the router, the iq mux and hooks)", pkg, dep, tier)
			case (dep == "internal/storage/sqlite" || dep == "internal/storage/postgres") && tier < 3:
				t.Errorf("%s imports a storage backend: only the wiring chooses a backend; use the storage interfaces", pkg)
			}
		}
	}
	for pkg := range tiers {
		if !seen[pkg] {
			t.Errorf("%s is in the tier list but not in the module", pkg)
		}
	}
}

// Tier 0 depends, all the way down, only on the standard library, other
// tier-0 packages and golang.org/x/text.
func TestTier0Deps(t *testing.T) {
	var pkgs []string
	for p, tier := range tiers {
		if tier == 0 {
			pkgs = append(pkgs, "./"+p)
		}
	}
	for _, line := range list(t, append([]string{"-deps", "-f", "{{.ImportPath}} {{.Standard}}"}, pkgs...)...) {
		path, std, _ := strings.Cut(line, " ")
		switch {
		case std == "true":
		case strings.HasPrefix(path, "golang.org/x/text/"):
		case strings.HasPrefix(path, module) && tiers[strings.TrimPrefix(path, module)] == 0:
		default:
			t.Errorf("tier 0 depends on %s", path)
		}
	}
}

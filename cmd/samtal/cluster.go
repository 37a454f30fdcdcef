package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"samtal.org/samtal/internal/cluster"
)

// clusterCmd runs `samtal cluster status`: every live node of the
// cluster of the configuration answers with its counts.
func clusterCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "status" {
		fmt.Fprint(stderr, "usage: samtal cluster status [flags]\n")
		return 2
	}
	var c commonFlags
	fs := c.newFlagSet("samtal cluster status", false, stderr)
	wait := fs.Duration("wait", time.Second, "how long to wait for the nodes' answers")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	cfg, ok := c.config(fs, stderr)
	if !ok {
		return 1
	}
	if !cfg.Cluster.Enabled() {
		fmt.Fprint(stderr, "samtal: not a cluster: [cluster] nats_url is not set\n")
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), *wait+10*time.Second)
	defer cancel()
	nodes, err := cluster.Query(ctx, cfg.Cluster.NATSURL, *wait)
	if err != nil {
		fmt.Fprintf(stderr, "samtal: %v\n", err)
		return 1
	}
	if len(nodes) == 0 {
		fmt.Fprint(stderr, "samtal: no node answered\n")
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSESSIONS\tROOMS\tPEERS\tUPTIME")
	total := 0
	for _, n := range nodes {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", n.Node, n.Sessions, n.Rooms, n.Peers, n.Uptime)
		total += n.Sessions
	}
	tw.Flush()
	fmt.Fprintf(stdout, "%d node(s), %d session(s)\n", len(nodes), total)
	return 0
}

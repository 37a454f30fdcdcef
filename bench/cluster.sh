#!/usr/bin/env bash
# Measures one-to-one message throughput through one samtal node and
# through a cluster of nodes (three by default) with samtal-bench, and
# prints one table with each cluster placement's ratio to the one node.
# See BENCHMARKS.md ("Cluster: one node against three").
#
#   bench/cluster.sh                 # about 2 minutes
#   DURATION=5s PAIRS=20 bench/cluster.sh
#
# Phases, each on a fresh database of one PostgreSQL server, with the
# message archive on unless ARCHIVE=false (so every message is archived
# for its sender and for its receiver):
#   1-node   one node, not in cluster mode;
#   N-cross  N nodes on one NATS server, each pair's receiver on the node
#            after its sender's: every message crosses nodes;
#   N-same   the same N nodes, each pair's two sessions on one node: the
#            nodes share the store and NATS, no message crosses.
# In each: register the accounts, messages at saturation (-window), then
# at a fixed total rate (RATE).
#
# Knobs (environment): NODES (3), DURATION (each measured phase, 10s),
# PAIRS (30), WINDOW (messages in flight per pair at saturation; each
# comma-separated value is run and the best kept, 16), RATE (fixed
# offered rate, msgs/s in all, 300), ARCHIVE (true), PG_DURABLE
# (PostgreSQL's fsync and synchronous_commit, off), SOURCES (generator
# source addresses, 127.0.0.2-127.0.0.9), PHASES ("one cross same"),
# TIMEOUT (bound on the whole run, 30m), OUT (the results directory).
#
# PostgreSQL is Debian's (scripts/deps.sh installs it), in a temporary
# directory, on a unix socket only; as root it runs as nobody, since it
# refuses root. NATS is the nats-server of the version samtal's module
# requires, built with go build (the tests run the same one
# in-process); Debian's is too old for the session directory's bucket
# settings. Everything listens on loopback or a private socket, runs as
# a child of this script, and is stopped by its PID when the script
# ends; the results, configurations and logs stay in OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
. bench/lib.sh

NODES=${NODES:-3}
DURATION=${DURATION:-10s}
PAIRS=${PAIRS:-30}
WINDOW=${WINDOW:-16}
RATE=${RATE:-300}
ARCHIVE=${ARCHIVE:-true}
PG_DURABLE=${PG_DURABLE:-off}
SOURCES=${SOURCES:-127.0.0.2-127.0.0.9}
PHASES=${PHASES:-"one cross same"}
TIMEOUT=${TIMEOUT:-30m}
ITER=4096
OUT=${OUT:-$ROOT/bench/results/$(date +%Y%m%d-%H%M%S)-cluster}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RESULTS=$OUT/results.jsonl
: >"$RESULTS"

log() { echo "== $(date +%H:%M:%S) $*" | tee -a "$OUT/run.log" >&2; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# --- processes this script started, stopped by PID ---------------------
PGDIR=""
PG_PID=""
NATS_PID=""
NODE_PIDS=()
WATCHDOG=""

stop_pid() { # pid [signal]
	local pid=$1 sig=${2:-TERM}
	[ -n "$pid" ] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	kill "-$sig" "$pid" 2>/dev/null || true
	for _ in $(seq 1 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

stop_nodes() {
	local p
	for p in "${NODE_PIDS[@]}"; do
		stop_pid "$p"
	done
	NODE_PIDS=()
	stop_pid "$NATS_PID"
	NATS_PID=""
}

cleanup() {
	stop_nodes
	# SIGINT: PostgreSQL's fast shutdown, which ends its sessions.
	stop_pid "$PG_PID" INT
	PG_PID=""
	if [ -n "$PGDIR" ]; then
		cp "$PGDIR/postgres.log" "$OUT/postgres.log" 2>/dev/null || true
		rm -rf "$PGDIR"
		PGDIR=""
	fi
	if [ -n "$WATCHDOG" ]; then
		kill "$WATCHDOG" 2>/dev/null || true
		wait "$WATCHDOG" 2>/dev/null || true
		WATCHDOG=""
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The whole run is bounded: the watchdog ends this script, whose EXIT
# trap stops everything it started.
(
	sleep "$TIMEOUT" &
	s=$!
	trap 'kill $s; exit 0' TERM
	wait $s && echo "cluster.sh: $TIMEOUT passed, stopping" >&2 && kill -TERM $$
) &
WATCHDOG=$!

# metric prints the sum of a metric's value over admin endpoints.
metric() { # name admin...
	local name=$1 sum=0 v a
	shift
	for a in "$@"; do
		v=$(curl -s --max-time 5 "http://$a/metrics" | awk -v n="$name" '$1 == n { print $2 }')
		sum=$(awk -v s="$sum" -v v="${v:-0}" 'BEGIN { print s + v }')
	done
	echo "$sum"
}

# --- tools -----------------------------------------------------------
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/postgres" ]; then
	echo "PostgreSQL is not installed: run scripts/deps.sh" >&2
	exit 1
fi
log "building samtal, samtal-bench, nats-server"
BIN=$OUT/bin
mkdir -p "$BIN"
go build -o "$BIN/samtal" ./cmd/samtal
go build -o "$BIN/samtal-bench" ./cmd/samtal-bench
go build -o "$BIN/nats-server" github.com/nats-io/nats-server/v2

# One certificate for every node, as a cluster's nodes share the domain's.
CERT=$OUT/cert.pem
KEY=$OUT/key.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$KEY" -out "$CERT" \
	-days 7 -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,DNS:conference.localhost" 2>/dev/null
chmod 644 "$KEY" "$CERT"

# --- PostgreSQL --------------------------------------------------------
# A short path: the unix socket's path must fit in about 100 bytes.
PGDIR=$(mktemp -d /tmp/samtal-bench-pg.XXXXXX)
AS=()
if [ "$(id -u)" -eq 0 ]; then
	chown nobody "$PGDIR"
	AS=(setpriv --reuid="$(id -u nobody)" --regid="$(id -g nobody)" --clear-groups --)
fi
log "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') in $PGDIR (fsync $PG_DURABLE)"
(cd "$PGDIR" && "${AS[@]}" "$PGBIN/initdb" -D "$PGDIR/data" -U postgres -A trust -E UTF8 --locale=C \
	--no-sync --no-instructions >>"$PGDIR/postgres.log" 2>&1)
(cd "$PGDIR" && exec "${AS[@]}" "$PGBIN/postgres" -D "$PGDIR/data" -k "$PGDIR" -p 5432 \
	-c listen_addresses= -c "fsync=$PG_DURABLE" -c "synchronous_commit=$PG_DURABLE" \
	-c "full_page_writes=$PG_DURABLE" -c max_connections=300 -c log_min_messages=warning \
	>>"$PGDIR/postgres.log" 2>&1) &
PG_PID=$!
for i in $(seq 1 600); do
	"$PGBIN/pg_isready" -q -h "$PGDIR" -U postgres && break
	if ! kill -0 "$PG_PID" 2>/dev/null || [ "$i" = 600 ]; then
		echo "PostgreSQL did not start:" >&2
		tail -20 "$PGDIR/postgres.log" >&2
		exit 1
	fi
	sleep 0.1
done

# --- one phase -----------------------------------------------------------
# start_nodes N DB CLUSTER starts N nodes on database DB, in cluster mode
# on a fresh NATS server when CLUSTER is 1; it sets NODE_PIDS, C2S (the
# comma-separated client listeners) and ADMINS.
start_nodes() {
	local n=$1 db=$2 clustered=$3 dir=$OUT/$4 i port aport url
	"$PGBIN/createdb" -h "$PGDIR" -U postgres -T template0 -E UTF8 --locale=C "$db"
	url="postgres:///$db?host=$PGDIR&user=postgres"
	local nats=""
	if [ "$clustered" = 1 ]; then
		local nport
		nport=$(free_port)
		mkdir -p "$dir/nats"
		"$BIN/nats-server" -a 127.0.0.1 -p "$nport" -js -sd "$dir/nats" >>"$dir/nats/log" 2>&1 &
		NATS_PID=$!
		wait_port "$nport" "$NATS_PID" "$dir/nats/log"
		nats="nats://127.0.0.1:$nport"
	fi
	C2S=""
	ADMINS=()
	for i in $(seq 1 "$n"); do
		port=$(free_port)
		aport=$(free_port)
		mkdir -p "$dir/n$i"
		cat >"$dir/n$i/samtal.toml" <<EOF
data_dir = "$dir/n$i/data"
registration = "open"
scram_iterations = $ITER
log_level = "warn"
storage = "$url"
[listen]
c2s = ["127.0.0.1:$port"]
c2s_tls = []
admin = "127.0.0.1:$aport"
[[host]]
domain = "localhost"
cert = "$CERT"
key = "$KEY"
$(samtal_limits)
[archive]
enabled = $ARCHIVE
[muc]
domain = "conference.{host}"
[web]
https = []
http = []
[upload]
enabled = false
[turn]
enabled = false
[bytestreams]
enabled = false
EOF
		if [ -n "$nats" ]; then
			printf '[cluster]\nnats_url = "%s"\nnode = "n%d"\n' "$nats" "$i" >>"$dir/n$i/samtal.toml"
		fi
		"$BIN/samtal" serve --config "$dir/n$i/samtal.toml" >>"$dir/n$i/log" 2>&1 &
		NODE_PIDS+=($!)
		wait_port "$port" "$!" "$dir/n$i/log"
		C2S=${C2S:+$C2S,}127.0.0.1:$port
		ADMINS+=("127.0.0.1:$aport")
	done
	if [ -n "$nats" ]; then
		# Every node must see every other before the clients come.
		for _ in $(seq 1 300); do
			[ "$(metric samtal_cluster_nodes "${ADMINS[@]}")" = $((n * n)) ] && return 0
			sleep 0.1
		done
		echo "the nodes did not see each other in 30 s" >&2
		return 1
	fi
}

bench() { # label placement scenario args...
	local label=$1 placement=$2 scenario=$3
	shift 3
	local aux=$PG_PID
	[ -n "$NATS_PID" ] && aux=$aux,$NATS_PID
	log "$label: $scenario $* (load $(loadavg))"
	"$BIN/samtal-bench" "$scenario" -servers "$C2S" -placement "$placement" -domain localhost -ca "$CERT" \
		-sources "$SOURCES" -label "$label" -pid "$(IFS=,; echo "${NODE_PIDS[*]}")" -aux-pid "$aux" \
		-timeout 5m -json -q "$@" | tee -a "$RESULTS"
}

run_phase() {
	local phase=$1 n=$NODES clustered=1 placement=$1 label
	case $phase in
	one) n=1 clustered=0 placement=cross label=1-node ;;
	cross | same) label=$NODES-$phase ;;
	*)
		echo "unknown phase $phase" >&2
		exit 2
		;;
	esac
	log "$label: starting $n node(s) (load $(loadavg))"
	start_nodes "$n" "samtal_$phase" "$clustered" "$label"
	"$BIN/samtal-bench" register -servers "$C2S" -domain localhost -ca "$CERT" -sources "$SOURCES" \
		-n $((2 * PAIRS)) -setup-parallel 8 -timeout 5m -q
	local fwd0
	fwd0=$(metric 'samtal_cluster_forwarded_total{kind="deliver"}' "${ADMINS[@]}")
	bench "$label" "$placement" msg -pairs "$PAIRS" -window "$WINDOW" -duration "$DURATION"
	bench "$label" "$placement" msg -pairs "$PAIRS" -rate "$RATE" -duration "$DURATION"
	local fwd1
	fwd1=$(metric 'samtal_cluster_forwarded_total{kind="deliver"}' "${ADMINS[@]}")
	echo "$label $(awk -v a="$fwd0" -v b="$fwd1" 'BEGIN { print b - a }')" >>"$OUT/forwarded.txt"
	log "$label: done (load $(loadavg))"
	stop_nodes
}

: >"$OUT/forwarded.txt"
ORDER=()
for phase in $PHASES; do
	run_phase "$phase"
	case $phase in
	one) ORDER+=(1-node) ;;
	*) ORDER+=("$NODES-$phase") ;;
	esac
done

{
	echo "# samtal cluster benchmark, $(date -u +%Y-%m-%dT%H:%MZ), samtal $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo
	echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r); load average at the end $(loadavg)"
	echo "settings: $NODES nodes, duration $DURATION, pairs $PAIRS, window $WINDOW, rate $RATE/s, archive $([ "$ARCHIVE" = true ] && echo on || echo off), PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') (fsync $PG_DURABLE), NATS $("$BIN/nats-server" --version | awk '{print $2}')"
	echo "server CPU: summed over the nodes; beside the server: PostgreSQL (and NATS for the cluster)"
	echo
	"$BIN/samtal-bench" table -ratio each -order "$(IFS=,; echo "${ORDER[*]}")" <"$RESULTS"
	echo
	echo "messages forwarded between nodes (samtal_cluster_forwarded_total{kind=\"deliver\"}, both msg runs):"
	sed 's/^/    /' "$OUT/forwarded.txt"
} | tee "$OUT/table.md"
echo "results in $OUT" >&2

#!/usr/bin/env bash
# Runs the same samtal-bench scenarios against samtal, Prosody, ejabberd
# and the xmpp-bound router on loopback, with equivalent settings, and
# prints one table with samtal's ratios. The messages at saturation,
# the fixed-rate latency and the logins are measured with every server
# up, taking turns; the other scenarios one server after the other.
# See BENCHMARKS.md for what each number means.
#
#   bench/compare.sh                     # everything, about 70 minutes
#   SERVERS="samtal bound" bench/compare.sh
#
# Knobs (environment): SERVERS, DURATION (each measured phase, 10s),
# IDLE (idle sessions, 10000), IDLE_PROCS (generator processes, 2),
# RATE (fixed offered rate, msgs/s, 5000), PAIRS (20), WINDOW (messages
# in flight per pair at saturation; each value is run and the best kept,
# 4,32), PER_ACCOUNT (idle sessions per account, 10: registering
# accounts is slow on some servers),
# REPEAT (how many times each scenario but idle runs, 1; the table shows
# each metric's median: single runs on a shared machine vary by a third),
# SCENARIOS (which groups run, of: msg idle rate login muc archive; all
# by default, e.g. SCENARIOS=login to measure logins alone),
# SOURCES (generator source addresses, 127.0.0.2-127.0.0.9), OUT (the
# results directory), PROFILE=1 (samtal serves its runtime profiles on
# an admin port, and a CPU profile of each of its scenarios is kept in
# OUT/samtal/cpu-SCENARIO.pprof: `go tool pprof -top BIN/samtal FILE`).
#
# Every server runs as a child of this script with its own configuration
# and data under OUT, on loopback ports that were free; none is the
# system service. Everything stops by itself; Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
. bench/lib.sh

SERVERS=${SERVERS:-"samtal prosody ejabberd bound"}
DURATION=${DURATION:-10s}
IDLE=${IDLE:-10000}
IDLE_PROCS=${IDLE_PROCS:-2}
RATE=${RATE:-5000}
PAIRS=${PAIRS:-20}
WINDOW=${WINDOW:-4,32}
PER_ACCOUNT=${PER_ACCOUNT:-10}
SOURCES=${SOURCES:-127.0.0.2-127.0.0.9}
PROFILE=${PROFILE:-0}
SCENARIOS=${SCENARIOS:-"msg idle rate login muc archive"}
REPEAT=${REPEAT:-1}
ITER=4096 # SCRAM iterations, the same on every server
OUT=${OUT:-$ROOT/bench/results/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
# Absolute paths: servers run from their own directories.
OUT=$(cd "$OUT" && pwd)

log() { echo "== $*" >&2; }
# want says whether a group of scenarios is to run.
want() { [[ " $SCENARIOS " == *" $1 "* ]]; }
# repeat runs bench REPEAT times; the table takes the median.
repeat() {
	local i
	for ((i = 0; i < REPEAT; i++)); do
		bench "$@"
	done
}
# PIN_SERVER and PIN_GEN prefix the server's and the generator's command
# (taskset) in the scenario that gives each its own core.
PIN_SERVER=()
PIN_GEN=()

# --- tools -----------------------------------------------------------
need_pkgs=()
[[ " $SERVERS " == *" prosody "* ]] && ! command -v prosody >/dev/null && need_pkgs+=(prosody)
[[ " $SERVERS " == *" ejabberd "* ]] && ! command -v ejabberdctl >/dev/null && need_pkgs+=(ejabberd)
[[ " $SERVERS " == *" ejabberd "* ]] && ! dpkg -s erlang-p1-sqlite3 >/dev/null 2>&1 && need_pkgs+=(erlang-p1-sqlite3)
if ((${#need_pkgs[@]})); then
	log "installing ${need_pkgs[*]} (the system services are not started)"
	SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
	# policy-rc.d answering 101 keeps the packages from starting their
	# services, which would listen on every interface.
	made_policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
		$SUDO chmod +x /usr/sbin/policy-rc.d
		made_policy=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
	[ -n "$made_policy" ] && $SUDO rm -f /usr/sbin/policy-rc.d
fi

log "building samtal, samtal-bench, xmpp-bound"
BIN=$OUT/bin
mkdir -p "$BIN"
go build -o "$BIN/samtal" ./cmd/samtal
go build -o "$BIN/samtal-bench" ./cmd/samtal-bench
go build -o "$BIN/xmpp-bound" ./cmd/xmpp-bound

# One self-signed certificate (ECDSA P-256) for every server.
CERT=$OUT/cert.pem
KEY=$OUT/key.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$KEY" -out "$CERT" \
	-days 7 -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,DNS:conference.localhost" 2>/dev/null
chmod 644 "$KEY" "$CERT"

SERVER_PID=""
stop_server() {
	if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$SERVER_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	SERVER_PID=""
}
trap stop_server EXIT
trap 'stop_server; exit 130' INT TERM

# --- servers ---------------------------------------------------------
# Each start_X writes its configuration under $OUT/X and starts it in the
# background, setting SERVER_PID and PORT. The first start of a run
# makes a fresh data directory; restarts keep it. With INST set, the
# server runs from $OUT/X$INST instead: a second process of the same
# server beside the first. MAM=1 turns every
# server's message archive (XEP-0313) on: only for the mam scenario, so
# that the 1:1 scenarios compare routing, not archive writes. Group chat
# is always on.
MAM=0
INST=""

start_samtal() {
	local dir=$OUT/samtal$INST
	mkdir -p "$dir"
	[ -n "${PORT:-}" ] || PORT=$(free_port)
	local admin=""
	if [ "$PROFILE" = 1 ] && [ -z "$INST" ]; then
		[ -n "${ADMIN_PORT:-}" ] || ADMIN_PORT=$(free_port)
		admin="127.0.0.1:$ADMIN_PORT"
	fi
	cat >"$dir/samtal.toml" <<EOF
data_dir = "$dir/data"
registration = "open"
scram_iterations = $ITER
log_level = "warn"
[listen]
c2s = ["127.0.0.1:$PORT"]
c2s_tls = []
admin = "$admin"
admin_profiling = $([ -n "$admin" ] && echo true || echo false)
[[host]]
domain = "localhost"
cert = "$CERT"
key = "$KEY"
$(samtal_limits)
[archive]
# Like the peers': on only for the mam scenario.
enabled = $([ "$MAM" = 1 ] && echo true || echo false)
[muc]
domain = "conference.{host}"
# As ejabberd's max_users below: rooms of 1,000 are measured.
default_occupants = 1000
# Nothing else listens: no web server, relay or proxy.
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
	"${PIN_SERVER[@]}" "$BIN/samtal" serve --config "$dir/samtal.toml" >>"$dir/log" 2>&1 &
	SERVER_PID=$!
	wait_port "$PORT" "$SERVER_PID" "$dir/log"
}

start_prosody() {
	local dir=$OUT/prosody$INST
	mkdir -p "$dir/data"
	[ -n "${PORT:-}" ] || PORT=$(free_port)
	cat >"$dir/prosody.cfg.lua" <<EOF
run_as_root = true
daemonize = false
pidfile = "$dir/prosody.pid"
data_path = "$dir/data"
log = { warn = "$dir/prosody.log" }
plugin_paths = {}
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { $PORT }
c2s_direct_tls_ports = {}
s2s_ports = {}
component_ports = {}
http_ports = {}
https_ports = {}
network_settings = { nagle = false }
c2s_require_encryption = true
allow_registration = true
default_iteration_count = $ITER
authentication = "internal_hashed"
-- Prosody's default storage: with SQLite (lua-dbi-sqlite3) its 1:1
-- routing cost grew with the number of accounts (400 us of CPU per
-- message with 2000 accounts), for reasons outside this comparison.
storage = "internal"
archive_expires_after = "1w"
default_archive_policy = true
certificates = nil
ssl = { certificate = "$CERT"; key = "$KEY" }
modules_enabled = {
	"roster"; "saslauth"; "tls"; "disco"; "carbons"; "pep"; "private";
	"blocklist"; "vcard"; "version"; "uptime"; "time"; "ping"; "register";
	"offline"; $([ "$MAM" = 1 ] && echo '"mam";')
}
modules_disabled = { "s2s" }
VirtualHost "localhost"
	ssl = { certificate = "$CERT"; key = "$KEY" }
Component "conference.localhost" "muc"
	restrict_room_creation = false
	max_history_messages = 20
EOF
	"${PIN_SERVER[@]}" prosody --config "$dir/prosody.cfg.lua" -F >>"$dir/log" 2>&1 &
	SERVER_PID=$!
	wait_port "$PORT" "$SERVER_PID" "$dir/log"
}

start_ejabberd() {
	local dir=$OUT/ejabberd$INST
	mkdir -p "$dir/mnesia" "$dir/logs"
	[ -n "${PORT:-}" ] || PORT=$(free_port)
	cat >"$dir/ejabberd.yml" <<EOF
hosts:
  - localhost
loglevel: warning
certfiles:
  - $CERT
  - $KEY
# The archive in SQLite, as ejabberd recommends (and as samtal stores).
sql_type: sqlite
sql_database: "$dir/ejabberd.db"
auth_password_format: scram
auth_scram_hash: sha
registration_timeout: infinity
listen:
  -
    port: $PORT
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls_required: true
    max_stanza_size: 262144
    shaper: none
    access: c2s
    backlog: 1024
max_fsm_queue: 100000
shaper:
  normal: 100000000
  fast: 100000000
acl:
  local:
    user_regexp: ""
  loopback:
    ip:
      - 127.0.0.0/8
access_rules:
  local:
    allow: local
  c2s:
    allow: all
  register:
    allow: all
  muc_create:
    allow: all
shaper_rules:
  max_user_sessions: 100
  max_user_offline_messages: 5000
  c2s_shaper: none
modules:
  mod_disco: {}
  mod_roster: {}
  mod_carboncopy: {}
  mod_privacy: {}
  mod_blocking: {}
  mod_ping: {}
  mod_private: {}
  mod_vcard: {}
  mod_version: {}
  mod_offline: {}
  mod_pubsub:
    plugins: ["flat", "pep"]
  mod_stream_mgmt: {}
  mod_caps: {}
  mod_register:
    ip_access: all
    access: register
$([ "$MAM" = 1 ] && printf '  mod_mam:\n    db_type: sql\n    default: always\n')
  mod_muc:
    host: "conference.localhost"
    access_create: muc_create
    history_size: 20
    max_users: 1000
    max_user_conferences: 100
    default_room_options:
      max_users: 1000
EOF
	# +sbwt none: the Erlang schedulers do not spin while waiting for
	# work, so that ejabberd's CPU time counts its work, as the other
	# servers' does. It runs in its directory, where Mnesia writes the
	# core file it leaves when stopped in the middle of a write.
	(cd "$dir" && EJABBERD_CONFIG_PATH=$dir/ejabberd.yml EJABBERD_LOG_PATH=$dir/logs/ejabberd.log \
		ERL_LIBS=/usr/lib/x86_64-linux-gnu ERL_CRASH_DUMP_BYTES=0 \
		exec "${PIN_SERVER[@]}" erl -noinput -noshell +K true +sbwt none +sbwtdcpu none +sbwtdio none \
		-mnesia dir "\"$dir/mnesia\"" -s ejabberd >>"$dir/log" 2>&1) &
	SERVER_PID=$!
	wait_port "$PORT" "$SERVER_PID" "$dir/log"
}

start_bound() {
	local dir=$OUT/bound$INST
	mkdir -p "$dir"
	[ -n "${PORT:-}" ] || PORT=$(free_port)
	"${PIN_SERVER[@]}" "$BIN/xmpp-bound" -addr "127.0.0.1:$PORT" -cert "$CERT" -key "$KEY" >>"$dir/log" 2>&1 &
	SERVER_PID=$!
	wait_port "$PORT" "$SERVER_PID" "$dir/log"
}

# cpu_ticks PID... prints the CPU time the processes used so far
# together, in clock ticks; a process that is gone counts 0.
cpu_ticks() {
	local p t=0
	for p in "$@"; do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}

# quiet waits, for up to two minutes, until the servers up use less
# than a twentieth of a core together: a server still busy with what the
# last scenario left (Prosody delivering a room's backlog to sessions
# that are gone) would otherwise be measured doing both, and in the
# rounds with every server up, one still working off its own round (or
# still starting) would take the core from the next server measured.
quiet() {
	local hz i a b pids
	hz=$(getconf CLK_TCK)
	pids=$(printf '%s\n' "$SERVER_PID" "${PIDS[@]}" | sort -u)
	for ((i = 0; i < 120; i++)); do
		a=$(cpu_ticks $pids)
		sleep 1
		b=$(cpu_ticks $pids)
		((b - a < hz / 20)) && return 0
	done
	log "the servers still used $((b - a)) of $hz ticks a second after two minutes"
}

# bench runs one scenario against the current server and keeps its
# result line.
bench() {
	local scenario=$1 label=$2
	shift 2
	quiet
	log "$label: $scenario $*"
	local prof=""
	local n=$scenario
	for a in "$@"; do case $a in -parallel|-rate|-name) n=$n-;; *) [[ $n == *- ]] && n=$n$a;; esac; done
	# The untouched process beside the one that takes a burst serves no
	# profiles.
	if [ "$PROFILE" = 1 ] && [ "$label" = samtal ] && [ "$scenario" != idle ] && [[ $n != *-control ]]; then
		# The measured phase starts after the setup and a one-second
		# warm-up; profile most of it.
		curl -s -o "$OUT/samtal/cpu-$n.pprof" \
			"http://127.0.0.1:$ADMIN_PORT/debug/pprof/profile?seconds=$(( ${DURATION%s} * 7 / 10 ))" &
		prof=$!
	fi
	"${PIN_GEN[@]}" "$BIN/samtal-bench" "$scenario" -addr "127.0.0.1:$PORT" -domain localhost -ca "$CERT" \
		-sources "$SOURCES" -label "$label" -pid "$SERVER_PID" -json -q "$@" | tee -a "$RESULTS"
	[ -z "$prof" ] || wait "$prof" || true
}

# can_pin says whether there are two cores and taskset to give the
# server and the generator one each.
can_pin() { [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; }

# Several servers are up at once while the messages at saturation, at
# the fixed rate and the logins take turns between them: PIDS and PORTS
# hold each one's process and port.
declare -A PIDS=() PORTS=()
REGISTERED=" "

# up S starts S on its port of this run and, the first time, makes the
# accounts every scenario uses.
up() {
	local s=$1
	PORT=${PORTS[$s]:-}
	"start_$s"
	PORTS[$s]=$PORT
	PIDS[$s]=$SERVER_PID
	log "$s listening on 127.0.0.1:$PORT (pid $SERVER_PID)"
	if [ "$s" != bound ] && [[ $REGISTERED != *" $s "* ]]; then
		local n=1000
		if want idle; then
			n=$((1000 + (IDLE + PER_ACCOUNT - 1) / PER_ACCOUNT))
		fi
		log "$s: registering $n accounts"
		"$BIN/samtal-bench" register -addr "127.0.0.1:$PORT" -domain localhost -ca "$CERT" \
			-sources "$SOURCES" -n "$n" -setup-parallel 8 -q
		REGISTERED+="$s "
	fi
}

# use S makes S the server the next bench measures.
use() {
	PORT=${PORTS[$1]}
	SERVER_PID=${PIDS[$1]}
}

# beside_control S NAME MECH... measures messages at saturation, REPEAT
# rounds, on S's control process (as NAME-control) and then on S itself
# (as NAME), which it leaves as the server measured.
beside_control() {
	local s=$1 name=$2 i
	shift 2
	for ((i = 0; i < REPEAT; i++)); do
		use "$s-control"
		bench msg "$s" "$@" -pairs "$PAIRS" -window "$WINDOW" -duration "$DURATION" -name "$name-control"
		use "$s"
		bench msg "$s" "$@" -pairs "$PAIRS" -window "$WINDOW" -duration "$DURATION" -name "$name"
	done
}

# down_all stops every server up.
down_all() {
	local s
	for s in "${!PIDS[@]}"; do
		SERVER_PID=${PIDS[$s]}
		stop_server
	done
	PIDS=()
}
trap 'down_all; stop_server' EXIT
trap 'down_all; stop_server; exit 130' INT TERM

# mech_for S sets MECH to the SASL mechanism S is measured with.
mech_for() {
	if [ "$1" = bound ]; then
		MECH=(-mech PLAIN)
	else
		MECH=(-mech SCRAM-SHA-1)
	fi
}

# turns F ARGS... runs F S ARGS... for every server S up, in turn,
# REPEAT rounds.
turns() {
	local f=$1 s i
	shift
	for ((i = 0; i < REPEAT; i++)); do
		for s in $SERVERS; do
			use "$s"
			"$f" "$s" "$@"
		done
	done
}

# saturate S ARGS... measures S's messages at saturation.
saturate() {
	mech_for "$1"
	bench msg "$1" "${MECH[@]}" -pairs "$PAIRS" -window "$WINDOW" -duration "$DURATION" "${@:2}"
}

# fixed S ARGS... measures S's latency at the fixed offered rate.
fixed() {
	mech_for "$1"
	bench msg "$1" "${MECH[@]}" -pairs "$PAIRS" -rate "$RATE" -duration "$DURATION" "${@:2}"
}

# logins S ARGS... measures S's logins; the bound takes anyone and is
# not measured.
logins() {
	[ "$1" = bound ] && return 0
	mech_for "$1"
	bench login "$1" "${MECH[@]}" -duration "$DURATION" "${@:2}"
}

# in_turns measures the messages at saturation, the latency at the fixed
# rate and the logins with every server up at once, taking turns, REPEAT
# rounds: the machine's speed drifts by a third within minutes, and
# servers measured in turn see the same drift instead of each its own
# stretch of it. Then the messages and the logins with the servers on
# core 0 and the generator on core 1 (msg-pinned, login-pinned).
in_turns() {
	local s
	want msg || want rate || want login || return 0
	for s in $SERVERS; do
		up "$s"
	done
	sleep 2
	want msg && turns saturate
	want rate && turns fixed
	if want login; then
		turns logins -parallel 1
		turns logins -parallel 16
		# The same, logging in as modern clients do where the server
		# offers SASL2 with Bind 2 (no restart, no bind round trip), and
		# the RFC 6120 way where it does not.
		turns logins -parallel 16 -sasl2 -name login-sasl2
	fi
	down_all
	# On shared cores the operating system moves the server and the
	# generator between the cores, and each evicts the other's working
	# set from the caches at every move: a server with more to keep in
	# cache (parsed trees, a heap) loses more than one that copies
	# bytes. For logins, the generator's own handshakes (about as
	# costly as a lean server's) bound every server's rate alike on
	# shared cores, which hides the server's capacity.
	if can_pin && { want msg || want login; }; then
		PIN_SERVER=(taskset -c 0)
		for s in $SERVERS; do
			up "$s"
		done
		PIN_SERVER=()
		sleep 2
		PIN_GEN=(taskset -c 1)
		want msg && turns saturate -name msg-pinned
		want login && turns logins -parallel 16 -name login-pinned
		PIN_GEN=()
		down_all
	fi
}

# run_server S runs the other scenarios against S alone.
run_server() {
	local s=$1
	up "$s"
	unset 'PIDS[$s]' # stopped and restarted below by stop_server and start_$s
	mech_for "$s"
	local mech=("${MECH[@]}")
	if want idle; then
		# A fresh process, so that the idle sessions are measured from a
		# clean baseline; the data stays.
		stop_server
		"start_$s"
		sleep 2
		bench idle "$s" "${mech[@]}" -n "$IDLE" -from 1000 -per-account "$PER_ACCOUNT" -procs "$IDLE_PROCS" -setup-parallel 8 -settle 15s
		# Messages at saturation before and after a burst of the same
		# sessions, in one fresh process, taking turns with a second
		# fresh process of the same server, on a copy of the data, that
		# takes no burst (the control): the machine's speed drifts by a
		# third within minutes, and the two see the same drift.
		stop_server
		rm -rf "$OUT/$s-control"
		cp -a "$OUT/$s" "$OUT/$s-control"
		INST=-control
		PORT=$(free_port)
		"start_$s"
		PIDS[$s-control]=$SERVER_PID
		PORTS[$s-control]=$PORT
		INST=""
		PORT=${PORTS[$s]}
		"start_$s"
		PIDS[$s]=$SERVER_PID
		sleep 2
		beside_control "$s" msg-before-burst "${mech[@]}"
		bench idle "$s" "${mech[@]}" -n "$IDLE" -from 1000 -per-account "$PER_ACCOUNT" -procs "$IDLE_PROCS" -setup-parallel 8 -settle 2s -name burst
		beside_control "$s" msg-after-burst "${mech[@]}"
		down_all
		# Group chat in a fresh process, not the one that took the burst.
		if [ "$s" != bound ] && want muc; then
			"start_$s"
			sleep 2
		fi
	fi
	if [ "$s" != bound ]; then
		if want muc; then
			repeat muc "$s" "${mech[@]}" -from 100 -occupants 50 -senders 2 -window 8 -duration "$DURATION"
			repeat muc "$s" "${mech[@]}" -from 0 -occupants 1000 -senders 2 -window 8 -duration "$DURATION" -room bigroom -name muc-1000
		fi
		if want archive; then
			stop_server
			MAM=1
			"start_$s"
			sleep 2
			repeat msg "$s" "${mech[@]}" -pairs "$PAIRS" -window "$WINDOW" -duration "$DURATION" -name msg-archive
			repeat mam "$s" "${mech[@]}" -from 200 -queriers 8 -stored 200 -duration "$DURATION" -bg-rate 1000
			MAM=0
		fi
	fi
	stop_server
}

in_turns
for s in $SERVERS; do
	run_server "$s"
done

{
	echo "# samtal-bench comparison, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo
	echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r)"
	echo "settings: duration $DURATION, scenarios but idle run $REPEAT time(s) (medians), pairs $PAIRS, window $WINDOW, rate $RATE/s, idle $IDLE sessions ($PER_ACCOUNT per account), SCRAM-SHA-1 with $ITER iterations"
	echo
	"$BIN/samtal-bench" table -order "samtal,$(echo "$SERVERS" | tr ' ' '\n' | grep -v '^samtal$' | paste -sd,)" <"$RESULTS"
} | tee "$OUT/table.md"
echo "results in $OUT" >&2

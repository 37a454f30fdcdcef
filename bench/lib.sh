# Shared by bench/compare.sh and bench/cluster.sh; sourced, not run.

# free_port prints a loopback port nobody listens on.
free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 20000))
		if ! ss -ltnH "sport = :$p" | grep -q .; then
			echo "$p"
			return
		fi
	done
	echo "no free port" >&2
	exit 1
}

# wait_port waits until something listens on port, and fails when the
# process pid exits first (showing the end of its log) or after 30 s.
wait_port() { # port pid log
	for _ in $(seq 1 300); do
		if ss -ltnH "sport = :$1" | grep -q .; then
			return 0
		fi
		if ! kill -0 "$2" 2>/dev/null; then
			echo "process $2 exited; its log:" >&2
			tail -20 "$3" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "nothing listens on $1 after 30 s" >&2
	return 1
}

# samtal_limits prints samtal's [limits] table with the per-session
# flood limits lifted, as the peers' shapers are.
samtal_limits() {
	cat <<'LIMITS'
[limits]
stanza_rate = 1000000
read_rate = 1000000000
read_burst = 1000000000
unauth_per_ip = 5000
unauth_total = 20000
sessions_per_account = 100
auth_failures_per_ip = 1000000
auth_failures_per_account = 1000000
LIMITS
}

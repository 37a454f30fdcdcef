#!/usr/bin/env bash
# Runs every fuzz target of the module for a bounded number of inputs
# (default 50000x; a duration such as 30s works too). A crash is written
# to the package's testdata/fuzz and fails the run; commit it as a
# regression test.
#
# Counts rather than durations by default: with a duration, go test's
# fuzz coordinator can report "context deadline exceeded" when a loaded
# machine leaves a worker mid-input at the deadline, and minimizing a new
# interesting input may take a minute by default. A count has no deadline
# to race, and minimization is bounded by FUZZMINIMIZE.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-50000x}"
minimize="${FUZZMINIMIZE:-200x}"
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	targets=$(grep -hoE '^func (Fuzz[A-Za-z0-9_]+)' "$dir"/*_test.go 2>/dev/null | awk '{print $2}' || true)
	for target in $targets; do
		echo "-- $pkg $target"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" "$pkg"
	done
done

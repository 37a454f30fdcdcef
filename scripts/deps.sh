#!/usr/bin/env bash
# Installs what the black-box tests drive samtal with, when it is missing:
# Debian's slixmpp (run with /usr/bin/python3) with aiohttp for its file
# upload; go-sendxmpp; coturn, whose turnutils_uclient is an independent
# TURN client and whose turnserver stands in for an external TURN server;
# the federation peers Prosody (with lua-unbound, so that it can ask the
# test's DNS responder) and ejabberd; Chromium for the browser tests of the
# web client (driven by playwright-core, which scripts/webclient.sh installs
# from web/package-lock.json), and npm; and PostgreSQL, whose tests start a
# server of their own (internal/storage/postgres/pgtest); Node and npm run
# irc-framework, the IRC client of the gateway's tests, installed from npm
# into test/e2e/interop/irc/node_modules (ignored by git). Their system
# services are never used: the tests run them as their own processes, on
# loopback.
set -euo pipefail

missing=()
/usr/bin/python3 -c 'import slixmpp' 2>/dev/null || missing+=(python3-slixmpp)
command -v go-sendxmpp >/dev/null 2>&1 || missing+=(go-sendxmpp)
{ command -v turnserver && command -v turnutils_uclient; } >/dev/null 2>&1 || missing+=(coturn)
command -v prosody >/dev/null 2>&1 || missing+=(prosody)
dpkg -s lua-unbound >/dev/null 2>&1 || missing+=(lua-unbound)
[ -d /usr/lib/x86_64-linux-gnu/ejabberd-23.01 ] || [ -x /usr/sbin/ejabberdctl ] || missing+=(ejabberd)
/usr/bin/python3 -c 'import aiohttp' 2>/dev/null || missing+=(python3-aiohttp)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v npm >/dev/null 2>&1 || missing+=(npm)
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
command -v node >/dev/null 2>&1 || missing+=(nodejs)

irc_framework() {
	local dir
	dir="$(dirname "$0")/../test/e2e/interop/irc"
	if [ ! -f "$dir/node_modules/irc-framework/package.json" ]; then
		echo "deps: installing irc-framework (npm)"
		(cd "$dir" && npm ci --no-audit --no-fund --silent)
	fi
}

if [ ${#missing[@]} -eq 0 ]; then
	irc_framework
	exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi
if [[ " ${missing[*]} " == *" postgresql "* ]] && [ ! -e /etc/postgresql-common/createcluster.conf ]; then
	# The tests need the programs, not the system's own cluster and
	# service, which the package would otherwise create and start.
	$SUDO mkdir -p /etc/postgresql-common
	echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The peers' packages would start their system services, which listen on
# the standard ports of every interface: keep invoke-rc.d from starting
# anything while they install.
cleanup=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod 755 /usr/sbin/policy-rc.d
	cleanup="/usr/sbin/policy-rc.d"
fi
# confold: keep the createcluster.conf written above.
$SUDO apt-get install -y -qq --no-install-recommends \
	-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
if [ -n "$cleanup" ]; then
	$SUDO rm -f "$cleanup"
fi
irc_framework

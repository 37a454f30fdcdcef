#!/usr/bin/env bash
# Installs what the black-box tests drive samtal with, when it is missing:
# Debian's slixmpp (run with /usr/bin/python3), go-sendxmpp, and coturn,
# whose turnutils_uclient is an independent TURN client and whose
# turnserver stands in for an external TURN server (the tests start their
# own, on loopback; the package's system service is not used).
set -euo pipefail

missing=()
/usr/bin/python3 -c 'import slixmpp' 2>/dev/null || missing+=(python3-slixmpp)
command -v go-sendxmpp >/dev/null 2>&1 || missing+=(go-sendxmpp)
{ command -v turnserver && command -v turnutils_uclient; } >/dev/null 2>&1 || missing+=(coturn)

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

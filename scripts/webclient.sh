#!/usr/bin/env bash
# Builds the web client: installs converse.js (and playwright-core for the
# browser tests) from web/package-lock.json with `npm ci`, and copies the
# files the binary embeds into internal/webclient/files/dist. Each step
# runs only when the lock file changed since it last ran. Without npm the
# binary still builds; it then serves no web client and says so.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null 2>&1; then
	echo "webclient: npm not found; building samtal without the web client" >&2
	exit 0
fi
lock=web/package-lock.json
want=$(sha256sum "$lock" | cut -d' ' -f1)
installed=web/node_modules/.samtal-lock
if [ ! -f "$installed" ] || [ "$(cat "$installed")" != "$want" ]; then
	echo "webclient: npm ci in web/"
	(cd web && npm ci --no-audit --no-fund --loglevel=error)
	echo "$want" > "$installed"
fi
stamp=internal/webclient/files/dist/.stamp
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
	(cd web && node build.mjs)
fi

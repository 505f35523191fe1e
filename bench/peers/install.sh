#!/usr/bin/env bash
# bench/peers/install.sh: installs what the peers need, only what is missing.
#
#   Debian: redis-server, gearman-job-server (gearmand), libgearman-dev,
#           nodejs + npm, gnuplot-nox (for run-all.sh --plot)
#   npm:    bullmq and ioredis, at the versions pinned in package-lock.json,
#           into bench/peers/node_modules (npm ci)
#
# Debian packages are installed with apt-get (after apt-get update) as root,
# or through sudo.  The packages' own services are not started here: the run
# scripts start their own redis-server and gearmand on loopback ports.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

packages=(redis-server gearman-job-server libgearman-dev gnuplot-nox)
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install.sh: installing ${missing[*]}" >&2
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -q
    # policy-rc.d may refuse to start the services; that is fine, we never use them
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
        "${missing[@]}"
fi

# The lock file pins every npm package.  npm ci installs exactly it, but npm 11
# refuses a lock file that lacks the other platforms' optional builds of
# msgpackr-extract (npm/cli#4828, #8320), which is how npm writes it on Linux;
# npm install --no-save then installs the same pinned versions and leaves the
# lock file alone.  Runs again only when the lock file is newer than the install.
if [ ! -f "$here/node_modules/.package-lock.json" ] ||
    [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
    echo "install.sh: npm packages into $here/node_modules" >&2
    npm_log=$(mktemp "${TMPDIR:-/tmp}/zdex-npm.XXXXXX")
    if ! (cd "$here" && timeout 600 npm ci --no-audit --no-fund) >"$npm_log" 2>&1; then
        echo "install.sh: npm ci refused the lock file; npm install --no-save instead" >&2
        if ! (cd "$here" && timeout 600 npm install --no-save --no-audit --no-fund) \
            >>"$npm_log" 2>&1; then
            cat "$npm_log" >&2
            rm -f "$npm_log"
            exit 1
        fi
    fi
    rm -f "$npm_log"
fi
echo "install.sh: redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')," \
    "gearmand $(gearmand --version 2>&1 | awk 'NF {print $2; exit}')," \
    "node $(node --version), bullmq $(node -p "require('$here/node_modules/bullmq/package.json').version")" >&2

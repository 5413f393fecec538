#!/usr/bin/env bash
# Update an installed rooms node: back up, pull, test, build, migrate, restart, verify /readyz.
#
#   scripts/update.sh [--compose | --appliance] [--skip-tests] [--public-host HOST | --url URL]
#
#   --compose          the Docker compose stack (default when compose.yaml and docker are here)
#   --appliance        the embedded systemd install (deploy/rooms.service)
#   --skip-tests       do not run the test suite before deploying (not recommended)
#   --public-host HOST verify https://HOST/readyz (the same as --url https://HOST)
#   --url URL          where /readyz answers (default: https://$ROOMS_SITE, or http://127.0.0.1:8000)
#
# The backup is taken first, by the version that is running (its code matches the database's
# schema). Stops at the first failing step; the backup it made is named in its output.
set -euo pipefail

cd "$(dirname "$0")/.."
mode="" tests=1 url=""
while [ $# -gt 0 ]; do
    case "$1" in
        --compose) mode=compose; shift ;;
        --appliance) mode=appliance; shift ;;
        --skip-tests) tests=""; shift ;;
        --public-host) url=https://${2:?--public-host needs a host name}; shift 2 ;;
        --url) url=${2:?--url needs a URL}; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "update: unknown option $1" >&2; exit 2 ;;
    esac
done
if [ -z "$mode" ]; then
    if [ -f compose.yaml ] && command -v docker >/dev/null 2>&1; then mode=compose
    else mode=appliance; fi
fi
stamp=$(date -u +%Y%m%dT%H%M%SZ)
step() { echo "update: $*"; }

# run as root in a checkout another user owns (the appliance's /opt/rooms): git, pip and
# rooms run as that user, so nothing in the checkout or var/ becomes root's
owner=$(stat -c %U .)
as_owner() {
    if [ "$(id -u)" = 0 ] && [ "$owner" != root ]; then runuser -u "$owner" -- "$@"
    else "$@"; fi
}

if [ -n "$tests" ] && ! command -v make >/dev/null 2>&1; then
    echo "update: the test step needs make and python3 (apt-get install make python3-venv)," \
         "or pass --skip-tests" >&2
    exit 1
fi

if [ "$mode" = compose ]; then
    site=$(sed -n 's/^ROOMS_SITE=//p' .env 2>/dev/null | tail -n 1 || true)
    url=${url:-https://${site:-localhost}}
    backup="/var/lib/rooms/backups/rooms-$stamp.tar"
    step "back up (rooms backup, the running version) into the rooms-var volume: $backup"
    docker compose run --rm --no-deps api rooms backup "$backup"
else
    url=${url:-http://127.0.0.1:8000}
    backup="var/backups/rooms-$stamp.tar"
    step "back up (rooms backup, the running version): $backup"
    as_owner mkdir -p var/backups
    as_owner .venv/bin/rooms backup "$backup"
fi

step "pull"
as_owner git pull --ff-only

if [ -n "$tests" ]; then
    step "test"
    as_owner make test
fi

if [ "$mode" = compose ]; then
    step "build"
    docker compose build
    step "migrate"
    docker compose run --rm migrate
    step "restart"
    docker compose up -d --remove-orphans
else
    step "install"
    as_owner .venv/bin/pip install -q .
    step "migrate"
    as_owner .venv/bin/rooms migrate
    step "restart"
    systemctl restart rooms.service
fi

step "verify $url/readyz"
for _ in $(seq 1 60); do
    if curl -fsSk --max-time 5 "$url/readyz" >/dev/null; then
        step "ready"
        exit 0
    fi
    sleep 2
done
echo "update: $url/readyz did not answer 200 within 2 minutes; the backup is $backup" >&2
exit 1

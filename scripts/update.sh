#!/usr/bin/env bash
# Update an installed rooms node: pull, test, back up, migrate, restart, verify /readyz.
#
#   scripts/update.sh [--compose | --appliance] [--skip-tests] [--url URL]
#
#   --compose     the Docker compose stack (default when compose.yaml and docker are here)
#   --appliance   the embedded systemd install (deploy/rooms.service)
#   --skip-tests  do not run the test suite before deploying (not recommended)
#   --url URL     where /readyz answers (default: https://$ROOMS_SITE, or http://127.0.0.1:8000)
#
# Stops at the first failing step; the backup it made is named in its output.
set -euo pipefail

cd "$(dirname "$0")/.."
mode="" tests=1 url=""
while [ $# -gt 0 ]; do
    case "$1" in
        --compose) mode=compose; shift ;;
        --appliance) mode=appliance; shift ;;
        --skip-tests) tests=""; shift ;;
        --url) url=${2:?--url needs a URL}; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "update: unknown option $1" >&2; exit 2 ;;
    esac
done
if [ -z "$mode" ]; then
    if [ -f compose.yaml ] && command -v docker >/dev/null 2>&1; then mode=compose
    else mode=appliance; fi
fi
stamp=$(date -u +%Y%m%dT%H%M%SZ)
step() { echo "update: $*"; }

step "pull"
git pull --ff-only

if [ -n "$tests" ]; then
    step "test"
    make test
fi

if [ "$mode" = compose ]; then
    site=$(sed -n 's/^ROOMS_SITE=//p' .env 2>/dev/null | tail -n 1)
    url=${url:-https://${site:-localhost}}
    step "build"
    docker compose build
    step "back up (rooms backup) into the rooms-var volume"
    docker compose run --rm --no-deps api rooms backup "/var/lib/rooms/backups/rooms-$stamp.tar"
    step "migrate"
    docker compose run --rm migrate
    step "restart"
    docker compose up -d --remove-orphans
else
    url=${url:-http://127.0.0.1:8000}
    step "install"
    .venv/bin/pip install -q .
    mkdir -p var/backups
    step "back up (rooms backup)"
    .venv/bin/rooms backup "var/backups/rooms-$stamp.tar"
    step "migrate"
    .venv/bin/rooms migrate
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
echo "update: $url/readyz did not answer 200 within 2 minutes; the backup is rooms-$stamp.tar" >&2
exit 1

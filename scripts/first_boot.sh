#!/usr/bin/env bash
# Make this machine a rooms node: create .env from .env.example and fill in fresh secrets.
#
#   scripts/first_boot.sh [--public-host HOST | --lan-host HOST] [--deploy | --appliance]
#
#   --public-host HOST  Caddy serves https://HOST with an automatic certificate (ROOMS_TLS=auto)
#   --lan-host HOST     a LAN name or address for a kiosk: Caddy's own CA (ROOMS_TLS=internal)
#   --deploy            then build and start the compose stack (docker compose up -d --build)
#   --appliance         then install and start the systemd unit (embedded, no Docker)
#
# Never overwrites a secret that is already set; safe to run again.
set -euo pipefail

cd "$(dirname "$0")/.."
ENV_FILE=${ENV_FILE:-.env}
site="" tls="" deploy="" appliance=""

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --public-host) site=${2:?--public-host needs a host name}; tls=auto; shift 2 ;;
        --lan-host) site=${2:?--lan-host needs a name or address}; tls=internal; shift 2 ;;
        --deploy) deploy=1; shift ;;
        --appliance) appliance=1; shift ;;
        -h|--help) usage 0 ;;
        *) echo "first_boot: unknown option $1" >&2; usage 2 ;;
    esac
done

# 32 random bytes, URL-safe base64 without padding (coreutils only: no python3 needed)
secret() { head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'; }
hex8() { head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# set NAME VALUE: replace `NAME=` (empty or commented) in $ENV_FILE, or append it
set_var() {
    local name=$1 value=$2 tmp
    tmp=$(mktemp "${ENV_FILE}.XXXXXX")
    awk -v n="$name" -v v="$value" '
        BEGIN { done = 0 }
        $0 ~ "^#? ?" n "=" && !done { print n "=" v; done = 1; next }
        { print }
        END { if (!done) print n "=" v }' "$ENV_FILE" > "$tmp"
    chmod 600 "$tmp"
    mv "$tmp" "$ENV_FILE"
}

current() { sed -n "s/^$1=//p" "$ENV_FILE" | tail -n 1; }

if [ ! -f "$ENV_FILE" ]; then
    cp .env.example "$ENV_FILE"
    chmod 600 "$ENV_FILE"
    echo "first_boot: created $ENV_FILE from .env.example"
fi

for name in SECRET_KEY OPS_SHARED_SECRET POSTGRES_PASSWORD S3_SECRET_KEY; do
    if [ -z "$(current "$name")" ]; then
        set_var "$name" "$(secret)"
        echo "first_boot: generated $name"
    fi
done
if [ -z "$(current S3_ACCESS_KEY)" ]; then
    set_var S3_ACCESS_KEY "rooms$(hex8)"
    echo "first_boot: generated S3_ACCESS_KEY"
fi
if [ -n "$site" ]; then
    set_var ROOMS_SITE "$site"
    set_var ROOMS_TLS "$tls"
    echo "first_boot: site $site (tls $tls)"
fi

# run as root in a checkout another user owns (the appliance's /opt/rooms, owned by `rooms`):
# hand .env to that user, whose processes read it (rooms reads .env from its directory)
owner=$(stat -c %U .)
if [ "$(id -u)" = 0 ] && [ "$owner" != root ]; then
    chown "$owner:" "$ENV_FILE"
fi

echo "first_boot: the operator secret (OPS_SHARED_SECRET) is in $ENV_FILE (mode 600)"

if [ -n "$deploy" ]; then
    if ! docker compose version >/dev/null 2>&1; then
        echo "first_boot: \`docker compose\` is missing: install Docker Engine with the Compose" \
             "plugin (2.24 or newer), README \"Production\"" >&2
        exit 1
    fi
    docker compose up -d --build
    echo "first_boot: started; watch it with: docker compose ps"
fi
if [ -n "$appliance" ]; then
    install -m 0644 deploy/rooms.service /etc/systemd/system/rooms.service
    systemctl daemon-reload
    systemctl enable --now rooms.service
    echo "first_boot: rooms.service enabled; logs: journalctl -u rooms -f"
fi

#!/bin/sh
# First-time setup of a compose deployment, from the repository root:
#
#   deploy/bootstrap.sh mqtt.example.org 100      # broker host name, devices to provision
#
# 1. random secrets: deploy/secrets/postgres_password, deploy/secrets/database.env
#    (VITALSTREAM_DATABASE_URL with that password), deploy/secrets/mqtt_healthcheck_password;
# 2. TLS for the broker: deploy/make-certs.sh (skipped when deploy/certs/broker.crt exists);
# 3. device credentials: `vitalstream devices provision` in the app image, into deploy/mqtt
#    (credentials.csv, passwd, acl, gateway.env). Existing secrets and devices are kept.
# Then: cp .env.example .env (optional), docker compose up -d (docs/deployment.md).
set -eu

host=${1:?usage: deploy/bootstrap.sh BROKER_HOSTNAME [DEVICE_COUNT]}
count=${2:-0}
here=$(cd "$(dirname "$0")" && pwd)
umask 077

secret() { python3 -c 'import secrets; print(secrets.token_urlsafe(32))'; }

mkdir -p "$here/secrets" "$here/mqtt"
if [ ! -s "$here/secrets/postgres_password" ]; then
    secret > "$here/secrets/postgres_password"
fi
if [ ! -s "$here/secrets/database.env" ]; then
    # token_urlsafe needs no escaping inside a URL.
    printf 'VITALSTREAM_DATABASE_URL=postgresql://vitalstream:%s@timescaledb:5432/vitalstream\n' \
        "$(cat "$here/secrets/postgres_password")" > "$here/secrets/database.env"
fi
if [ ! -s "$here/secrets/mqtt_healthcheck_password" ]; then
    secret > "$here/secrets/mqtt_healthcheck_password"
fi
# Compose mounts file secrets with their host permissions; the containers' users must read them.
chmod 0644 "$here/secrets/postgres_password" "$here/secrets/mqtt_healthcheck_password"

if [ ! -s "$here/certs/broker.crt" ]; then
    "$here/make-certs.sh" "$host"
fi

# docker compose loads every service's env_file, so gateway.env must exist before the
# first `docker compose run`; provisioning below replaces this placeholder.
[ -e "$here/mqtt/gateway.env" ] || : > "$here/mqtt/gateway.env"
docker compose build cli
# Runs as the invoking user so the files in deploy/mqtt (0600) stay readable to compose.
docker compose run --rm --no-deps --user "$(id -u):$(id -g)" -v "$here/mqtt:/out" cli \
    devices provision --count "$count" --out /out --broker-url mqtt://mosquitto:1883
echo "bootstrap done: docker compose up -d; then see docs/deployment.md (tokens, webhooks)"

#!/bin/sh
# Builds what Mosquitto reads at start (the mosquitto-auth volume):
# - passwd and acl from the output of `vitalstream devices provision` (mounted read-only at
#   /provisioned), plus one account, mqtt-healthcheck, that may read $SYS/# only: the
#   broker's health check logs in with it;
# - the TLS certificate and key from deploy/certs (mounted at /certs), copied so that the
#   mosquitto user owns them: Mosquitto 2.0 loads them after dropping root, so a key
#   readable only by its owner on the host would stop the broker.
# Runs as the one-shot `mqtt-auth` service in docker-compose.yml; idempotent.
#
# Environment (for running it outside compose): SRC, DST, CERTS, HEALTHCHECK_PASSWORD_FILE.
set -eu

src=${SRC:-/provisioned}
dst=${DST:-/mosquitto/auth}
certs=${CERTS:-/certs}
pwfile=${HEALTHCHECK_PASSWORD_FILE:-/run/secrets/mqtt_healthcheck_password}
user=mqtt-healthcheck

for f in "$src/passwd" "$src/acl"; do
    if [ ! -s "$f" ]; then
        echo "mqtt-auth: $f is missing: run \`vitalstream devices provision --out deploy/mqtt ...\` first (docs/deployment.md)" >&2
        exit 1
    fi
done
if [ ! -s "$pwfile" ]; then
    echo "mqtt-auth: no health-check password in $pwfile (deploy/bootstrap.sh creates it)" >&2
    exit 1
fi
for f in "$certs/broker.crt" "$certs/broker.key"; do
    if [ ! -s "$f" ]; then
        echo "mqtt-auth: $f is missing: deploy/make-certs.sh HOSTNAME, or your CA's files (docs/deployment.md)" >&2
        exit 1
    fi
done
if grep -q "^$user:" "$src/passwd"; then
    echo "mqtt-auth: a provisioned account is named $user; rename that device" >&2
    exit 1
fi

mkdir -p "$dst"
umask 077
cp "$src/passwd" "$dst/passwd.new"
mosquitto_passwd -b "$dst/passwd.new" "$user" "$(cat "$pwfile")"
{
    cat "$src/acl"
    printf '\n# Added by deploy/mosquitto/assemble-auth.sh: the health check reads broker status only.\n'
    printf 'user %s\ntopic read $SYS/#\n' "$user"
} > "$dst/acl.new"
cp "$certs/broker.crt" "$dst/broker.crt.new"
cp "$certs/broker.key" "$dst/broker.key.new"
new="$dst/passwd.new $dst/acl.new $dst/broker.crt.new $dst/broker.key.new"
if [ -s "$certs/device-ca.crt" ]; then  # for mutual TLS (see mosquitto.conf)
    cp "$certs/device-ca.crt" "$dst/device-ca.crt.new"
    new="$new $dst/device-ca.crt.new"
fi

# The broker drops privileges to the mosquitto user, which must read these files.
if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    chown mosquitto:mosquitto "$dst" $new
fi
chmod 0700 "$dst"
# shellcheck disable=SC2086
chmod 0600 $new
for f in $new; do
    mv "$f" "${f%.new}"
done
echo "mqtt-auth: $(($(wc -l < "$dst/passwd") - 1)) provisioned account(s) + $user written to $dst"

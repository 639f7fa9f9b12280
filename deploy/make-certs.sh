#!/bin/sh
# A private CA and a broker certificate for Mosquitto's TLS listener (8883).
#
#   deploy/make-certs.sh mqtt.example.org [more host names or IPs ...]
#
# Writes deploy/certs/{ca.crt,ca.key,broker.crt,broker.key}. Devices (and a gateway
# connecting with mqtts://) trust ca.crt. With a public CA instead, put its full chain in
# broker.crt and the key in broker.key and skip this script. The names given become the
# certificate's subjectAltNames ("mosquitto" is always added, the name inside compose).
set -eu

if [ $# -lt 1 ]; then
    echo "usage: $0 HOSTNAME [HOSTNAME|IP ...]" >&2
    exit 2
fi
out=${CERTS_DIR:-$(dirname "$0")/certs}
days=${CERT_DAYS:-825}
mkdir -p "$out"
umask 077

san="DNS:mosquitto"
for name in "$@"; do
    case "$name" in
        *[!0-9.]*) san="$san,DNS:$name" ;;
        *) san="$san,IP:$name" ;;
    esac
done

if [ ! -s "$out/ca.key" ]; then
    openssl req -x509 -newkey rsa:3072 -nodes -days 3650 -subj "/CN=vitalstream MQTT CA" \
        -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null
fi
openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout "$out/broker.key" -out "$out/broker.csr" 2>/dev/null
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n' "$san" > "$out/broker.ext"
openssl x509 -req -in "$out/broker.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
    -days "$days" -extfile "$out/broker.ext" -out "$out/broker.crt" 2>/dev/null
rm -f "$out/broker.csr" "$out/broker.ext" "$out/ca.srl"
chmod 0644 "$out/ca.crt" "$out/broker.crt"
chmod 0600 "$out/ca.key" "$out/broker.key"
echo "certificates in $out (SAN $san); devices trust $out/ca.crt"

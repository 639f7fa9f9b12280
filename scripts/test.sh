#!/usr/bin/env bash
# Installs vitalstream with its test extras and runs the whole test suite (slow tests included)
# against real services: PostgreSQL and Mosquitto already running on 127.0.0.1 when they
# answer, embedded ones otherwise; Kafka is always the embedded tansu broker on a free port.
# Extra arguments go to pytest (e.g. -m "not slow" for the quick run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh test
# Headless Chromium for the dashboard test (Debian packages); skipped with a reason if absent.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
   (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium chromium-driver >/dev/null 2>&1)) || \
   echo "note: could not install chromium; the browser test will be skipped"
fi
port_open() { .venv/bin/python -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" "$1" 2>/dev/null; }
if [ -z "${VITALSTREAM_DATABASE_URL:-}" ] && port_open 5432 && \
   .venv/bin/python -c "import psycopg; psycopg.connect('postgresql://postgres@127.0.0.1:5432/postgres', connect_timeout=3).close()" 2>/dev/null; then
  export VITALSTREAM_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres
fi
if [ -z "${VITALSTREAM_MQTT_URL:-}" ] && port_open 1883; then
  export VITALSTREAM_MQTT_URL=mqtt://127.0.0.1:1883
fi
echo "database: ${VITALSTREAM_DATABASE_URL:-embedded}  mqtt: ${VITALSTREAM_MQTT_URL:-embedded}  kafka: ${VITALSTREAM_KAFKA_BOOTSTRAP:-embedded tansu}"
exec .venv/bin/python -m pytest "$@"

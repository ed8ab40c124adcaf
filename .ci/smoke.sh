#!/usr/bin/env bash
# Production smoke test (README, Running in production): the operator's commands, in production settings with
# secrets generated for this run, against PostgreSQL and Redis. Migrates, collects static files, starts the
# Procfile's web (gunicorn, 2 workers), its two Celery workers (different queues) and beat, plus the Apple
# simulator and the NanoMDM stand-in, then drives the public API and pages (tests/smoke/drive.py): upload tokens, syncs on separate
# queues, a Required assignment to a device group, licenses settling, a CSV export, /healthz, and one worker
# killed mid-run with the work finishing on the other. Any error fails; every process it started is stopped.
#
#   SMOKE_DB (prod_smoke), SMOKE_REDIS_DB (10), SMOKE_TIMEOUT (200 s for the drive; under 4 minutes in all)
#   and SMOKE_KEEP_LOGS=1 may be set.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
SMOKE_DB="${SMOKE_DB:-prod_smoke}"
SMOKE_REDIS_DB="${SMOKE_REDIS_DB:-10}"
SMOKE_TIMEOUT="${SMOKE_TIMEOUT:-200}"
PG_HOST=127.0.0.1
LOGS="$(mktemp -d -t vpp-smoke.XXXXXX)"
STARTED=$(date +%s)
PIDS=()

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
procfile() { sed -n "s/^$1:[[:space:]]*//p" Procfile; }

cleanup() {
  status=$?
  trap - EXIT INT TERM
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -TERM -- "-${PIDS[i]}" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    alive=0
    for pid in "${PIDS[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.2
  done
  for pid in "${PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  if [ "$status" -ne 0 ]; then
    echo "== smoke test FAILED ($status); the last lines of each process's log:" >&2
    for log in "$LOGS"/*.log; do [ -f "$log" ] || continue; echo "--- $(basename "$log")" >&2; tail -n 40 "$log" >&2; done
  fi
  dropdb --if-exists -h "$PG_HOST" -U postgres "$SMOKE_DB" 2>/dev/null || true
  redis-cli -h 127.0.0.1 -n "$SMOKE_REDIS_DB" flushdb >/dev/null 2>&1 || true
  [ "${SMOKE_KEEP_LOGS:-}" = 1 ] && echo "logs kept in $LOGS" || rm -rf "$LOGS"
  echo "== smoke test took $(($(date +%s) - STARTED)) s"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME COMMAND: in its own process group (so the group, children included, can be stopped or killed).
start() {
  local name=$1
  shift
  setsid bash -c "exec $*" >"$LOGS/$name.log" 2>&1 &
  PIDS+=("$!")
  echo "$!" >"$LOGS/$name.pid"
  echo "started $name (pid $!): $*"
}

# --- the run's secrets and services --------------------------------------------------------------------------
WEB_PORT=$(free_port)
APPLE_PORT=$(free_port)
MDM_PORT=$(free_port)
export DJANGO_SETTINGS_MODULE=config.settings.production
DJANGO_SECRET_KEY="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(50))')"
FIELD_ENCRYPTION_KEY="$("$PY" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
export DJANGO_SECRET_KEY FIELD_ENCRYPTION_KEY
export DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost
export DJANGO_SECURE_SSL_REDIRECT=false # plain HTTP on loopback; production sits behind a TLS proxy
export DATABASE_URL="postgres://postgres@$PG_HOST:5432/$SMOKE_DB"
export REDIS_URL="redis://127.0.0.1:6379/$SMOKE_REDIS_DB"
export APPLE_VPP_BASE_URL="http://127.0.0.1:$APPLE_PORT/mdm/v2/"
# NanoMDM (its stand-in, python -m mdm.simulator) and the keys both sides share.
export NANOMDM_URL="http://127.0.0.1:$MDM_PORT"
NANOMDM_API_KEY="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(24))')"
NANOMDM_WEBHOOK_HMAC_KEY="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(32))')"
export NANOMDM_API_KEY NANOMDM_WEBHOOK_HMAC_KEY
export EMAIL_BACKEND=django.core.mail.backends.console.EmailBackend
export PORT=$WEB_PORT BIND="127.0.0.1:$WEB_PORT" WEB_CONCURRENCY=2
# One process each: the bulk worker is busy with the large sync while the interactive one serves "Sync now".
export INTERACTIVE_CONCURRENCY=1 WORKER_CONCURRENCY=1
export HEARTBEAT_SECONDS=5 HEALTHZ_BEAT_MAX_AGE_SECONDS=60
# "Sync now" of the 40,000-assignment token is interactive work here (the worker-loss step needs a run both
# workers serve); its first sync, on upload, is not.
export VPP_INTERACTIVE_SYNC_MAX_ASSIGNMENTS=50000
# A lost run (its worker killed) is noticed within seconds instead of minutes.
export RUN_HEARTBEAT_SECONDS=2 RUN_LOST_AFTER_SECONDS=15 RUN_SWEEP_SECONDS=10
# Every sync reads everything: the worker-loss step needs a "Sync now" that runs for seconds, and an incremental
# sync of a location nothing changed in ends in a fraction of a second (before the drive sees it running).
export VPP_FULL_SYNC_EVERY_HOURS=0
export PYTHONUNBUFFERED=1

dropdb --if-exists -h "$PG_HOST" -U postgres "$SMOKE_DB"
createdb -h "$PG_HOST" -U postgres "$SMOKE_DB"
redis-cli -h 127.0.0.1 -n "$SMOKE_REDIS_DB" flushdb >/dev/null
export PATH="$PWD/.venv/bin:$PATH"

# --- the README's release commands ---------------------------------------------------------------------------
# (`check --deploy` runs in .ci/run with the HTTPS settings; here SECURE_SSL_REDIRECT is off for loopback.)
echo "== release: migrate, collectstatic, an administrator and an API token"
python manage.py migrate --noinput
python manage.py collectstatic --noinput
SMOKE_PASSWORD="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(18))')"
DJANGO_SUPERUSER_USERNAME=smoke-admin DJANGO_SUPERUSER_PASSWORD="$SMOKE_PASSWORD" \
  DJANGO_SUPERUSER_EMAIL=smoke-admin@example.com python manage.py createsuperuser --noinput
SMOKE_API_TOKEN="$(python manage.py drf_create_token smoke-admin | awk '{print $3}')"

# --- the formation ---------------------------------------------------------------------------------------------
echo "== processes (Procfile)"
start apple python manage.py run_apple_simulator --port "$APPLE_PORT" --fixture demo --quiet \
  --key-file "$LOGS/simulator.key"
start nanomdm python -m mdm.simulator --port "$MDM_PORT" --apple-url "http://127.0.0.1:$APPLE_PORT" \
  --webhook-url "http://127.0.0.1:$WEB_PORT/webhooks/nanomdm/"
for name in web interactive worker beat; do
  cmd="$(procfile "$name")"
  [ -n "$cmd" ] || { echo "Procfile has no $name" >&2; exit 1; }
  start "$name" "$cmd"
done

echo "== drive"
SMOKE_BASE_URL="http://127.0.0.1:$WEB_PORT" SMOKE_APPLE_URL="http://127.0.0.1:$APPLE_PORT" \
  SMOKE_MDM_URL="$NANOMDM_URL" \
  SMOKE_API_TOKEN="$SMOKE_API_TOKEN" SMOKE_USERNAME=smoke-admin SMOKE_PASSWORD="$SMOKE_PASSWORD" \
  SMOKE_LOGS="$LOGS" timeout "$SMOKE_TIMEOUT" python tests/smoke/drive.py
echo "== smoke test passed"

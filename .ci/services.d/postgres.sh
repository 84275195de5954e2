#!/usr/bin/env bash
# A PostgreSQL server for the lab-scale tracking tests (an `mlflow server` backed by it, as a lab
# runs one): a cluster initdb'd into a state directory, run as the `postgres` user on 127.0.0.1
# only, on a fixed non-default port, with a database `mlflow` for MLflow's store.
# Usage: postgres.sh start|stop. Clients connect to
#   postgresql://mlflow@127.0.0.1:$PORT/mlflow      (PORT: LLEM_POSTGRES_PORT, default 55432)
# (the tests read the port from $STATE/port). Trust authentication, loopback only: a CI
# database, never a lab's. The server is stopped by its recorded PID only.
set -euo pipefail
STATE=${LLEM_POSTGRES_STATE:-/tmp/llem-postgres}
PORT=${LLEM_POSTGRES_PORT:-55432}
BIN=${LLEM_POSTGRES_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
DATA=$STATE/data
PIDFILE=$DATA/postmaster.pid   # postgres writes its PID on the first line

pid_alive() { [ -f "$PIDFILE" ] && kill -0 "$(head -n 1 "$PIDFILE")" 2>/dev/null; }
as_pg() { runuser -u postgres -- "$@"; }

start() {
  [ -x "$BIN/postgres" ] || { echo "postgres: no server binaries (install with .ci/install.d/45-postgres.sh)" >&2; return 1; }
  mkdir -p "$STATE/socket"
  chown postgres:postgres "$STATE" "$STATE/socket"
  if [ ! -s "$DATA/PG_VERSION" ]; then
    as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --no-locale >"$STATE/initdb.log"
  fi
  echo "$PORT" > "$STATE/port"
  if ! pid_alive; then
    # Loopback only; the socket directory in the state dir, not /var/run/postgresql.
    as_pg "$BIN/postgres" -D "$DATA" -h 127.0.0.1 -p "$PORT" -k "$STATE/socket" \
      -c max_connections=200 -c fsync=off >>"$STATE/postgres.log" 2>&1 &
  fi
  for _ in $(seq 60); do
    if as_pg "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
      as_pg psql -q -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname='mlflow'" | grep -q 1 \
        || as_pg psql -q -h 127.0.0.1 -p "$PORT" -U postgres -c "CREATE ROLE mlflow LOGIN"
      as_pg psql -q -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='mlflow'" | grep -q 1 \
        || as_pg psql -q -h 127.0.0.1 -p "$PORT" -U postgres -c "CREATE DATABASE mlflow OWNER mlflow"
      echo "postgres: pid $(head -n 1 "$PIDFILE") on 127.0.0.1:$PORT, database mlflow (postgresql://mlflow@127.0.0.1:$PORT/mlflow)"
      return 0
    fi
    sleep 1
  done
  echo "postgres: no answer on 127.0.0.1:$PORT in 60 s; log in $STATE/postgres.log" >&2
  tail -n 20 "$STATE/postgres.log" >&2 || true
  return 1
}

stop() {
  local pid
  if pid_alive; then
    pid=$(head -n 1 "$PIDFILE")
    kill -INT "$pid"   # fast shutdown: ends client sessions, writes a checkpoint
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  fi
  echo "postgres: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# A private dockerd for the Docker launcher tests, with its own socket, exec root, pidfile and
# data root, and NO networking changes (--bridge=none --iptables=false --ip-masq=false):
# containers run with --network none. Usage: dockerd.sh start|stop. Clients use
# DOCKER_HOST=unix://$RUN/docker.sock (the tests read it from there). Stopped by its PID only.
# The data root lives under /root/.cache/llem-ci so built images survive between CI runs on one
# machine; nothing depends on that (docker/build.sh rebuilds what is missing).
set -euo pipefail
RUN=${LLEM_DOCKERD_RUN:-/run/llem-dockerd}
DATA=${LLEM_DOCKERD_DATA:-/root/.cache/llem-ci/docker-data}
PIDFILE=$RUN/dockerd.pid
export DOCKER_HOST=unix://$RUN/docker.sock

pid_alive() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
  mkdir -p "$RUN" "$DATA"
  if ! pid_alive; then
    setsid dockerd --host "$DOCKER_HOST" --pidfile "$PIDFILE" --exec-root "$RUN/exec" --data-root "$DATA" \
      --bridge=none --iptables=false --ip-masq=false --ip6tables=false --ip-forward=false \
      >"$RUN/dockerd.log" 2>&1 < /dev/null &
  fi
  for _ in $(seq 60); do
    if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
      echo "dockerd: up ($(docker version --format '{{.Server.Version}}'), DOCKER_HOST=$DOCKER_HOST)"; return 0
    fi
    sleep 1
  done
  echo "dockerd: not answering after 60 s; log: $RUN/dockerd.log" >&2
  tail -n 20 "$RUN/dockerd.log" >&2 || true
  return 1
}

stop() {
  if pid_alive; then
    # Images replaced by rebuilds would pile up in the cached data root.
    docker image prune -f >/dev/null 2>&1 || true
    local pid; pid=$(cat "$PIDFILE")
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  fi
  echo "dockerd: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac

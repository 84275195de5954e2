#!/usr/bin/env bash
# The lab-scale tracking tests: an `mlflow server` backed by PostgreSQL (Debian's `postgresql`
# package, its daemon started by .ci/services.d/postgres.sh, never by the package) and the
# Python driver MLflow's SQLAlchemy store uses (psycopg2-binary, llem's extra `mlflow-postgres`).
# Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  # The package must not start its own cluster (the CI starts one, by PID): a policy-rc.d
  # refusing service starts, only for this install.
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && guard=1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  [ -z "$guard" ] || rm -f /usr/sbin/policy-rc.d
fi
.venv/bin/python -c "import psycopg2" 2>/dev/null \
  || .venv/bin/python -m pip --disable-pip-version-check -q install -e ".[mlflow-postgres]"
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
echo "postgres: $("$bin/postgres" -V), psycopg2 $(.venv/bin/python -c 'import psycopg2; print(psycopg2.__version__.split()[0])')"

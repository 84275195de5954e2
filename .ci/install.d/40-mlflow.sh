#!/usr/bin/env bash
# Tracking and report tests: MLflow (client and `mlflow server`) and matplotlib, as llem's extras
# `mlflow` and `report` (pyproject.toml). Pure-Python wheels from PyPI, no build step, nothing to cache.
# Idempotent: when both import and the `mlflow` command exists, nothing is installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
if "$PY" -c "import mlflow, matplotlib" 2>/dev/null && [ -x .venv/bin/mlflow ]; then
  echo "mlflow $("$PY" -c 'import mlflow; print(mlflow.__version__)') and matplotlib already installed"
  exit 0
fi
"$PY" -m pip --disable-pip-version-check -q install -e ".[mlflow,report]"
"$PY" -c "import mlflow, matplotlib; print('installed mlflow', mlflow.__version__, 'matplotlib', matplotlib.__version__)"

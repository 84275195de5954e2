#!/usr/bin/env bash
# Optimisation sweeps (conf/experiment/optuna_example.yaml, tests/test_optuna_sweep.py): the Hydra
# Optuna sweeper. 1.3.0 installs beside hydra-core 1.3.8 and pulls optuna 2.10.1. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
.venv/bin/python -c "import hydra_plugins.hydra_optuna_sweeper" 2>/dev/null \
  || .venv/bin/python -m pip --disable-pip-version-check -q install "hydra-optuna-sweeper==1.3.0"
.venv/bin/python -c "import hypothesis" 2>/dev/null \
  || .venv/bin/python -m pip --disable-pip-version-check -q install "hypothesis>=6"

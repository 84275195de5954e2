#!/usr/bin/env bash
# Slurm tests: a one-node Slurm (Debian's slurm-wlm + munge) and the submitit launcher in .venv.
# Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  # Packages must not start their daemons (a stock dockerd would add a bridge and iptables rules;
  # the CI starts its own daemons): a policy-rc.d refusing service starts, only for this install.
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && guard=1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
  [ -z "$guard" ] || rm -f /usr/sbin/policy-rc.d
fi
.venv/bin/python -c "import hydra_plugins.hydra_submitit_launcher, submitit" 2>/dev/null \
  || .venv/bin/python -m pip install --disable-pip-version-check -q "hydra-submitit-launcher==1.2.0" "submitit==1.5.4"
echo "slurm: $(slurmctld -V), submitit $(.venv/bin/python -c 'import submitit; print(submitit.__version__)')"

#!/usr/bin/env bash
# Docker launcher tests: Debian's docker.io (dockerd, containerd, runc) and debootstrap for a
# locally made base image (no registry is reachable). The launcher drives the docker CLI.
# Idempotent. Images are built by the dockerd service script, not here.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  # Packages must not start their daemons (a stock dockerd would add a bridge and iptables rules;
  # the CI starts its own daemons): a policy-rc.d refusing service starts, only for this install.
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && guard=1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io debootstrap >/dev/null
  [ -z "$guard" ] || rm -f /usr/sbin/policy-rc.d
fi
echo "docker: $(dockerd --version)"

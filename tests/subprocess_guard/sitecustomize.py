"""TEST SUPPORT: Python runs this at start-up when tests/subprocess_guard is on PYTHONPATH (tests/conftest.py
puts it there for every subprocess the tests start): the loopback-only network guard, and the fault tests'
memory cap."""

import os
import sys

import llem_netguard

llem_netguard.install()

# tests/faults: LLEM_TEST_WORKER_MEMORY_LIMIT_MB caps the address space of each process that multiprocessing
# spawns (llem's measurement worker: its argv ends in --multiprocessing-fork), before it imports anything,
# so that a too-large workload fails an allocation inside the engine as it would on a smaller machine.
_limit_mb = os.environ.get("LLEM_TEST_WORKER_MEMORY_LIMIT_MB")
if _limit_mb and "--multiprocessing-fork" in sys.argv:
    import resource

    _limit = int(float(_limit_mb) * 2**20)
    resource.setrlimit(resource.RLIMIT_AS, (_limit, _limit))

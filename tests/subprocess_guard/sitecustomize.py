"""TEST SUPPORT: Python runs this at start-up when tests/netguard is on PYTHONPATH (tests/conftest.py
puts it there for every subprocess the tests start): the loopback-only network guard."""

import llem_netguard

llem_netguard.install()

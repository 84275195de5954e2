"""Stopping what a test started: llem.testing.stopping (shared with benchmarks/, which import no test module)."""

from llem.testing.stopping import stop_group

__all__ = ["stop_group"]

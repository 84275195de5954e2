"""Test doubles for hardware this machine lacks (a replayed NVML trace, its settable GPU state), and the
real services that tests and benchmarks/ start alike (an `mlflow server`, SQLite- or PostgreSQL-backed).

Never imported by llem's production path, except through the one hook that a test sets on purpose:
`LLEM_FAKE_NVML_TRACE=<csv>` makes llem.energy.nvml.load_nvml load the replay instead of pynvml
(by the "module:attr" reference REPLAY_HOOK there; tests/test_layering.py holds that line).
"""

"""Running one job: llem.run.worker spawns the measurement worker (plain data in, plain data out:
plain.py) and keeps it warm for the next job of the same engine configuration; in the worker,
llem.run.job picks the harness for the job's mode (llem/harness/)."""

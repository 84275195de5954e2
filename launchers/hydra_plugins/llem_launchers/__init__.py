"""llem's Hydra launchers: `inprocess` (the default: Hydra's basic launcher with jobs grouped by
engine configuration), `local` (submitit_local, one job at a time), `slurm` (submitit_slurm with
resources from the hardware profile) and `docker` (each job in its backend's image); and the
basic sweeper (`grid_sweeper`: Hydra's, without composing again the points llem already validated).
Every launcher skips the jobs whose complete result is on disk before starting anything (_pending).

Hydra imports every module here when it scans for plugins, so nothing heavy is imported at module
level anywhere in this package.
"""
# Hydra's scanner imports modules without registering them first, which breaks dataclasses with
# postponed annotations; it skips modules named _*, so helpers live there and only the modules
# that define launcher or sweeper classes (inprocess_launcher, submitit_launchers, docker_launcher, grid_sweeper) are scanned.

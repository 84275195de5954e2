"""llem's Hydra plugins, on Hydra's public plugin API only: the launchers `inprocess` (the default:
jobs one at a time through run_job, grouped by engine configuration), `local` (submitit_local, one
job at a time), `slurm` (submitit_slurm with resources from the hardware profile) and `docker`
(each job in its backend's image); the grid sweeper (`grid_sweeper`, hydra/sweeper=basic: every
point composed and validated before the first job); and the read-once source of llem's config
files (`conf_source`). Every launcher skips the jobs whose complete result is on disk before
starting anything (_pending).

Hydra imports every module here when it scans for plugins, so nothing heavy is imported at module
level anywhere in this package.
"""
# Hydra's scanner imports modules without registering them first, which breaks dataclasses with
# postponed annotations; it skips modules named _*, so helpers live there and only the modules
# that define plugin classes (inprocess_launcher, submitit_launchers, docker_launcher, grid_sweeper, conf_source) are scanned.

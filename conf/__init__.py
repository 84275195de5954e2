"""The Hydra config tree; a package so that it ships inside the wheel as llem.conf.

Importing it stores every engine's `backend=<name>` option (its settings model's defaults) in Hydra's
ConfigStore (llem/backends/configs.py): Hydra imports this package wherever it composes llem's config
(`pkg://llem.conf`: llem's app, the compose API, the launchers' sweeps), before it looks for a backend
option, so every process that composes sees every engine, built-in or installed, without a YAML file.
"""

from llem.backends.configs import store_engine_configs

store_engine_configs()

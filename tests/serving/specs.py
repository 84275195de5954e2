"""Job specs for server-mode tests, composed and validated as the CLI does."""

from __future__ import annotations


def compose_spec(*overrides: str):
    """The JobSpec a command line gives (Hydra composition + validation), as the CLI builds it."""
    from hydra import compose, initialize_config_module

    from llem.cli.app import plain_config
    from llem.config.spec import build_spec

    with initialize_config_module(config_module="llem.conf", version_base=None):
        cfg = compose(
            config_name="config", overrides=["model=tiny", "hardware=cpu", "tracking=none", "workload=server", *overrides]
        )
    return build_spec(plain_config(cfg))

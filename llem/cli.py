"""Entrypoint: `llem [overrides]`, `llem --multirun ...`, and subcommands. Thin: it validates every
job of the command line before any model loads, then hands over to Hydra."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from llem import interrupt
from llem.errors import UserError, choice_error
from llem.progress import library_bars
from llem.sweep import points
from llem.telemetry import opt_out
from llem.visible_devices import remember_launch_devices

# Subcommands register here as "module:function" and are imported only when used.
SUBCOMMANDS: dict[str, str] = {
    "report": "llem.report.cli:main",
    "export": "llem.bundle_cli:export_main",
    "verify": "llem.bundle_cli:verify_main",
    "sync": "llem.sync_cli:main",
    "gpu-restore": "llem.energy.restore_cli:main",
}

_PASSTHROUGH = {"--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "-i", "--shell-completion", "-sc",
                "--version", "--resolve", "--package", "-p"}
_VALUED = {"--config-name", "-cn", "--config-path", "-cp", "--config-dir", "-cd", "--cfg", "-c", "--package", "-p",
           "--experimental-rerun"}
_MAX_PREVALIDATE = 512


def _conf_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("llem.conf")
    return Path(list(spec.submodule_search_locations)[0])


def _group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (_conf_dir() / group).glob("*.yaml"))


def _split(argv: list[str]) -> tuple[list[str], bool, bool]:
    overrides, multirun, passthrough = [], False, False
    skip = False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg in ("--multirun", "-m"):
            multirun = True
        elif arg in _PASSTHROUGH:
            passthrough = True
            skip = arg in _VALUED and i + 1 < len(argv) and not argv[i + 1].startswith("-") and "=" not in argv[i + 1]
        elif arg in _VALUED:
            skip = True
        elif not arg.startswith("-"):
            overrides.append(arg)
    return overrides, multirun, passthrough


def _expand(overrides: list[str], multirun: bool) -> list[list[str]] | None:
    """Every job's override list, or None when a sweep cannot be enumerated here (ranges, globs)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    try:
        parsed = OverridesParser.create().parse_overrides([o for o in overrides if not o.lstrip("+~").startswith("hydra")])
    except OverrideParseException as exc:
        raise UserError(f"an override could not be parsed ({str(exc).splitlines()[0]}): write overrides as key=value, e.g. workload.batch_size=4.") from None
    for o in parsed:
        if o.is_sweep_override():
            if not multirun:
                raise UserError(f"{o.input_line} sweeps several values: add --multirun (or -m) to run a sweep.")
            if not o.is_discrete_sweep():
                return None
            try:
                values = list(o.sweep_string_iterator())
            except Exception:
                return None
            if not values:
                raise UserError(f"{o.input_line} sweeps no values (an empty range or list): give at least one, "
                                f"e.g. range(1,5) counts up from 1 to 4.")
    jobs = points.sweeper_overrides(parsed)  # as Hydra's basic sweeper spells them: the keys of llem.sweep.points
    return jobs[:_MAX_PREVALIDATE]


def _compose_error(exc: Exception, overrides: list[str]) -> UserError:
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "Could not find" in msg or "Could not load" in msg:
        for o in overrides:
            key, _, value = o.lstrip("+~").partition("=")
            group = key.split("@")[0]
            if (_conf_dir() / group).is_dir() and value not in _group_options(group):
                return choice_error(group, value, _group_options(group))
    if "Could not override" in msg or "not in struct" in str(exc):
        key = msg.split("'")[1] if "'" in msg else msg
        parent = key.rpartition(".")[0]
        if parent and _is_mapping_setting(parent, overrides):
            return UserError(f"{key} is a new entry of the mapping {parent}: add it with a leading +, e.g. +{key}=<value>.")
        return UserError(f"{key} is not a known setting: check the spelling (python -m llem --cfg job lists them).")
    return UserError(f"the configuration could not be composed: {msg.rstrip('.')}.")


def _is_mapping_setting(key: str, overrides: list[str]) -> bool:
    """Whether `key` is a free-form mapping (e.g. backend.engine_kwargs) in the config these
    overrides select; composed again without the override that failed."""
    from hydra import compose
    from omegaconf import DictConfig, OmegaConf

    groups = [o for o in overrides if "." not in o.partition("=")[0]]  # group choices only
    try:
        value = OmegaConf.select(compose(config_name="config", overrides=groups), key)
    except Exception:
        return False
    return isinstance(value, DictConfig) and len(value) == 0


def prevalidate(argv: list[str]) -> int:
    """Compose and validate every job of this command line; returns how many jobs were checked."""
    overrides, multirun, passthrough = _split(argv)
    if passthrough:
        return 0
    jobs = _expand(overrides, multirun)
    if jobs is None:
        return 0
    from hydra import compose, initialize_config_module

    from omegaconf import OmegaConf, open_dict, read_write

    from llem.app import check_launch_here, plain_config
    from llem.spec import build_spec

    with initialize_config_module(config_module="llem.conf", version_base=None):
        points.read_config_files_once()
        for n, job in enumerate(jobs):
            try:
                cfg = compose(config_name="config", overrides=job, return_hydra_config=True)
            except Exception as exc:  # Hydra's composition errors carry the bad key or option
                raise _compose_error(exc, job) from None
            if n == 0:
                points.set_context("config", OmegaConf.to_container(cfg.hydra.runtime.config_sources))
            launcher = str(OmegaConf.select(cfg, "hydra.launcher._target_", default="") or "") if multirun else ""
            with read_write(cfg), open_dict(cfg):
                del cfg["hydra"]
            plain = plain_config(cfg)
            spec = build_spec(plain)
            if _launches_here(launcher):
                check_launch_here(spec)
            if multirun:  # the launcher takes it from here instead of composing the point again
                points.remember(job, plain, OmegaConf.to_container(cfg, resolve=False))
    return len(jobs)


# Launchers whose jobs run on this machine (a single run always does): a GPU job needs a GPU here.
# Slurm's jobs run on other nodes, and a login node may have no GPU: there the job checks (llem.checks.device_for_job).
_REMOTE_LAUNCHERS = ("slurm", "Slurm")


def _launches_here(target: str) -> bool:
    return not any(word in target for word in _REMOTE_LAUNCHERS)



def _hydra_main() -> None:
    import hydra

    from llem.app import run_from_hydra  # importing it registers llem's resolvers (llem/resolvers.py)

    hydra.main(version_base=None, config_path="pkg://llem.conf", config_name="config")(run_from_hydra)()


def _exit_code(multirun: bool) -> int:
    """0 when every job measured or was skipped; 2 for a single run refused as bad input; else 1,
    also when a job was stopped by a signal this process did not get (scancel or docker stop of
    one job: it is interrupted, the rest not started). The sweep summary itself is printed by the
    sweep callback, which also sees remote jobs."""
    from llem.sweep.ledger import SESSION

    bad = [o for o in SESSION.outcomes if o.status in ("failed", "invalid", "interrupted", "not_started")]
    if not bad:
        return 0
    return 2 if not multirun and all(o.user_error for o in bad) else 1


HELP = """llem: measure what LLM inference costs in energy, time and throughput.

Usage: python -m llem [group=option ...] [key=value ...]
       python -m llem --multirun workload.batch_size=1,4,16 model=tiny,smollm2-135m
       python -m llem --cfg job [overrides]      show the composed config
       python -m llem -q ...                     quiet (batch systems)
       llem report SOURCE [--format markdown|latex|csv]   report.html, tables, plots
       llem export SOURCE [-o FILE] | llem verify BUNDLE   result bundles with checksums
       llem sync [OUTPUT_ROOT]
       llem gpu-restore                          undo a killed job's hardware.power_limit_w / clocks
       python -m llem --hydra-help               Hydra's own flags

Config groups (choose one option each):
{groups}

Each job writes <run.output_root>/runs/<slug>-<config hash>/ with result.json,
config.yaml and environment.json. See README.md for the result schema."""


def _print_help() -> None:
    """Our own --help: Hydra's lists every group by composing the config ~100 times (seconds)."""
    conf = _conf_dir()
    lines = []
    for group in sorted(p.name for p in conf.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        if group == "hydra":
            launchers = sorted(p.stem for p in (conf / "hydra" / "launcher").glob("*.yaml"))
            lines.append(f"hydra/launcher: {', '.join(f'{n} (default)' if n == 'inprocess' else n for n in launchers)}, basic")
        elif group != "local" and _group_options(group):
            lines.append(f"{group}: {', '.join(_group_options(group))}")
    print(HELP.format(groups="\n".join(lines)))


def main(argv: list[str] | None = None) -> int:
    opt_out(os.environ)  # before MLflow or any engine is imported: tracking and jobs send no usage data
    remember_launch_devices()  # what hardware.gpus count in, whatever a launcher sets for its jobs later
    argv = list(sys.argv[1:] if argv is None else argv)
    library_bars()  # before any engine imports tqdm
    if argv and argv[0] in SUBCOMMANDS:  # first: `llem report --help` is report's own help
        from llem.registry import load_object  # lazy: --help stays without dataclasses/inspect (tests/test_layering.py)

        return int(load_object(SUBCOMMANDS[argv[0]])(argv[1:]) or 0)
    if "--help" in argv or "-h" in argv:
        _print_help()
        return 0
    if argv and argv[0] in ("--version", "-V"):
        print(version_text())
        return 0
    if argv and _looks_like_a_command(argv[0]):
        print(f"llem: error: {_not_a_command(argv[0])}", file=sys.stderr)
        return 2
    if "-q" in argv or "--quiet" in argv:
        argv = [a for a in argv if a not in ("-q", "--quiet")] + ["run.quiet=true"]
    interrupt.install()  # SIGINT/SIGTERM: stop, record, summarise, exit 130/143 (llem/interrupt.py)
    _, multirun, _ = _split(argv)
    try:
        try:
            prevalidate(argv)
        except UserError as exc:
            print(f"llem: error: {exc}", file=sys.stderr)
            return 2
        sys.argv = [sys.argv[0]] + argv
        _hydra_main()
    except interrupt.Interrupted as stopped:
        return _stopped(stopped.signum, multirun)
    if interrupt.received() is not None:  # stopped, and ended by Hydra's own callbacks
        return interrupt.exit_code(interrupt.received())
    return _exit_code(multirun)


def version_text() -> str:
    """llem's version and each engine with its version where installed (found without importing engines)."""
    import importlib.util

    import llem
    from llem.registry import engines

    lines = [f"llem {llem.__version__}"]
    for name, info in engines().items():
        found = all(importlib.util.find_spec(m) is not None for m in info.modules)
        version = info.version() if found else None
        state = f"installed{f' ({info.modules[-1]} {version})' if version else ''}" if found else f"not installed ({info.install_hint})"
        lines.append(f"  backend={name}: {state}")
    return "\n".join(lines)


def _looks_like_a_command(arg: str) -> bool:
    """A bare word (no '=', no leading '-', not a sweep value): meant as a subcommand."""
    return not arg.startswith(("-", "+", "~")) and "=" not in arg and arg.replace("-", "").isalpha()


def _not_a_command(word: str) -> str:
    import difflib

    close = difflib.get_close_matches(word, list(SUBCOMMANDS), n=1, cutoff=0.6)
    hint = f"did you mean llem {close[0]}? " if close else ""
    return (f"{word} is not a llem command or a setting: {hint}commands are {', '.join(SUBCOMMANDS)}; "
            f"settings are key=value, e.g. model=tiny (llem --help).")


def _stopped(signum: int, multirun: bool) -> int:
    """After a signal: end the sweep (its summary counts interrupted and not-started jobs, the warm
    engine is released first) as Hydra would have, exit 128 + signal. A single run's warm worker is
    stopped at exit (llem.runner registers that with atexit)."""
    if multirun:
        from llem.sweep.callback import end_interrupted_sweep

        end_interrupted_sweep(signum)
    return interrupt.exit_code(signum)


def entry() -> None:
    sys.exit(main())

"""Entrypoint: `llem [overrides]`, `llem --multirun ...`, and subcommands. Thin: what needs no
Hydra is answered here at once (--help, --version, subcommands); the rest is the Hydra app
llem.cli.app.main (@hydra.main), which checks every job before any model loads (llem's callback for a
single run, llem's sweeper for a --multirun) and exits 2 with one sentence on bad input."""

from __future__ import annotations

import os
import sys

from llem.config.compose_errors import compose_error, conf_dir, group_options
from llem.host import interrupt
from llem.host.progress import library_bars
from llem.host.telemetry import opt_out
from llem.host.visible_devices import remember_launch_devices

# Subcommands register here as "module:function" and are imported only when used.
SUBCOMMANDS: dict[str, str] = {
    "report": "llem.cli.report:main",
    "export": "llem.cli.bundle:export_main",
    "verify": "llem.cli.bundle:verify_main",
    "sync": "llem.cli.sync:main",
    "gpu-restore": "llem.cli.gpu_restore:main",
}

_PASSTHROUGH = {
    "--help",
    "-h",
    "--hydra-help",
    "--cfg",
    "-c",
    "--info",
    "-i",
    "--shell-completion",
    "-sc",
    "--version",
    "--resolve",
    "--package",
    "-p",
}
_VALUED = {
    "--config-name",
    "-cn",
    "--config-path",
    "-cp",
    "--config-dir",
    "-cd",
    "--cfg",
    "-c",
    "--package",
    "-p",
    "--experimental-rerun",
}


def _partition(argv: list[str]) -> tuple[list[str], list[str]]:
    """(flags with their values, overrides): a flag of _VALUED takes the next word unless that is a flag
    or an override (key=value)."""
    flags, overrides, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("-"):
            flags.append(arg)
            if arg in _VALUED and i + 1 < len(argv) and not argv[i + 1].startswith("-") and "=" not in argv[i + 1]:
                flags.append(argv[i + 1])
                i += 1
        else:
            overrides.append(arg)
        i += 1
    return flags, overrides


def _split(argv: list[str]) -> tuple[list[str], bool, bool]:
    """(overrides, --multirun given, a flag Hydra answers without running a job given)."""
    flags, overrides = _partition(argv)
    return overrides, any(f in ("--multirun", "-m") for f in flags), any(f in _PASSTHROUGH for f in flags)


def hydra_order(argv: list[str]) -> list[str]:
    """Flags (with their values) before the overrides: Hydra's parser takes overrides only as one run of
    positionals, so `model=x --multirun a=1,2` would leave `a=1,2` unrecognised; llem takes flags anywhere."""
    flags, overrides = _partition(argv)
    return flags + overrides


def prevalidate(argv: list[str]) -> int:
    """The checks `python -m llem ARGV` makes before its first job, made without running anything
    (tests, tools): the config composed from llem's conf/ with Hydra's compose API, then every point
    expanded, composed by Hydra's config loader and validated by the functions llem's sweeper and
    callback use (llem.sweep.points, llem.config.validate). Returns how many jobs were checked (0 for
    --cfg, --info and the like); raises UserError."""
    overrides, multirun, passthrough = _split(argv)
    if passthrough:
        return 0
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException
    from omegaconf import OmegaConf

    import llem.cli.app  # noqa: F401  (llem's resolvers, as for `python -m llem`)
    from llem.config.validate import check_job, launches_here
    from llem.sweep.points import task_job, validated_points

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except OverrideParseException as exc:
        raise compose_error(exc, overrides) from None
    swept = {o.input_line for o in parsed if o.is_sweep_override()}
    base = [o for o in overrides if o not in swept] + (["hydra.mode=MULTIRUN"] if multirun else [])
    with initialize_config_module(config_module="llem.conf", version_base=None):

        def again(ov):
            return compose(config_name="config", overrides=list(ov))

        try:
            master = compose(config_name="config", overrides=base if multirun else overrides, return_hydra_config=True)
        except Exception as exc:  # Hydra's composition errors name the bad key or option
            raise compose_error(exc, overrides, again) from None
        if not multirun:
            check_job(task_job(master), here=True, single=True)
            return 1
        params = OmegaConf.to_container(master.hydra.sweeper, resolve=False).get("params") or {}
        arguments = [f"{k}={v}" for k, v in params.items()] + [o.input_line for o in parsed if not o.is_hydra_override()]
        target = str(OmegaConf.select(master, "hydra.launcher._target_", default="") or "")
        batches = validated_points(GlobalHydra.instance().config_loader(), master, arguments, None, here=launches_here(target))
    return sum(len(b) for b in batches)


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
    conf = conf_dir()
    lines = []
    folders = {p.name for p in conf.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))}
    for group in sorted(folders | {"backend"}):  # backend: the engines' settings models, no folder of YAML
        if group == "hydra":
            launchers = sorted(p.stem for p in (conf / "hydra" / "launcher").glob("*.yaml"))
            lines.append(f"hydra/launcher: {', '.join(f'{n} (default)' if n == 'inprocess' else n for n in launchers)}, basic")
        elif group != "local" and group_options(group):
            lines.append(f"{group}: {', '.join(group_options(group))}")
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
    interrupt.install()  # SIGINT/SIGTERM: stop, record, summarise, exit 130/143 (llem/host/interrupt.py)
    overrides, multirun, _ = _split(argv)
    try:
        return _run_hydra(argv, overrides)
    except interrupt.Interrupted as stopped:
        return _stopped(stopped, multirun)


def _run_hydra(argv: list[str], overrides: list[str]) -> int:
    """Run the Hydra app. Hydra returns nothing to its caller: llem's callback and sweeper end a run
    with SystemExit where its status is not 0 (bad input 2, a failed job 1). With HYDRA_FULL_ERROR
    (Hydra's documented switch) Hydra raises its own errors here instead of printing them with exit
    code 1: a composition error (an unknown option or key, an override that does not parse) becomes
    one sentence and exit code 2."""
    from hydra.errors import HydraException

    from llem.cli.app import main as hydra_app  # importing it registers llem's resolvers (llem/config/resolvers.py)

    sys.argv = [sys.argv[0]] + hydra_order(argv)
    saved = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        hydra_app()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:
        if not _composing(exc, HydraException):
            raise
        print(f"llem: error: {compose_error(exc, overrides, _compose_again)}", file=sys.stderr)
        return 2
    finally:
        if saved is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = saved
    if interrupt.received() is not None:  # stopped, and ended by Hydra's own callbacks
        return interrupt.exit_code(interrupt.received())
    return 0


def _composing(exc: Exception, hydra_error: type) -> bool:
    """Whether Hydra raised this itself about the command line or the config (composing it, parsing
    an override) before any of llem's code ran: then it is the user's to fix."""
    tb, modules, functions = exc.__traceback__, [], set()
    while tb is not None:
        modules.append(str(tb.tb_frame.f_globals.get("__name__", "")))
        functions.add(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    if any(m.split(".")[0] == "llem" or m.startswith("hydra_plugins.llem_") for m in modules[1:]):  # [0]: _run_hydra
        return False
    return isinstance(exc, hydra_error) or "load_configuration" in functions


def _compose_again(overrides):
    """Compose llem's config again (to explain a composition error), outside the failed Hydra app."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="llem.conf", version_base=None):
        return compose(config_name="config", overrides=list(overrides))


def version_text() -> str:
    """llem's version and each engine with its version where installed (found without importing engines)."""
    import importlib.util

    import llem
    from llem.registry import engines

    lines = [f"llem {llem.__version__}"]
    for name, info in engines().items():
        found = all(importlib.util.find_spec(m) is not None for m in info.modules)
        version = info.version() if found else None
        state = (
            f"installed{f' ({info.modules[-1]} {version})' if version else ''}"
            if found
            else f"not installed ({info.install_hint})"
        )
        lines.append(f"  backend={name}: {state}")
    return "\n".join(lines)


def _looks_like_a_command(arg: str) -> bool:
    """A bare word (no '=', no leading '-', not a sweep value): meant as a subcommand."""
    return not arg.startswith(("-", "+", "~")) and "=" not in arg and arg.replace("-", "").isalpha()


def _not_a_command(word: str) -> str:
    import difflib

    close = difflib.get_close_matches(word, list(SUBCOMMANDS), n=1, cutoff=0.6)
    hint = f"did you mean llem {close[0]}? " if close else ""
    return (
        f"{word} is not a llem command or a setting: {hint}commands are {', '.join(SUBCOMMANDS)}; "
        f"settings are key=value, e.g. model=tiny (llem --help)."
    )


def _stopped(stopped: interrupt.Interrupted, multirun: bool) -> int:
    """After a signal: end the sweep still open in this process (its summary counts the outcomes the
    Interrupted carries: measured, interrupted, not started; the warm engine is released first) as
    its end would, exit 128 + signal. A single run's warm worker is stopped at exit (llem.run.worker
    registers that with atexit)."""
    if multirun:
        from llem.sweep.callback import end_open_sweep

        end_open_sweep(stopped.signum, stopped.outcomes)
    return interrupt.exit_code(stopped.signum)


def entry() -> None:
    sys.exit(main())

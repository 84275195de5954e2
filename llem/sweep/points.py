"""A sweep's points, from the command line's overrides to composed, validated configs, before any
job starts; through Hydra's public API only.

llem's sweeper (launchers/hydra_plugins/llem_launchers/grid_sweeper.py) expands the overrides into
points as Hydra's basic sweeper does (`grid`: one axis per key in the order the keys first appear,
a repeated key keeping its last value at its first place, `hydra.sweeper.params` first), composes
the points with the config loader Hydra hands its plugins (`ConfigLoader.load_sweep_config`: exactly
the config the job gets) and validates each one (llem.config.validate) before the first job. A launcher
handed bare override lists (by another sweeper, such as Optuna) composes them here too
(`compose_points`).

Composing costs ~50 ms a point (Hydra copies its repository and its own schema for each
composition), most of a resumed sweep's time. A point that differs from one composed before only in
plain values of settings that exist there (`workload.input_tokens=8` where the other has 10; no
group choice, no +/~/++, no hydra key, no key nested in another override's) is derived from that
one instead: its task config is the composed one's with those values set by `OmegaConf.update`,
the call Hydra makes for such an override after composing. That gives what composing would, and is
used only where nothing could differ: the composed config calls no resolver (`${now:...}`,
`${oc.env:...}`, `${hydra:...}`) and refers to no hydra key. A derived point has no full config
until it runs: the launcher composes the points it starts (`composed`), checking the job it gets
against the derived one, before starting any."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from itertools import product
from typing import Any, Callable, Optional, Sequence

from llem.config.compose_errors import compose_error
from llem.config.validate import check_job, plain_config
from llem.errors import UserError
from llem.workload.server_checks import check_applied

# ${name:...} calls a resolver (values that depend on when or where they are resolved); ${hydra.x} and
# ${hydra:x} read the hydra node, which differs between points.
_RESOLVER_OR_HYDRA = re.compile(r"\$\{\s*([\w.\-]+\s*:|hydra\.)")


@dataclass
class Point:
    overrides: list[str]  # as the sweeper hands them to the launcher
    config: Any  # the composed config, hydra node included, as hydra.core.utils.run_job takes it; None: derived
    job: dict  # its task part as plain data
    idx: int = 0  # its job number in the sweep


def grid(arguments: Sequence[str], config_loader=None, max_batch_size: Optional[int] = None) -> list[list[list[str]]]:
    """The sweep's points in batches (all in one unless max_batch_size), each an override list.
    `config_loader` lets a glob(...) sweep list a group's options."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    try:
        parsed = OverridesParser.create(config_loader=config_loader).parse_overrides(list(arguments))
    except OverrideParseException as exc:
        raise compose_error(exc, arguments) from None
    axes: dict[str, list[str]] = {}
    for o in parsed:
        key = o.get_key_element()
        if not o.is_sweep_override():
            axes[key] = [f"{key}={o.get_value_element_as_str()}"]
            continue
        if not o.is_discrete_sweep():
            raise UserError(
                f"{o.input_line} is a continuous range: a grid sweep needs its values listed "
                f"(a,b,c or range(1,5)); an optimising sweeper (conf/experiment/optuna_example.yaml) "
                f"samples ranges."
            )
        values = [f"{key}={v}" for v in o.sweep_string_iterator()]
        if not values:
            raise UserError(
                f"{o.input_line} sweeps no values (an empty range or list): give at least one, "
                f"e.g. range(1,5) counts up from 1 to 4."
            )
        axes[key] = values
    points = [list(p) for p in product(*axes.values())]
    size = max_batch_size if max_batch_size and max_batch_size > 0 else max(len(points), 1)
    return [points[i : i + size] for i in range(0, len(points), size)]


def compose_point(config_loader, master, overrides: Sequence[str], idx: int) -> Point:
    """Point `idx` composed as Hydra's launchers compose a job (the master config's hydra overrides
    plus this point's), with its job number; UserError where it does not compose or resolve."""
    from omegaconf import open_dict

    try:
        config = config_loader.load_sweep_config(master, list(overrides))
    except Exception as exc:  # Hydra's composition errors name the bad key or option
        raise compose_error(exc, overrides, lambda ov: config_loader.load_sweep_config(master, list(ov))) from None
    with open_dict(config.hydra.job) as job:
        job.id = f"{job.name}_{idx}"
        job.num = idx
    return Point(list(overrides), config, task_job(config), idx)


def compose_points(
    config_loader, master, batch: Sequence[Sequence[str]], first_idx: int, check: Optional[Callable[[dict], Any]] = None
) -> list[Point]:
    """Every point of a batch composed; `check(job)` (llem.config.validate.check_job) raises for the first
    invalid one."""
    points = []
    for n, overrides in enumerate(batch):
        point = compose_point(config_loader, master, overrides, first_idx + n)
        if check is not None:
            check(point.job)
        points.append(point)
    return points


def validated_points(
    config_loader, master, arguments: Sequence[str], max_batch_size: Optional[int], here: bool
) -> list[list[Point]]:
    """The sweep's batches of points, every point composed or derived (see the module's docstring)
    and validated, UserError for the first bad one; `here`: its jobs run on this machine
    (llem.config.validate.launches_here)."""
    bases = Bases(config_loader, master)
    batches, first, specs = [], 0, []
    for batch in grid(arguments, config_loader, max_batch_size):
        points = []
        for n, overrides in enumerate(batch):
            point = bases.point(overrides, first + n)
            specs.append(check_job(point.job, here))
            points.append(point)
        batches.append(points)
        first += len(batch)
    check_applied(specs, sweep=True)
    return batches


def composed(config_loader, master, point: Point) -> Point:
    """A point with its full config, composed now if it was derived; the job Hydra's composition gives
    is the one that runs (it equals the derived one: tests/launchers/test_launcher_resume.py)."""
    if point.config is not None:
        return point
    full = compose_point(config_loader, master, point.overrides, point.idx)
    if full.job != point.job:  # never seen: say so, the composed one runs
        import sys

        print(
            f"llem: warning: job #{point.idx} ({' '.join(point.overrides)}) composed differently from the config "
            f"derived for it while validating; it runs with the composed one",
            file=sys.stderr,
        )
    return full


class Bases:
    """The points composed so far, by the override lists they share with later points."""

    def __init__(self, config_loader, master) -> None:
        self.loader, self.master = config_loader, master
        self.values: dict[str, Optional[tuple[str, Any]]] = {}  # override -> (key, value) where plain
        self.bases: dict[tuple, Optional[Any]] = {}  # shape -> the task config to derive from, or None

    def point(self, overrides: Sequence[str], idx: int) -> Point:
        plain = [self._plain_value(o) for o in overrides]
        shape = tuple(o if v is None else f"{v[0]}=*" for o, v in zip(overrides, plain))
        if shape in self.bases and self.bases[shape] is not None:
            task = copy.deepcopy(self.bases[shape])
            for v in plain:
                if v is not None:
                    _update(task, *v)
            return Point(list(overrides), None, plain_config(task), idx)
        point = compose_point(self.loader, self.master, overrides, idx)
        if shape not in self.bases:
            self.bases[shape] = _derivable(
                point.config,
                [v[0] for v in plain if v is not None],
                [o.lstrip("+~").partition("=")[0] for o, v in zip(overrides, plain) if v is None],
            )
        return point

    def _plain_value(self, override: str) -> Optional[tuple[str, Any]]:
        """(key, value) of a plain `key=value` override of a nested, non-hydra setting to a scalar."""
        if override not in self.values:
            from hydra.core.override_parser.overrides_parser import OverridesParser
            from hydra.core.override_parser.types import OverrideType

            found = None
            try:
                o = OverridesParser.create().parse_override(override)
            except Exception:  # composing it says what is wrong
                o = None
            if o is not None and o.type == OverrideType.CHANGE and o.package is None and not o.is_sweep_override():
                key, value = o.key_or_group, o.value()
                if (
                    "." in key
                    and "/" not in key
                    and key.split(".")[0] != "hydra"
                    and (value is None or isinstance(value, (str, int, float, bool)))
                ):
                    found = (key, value)
            self.values[override] = found
        return self.values[override]


def _derivable(config, keys: list[str], other_keys: list[str]) -> Optional[Any]:
    """The task part of a composed point (unresolved) to derive its shape's later points from, or None
    where a derived point could differ from a composed one."""
    from omegaconf import DictConfig, OmegaConf

    if not keys:
        return None
    for key in keys:
        if any(
            k == key or k.startswith(key + ".") or key.startswith(k + ".") for k in other_keys + [x for x in keys if x != key]
        ):
            return None  # another override also writes there: the order they are applied in would matter
        parent_key, _, leaf = key.rpartition(".")
        parent = OmegaConf.select(config, parent_key, default=None, throw_on_missing=False)
        if not isinstance(parent, DictConfig) or leaf not in parent:
            return None
        if not (OmegaConf.is_interpolation(parent, leaf) or not OmegaConf.is_config(parent[leaf])):
            return None
    task = OmegaConf.masked_copy(config, [k for k in config if k != "hydra"])
    if _RESOLVER_OR_HYDRA.search(json.dumps(OmegaConf.to_container(task, resolve=False), default=str)):
        return None
    return task


def _update(task, key: str, value: Any) -> None:
    from omegaconf import OmegaConf

    OmegaConf.update(task, key, value, merge=True)  # what Hydra does with a `key=value` override


def task_job(config) -> dict:
    """A composed config's task part (every key but hydra) as plain data, resolved as the job
    resolves it (HydraConfig set to this point's, for ${hydra:...})."""
    from hydra.core.hydra_config import HydraConfig

    HydraConfig.instance().set_config(config)
    return plain_config(config, leave_out="hydra")

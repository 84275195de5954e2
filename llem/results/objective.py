"""The value a job returns to a Hydra sweeper (e.g. Optuna): one number to minimise.

`run.objective` names a headline metric of result.json, or several separated by `|` in order of
preference: the first one the job measured is returned. Several objectives separated by `,` make a
multi-objective study (e.g. `energy_j_per_output_token,batch_latency_p90_s` with the Optuna
sweeper's `direction: [minimize, minimize]`): the job returns one value per objective. That lets one config serve GPU machines
(J/output token) and CPU-only ones, where energy is not measured. Metrics where more is better are
returned negated, so a sweeper always minimises. `run.max_latency_s` turns a latency limit into a
penalty: a job whose p90 batch latency exceeds it returns +inf, worse than any job within the limit.
"""

from __future__ import annotations

import math
from typing import Optional

from llem.errors import choice_error

LOWER_IS_BETTER = (
    "energy_j_per_output_token",
    "dynamic_energy_j_per_output_token",
    "energy_j_per_request",
    "energy_j",
    "avg_power_w",
    "energy_delay_j_s",
    "co2e_g",
    "batch_latency_p50_s",
    "batch_latency_p90_s",
    "batch_latency_mean_s",
    "ttft_p50_s",
    "ttft_p90_s",
    "e2e_latency_p90_s",
    "tpot_p90_s",
)
HIGHER_IS_BETTER = ("output_tokens_per_s", "output_tokens_per_j", "requests_per_s")
LATENCY_METRIC = "batch_latency_p90_s"  # what run.max_latency_s limits: the latency a batch's requests saw


def check_objective(objective: str) -> None:
    """Raise a one-sentence UserError for an unknown metric name (called while validating the spec)."""
    for part in objective.split(","):
        for name in part.split("|"):
            if name.strip() not in LOWER_IS_BETTER + HIGHER_IS_BETTER:
                raise choice_error("run.objective", name.strip(), list(LOWER_IS_BETTER + HIGHER_IS_BETTER))


def objective_result(objective: str, max_latency_s: Optional[float], metrics: dict):
    """What the job returns to a sweeper: one value, or a list of them for a multi-objective study
    (None when an objective was not measured: the sweeper records the trial as failed, never 0)."""
    if "," not in objective:
        return objective_value(objective, max_latency_s, metrics)
    values = [objective_value(part, max_latency_s, metrics) for part in objective.split(",")]
    return None if any(v is None for v in values) else values


def objective_value(objective: str, max_latency_s: Optional[float], metrics: dict) -> Optional[float]:
    """The number to minimise for this job's metrics; None when none of the named metrics was measured."""
    value = None
    for name in (n.strip() for n in objective.split(",")[0].split("|")):
        measured = metrics.get(name)
        if isinstance(measured, (int, float)) and math.isfinite(measured):
            value = -float(measured) if name in HIGHER_IS_BETTER else float(measured)
            break
    if value is None:
        return None
    if max_latency_s is not None:
        latency = metrics.get(LATENCY_METRIC)
        if latency is None or latency > max_latency_s:
            return math.inf
    return value


def best_result(results: list[dict], objective: str, max_latency_s: Optional[float]) -> Optional[dict]:
    """The result a sweeper minimising this job's returned value would name best (single objective: the
    lowest value; the first of equals); None where no result has a finite value or the study has several
    objectives (its best is a Pareto front, not one result)."""
    if "," in objective:
        return None
    scored = [
        (objective_value(objective, max_latency_s, r.get("metrics") or {}), i, r)
        for i, r in enumerate(results)
        if r.get("status") == "ok"
    ]
    scored = [(v, i, r) for v, i, r in scored if v is not None and math.isfinite(v)]
    return min(scored, key=lambda x: (x[0], x[1]))[2] if scored else None

"""Validation of workload.prefix_share / prefix_group_size, run by llem.config.spec before any model loads.

Plain rules (no engine import): the spec may import this module."""

from __future__ import annotations

from llem.errors import UserError
from llem.workload.prefix import shared_tokens

# The settings' defaults: a workload without a shared prefix leaves both out of its config hash.
PREFIX_DEFAULTS = {"prefix_share": 0.0, "prefix_group_size": 8}


def check_prefix_workload(w) -> None:
    if w.prefix_share == 0:
        return
    if w.source != "synthetic":
        raise UserError(
            f"workload.prefix_share={w.prefix_share:g} needs workload.source=synthetic (token-id prompts of exact "
            f"length, whose shared prefix is exact), not workload.source={w.source}: use workload=synthetic, "
            f"or workload.prefix_share=0."
        )
    if shared_tokens(w.input_tokens, w.prefix_share) == 0:
        raise UserError(
            f"workload.prefix_share={w.prefix_share:g} of workload.input_tokens={w.input_tokens} shares no whole "
            f"token (floor({w.prefix_share:g} x {w.input_tokens}) = 0): give a larger prefix_share or input_tokens."
        )
    if w.prefix_group_size < 2:
        raise UserError(
            f"workload.prefix_group_size={w.prefix_group_size} gives every prefix to one prompt only, so "
            f"workload.prefix_share={w.prefix_share:g} shares nothing: give workload.prefix_group_size >= 2."
        )

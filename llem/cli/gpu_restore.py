"""`llem gpu-restore`: put back the power limit and clocks of GPUs that a killed llem job changed
(hardware.power_limit_w, sm_clocks_mhz, mem_clock_mhz), from the restore records in llem's cache."""

from __future__ import annotations

import argparse
import sys

from llem.energy.gpu_settings import restore_dir, restore_record
from llem.energy.nvml import NvmlUnavailable, init_nvml, load_nvml


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="llem gpu-restore", description=__doc__.splitlines()[0])
    p.add_argument("--list", action="store_true", help="show the records without restoring")
    args = p.parse_args(argv)
    records = sorted(restore_dir().glob("*.json"))
    if not records:
        print(f"llem gpu-restore: nothing to restore (no records in {restore_dir()})")
        return 0
    if args.list:
        for path in records:
            print(path.read_text())
        return 0
    try:
        nvml = load_nvml()
        init_nvml(nvml)
    except NvmlUnavailable as exc:
        print(f"llem: error: NVML is not available here ({exc}): run llem gpu-restore on the GPU's own machine.", file=sys.stderr)
        return 2
    failed = 0
    for path in records:
        out = restore_record(nvml, path)
        if out["restored"]:
            print(f"llem gpu-restore: {out['uuid']} restored ({', '.join(out['record']['changed'])})")
        else:
            failed += 1
            print(f"llem gpu-restore: {out['uuid']} NOT restored: {'; '.join(out['failed'])} (record kept: {path})")
    return 1 if failed else 0

"""Peak dense throughput and memory bandwidth of GPUs, from NVIDIA's datasheets (no sparsity).

These are the denominators of MFU and MBU (llem/results/roofline.py). They are datasheet figures,
named as such in every result: a card at a lower power limit or clock reaches less. Matched by
the GPU name NVML reports (the first entry whose every word is a whole word of it, split at
anything not a letter or digit, case aside: "NVIDIA GH200" is not an H200; most
specific first: "NVIDIA A100-PCIE-40GB", "NVIDIA H100 80GB HBM3", "NVIDIA H200").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Peak:
    name: str  # the datasheet's product name
    bf16_flop_s: float  # dense BF16/FP16 tensor-core FLOP/s
    fp8_flop_s: Optional[float]  # dense FP8 tensor-core FLOP/s; None where the card has no FP8
    memory_b_s: float  # memory bandwidth, bytes/s
    source: str

    def flop_s(self, compute: str) -> Optional[float]:
        return self.fp8_flop_s if compute == "fp8" else self.bf16_flop_s

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "bf16_flop_s": self.bf16_flop_s,
            "fp8_flop_s": self.fp8_flop_s,
            "memory_b_s": self.memory_b_s,
            "source": self.source,
        }


_H100 = "NVIDIA H100 Tensor Core GPU datasheet"
_H200 = "NVIDIA H200 Tensor Core GPU datasheet"
_A100 = "NVIDIA A100 Tensor Core GPU datasheet"
_L40S = "NVIDIA L40S datasheet"

# (words that must all appear in the NVML name, the peak); more specific entries first.
PEAKS: tuple[tuple[tuple[str, ...], Peak], ...] = (
    (("H200", "NVL"), Peak("H200 NVL", 835e12, 1671e12, 4.8e12, _H200)),
    (("H200",), Peak("H200 SXM", 989.4e12, 1978.9e12, 4.8e12, _H200)),
    (("H100", "NVL"), Peak("H100 NVL", 835e12, 1671e12, 3.9e12, _H100)),
    (("H100", "PCIe"), Peak("H100 PCIe", 756e12, 1513e12, 2.0e12, _H100)),
    (("H100",), Peak("H100 SXM", 989.4e12, 1978.9e12, 3.35e12, _H100)),
    (("A100", "PCIe", "40GB"), Peak("A100 40GB PCIe", 312e12, None, 1.555e12, _A100)),
    (("A100", "PCIe"), Peak("A100 80GB PCIe", 312e12, None, 1.935e12, _A100)),
    (("A100", "40GB"), Peak("A100 40GB SXM", 312e12, None, 1.555e12, _A100)),
    (("A100",), Peak("A100 80GB SXM", 312e12, None, 2.039e12, _A100)),
    (("L40S",), Peak("L40S", 362.05e12, 733e12, 0.864e12, _L40S)),
)


def peak_for(gpu_name: Optional[str]) -> Optional[Peak]:
    """The datasheet peak of the GPU NVML names `gpu_name`; None where llem has no figures for it."""
    if not gpu_name:
        return None
    words = set(re.split(r"[^A-Z0-9]+", gpu_name.upper()))  # whole words: "GH200" is not "H200"
    for needed, peak in PEAKS:
        if all(word.upper() in words for word in needed):
            return peak
    return None

"""The echo engine in process, through llem's Backend contract."""

from __future__ import annotations

import os
import time

from llem.backends.base import Backend, BatchRecord, Generation, Request

from llem_echo_engine import model
from llem_echo_engine.config import EchoConfig


class EchoBackend(Backend[EchoConfig]):
    name = "echo"

    def load(self) -> None:
        self.loaded = True

    def encode(self, text: str) -> list[int]:
        return model.encode(text)

    @property
    def vocab_size(self) -> int:
        return model.VOCAB

    def generate(self, requests: list[Request]) -> Generation:
        s, n = self.settings, self.spec.workload.output_tokens
        bs = self.spec.workload.batch_size if s.batching == "static" else len(requests)
        ins, outs, ids, batches = [], [], [], []
        for start in range(0, len(requests), bs):
            group = requests[start : start + bs]
            t0 = time.perf_counter()
            made = [model.generate(r.input_ids, n, s.rounds) for r in group]
            time.sleep(s.token_delay_s * n)  # one step per token for the whole batch
            latency = time.perf_counter() - t0
            ins += [len(r.input_ids) for r in group]
            outs += [len(m) for m in made]
            ids += made
            batches.append(
                BatchRecord(
                    requests=len(group),
                    input_tokens=sum(len(r.input_ids) for r in group),
                    output_tokens=sum(len(m) for m in made),
                    latency_s=latency,
                )
            )
        return Generation(input_tokens=ins, output_tokens=outs, batches=batches, output_ids=ids)

    def describe(self) -> dict:
        from importlib.metadata import version

        return {
            "engine": "echo",
            "engine_version": version("llem-echo-engine"),
            "effective_settings": {
                "batching": self.settings.batching,
                "batch_size": self.spec.workload.batch_size,
                "rounds": self.settings.rounds,
                # its telemetry switch (Engine.telemetry_off), as this process saw it
                "usage_stats": "off" if os.environ.get("ECHO_NO_USAGE_STATS") == "1" else "on",
            },
        }

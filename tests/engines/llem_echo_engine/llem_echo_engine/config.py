"""The echo engine's settings: its defaults are `backend=echo`'s (it ships no YAML)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from llem.errors import UserError


class EchoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["echo"] = "echo"
    token_delay_s: float = Field(0.002, ge=0)  # wall time per generated token (per batch step offline)
    rounds: int = Field(200, ge=1)  # arithmetic rounds per generated token: the CPU work of a step
    batching: Literal["static", "continuous"] = "static"

    @classmethod
    def check(cls, spec) -> None:
        if spec.workload.output_tokens > 4096:
            raise UserError(
                f"workload.output_tokens={spec.workload.output_tokens} is more than backend=echo generates: use at most 4096."
            )

    @classmethod
    def check_server(cls, spec) -> None:
        if spec.backend["batching"] == "static":
            raise UserError("backend.batching=static does not apply to the echo server: use backend.batching=continuous.")

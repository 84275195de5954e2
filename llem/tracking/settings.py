"""Tracking settings (the `tracking` config group), validated here before any model loads.

TrackingSpec in llem.config.spec is loosely typed; this module owns the meaning of its fields.
Nothing here imports mlflow.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llem.errors import UserError

# Stores MLflow can write to: its server, SQLAlchemy databases, and the (deprecated) file store.
URI_SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql", "file", "databricks")


class MlflowSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "mlflow"
    uri: str = "sqlite:///mlflow.db"
    experiment: str = Field("llem", min_length=1)
    timeout_s: float = Field(10.0, gt=0)
    artifacts: bool = True

    @property
    def is_http(self) -> bool:
        return urlparse(self.uri).scheme in ("http", "https")

    def resolved_uri(self, cwd: Optional[Path] = None) -> str:
        """The URI with a relative SQLite path made absolute (against cwd, the user's working dir)."""
        return resolve_uri(self.uri, cwd)


def resolve_uri(uri: str, cwd: Optional[Path] = None) -> str:
    parsed = urlparse(uri)
    if parsed.scheme == "sqlite":
        path = uri[len("sqlite:///") :] if uri.startswith("sqlite:///") else ""
        if path and not path.startswith("/") and path != ":memory:":
            return "sqlite:///" + str(Path(cwd or os.getcwd()).resolve() / path)
    return uri


def check_uri(uri: str) -> None:
    scheme = urlparse(uri).scheme
    if scheme not in URI_SCHEMES:
        shown = f"scheme '{scheme}'" if scheme else "no scheme"
        raise UserError(
            f"tracking.uri={uri} has {shown}: use sqlite:///mlflow.db (a local file), "
            f"http://host:port (an MLflow server), or one of {', '.join(URI_SCHEMES)}."
        )
    if scheme == "sqlite" and not uri.startswith("sqlite:///"):
        raise UserError(
            f"tracking.uri={uri} is not a SQLite URI MLflow understands: write sqlite:///relative.db or sqlite:////absolute/path.db."
        )
    if scheme in ("http", "https") and not urlparse(uri).netloc:
        raise UserError(f"tracking.uri={uri} names no host: write it as {scheme}://host:port.")


def mlflow_settings(tracking) -> MlflowSettings:
    """Validate the tracking group (a TrackingSpec or a dict) as MLflow settings; UserError if bad."""
    data = tracking.model_dump() if hasattr(tracking, "model_dump") else dict(tracking)
    try:
        settings = MlflowSettings(**data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            raise UserError(
                f"tracking.{field} is not a setting of tracking=mlflow: use uri, experiment, timeout_s or artifacts."
            ) from None
        raise UserError(f"tracking.{field}={err.get('input')} is not valid: {err['msg'][0].lower() + err['msg'][1:]}.") from None
    check_uri(settings.uri)
    return settings


def check_tracking(tracking) -> None:
    """Validation hook for llem.config.spec.build_spec: raises UserError (one sentence) for bad settings."""
    name = tracking.name if hasattr(tracking, "name") else tracking.get("name", "none")
    if name == "mlflow":
        mlflow_settings(tracking)

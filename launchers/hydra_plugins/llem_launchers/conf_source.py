"""llem's config files read and parsed once per process, on Hydra's public plugin API.

Hydra reads and parses every config file of a composition again for each composition (its cache
lives for one). A sweep composes each of its points once, before the first job (llem's sweeper):
~16 YAML files a point, which made YAML parsing about a third of a 200-point resume. Here a
SearchPathPlugin puts a ConfigSource for llem's own config package (`llem-pkg://llem.conf`) just
before Hydra's `pkg://llem.conf` wherever an app's search path holds that (llem's app, and the
compose API on llem.conf); any other Hydra app on the machine is left as it is. The source keeps
each file as first parsed and hands every load its own deep copy (Hydra's repository edits what it
is given: it pops the defaults list), so each composition sees exactly what a fresh read gives
(tests/launchers/test_launcher_resume.py compares them).
"""

from __future__ import annotations

import copy
import io
import os
from importlib import resources
from typing import Any, List, Optional

from hydra.core.config_search_path import ConfigSearchPath, SearchPathQuery
from hydra.core.object_type import ObjectType
from hydra.plugins.config_source import ConfigLoadError, ConfigResult, ConfigSource
from hydra.plugins.search_path_plugin import SearchPathPlugin

PACKAGE = "llem.conf"
PACKAGES = ("hydra.conf", PACKAGE)  # Hydra's own configs and llem's
SCHEME = "llem-pkg"


class ReadOncePackageSource(ConfigSource):
    """`llem-pkg://<package>`: the config files of a Python package, each parsed once."""

    def __init__(self, provider: str, path: str) -> None:
        super().__init__(provider=provider, path=path)
        self.path = self.path.replace("/", ".").rstrip(".")
        self._parsed: dict = {}  # file name -> (config, header), as first read
        self._kinds: dict = {}  # path -> "config" | "group" | None: what the package holds there

    def __deepcopy__(self, memo: dict) -> "ReadOncePackageSource":
        # Hydra copies its repository, sources included, for every composition; the files parsed so
        # far are shared instead (a source is otherwise immutable, and loads hand out copies).
        return self

    @staticmethod
    def scheme() -> str:
        return SCHEME

    def _root(self) -> Any:
        return resources.files(self.path)

    def _kind(self, path: str) -> Optional[str]:
        if path not in self._kinds:
            try:
                entry = self._root().joinpath(path)
                self._kinds[path] = "config" if entry.is_file() else "group" if entry.is_dir() else None
            except (ValueError, ModuleNotFoundError, TypeError):
                self._kinds[path] = None
        return self._kinds[path]

    def load_config(self, config_path: str) -> ConfigResult:
        from omegaconf import OmegaConf

        name = self._normalize_file_name(config_path)
        if name not in self._parsed:
            if self._kind(name) != "config":
                raise ConfigLoadError(f"Config not found : {name}")
            text = self._root().joinpath(name).read_text(encoding="utf-8")
            self._parsed[name] = (OmegaConf.load(io.StringIO(text)), ConfigSource._get_header_dict(text[:512]))
        config, header = self._parsed[name]
        return ConfigResult(
            config=copy.deepcopy(config), path=f"{self.scheme()}://{self.path}", provider=self.provider, header=dict(header)
        )

    def available(self) -> bool:
        return self._kind("__init__.py") == "config"

    def is_group(self, config_path: str) -> bool:
        return self._kind(config_path) == "group"

    def is_config(self, config_path: str) -> bool:
        return self._kind(self._normalize_file_name(config_path)) == "config"

    def list(self, config_path: str, results_filter: Optional[ObjectType]) -> List[str]:
        files: List[str] = []
        for entry in self._root().joinpath(config_path).iterdir():
            self._list_add_result(
                files=files, file_path=os.path.join(config_path, entry.name), file_name=entry.name, results_filter=results_filter
            )
        return sorted(set(files))


class ReadOnceSearchPath(SearchPathPlugin):
    """In a search path that holds `pkg://llem.conf`: a read-once source before it, and before Hydra's
    own `pkg://hydra.conf` (its output, logging and help configs are read for every composition too)."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        paths = [element.path for element in search_path.get_path()]
        if f"pkg://{PACKAGE}" not in paths:
            return
        for package in PACKAGES:
            if f"pkg://{package}" in paths:
                search_path.prepend(
                    provider="llem", path=f"{SCHEME}://{package}", anchor=SearchPathQuery(path=f"pkg://{package}")
                )

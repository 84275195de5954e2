"""Secrets and safety: tokens never reach results, logs or the tracking store; trust_remote_code
is off unless asked; the Docker launcher passes secrets by name, never their values."""

from __future__ import annotations

import re

import pytest

from conftest import REPO, llem_env, run_llem

SENTINEL = "llem-sentinel-5e1f0c2a9b"
SECRETS = {
    "HF_TOKEN": f"hf_{SENTINEL}",
    "HUGGING_FACE_HUB_TOKEN": f"hub_{SENTINEL}",
    "OPENAI_API_KEY": f"sk-{SENTINEL}",
    "MLFLOW_TRACKING_TOKEN": f"mlflow_{SENTINEL}",
    "LLEM_TEST_ACCESS_KEY": f"ak_{SENTINEL}",
}


@pytest.mark.slow
def test_tokens_appear_in_no_file_written_and_no_log(tmp_path):
    # A real run with the default tracking (MLflow, SQLite store and artifacts in the working dir):
    # every file written under it, binary ones included, and the console output are scanned.
    env = llem_env(**SECRETS)
    proc = run_llem(
        [
            "model=tiny",
            "hardware=cpu",
            "workload.num_prompts=2",
            "workload.batch_size=2",
            "workload.output_tokens=4",
            "run.repeats=1",
            "run.warmup=0",
            "energy.baseline_s=0",
            "tracking=mlflow",
            "run.output_root=out",
        ],
        tmp_path,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    names = {p.name for p in written}
    assert {"result.json", "config.yaml", "environment.json", "mlflow.db"} <= names, names  # the scan saw them
    assert any("llem.log" == n or n.endswith(".log") for n in names), names  # and the job's log
    leaks = [str(p.relative_to(tmp_path)) for p in written if SENTINEL.encode() in p.read_bytes()]
    assert not leaks, leaks
    assert SENTINEL not in proc.stdout


def test_trust_remote_code_is_off_unless_asked():
    from hydra import compose, initialize_config_module

    from llem.cli.app import plain_config
    from llem.config.spec import build_spec

    models = sorted(p.stem for p in (REPO / "conf" / "model").glob("*.yaml"))
    assert "tiny" in models
    with initialize_config_module(config_module="llem.conf", version_base=None):
        for name in models:
            cfg = compose(config_name="config", overrides=[f"model={name}", "hardware=cpu", "tracking=none"])
            assert plain_config(cfg)["model"]["trust_remote_code"] is False, name
        asked = compose(
            config_name="config", overrides=["model=tiny", "hardware=cpu", "tracking=none", "model.trust_remote_code=true"]
        )
        assert build_spec(plain_config(asked)).model.trust_remote_code is True


def test_every_engine_call_takes_trust_remote_code_from_the_spec():
    # Wherever llem hands trust_remote_code to an engine, the value is the job's setting (or a
    # parameter defaulting to False), never a literal True.
    uses = []
    for path in sorted((REPO / "llem").rglob("*.py")):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            for m in re.finditer(r"""["']?trust_remote_code["']?\s*[=:]\s*([^,)\n]+)""", line):
                uses.append((f"{path.relative_to(REPO)}:{lineno}", m.group(1).strip()))
    assert len(uses) >= 4, uses  # the scan found the engine calls
    for where, value in uses:
        assert value.endswith("trust_remote_code") or value in ("bool = False", "False") or value.startswith("bool"), (
            where,
            value,
        )
        assert value != "True", where


def test_docker_launcher_passes_secrets_by_name_and_never_uses_a_shell(tmp_path):
    from hydra_plugins.llem_launchers import _docker_argv as argvs

    job = {"model": {"source": "builtin"}, "workload": {}, "run": {"output_root": "out"}, "hardware": {}}
    opts = argvs.DockerOptions(pass_env=[*argvs.DockerOptions().pass_env, "OPENAI_API_KEY", "LLEM_TEST_ACCESS_KEY"])
    environ = dict(SECRETS, LLEM_GIT_REVISION="abc123", HF_HUB_OFFLINE="1")
    argv = argvs.run_argv(
        image="llem/cpu:0",
        name="n",
        jobs=[job],
        job_dirs=[tmp_path / "j"],
        cwd=tmp_path,
        gpus=[],
        opts=opts,
        environ=environ,
        cache=None,
    )
    assert all(isinstance(a, str) for a in argv)
    assert not [a for a in argv if SENTINEL in a], argv  # no secret value on the command line
    env_args = [argv[i + 1] for i, a in enumerate(argv) if a == "--env"]
    for name in ("HF_TOKEN", "MLFLOW_TRACKING_TOKEN", "OPENAI_API_KEY", "LLEM_TEST_ACCESS_KEY"):
        assert name in env_args, env_args  # by name: docker reads the value from its own environment
    assert "LLEM_GIT_REVISION=abc123" in env_args and "HF_HUB_OFFLINE=1" in env_args  # plain settings keep values
    assert "HUGGING_FACE_HUB_TOKEN" not in " ".join(env_args)  # not in pass_env: not passed at all
    for name, secret in [
        ("HF_TOKEN", True),
        ("MLFLOW_TRACKING_PASSWORD", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("LLEM_CACHE_DIR", False),
        ("HF_HUB_OFFLINE", False),
        ("CUDA_VISIBLE_DEVICES", False),
    ]:
        assert argvs.is_secret_name(name) is secret, name
    sources = "\n".join(p.read_text() for p in (REPO / "launchers").rglob("*.py"))
    assert "shell=True" not in sources and "os.system(" not in sources and "os.popen(" not in sources

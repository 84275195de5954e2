"""The launcher presets compose, and the pure parts of the launchers (resources, device
requests, mounts, environment, refusals) do what the docs say. No cluster or daemon needed."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from hydra_plugins.llem_launchers import _docker_argv as argvs
from hydra_plugins.llem_launchers._common import isolation_note
from hydra_plugins.llem_launchers.submitit_launchers import check_disjoint, slurm_resources

from conftest import run_llem  # tests/conftest.py


def composed(*overrides: str):
    with initialize_config_module(config_module="llem.conf", version_base=None):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=True)


def job(*overrides: str) -> dict:
    cfg = composed(*overrides)
    container = OmegaConf.to_container(cfg, resolve=False)
    container.pop("hydra")
    return OmegaConf.to_container(OmegaConf.create(container), resolve=True)


@pytest.mark.parametrize(
    "choice, target",
    [
        ("local", "SequentialLocalLauncher"),
        ("submitit_local", "SequentialLocalLauncher"),  # the plain plugin name is one-at-a-time too
        ("slurm", "LlemSlurmLauncher"),
        ("docker", "DockerLauncher"),
    ],
)
def test_presets_compose_to_llem_launchers(choice, target):
    launcher = composed(f"hydra/launcher={choice}").hydra.launcher
    assert launcher._target_.startswith("hydra_plugins.llem_launchers.")
    assert launcher._target_.endswith(target)


def test_slurm_preset_runs_one_job_at_a_time_by_default():
    assert composed("hydra/launcher=slurm").hydra.launcher.array_parallelism == 1


def test_slurm_resources_come_from_the_hardware_profile():
    assert slurm_resources(job("hardware=h100")) == {"gpus_per_node": 1, "cpus_per_task": 16, "mem_gb": 128}
    assert slurm_resources(job("hardware=h100", "hardware.gpu_count=4"))["gpus_per_node"] == 4
    assert slurm_resources(job("hardware=cpu"))["gpus_per_node"] is None


def test_slurm_refuses_gpu_indices(capsys):
    with pytest.raises(SystemExit) as exc:
        slurm_resources(job("hardware=h100", "hardware.gpus=[0,1]", "hardware.gpu_count=2"))
    assert exc.value.code == 2
    assert "set hardware.gpu_count instead" in capsys.readouterr().err


def test_parallel_local_jobs_must_own_disjoint_gpus(capsys):
    a, b = job("hardware=cuda", "hardware.gpus=[0]"), job("hardware=cuda", "hardware.gpus=[1]")
    check_disjoint([a, b])  # disjoint: accepted
    with pytest.raises(SystemExit):
        check_disjoint([a, job("hardware=cuda", "hardware.gpus=[0]")])
    assert "both use GPU 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        check_disjoint([job("hardware=cpu"), job("hardware=cpu")])
    assert "jobs on a CPU always share it" in capsys.readouterr().err


def test_isolation_note_names_engines_that_cannot_share_a_process():
    torch_job, trt_job, vllm_job = job("backend=pytorch"), job("backend=tensorrt"), job("backend=vllm")
    note = isolation_note([torch_job, trt_job], "in its own container")
    assert note and "tensorrt: tensorrt" in note and "torch: pytorch" in note and "own container" in note
    assert isolation_note([torch_job, vllm_job], "in its own process") is None  # same group


def test_images_are_chosen_per_engine_and_device():
    opts = argvs.DockerOptions()
    assert argvs.image_for(job("backend=pytorch"), "cpu", opts, "9.9") == "llem/cpu:9.9"
    assert argvs.image_for(job("backend=pytorch"), "cuda", opts, "9.9") == "llem/pytorch:9.9"
    assert argvs.image_for(job("backend=tensorrt"), "cuda", opts, "9.9") == "llem/tensorrt-llm:9.9"
    assert argvs.image_for(job("backend=llamacpp"), "cuda", opts, "9.9") == "llem/llamacpp:9.9"
    assert argvs.build_command("llem/tensorrt-llm:9.9", opts, "9.9") == "bash docker/build.sh tensorrt-llm"
    assert argvs.image_for(job(), "cuda", argvs.DockerOptions(image="mine:1"), "9.9") == "mine:1"


def _argv(j: dict, tmp_path: Path, gpus: list[str], opts=None, environ=None) -> list[str]:
    return argvs.run_argv(
        image="llem/pytorch:9.9",
        name="n",
        jobs=[j],
        job_dirs=[tmp_path / "out" / "hydra" / "0"],
        cwd=tmp_path,
        gpus=gpus,
        opts=opts or argvs.DockerOptions(),
        environ=environ or {},
        cache=tmp_path / "cache",
    )


def _pairs(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


def test_docker_run_argv_for_a_gpu_job(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "hi"}\n')
    j = job(
        "hardware=cuda",
        "hardware.gpus=[2,3]",
        "hardware.gpu_count=2",
        "run.output_root=out",
        "workload=jsonl",
        f"workload.path={prompts}",
    )
    gpus = argvs.host_gpus(j, "cuda")
    argv = _argv(j, tmp_path, gpus, environ={"LLEM_MLFLOW_PARENT_RUN_ID": "abc", "SECRET": "x"})
    assert argv[:3] == ["docker", "run", "--rm"]
    assert _pairs(argv, "--gpus") == ['"device=2,3"']
    assert _pairs(argv, "--network") == ["none"]
    assert _pairs(argv, "--workdir") == [str(tmp_path)]
    # docker's init as PID 1, and time for llem to record an interrupted job after docker stop
    assert "--init" in argv and _pairs(argv, "--stop-timeout") == ["30"]
    vols = _pairs(argv, "--volume")
    out = (tmp_path / "out").resolve()
    assert f"{out}:{out}" in vols  # same absolute path inside: results land where a local run puts them
    assert f"{prompts}:{prompts}:ro" in vols
    env = _pairs(argv, "--env")
    assert "LLEM_MLFLOW_PARENT_RUN_ID=abc" in env and not any(e.startswith("SECRET=") for e in env)
    assert "HF_HUB_OFFLINE=1" in env and "LLEM_HOST_GPUS=2,3" in env
    assert argv[-4:-1] == ["python", "-m", argvs.JOB_MODULE] and argv[-5] == "llem/pytorch:9.9"


def test_docker_gpus_follow_the_hosts_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")
    assert argvs.host_gpus(job("hardware=cuda", "hardware.gpus=[1,2]", "hardware.gpu_count=2"), "cuda") == ["5", "6"]
    assert argvs.host_gpus(job("hardware=cuda"), "cuda") == ["4"]
    assert argvs.host_gpus(job("hardware=cpu"), "cpu") == []


def test_docker_network_and_gpus_can_be_opened_on_request(tmp_path):
    j = job("hardware=cuda")
    argv = _argv(j, tmp_path, ["0"], opts=argvs.DockerOptions(network="host", gpus="none", init=False, stop_timeout_s=5))
    assert _pairs(argv, "--network") == ["host"] and not _pairs(argv, "--gpus")
    assert "--init" not in argv and _pairs(argv, "--stop-timeout") == ["5"]
    assert not any(e.startswith("HF_HUB_OFFLINE=") for e in _pairs(argv, "--env"))


def test_parallel_local_on_a_cpu_is_refused_before_any_job(tmp_path):
    proc = run_llem(
        [
            "--multirun",
            "hydra/launcher=local",
            "hydra.launcher.parallel=true",
            "model=tiny",
            "hardware=cpu",
            "workload.batch_size=1,2",
            f"run.output_root={tmp_path}",
        ],
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout
    assert "llem: error: hydra.launcher.parallel=true" in proc.stdout
    assert "Traceback" not in proc.stdout
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("value", ["abc", "-3", "inf"])
def test_a_bad_slurm_gone_grace_is_one_sentence_before_anything_is_submitted(tmp_path, value):
    """Refused while Hydra instantiates the launcher, as the Docker launcher refuses its settings (_common.refuse; no Slurm here)."""
    args = ["--multirun", "hydra/launcher=slurm", f"hydra.launcher.gone_grace_s={value}", "model=tiny", "hardware=cpu"]
    proc = run_llem([*args, "tracking=none", "workload.batch_size=1,2", f"run.output_root={tmp_path}"], cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stdout
    assert "llem: error: hydra.launcher.gone_grace_s=" in proc.stdout and "0 or more (default 60)" in proc.stdout
    assert "Traceback" not in proc.stdout and "InstantiationException" not in proc.stdout
    assert not (tmp_path / "runs").exists()


def test_slurm_gone_grace_defaults_to_a_minute_and_takes_a_number():
    from hydra_plugins.llem_launchers.submitit_launchers import LlemSlurmLauncher

    launcher = LlemSlurmLauncher.__new__(LlemSlurmLauncher)  # the option alone, without submitit's setup
    launcher.llem_options = {}
    assert launcher.gone_grace_s() == 60.0
    launcher.llem_options = {"gone_grace_s": 5}
    assert launcher.gone_grace_s() == 5.0


def test_docker_jobs_do_not_count_hardware_gpus_in_the_hosts_visible_devices(tmp_path):
    # the host's CUDA_VISIBLE_DEVICES picked the container's GPUs (--gpus device=5,6); inside they are
    # 0 and 1 and hardware.gpus is renumbered, so the launch devices must not reach the job there
    from llem.host.visible_devices import LAUNCH_ENV

    j = job("hardware=cuda", "hardware.gpus=[1,2]", "hardware.gpu_count=2")
    env = _pairs(_argv(j, tmp_path, ["5", "6"], environ={LAUNCH_ENV: "4,5,6,7", "LLEM_OTHER": "x"}), "--env")
    assert "LLEM_OTHER=x" in env and "LLEM_HOST_GPUS=5,6" in env
    assert not [e for e in env if e.startswith(LAUNCH_ENV)], env

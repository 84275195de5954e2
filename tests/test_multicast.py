"""NVLink multicast off in the environment of a job that spans GPUs (llem/host/multicast.py), unless the
user set a switch; every engine process (vLLM workers, servers) inherits the worker's environment."""

from __future__ import annotations


from conftest import server_environment
from llem.host.multicast import MULTICAST_OFF, multicast_off, spans_gpus
from llem.run.worker import job_env
from llem.config.spec import HardwareSpec

OFF = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}


class _Spec:
    def __init__(self, **hw):
        self.hardware = HardwareSpec(name="h", **hw)


def test_the_three_switches_and_who_wins():
    assert MULTICAST_OFF == OFF
    assert multicast_off({"PATH": "/bin"}) == {"PATH": "/bin", **OFF}
    env = multicast_off({"NCCL_NVLS_ENABLE": "1"}, base={"NVSHMEM_DISABLE_NVLS": "0"})
    assert env == {"NCCL_NVLS_ENABLE": "1", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1"}  # the user's stay theirs


def test_which_jobs_span_gpus():
    assert spans_gpus(HardwareSpec(name="h", device="cuda", gpu_count=2))
    assert spans_gpus(HardwareSpec(name="h", device="auto", gpus=[0, 1], gpu_count=2))
    assert not spans_gpus(HardwareSpec(name="h", device="cuda", gpu_count=1))
    assert not spans_gpus(HardwareSpec(name="h", device="cuda", gpus=[1]))
    assert not spans_gpus(HardwareSpec(name="h", device="cpu", gpu_count=2))


def test_a_multi_gpu_jobs_worker_environment_has_them(monkeypatch):
    for key in OFF:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    env = job_env(_Spec(device="cuda", gpus=[0, 1], gpu_count=2))
    assert {k: env[k] for k in OFF} == OFF and env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert not set(OFF) & set(job_env(_Spec(device="cuda", gpu_count=1)))
    monkeypatch.setenv("NCCL_NVLS_ENABLE", "1")  # exported by the user: the worker's update leaves it
    assert "NCCL_NVLS_ENABLE" not in job_env(_Spec(device="cuda", gpu_count=2))


def test_a_server_started_in_that_environment_sees_them(tmp_path, monkeypatch):
    for key in OFF:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    for key, value in job_env(_Spec(device="cuda", gpu_count=2)).items():  # what _worker applies to itself
        monkeypatch.setenv(key, value)
    seen = server_environment(tmp_path)
    assert {k: seen.get(k) for k in OFF} == OFF

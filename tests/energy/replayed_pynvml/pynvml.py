"""TEST SUPPORT: `import pynvml` answered by llem's NVML replay, for third-party meters (Zeus, CodeCarbon).

Put this folder first on PYTHONPATH with LLEM_FAKE_NVML_TRACE=<csv> set, and every `import pynvml`
in that process gets this module: its nvml* functions are those of one llem.testing.fake_nvml.FakeNvml
replaying the trace (so Zeus and CodeCarbon read the same replayed counter as llem), its constants
and error classes are the real nvidia-ml-py's, and an NVML function the fake does not implement
raises NVMLError(NVML_ERROR_NOT_SUPPORTED), as a GPU without that feature does. Each energy-counter
read is appended to $LLEM_REPLAYED_PYNVML_LOG (trace time, mJ) when set, so a test can see exactly
which counter values a meter saw.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from llem.testing.fake_nvml import FakeNvml


def _real_pynvml():
    here = Path(__file__).resolve().parent
    for entry in sys.path:
        if entry and Path(entry).resolve() != here and (Path(entry) / "pynvml.py").is_file():
            spec = importlib.util.spec_from_file_location("_real_pynvml", Path(entry) / "pynvml.py")
            module = importlib.util.module_from_spec(spec)
            sys.modules["_real_pynvml"] = module  # its own code looks itself up while it loads
            spec.loader.exec_module(module)
            return module
    raise ImportError("nvidia-ml-py (the real pynvml) is not installed: pip install 'llem[test]'")


_real = _real_pynvml()
_fake = FakeNvml.from_csv(os.environ["LLEM_FAKE_NVML_TRACE"])
_log = os.environ.get("LLEM_REPLAYED_PYNVML_LOG")

NVMLError = _real.NVMLError  # the real class hierarchy (NVMLError_NotSupported, ...), raised by code


def _as_real_error(fn):
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except _fake.NVMLError as exc:
            raise _real.NVMLError(exc.value if isinstance(exc.value, int) else _real.NVML_ERROR_UNKNOWN) from exc

    return call


def nvmlDeviceGetTotalEnergyConsumption(handle):
    value = _as_real_error(_fake.nvmlDeviceGetTotalEnergyConsumption)(handle)
    if _log:
        with open(_log, "a") as f:
            f.write(f"{_fake.trace_time():.6f},{value}\n")
    return value


def nvmlDeviceGetArchitecture(handle):
    return _real.NVML_DEVICE_ARCH_HOPPER


def nvmlDeviceGetTemperatureV(handle, sensor):
    return _fake.nvmlDeviceGetTemperature(handle, sensor)


def nvmlDeviceGetComputeRunningProcesses(handle):
    return []


nvmlDeviceGetGraphicsRunningProcesses = nvmlDeviceGetComputeRunningProcesses


def _not_supported(name):
    def call(*args, **kwargs):
        raise _real.NVMLError(_real.NVML_ERROR_NOT_SUPPORTED)

    call.__name__ = name
    return call


def __getattr__(name):
    if name.startswith("nvml") and callable(getattr(_fake, name, None)):
        return _as_real_error(getattr(_fake, name))
    if name.startswith("nvml"):
        return _not_supported(name)
    return getattr(_real, name)  # constants, structs, error classes, _nvmlGetFunctionPointer

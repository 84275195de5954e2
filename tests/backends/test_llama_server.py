"""backend.server=llama-server: llama.cpp's own server (built by .ci/install.d/30-llamacpp.sh from the
llama.cpp that llama-cpp-python vendors), its plan from a JobSpec, and a real server-mode run on
loopback with parallel slots and its /metrics read."""

from __future__ import annotations

import re

import pytest
from conftest import REPO, provisioned, results_under, run_llem

from llem.errors import UserError

needs_bindings = pytest.mark.needs(
    "llama_cpp", "llama.cpp (llama-cpp-python)", "bash .ci/install.d/30-llamacpp.sh"
)  # a llamacpp spec
BASE = [
    "backend=llamacpp",
    "model=smollm2-135m",
    "workload=server",
    "hardware=cpu",
    "tracking=none",
    "backend.server=llama-server",
    "backend.n_threads=1",
]  # one thread: llama.cpp's workers spin


def _binary() -> str:
    from llem.backends.llamacpp.llama_server import binary

    try:
        return binary()
    except UserError as exc:
        provisioned("llama.cpp's llama-server", str(exc))


def _spec(*overrides):
    from test_llamacpp import compose_spec

    return compose_spec("workload=server", "model=smollm2-135m", "backend.server=llama-server", *overrides)


@needs_bindings
def test_plan_runs_one_slot_per_request_in_flight_with_continuous_batching(tmp_path):
    from llem.backends.llamacpp.llama_server import command

    exe = tmp_path / "llama-server"
    exe.write_text("#!/bin/sh\necho 'version: 1 (abc1234)'\n")
    exe.chmod(0o755)
    settings = _spec("backend.n_threads=2", "backend.type_k=q8_0", "backend.use_mmap=false").backend
    plan = command(settings, "/m.gguf", 8123, 512, 0, 2, 6, exe=str(exe))
    argv = plan.argv
    flag = {a: argv[i + 1] for i, a in enumerate(argv[:-1]) if a.startswith("--")}
    assert argv[0] == str(exe) and flag["--model"] == "/m.gguf" and flag["--host"] == "127.0.0.1" and flag["--port"] == "8123"
    assert flag["--parallel"] == "6" and flag["--ctx-size"] == str(6 * 512)  # each slot holds one sequence's n_ctx
    assert {"--cont-batching", "--metrics", "--no-kv-unified"} <= set(argv)
    assert flag["--threads"] == "2" and flag["--cache-type-k"] == "q8_0" and flag["--flash-attn"] == "off"
    assert flag["--load-mode"] == "none" and "--no-mmap" not in argv  # llama.cpp dropped --no-mmap (scripts/engine_drift.sh)
    assert plan.fixed_length == ("ignore_eos",) and plan.ready_path == "/health"
    assert plan.request_extras == {"top_k": 0, "top_p": 1.0, "min_p": 0.0, "repeat_penalty": 1.0, "seed": 0}
    assert plan.greedy_extras == {"top_k": 1}  # greedy requests: the argmax without a pass over the vocabulary per slot
    assert "version: 1 (abc1234)" in plan.engine


@needs_bindings
def test_every_layer_on_the_gpu_is_an_explicit_count_not_llama_servers_auto(monkeypatch):
    """-1 is "all" to the bindings and "auto" to llama-server (which kept a 1B model on the CPU of an
    H100): a CUDA job by default, or one that sets -1, asks llama-server for more layers than any model has."""
    from llem.backends.llamacpp import llama_server
    from llem.serving.plan import plan_for

    monkeypatch.setattr(llama_server, "binary", lambda: "/bin/true")
    monkeypatch.setattr(llama_server, "version", lambda exe: "version: test")
    monkeypatch.setattr("llem.backends.llamacpp.server.resolve_gguf", lambda model: ("/m.gguf", "test"))

    def flag(argv):
        return argv[argv.index("--n-gpu-layers") + 1]

    spec = _spec()  # n_gpu_layers unset: every layer on a CUDA device, none on the CPU
    assert flag(plan_for(spec, "cuda", 8000).argv) == "999"
    assert flag(plan_for(spec, "cpu", 8000).argv) == "0"
    for asked, passed in ((-1, "999"), (7, "7"), (0, "0")):
        assert flag(llama_server.command(spec.backend, "/m.gguf", 8000, 512, asked, 1, 1, exe="/bin/true").argv) == passed


# The llama library's load lines at llama-server's --log-verbosity 4, in the format of 0.3.36's vendored
# llama-model.cpp (load_tensors: "%12s model buffer size = %8.2f MiB"): the CPU ones as this box's build wrote
# them, the CUDA ones from the same format string (not yet recorded on a GPU); other lines must not count.
CUDA_LOG = """0.01.210.004 I load_tensors: offloading 16 repeating layers to GPU
0.01.210.006 I load_tensors: offloaded 17/17 layers to GPU
0.01.210.101 I load_tensors:   CPU_Mapped model buffer size =   501.00 MiB
0.01.210.102 I load_tensors:        CUDA0 model buffer size =  2357.26 MiB
0.01.400.000 I llama_kv_cache:      CUDA0 KV buffer size =   256.00 MiB
"""
CPU_LOG = """0.00.900.001 I load_tensors: offloaded 17/17 layers to GPU
0.00.900.101 I load_tensors:   CPU_Mapped model buffer size =  2357.26 MiB
0.00.900.102 I load_tensors:   CPU_REPACK model buffer size =    12.50 MiB
"""


def test_where_llama_server_put_the_weights_is_read_from_its_load_log_not_from_the_layer_count():
    """ "offloaded 17/17 layers" is the count asked for; the buffers say where the weights are. A CUDA job
    whose server holds none on a GPU is flagged with them; a CPU job, or a log without buffer lines, is not."""
    from llem.backends.llamacpp.llama_server import weights_placement
    from llem.harness.server import placement_flags

    gpu = weights_placement(CUDA_LOG)
    assert gpu["model_buffers_mib"] == {"CPU_Mapped": 501.0, "CUDA0": 2357.26} and gpu["on_gpu"] is True
    cpu = weights_placement(CPU_LOG)
    assert cpu["model_buffers_mib"] == {"CPU_Mapped": 2357.26, "CPU_REPACK": 12.5} and cpu["on_gpu"] is False
    unknown = weights_placement("0.00.1 I srv  llama_server: model loaded\n")
    assert (
        unknown["model_buffers_mib"] is None and unknown["on_gpu"] is None and "no 'model buffer size' line" in unknown["reason"]
    )
    assert gpu["reason"] is None and cpu["reason"] is None
    [flag] = placement_flags(cpu, "cuda", "llama.cpp llama-server")
    assert flag.startswith("engine_not_on_gpu: ") and "'CPU_Mapped': 2357.26" in flag
    assert placement_flags(cpu, "cpu", "x") == [] and placement_flags(gpu, "cuda", "x") == []
    assert placement_flags(unknown, "cuda", "x") == [] and placement_flags(None, "cuda", "x") == []


@needs_bindings
def test_plan_logs_the_librarys_load_lines_for_the_placement_reader(tmp_path):
    from llem.backends.llamacpp.llama_server import command, weights_placement

    plan = command(_spec().backend, "/m.gguf", 8000, 512, -1, 1, 1, exe="/bin/true")
    assert plan.argv[plan.argv.index("--log-verbosity") + 1] == "4" and plan.read_log is weights_placement


@needs_bindings
def test_slots_follow_the_concurrency_unless_set(monkeypatch, tmp_path):
    from llem.backends.llamacpp import llama_server
    from llem.serving.plan import plan_for

    monkeypatch.setattr(llama_server, "binary", lambda: "/bin/true")
    argv = plan_for(_spec("workload.concurrency=3"), "cpu", 8000).argv
    assert argv[argv.index("--parallel") + 1] == "3"
    argv = plan_for(_spec("workload.concurrency=3", "backend.slots=8"), "cpu", 8000).argv
    assert argv[argv.index("--parallel") + 1] == "8"


def test_a_missing_binary_is_one_sentence_naming_the_install(monkeypatch, tmp_path):
    from llem.backends.llamacpp import llama_server

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(llama_server.sys, "executable", str(tmp_path / "python"))
    monkeypatch.delenv("LLEM_LLAMA_SERVER", raising=False)
    with pytest.raises(
        UserError, match=r"needs llama.cpp's llama-server, which is not installed here: run bash .ci/install.d/30-llamacpp.sh"
    ):
        llama_server.binary()
    monkeypatch.setenv("LLEM_LLAMA_SERVER", str(tmp_path / "nope"))
    with pytest.raises(UserError, match=r"LLEM_LLAMA_SERVER=.*nope is not an executable file"):
        llama_server.binary()


@pytest.mark.slow
@needs_bindings
def test_real_server_run_through_llama_server_batches_the_requests_in_flight(tmp_path):
    exe = _binary()
    out = run_llem(
        BASE
        + [
            "workload.concurrency=4",
            "workload.num_prompts=12",
            "workload.output_tokens=16",
            "run.repeats=1",
            "run.warmup=1",
            "energy=none",
            "run.min_window_s=0",
            f"run.output_root={tmp_path}",
        ],
        tmp_path,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-4000:]
    [result] = results_under(tmp_path)
    assert result["status"] == "ok"
    eff = result["engine"]["effective_settings"]
    assert eff["server_argv"][0] == exe and "llama-server" in result["engine"]["engine"]
    argv = eff["server_argv"]
    assert argv[argv.index("--parallel") + 1] == "4"
    # it closes each connection after a streamed response (though it answers keep-alive): one per request
    assert result["server"]["load"]["connections"].startswith("one per request")
    [w] = result["windows"]
    k = w["passes"]
    assert result["server"]["tokens"]["client_output_tokens"] == k * 12 * 16  # ignore_eos: every request full length
    assert w["whole_run"]["output_tokens"] == k * 12 * 16 and w["failed_requests"] == 0
    phases = w["engine_phases"]
    assert phases["reason"] is None and 0 < phases["prefill_share"] < 1, phases
    # 4 requests in flight, 4 slots: llama.cpp decoded several sequences per llama_decode (one slot = 1.0)
    assert 1.5 < phases["busy_slots_per_decode"] <= 4, phases
    assert phases["llama_decode_calls"] > 0 and phases["prompt_tokens_evaluated"] > 0
    # where the weights went, read from the server's own load log: on this CPU box, CPU buffers only
    placed = eff["from_server_log"]
    assert placed["on_gpu"] is False and placed["model_buffers_mib"] and all(v > 0 for v in placed["model_buffers_mib"].values())
    assert not any(f.startswith("engine_not_on_gpu") for f in result["validity"]["flags"])  # a CPU job: nothing to flag
    # what the server itself says it sampled with, per slot (its log at verbosity 4): greedy requests keep the
    # likeliest token only (top_k 1), and no top-p, whose default 0.95 sorted the whole vocabulary for every
    # token before the greedy pick (docs/measurements.md)
    [log] = tmp_path.glob("runs/*/server.log")
    params = re.findall(r"top_k = (-?\d+), top_p = ([0-9.]+), min_p = ([0-9.]+)", log.read_text(errors="replace"))
    assert params and set(params) == {("1", "1.000", "0.000")}, sorted(set(params))


@pytest.mark.slow
@needs_bindings
def test_structured_output_offline_and_through_llama_server(tmp_path):
    """workload=structured on model=tiny (random weights), offline and through llama-server in one --multirun.
    A random model writes no JSON of its own: every output opening as the schema's object, and objects that validate,
    show the grammar is real. llama-server (its C++ converter) yields valid objects only. Offline, llama-cpp-python's
    converter lets control characters into strings (its char rule is [^"\\\\]), which JSON forbids, and byte tokens
    that form no UTF-8 decode to U+FFFD each, making a string longer than its maxLength: those outputs, and only
    those, are counted invalid and flagged. The cap is generous: llama-server's grammar allows up to 22
    whitespace characters between tokens, which a random model uses (~130 tokens per object, up to ~210)."""
    from llem.workload.structured import read_schema

    _binary()
    data = REPO / "llem/workload/data"
    schema = data / "structured_example.schema.json"
    out = run_llem(
        [
            "--multirun",
            "backend=llamacpp",
            "model=tiny",
            "hardware=cpu",
            "tracking=none",
            "backend.server=llama-server",
            "backend.n_threads=1",
            "workload=structured",
            f"workload.schema_path={schema}",
            "workload.source=jsonl",
            f"workload.path={data / 'structured_example.jsonl'}",
            "workload.num_prompts=8",
            "workload.batch_size=4",
            "workload.concurrency=4",
            "workload.output_tokens=384",
            "run.repeats=1",
            "run.warmup=1",
            "energy=none",
            "run.min_window_s=0",
            "workload.mode=offline,server",
            f"run.output_root={tmp_path}",
        ],
        tmp_path,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-4000:]
    results = {r["spec"]["workload"]["mode"]: r for r in results_under(tmp_path)}
    assert set(results) == {"offline", "server"}
    properties = list(read_schema(str(schema))["properties"])
    for mode, r in results.items():
        s = r["structured"]
        assert r["windows"][0].get("failed_requests") in (0, None), r["validity"]["flags"]  # one connection per request
        assert s["objects"] == 8 and s["outputs_at_cap"] == 0, (mode, s)
        assert 3 < s["tokens_per_object"] < 384 and r["metrics"]["tokens_per_object"] == s["tokens_per_object"]
        assert s["energy_j_per_valid_object"] is None and s["reason"]  # energy=none: null with the reason
        g = s["grammar_compile"]
        assert g["first_constrained_request_s"] > 0 and g["repeat_constrained_request_s"] > 0
        assert s["grammar_backend"].startswith("llama.cpp GBNF grammar sampler")
        w = r["windows"][0]["structured"]
        assert w["example"].lstrip().startswith("{") and f'"{properties[0]}"' in w["example"]  # the schema's first key first
    server = results["server"]
    assert server["structured"]["valid_fraction"] == 1.0, server["structured"]
    body = server["server"]["load"]["request_body"]
    assert body["json_schema"] == read_schema(str(schema)) and "ignore_eos" not in body
    assert server["engine"]["effective_settings"]["fixed_length"] == []
    offline = results["offline"]
    # the server-only settings the offline point ignored (issue 28): recorded, not a validity flag
    # (workload.concurrency=4 is its default: nothing to say of it)
    assert offline["settings_not_applied"] == ["backend.server=llama-server"]
    assert "settings_not_applied" not in server
    so = offline["structured"]
    assert so["valid_objects"] >= 1 and so["engine"]["schema_to_gbnf_s"] > 0
    reasons = offline["windows"][0]["structured"]["invalid_reasons"]
    assert all(r == "not JSON (Invalid control character)" or r.endswith("is too long") for r in reasons), reasons
    assert (so["valid_fraction"] < 1) == any(f.startswith("structured_invalid") for f in offline["validity"]["flags"])


@pytest.mark.parametrize(
    "stamp, suffix",
    [
        ("0.3.36 cuda-sm90\n", ", built from llama-cpp-python 0.3.36's llama.cpp"),
        ("0.3.36 5f2b0c1e\n", ", built from llama-cpp-python 0.3.36's llama.cpp"),
        # a stamp that holds llama-server's own --version output (an older GPU build script wrote that) is no release
        ("version: 0.5.0-dev (build 0, commit unknown)\n", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_the_version_names_the_bindings_release_only_from_a_stamp_that_holds_one(tmp_path, stamp, suffix):
    """The real llama-server, reached through a link in a folder of its own so that the stamp beside it is the case's."""
    from llem.backends.llamacpp.llama_server import version

    server = tmp_path / "llama-server"
    server.symlink_to(_binary())
    if stamp is not None:
        (tmp_path / "llama-server.version").write_text(stamp)
    line = version(str(server))
    assert re.fullmatch(r"version: \S+ \(.*\)" + re.escape(suffix), line), line

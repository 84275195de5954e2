"""Roofline arithmetic against hand-computed cases (Llama-3.2-1B's published config)."""

from __future__ import annotations

import pytest

from llem.models.archs import load_arch
from llem.results.efficiency import roofline_record
from llem.results.measured import Measured
from llem.results.peaks import peak_for
from llem.results.roofline import Precision, Shape, utilisation, window_work

# Llama-3.2-1B: hidden 2048, 16 layers, 32 heads, 8 KV heads, head_dim 64, MLP 8192, vocab 128256.
LAYER = 2048 * 2048 * 2 + 2048 * 512 * 2 + 3 * 2048 * 8192  # q,o + k,v + gate,up,down = 60,817,408
HEAD = 2048 * 128256  # the LM head (tied to the embedding): 262,668,288
BF16 = 2


def test_the_shape_counts_llama_3_2_1b_parameters():
    s = Shape.from_config(load_arch("llama-3.2-1b"))
    assert s.decoder_params == 16 * LAYER == 973_078_528
    assert s.head_params == HEAD
    # with the embedding (tied) and the 33 RMSNorm vectors: the model card's 1.24 B
    assert s.decoder_params + HEAD + 33 * 2048 == 1_235_814_400


def test_one_decode_step_at_batch_8():
    s = Shape.from_config(load_arch("llama-3.2-1b"))
    # 8 prompts of 128 tokens, 2 output tokens: one decode step, context 129 for each sequence
    w = window_work(s, [128] * 8, 2, 8, BF16, BF16)
    assert w.decode_steps == 1
    weights = (16 * LAYER + HEAD) * BF16  # 2,471,493,632 B: every weight read once per step
    kv = 8 * 129 * (2 * 16 * 8 * 64) * BF16  # K and V of 129 positions, 16 layers, 8 heads x 64
    assert w.decode_bytes == weights + kv == 2_505_310_208
    per_seq = 2 * 16 * LAYER + 2 * HEAD + 16 * 32 * 64 * 129 * 4  # matmuls, LM head, QK^T + AV
    assert w.decode_flops == 8 * per_seq == 19_907_215_360


def test_prefill_counts_a_causal_half_square_of_attention():
    s = Shape.from_config(load_arch("llama-3.2-1b"))
    w = window_work(s, [4], 1, 1, BF16, BF16)
    # 4 prompt tokens: 2 * params per token, LM head once, 1+2+3+4 = 10 query-key pairs per head and layer
    assert w.prefill_flops == 2 * 16 * LAYER * 4 + 2 * HEAD + 4 * 16 * 32 * 64 * 10
    assert w.decode_steps == 0 and w.decode_bytes == 0


def test_mbu_and_mfu_against_the_h200_datasheet():
    peak = peak_for("NVIDIA H200")
    assert peak.memory_b_s == 4.8e12 and peak.bf16_flop_s == 989.4e12
    s = Shape.from_config(load_arch("llama-3.2-1b"))
    work = window_work(s, [128] * 8, 2, 8, BF16, BF16)
    u = utilisation(work, duration_s=0.010, prefill_s=0.005, peak=peak, precision=Precision(2, 2, "bf16", ""))
    assert u["mbu_decode"] == pytest.approx(2_505_310_208 / (0.005 * 4.8e12))  # 10.4%
    assert u["mfu_prefill"] == pytest.approx(work.prefill_flops / (0.005 * 989.4e12))
    # no prefill time: the whole window counts as decode, named a lower bound, MFU not computed
    lb = utilisation(work, duration_s=0.010, prefill_s=None, peak=peak, precision=Precision(2, 2, "bf16", ""))
    assert lb["mfu_prefill"] is None and lb["mbu_decode"] == pytest.approx(u["mbu_decode"] / 2)
    assert lb["mbu_decode_bound"].startswith("lower bound") and "prefill time is unknown" in lb["reason"]


@pytest.mark.parametrize(
    "name, expected",
    [
        ("NVIDIA H100 80GB HBM3", "H100 SXM"),
        ("NVIDIA H100 PCIe", "H100 PCIe"),
        ("NVIDIA H100 NVL", "H100 NVL"),
        ("NVIDIA H200", "H200 SXM"),
        ("NVIDIA A100-SXM4-40GB", "A100 40GB SXM"),
        ("NVIDIA A100-SXM4-80GB", "A100 80GB SXM"),
        ("NVIDIA A100-PCIE-40GB", "A100 40GB PCIe"),
        ("NVIDIA A100 80GB PCIe", "A100 80GB PCIe"),
    ],
)
def test_datasheet_peaks_are_matched_by_the_nvml_name(name, expected):
    assert peak_for(name).name == expected
    assert peak_for("NVIDIA GeForce GTX 1080") is None and peak_for(None) is None


def test_gpu_names_match_on_whole_words():
    # a Grace Hopper superchip is not an H200 SXM (different memory, power and peaks)
    assert peak_for("NVIDIA GH200 480GB") is None and peak_for("NVIDIA GH200 144G HBM3e") is None
    assert peak_for("NVIDIA H200 NVL").name == "H200 NVL" and peak_for("NVIDIA-H200").name == "H200 SXM"


def _measured(device: str, gpus: list[int], windows: list[dict]) -> Measured:
    return Measured(
        device=device,
        gpus=gpus,
        engine={"effective_settings": {"dtype": "bfloat16"}},
        meter={},
        baseline={},
        windows=windows,
        statistics={},
        latency={},
        memory={},
        requests={"count": 8, "input_tokens": [128] * 8},
    )


def compose_spec(*overrides: str):
    from hydra import compose, initialize_config_module

    from llem.cli.app import plain_config
    from llem.config.spec import build_spec

    with initialize_config_module(config_module="llem.conf", version_base=None):
        cfg = compose(config_name="config", overrides=["hardware=cpu", "tracking=none", *overrides])
    return build_spec(plain_config(cfg))


def test_the_result_record_is_null_with_a_reason_where_it_cannot_be_computed():
    cpu = roofline_record(compose_spec("model=tiny"), _measured("cpu", [], []), {"gpus": []})
    assert cpu["mbu_decode"] is None and "CPU" in cpu["reason"]
    spec = compose_spec(
        "model=llama3.2-1b",
        "model.weights=random",
        "hardware=h200",
        "workload.batch_size=8",
        "workload.num_prompts=8",
        "workload.output_tokens=2",
        "workload.source=synthetic",
        "workload.input_tokens=128",
    )
    unknown = roofline_record(spec, _measured("cuda", [0], []), {"gpus": [{"name": "NVIDIA T4"}]})
    assert unknown["mfu_prefill"] is None and "no datasheet peaks for GPU 'NVIDIA T4'" in unknown["reason"]
    # one window of one engine call of 8 requests taking 10 ms, no TTFT: MBU's lower bound only
    window = {"duration_s": 0.010, "requests": 8, "batch_requests": [8], "batch_latency_s": [0.010], "batch_ttft_s": [None]}
    rec = roofline_record(spec, _measured("cuda", [0], [window]), {"gpus": [{"name": "NVIDIA H200"}]})
    assert rec["mbu_decode"] == pytest.approx(2_505_310_208 / (0.010 * 4.8e12))
    assert rec["peak"]["figures"].startswith("datasheet") and rec["windows"][0]["batch"] == 8


H200 = {"gpus": [{"name": "NVIDIA H200"}]}


def _spec_9_at_8():
    return compose_spec(
        "model=llama3.2-1b",
        "model.weights=random",
        "hardware=h200",
        "workload.batch_size=8",
        "workload.num_prompts=9",
        "workload.output_tokens=2",
        "workload.source=synthetic",
        "workload.input_tokens=128",
    )


def _measured9(window: dict, effective=None) -> Measured:
    m = _measured("cuda", [0], [window])
    m.requests = {"count": 9, "input_tokens": [128] * 9}
    if effective is not None:
        m.engine = {"effective_settings": effective}
    return m


def test_nine_prompts_at_batch_8_are_calls_of_8_and_1_not_two_of_4():
    s = Shape.from_config(load_arch("llama-3.2-1b"))
    window = {
        "duration_s": 0.010,
        "requests": 9,
        "passes": 1,
        "batch_requests": [8, 1],
        "batch_latency_s": [0.006, 0.004],
        "batch_ttft_s": [None, None],
    }
    rec = roofline_record(_spec_9_at_8(), _measured9(window), H200)
    weights = (16 * LAYER + HEAD) * BF16
    kv = 129 * (2 * 16 * 8 * 64) * BF16
    # one decode step per call: every weight read twice, the caches of 8 and of 1 sequences
    assert window_work(s, [128] * 9, 2, [8, 1], BF16, BF16).decode_bytes == 2 * weights + 9 * kv
    assert rec["mbu_decode"] == pytest.approx((2 * weights + 9 * kv) / (0.010 * 4.8e12))
    assert rec["windows"][0]["batch"] == 8 and rec["windows"][0]["calls"] == [8, 1]
    # two passes in the window: the first pass's calls, per pass
    two = dict(window, passes=2, duration_s=0.020, batch_requests=[8, 1, 8, 1], batch_latency_s=[0.1] * 4)
    assert roofline_record(_spec_9_at_8(), _measured9(two), H200)["mbu_decode"] == pytest.approx(rec["mbu_decode"])
    # no per-call record: unknown, said so, never guessed from requests / calls
    guess = roofline_record(_spec_9_at_8(), _measured9({k: v for k, v in window.items() if k != "batch_requests"}), H200)
    assert guess["mbu_decode"] is None and "per-call batch record" in guess["reason"]


def test_precision_comes_from_the_engines_effective_settings():
    window = {"duration_s": 0.010, "requests": 9, "passes": 1, "batch_requests": [8, 1], "batch_latency_s": [0.01, 0.01]}
    bf16 = roofline_record(_spec_9_at_8(), _measured9(window, {"dtype": "bfloat16"}), H200)["mbu_decode"]
    # a GGUF's own mean bytes per weight (llama.cpp's describe(), from the loaded file): weights scale by it
    q = roofline_record(
        _spec_9_at_8(),
        _measured9(window, {"weight_format": "Q4_K_M", "weight_bytes_per_param": 0.6, "kv_cache_dtype": "f16"}),
        H200,
    )
    s = Shape.from_config(load_arch("llama-3.2-1b"))
    expect = window_work(s, [128] * 9, 2, [8, 1], 0.6, 2.0).decode_bytes / (0.010 * 4.8e12)
    assert q["mbu_decode"] == pytest.approx(expect) and q["mbu_decode"] < bf16 / 2 and "Q4_K_M" in q["precision"]
    # a quantization without a byte count: unknown, never the dtype's bytes
    awq = roofline_record(_spec_9_at_8(), _measured9(window, {"dtype": "float16", "quantization": "awq"}), H200)
    assert awq["mbu_decode"] is None and "bytes per weight" in awq["reason"]
    # "auto": the checkpoint's dtype where its config.json names one (float32 runs as bfloat16), else unknown
    from llem.results.roofline import precision_of

    assert (
        precision_of({"dtype": "auto"}, "bfloat16").weight_bytes == 2 == precision_of({"dtype": "auto"}, "float32").weight_bytes
    )
    auto = roofline_record(_spec_9_at_8(), _measured9(window, {"dtype": "auto", "quantization": None}), H200)
    assert auto["mbu_decode"] is None and "dtype auto" in auto["reason"]  # the random-weight arch names no dtype


def test_one_prefill_time_for_every_engine_run_phases_not_ttft():
    window = {
        "duration_s": 0.010,
        "requests": 9,
        "passes": 1,
        "batch_requests": [8, 1],
        "batch_latency_s": [0.006, 0.004],
        "batch_ttft_s": [0.002, 0.001],
    }  # llama.cpp-style TTFTs
    m = _measured9(window)
    rec = roofline_record(_spec_9_at_8(), m, H200)
    assert rec["mfu_prefill"] is None and rec["mbu_decode_bound"].startswith("lower bound")  # TTFT not used
    m.phases = {"prefill_s_per_pass": {"mean": 0.004}}
    rec = roofline_record(_spec_9_at_8(), m, H200)
    assert rec["windows"][0]["prefill_s"] == 0.004 and rec["windows"][0]["prefill_s_source"].startswith("run.phases")


@pytest.mark.parametrize("backend, module", [("pytorch", "transformers"), ("llamacpp", "llama_cpp")])
def test_a_real_engine_records_its_calls_and_the_roofline_uses_them(tmp_path, backend, module):
    """9 prompts at batch 8 through a real engine on this CPU: the window records calls of 8 and 1 (for
    llama.cpp, which runs requests one at a time, nine of 1), and the roofline takes its batch from them."""
    import json

    from conftest import run_llem

    pytest.importorskip(module)
    args = [
        f"backend={backend}",
        "model=tiny",
        "hardware=cpu",
        "tracking=none",
        "workload.num_prompts=9",
        "workload.batch_size=8",
        "workload.output_tokens=2",
        "run.repeats=1",
        "run.warmup=0",
    ]
    proc = run_llem(args, tmp_path)
    assert proc.returncode == 0, proc.stdout
    [result] = [json.loads(p.read_text()) for p in tmp_path.glob("outputs/runs/*/result.json")]
    [w] = result["windows"]
    calls = [8, 1]  # 9 prompts at batch 8: both engines batch (llama.cpp decodes a batch of sequences together)
    assert w["batch_requests"] == calls * w["passes"]
    effective = result["engine"]["effective_settings"]
    m = _measured9(
        dict(w, duration_s=0.010), {"dtype": "bfloat16", **{k: v for k, v in effective.items() if k.startswith("weight_")}}
    )
    rec = roofline_record(_spec_9_at_8(), m, H200)
    assert rec["windows"][0]["calls"] == calls and rec["windows"][0]["batch"] == max(calls)
    if backend == "llamacpp":  # the GGUF it loaded (model=tiny converts to f16 by default)
        assert effective["weight_format"] == "F16" and effective["weight_bytes_per_param"] == pytest.approx(2.0)


def test_a_call_larger_than_the_engines_running_batch_decodes_in_groups_of_that_batch():
    """vLLM at batch 1 (max_num_seqs=1) takes all prompts in one generate call and decodes them one at a
    time: its MBU counts a weight read per sequence per step, not one per step for all of them (on an H100,
    2026-12-06, the old count gave 1.1% where the engine's 634 tokens/s mean ~47%)."""
    from llem.results.efficiency import running_groups

    assert running_groups([64], 1) == [1] * 64
    assert running_groups([9], 4) == [4, 4, 1]
    assert running_groups([8, 1], 8) == [8, 1] and running_groups([8, 1], None) == [8, 1]
    assert running_groups([8], True) == [8]  # not a count
    window = {"duration_s": 0.010, "requests": 9, "passes": 1, "batch_requests": [9], "batch_latency_s": [0.01]}
    whole = roofline_record(_spec_9_at_8(), _measured9(window, {"dtype": "bfloat16"}), H200)
    one = roofline_record(_spec_9_at_8(), _measured9(window, {"dtype": "bfloat16", "batch_size": 1}), H200)
    s = Shape.from_config(load_arch("llama-3.2-1b"))
    assert one["mbu_decode"] == pytest.approx(window_work(s, [128] * 9, 2, [1] * 9, BF16, BF16).decode_bytes / (0.010 * 4.8e12))
    assert one["mbu_decode"] > 5 * whole["mbu_decode"]  # nine weight reads per step instead of one
    w = one["windows"][0]
    assert w["calls"] == [9] and w["batch"] == 1 and "at most 1 sequence at once" in w["batch_note"]
    assert "batch_note" not in whole["windows"][0]

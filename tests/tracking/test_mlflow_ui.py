"""MLflow's own UI, served by a real `mlflow server` on loopback and opened in headless Chromium:
the links a sweep prints open the runs table (not MLflow 3's GenAI overview), llem's headline
metrics are offered as columns once, under their result.json names, and the compare view shows
them for every run."""

from __future__ import annotations

import json
import re

import pytest

from chromium import Browser, not_blank
from conftest import run_llem
from mlflow_server import tags

pytestmark = pytest.mark.slow

TINY = [
    "model=tiny",
    "hardware=cpu",
    "run.repeats=2",
    "run.warmup=0",
    "workload.num_prompts=4",
    "workload.output_tokens=8",
    "run.objective=output_tokens_per_s",
]


@pytest.fixture(scope="module")
def sweep(mlflow_server, tmp_path_factory):
    cwd = tmp_path_factory.mktemp("ui-sweep")
    out = run_llem(
        [
            "--multirun",
            *TINY,
            "workload.batch_size=1,4",
            f"tracking.uri={mlflow_server.uri}",
            "tracking.experiment=ui",
            "run.output_root=out",
        ],
        cwd=cwd,
    )
    assert out.returncode == 0, out.stdout[-3000:]
    links = dict(re.findall(r"^llem: MLflow ([a-z (),'0-9]+): (http\S+)$", out.stdout, re.M))
    results = [json.loads(p.read_text()) for p in sorted((cwd / "out" / "runs").glob("*/result.json"))]
    return out.stdout, links, results


@pytest.fixture(scope="module")
def browser():
    b = Browser(width=2400, height=1000)  # wide enough for the added column beside MLflow's assistant panel
    yield b
    b.close()


def _headline(results: list[dict]) -> dict[str, float]:
    return {r["identity"]["run_id"]: r["metrics"]["output_tokens_per_s"] for r in results}


def test_sweep_prints_links_and_marks_the_experiment(mlflow_server, sweep):
    stdout, links, results = sweep
    assert len(results) == 2
    runs_key = next(k for k in links if k.startswith("compare"))
    assert set(links) == {"runs table", "sweep (parent run)", runs_key}, stdout[-2000:]
    assert runs_key == "compare the sweep's 2 runs"
    exp = mlflow_server.get("experiments/get-by-name", experiment_name="ui")["experiment"]
    assert {t["key"]: t["value"] for t in exp.get("tags", [])}["mlflow.experimentKind"] == "custom_model_development"
    assert f"#/experiments/{exp['experiment_id']}/runs?workflowType=machine_learning" in links["runs table"]
    assert "orderByKey=metrics.%60output_tokens_per_s%60&orderByAsc=false" in links["runs table"]
    children = [r for r in mlflow_server.runs("ui") if tags(r).get("llem.role") == "job"]
    assert all(r["info"]["run_id"] in links[runs_key] for r in children)


def test_runs_table_opens_with_headline_columns_first(sweep, browser, tmp_path):
    _, links, results = sweep
    page = browser.open(links["runs table"])
    names = [r["identity"]["run_id"] for r in results]
    page.wait_for(
        f"document.body.innerText.includes({json.dumps(names[0])}) && document.body.innerText.includes({json.dumps(names[1])})",
        timeout_s=90,
    )
    assert "/runs" in page.eval("location.hash") and "No data available" not in page.text()
    # sorted by the sweep's objective, best first: the faster run is the first row
    best = max(results, key=lambda r: r["metrics"]["output_tokens_per_s"])["identity"]["run_id"]
    other = next(n for n in names if n != best)
    assert page.text().index(best) < page.text().index(other)
    page.eval("[...document.querySelectorAll('button')].find(b => b.innerText.trim() === 'Columns').click()")
    menu = page.wait_for(
        "(() => { const m = document.querySelector('[role=dialog],[role=menu],[data-radix-popper-content-wrapper]');"
        " return m && m.innerText.includes('Metrics') ? m.innerText : null })()",
        timeout_s=30,
    )
    metrics = [line.strip() for line in menu.split("Metrics", 1)[1].split("\n")[1:]]
    # each headline metric once, under its result.json name (no ranked copies); no energy on this CPU
    assert "output_tokens_per_s" in metrics and "batch_latency_p50_s" in metrics, menu
    assert not [m for m in metrics if m[:2] in ("1_", "2_", "3_", "4_")], menu
    page.eval(
        "[...document.querySelectorAll('[role=menuitemcheckbox],[role=option],label,span')]"
        ".find(e => e.innerText && e.innerText.trim() === 'output_tokens_per_s').click()"
    )
    page.eval("document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true}))")
    header = "[...document.querySelectorAll('[role=columnheader]')].find(e => e.innerText.trim() === 'output_tokens_per_s')"
    page.wait_for(f"Boolean({header})", timeout_s=30)  # the column is in the table now
    cells = page.eval(
        "[...document.querySelectorAll('[role=gridcell]')].map(e => parseFloat(e.innerText)).filter(v => !isNaN(v))"
    )
    for value in _headline(results).values():  # each run's measured throughput, in a cell of that column
        assert any(abs(c - value) <= 1e-4 * value for c in cells), (value, cells)
    page.wait_for(
        "[...document.querySelectorAll('[role=gridcell]')].filter(e => e.getBoundingClientRect().width > 0)"
        f".some(e => Math.abs(parseFloat(e.innerText) - {max(_headline(results).values())}) < 1e-3)"
    )  # drawn
    shot = page.screenshot(tmp_path / "runs_table.png")
    evidence = not_blank(shot)
    assert evidence["colours"] > 50 and evidence["non_background_share"] > 0.05, evidence


def test_compare_view_shows_the_metrics_of_every_run(sweep, browser, tmp_path):
    _, links, results = sweep
    page = browser.open(links["compare the sweep's 2 runs"])
    page.wait_for(
        "document.body.innerText.includes('Comparing 2 Runs') && document.body.innerText.includes('output_tokens_per_s')",
        timeout_s=90,
    )
    # the metrics table: a grid of metric names (links to their plots) beside a grid of values, a row per metric
    cells = page.wait_for(
        """(() => {
        const grids = [...document.querySelectorAll('[role=grid]')];
        for (let g = 0; g + 1 < grids.length; g++) {
          const names = [...grids[g].querySelectorAll('a[title="Plot chart"]')].map(a => a.innerText.trim());
          const i = names.indexOf('output_tokens_per_s');
          if (i < 0) continue;
          const values = [...grids[g + 1].querySelectorAll('span')].map(s => s.innerText.trim()).filter(Boolean);
          return [names, values.slice(2 * i, 2 * i + 2)];
        }
        return null; })()""",
        timeout_s=30,
    )
    names, values = cells
    assert names.count("output_tokens_per_s") == 1 and "batch_latency_p50_s" in names, names
    assert not [n for n in names if n[:2] in ("1_", "2_", "3_", "4_")], names  # logged once, no ranked copies
    by_run = [r["metrics"]["output_tokens_per_s"] for r in sorted(results, key=lambda r: r["identity"]["run_id"])]
    # MLflow rounds what it shows (4 significant digits, or one decimal above 1000): equal to that rounding
    shown = sorted(float(v) for v in values)
    assert all(abs(a - b) <= 5e-4 * abs(b) + 0.05 for a, b in zip(shown, sorted(by_run))), (values, by_run)
    for r in results:
        assert r["identity"]["run_id"] in page.text()
    evidence = not_blank(page.screenshot(tmp_path / "compare.png"))
    assert evidence["colours"] > 50 and evidence["non_background_share"] > 0.05, evidence

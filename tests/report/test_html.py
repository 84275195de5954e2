"""report.html in headless Chromium: it renders offline (no request leaves the page), has every
run with its CI and flags, sorts and filters, embeds every plot, and its screenshot is not blank."""

from __future__ import annotations

import json
import re

import pytest

from chromium import browser, not_blank  # noqa: F401 (browser: fixture)
from conftest import run_llem
from realistic import POINTS, write_point_runs, write_trace_run


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("html") / "outputs"
    write_point_runs(root)
    write_trace_run(root)
    flagged = sorted((root / "runs").iterdir())[0]
    record = json.loads((flagged / "result.json").read_text())
    record["validity"] = {"ok": False, "flags": ["window 1: energy counter wrapped"]}
    (flagged / "result.json").write_text(json.dumps(record))
    out = run_llem(["report", str(root)], cwd=root.parent, timeout=300)
    assert out.returncode == 0, out.stdout
    html = root / "report" / "report.html"
    assert f"wrote {html}" in out.stdout.replace("\n", "")
    return html, flagged.name


def test_self_contained(report):
    html, _ = report
    text = html.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)  # nothing fetched from anywhere
    assert "<script src" not in text and "<link" not in text
    pngs = re.findall(r'src="data:image/png;base64,', text)
    # every plot the report drew (comparison and trade-off plots, the one power time series), inline
    assert len(pngs) == len(list(html.parent.glob("*.png"))) >= 4


def _set(page, element: str, value: str, event: str) -> None:
    page.eval(
        f"{{ const e = document.getElementById('{element}'); e.value = {json.dumps(value)}; "
        f"e.dispatchEvent(new Event('{event}')); }}"
    )


def test_renders_runs_sorts_and_filters(report, browser, tmp_path):
    html, flagged = report
    page = browser.open(html.as_uri())
    page.wait_for("document.readyState === 'complete' && document.getElementById('shown').textContent !== ''")
    assert page.eval("performance.getEntriesByType('resource').filter(e => !e.name.startsWith('data:')).length") == 0
    rows = page.eval("[...document.querySelectorAll('#runs tbody tr')].map(r => [...r.cells].map(c => c.innerText.trim()))")
    assert len(rows) == len(POINTS) + 1
    assert page.eval("document.getElementById('shown').textContent") == f"{len(rows)} of {len(rows)} runs"
    head = page.eval("[...document.querySelectorAll('#runs th')].map(t => t.innerText.trim())")
    jpt = head.index("Energy (J/token)")
    assert all(re.fullmatch(r"[\d.]+ ± [\d.]+", r[jpt]) for r in rows if r[0] != "60f82e0b"), rows
    statuses = [r[head.index("status")] for r in rows]  # headline columns first, settings after
    assert statuses.count("flagged") == 1 and statuses.count("ok") == len(rows) - 1

    page.eval(f"document.querySelectorAll('#runs th')[{jpt}].click()")  # ascending J/token
    ordered = page.eval(f"[...document.querySelectorAll('#runs tbody tr')].map(r => parseFloat(r.cells[{jpt}].dataset.v))")
    assert ordered == sorted(ordered) and ordered[0] == pytest.approx(0.036, rel=0.02)
    page.eval(f"document.querySelectorAll('#runs th')[{jpt}].click()")  # descending
    assert page.eval(f"parseFloat(document.querySelector('#runs tbody tr').cells[{jpt}].dataset.v)") == max(ordered)

    _set(page, "filter", "llamacpp", "input")
    assert page.eval("document.getElementById('shown').textContent") == f"1 of {len(rows)} runs"
    _set(page, "filter", "PyTorch  static", "input")
    assert page.eval("document.getElementById('shown').textContent") == f"3 of {len(rows)} runs"  # every word, any case
    _set(page, "filter", "", "input")
    _set(page, "status", "flagged", "change")
    visible = page.eval("[...document.querySelectorAll('#runs tbody tr')].filter(r => !r.hidden).map(r => r.cells[0].innerText)")
    assert len(visible) == 1
    _set(page, "status", "", "change")

    details = page.eval("[...document.querySelectorAll('details')].map(d => d.id)")
    assert f"run-{flagged}" in details and len(details) == len(rows)
    assert not page.eval(f"document.getElementById('run-{flagged}').open")
    page.eval(f"document.querySelector('a[href=\"#run-{flagged}\"]').click()")  # the table links to the details
    page.wait_for(f"document.getElementById('run-{flagged}').open")
    assert "energy counter wrapped" in page.eval(f"document.getElementById('run-{flagged}').innerText")
    images = page.eval("[...document.images].map(i => [i.complete, i.naturalWidth])")
    assert len(images) == len(list(html.parent.glob("*.png"))) and all(done and width > 800 for done, width in images)

    page.eval("window.scrollTo(0, 0)")
    evidence = not_blank(page.screenshot(tmp_path / "report.png"))
    assert evidence["colours"] > 50 and evidence["non_background_share"] > 0.05, evidence
    full = not_blank(page.screenshot(tmp_path / "report_full.png", full_page=True))
    assert full["size"][1] > 2000 and full["colours"] > 200, full  # the plots are on the page, not just the table

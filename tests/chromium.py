"""Headless Chromium for the UI tests, driven over the DevTools protocol on a pipe
(--remote-debugging-pipe: JSON messages ending in NUL on fds 3 and 4), so the browser opens no
debugging port at all; the pages it loads are on loopback or local files.

Debian's `chromium` package (.ci/install.d/45-chromium.sh); tests that need it skip without it.
LLEM_SCREENSHOT_DIR=<dir> keeps a copy of every screenshot the tests take.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("headless Chromium is not installed (apt-get install -y chromium; .ci/install.d/45-chromium.sh)")
    return path


class Browser:
    """One headless Chromium; `open(url)` gives a Page. Stopped by its PID (it leads its own session)."""

    def __init__(self, width: int = 1440, height: int = 1000):
        self.width, self.height = width, height
        self.profile = tempfile.mkdtemp(prefix="llem-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-sync",
            "--disable-component-update",
            "--remote-debugging-pipe",
            f"--user-data-dir={self.profile}",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        # fd 3: commands in, fd 4: answers out (what --remote-debugging-pipe expects); bash, as dash
        # redirects only single-digit fds
        self.log = Path(tempfile.mkstemp(prefix="llem-chromium-", suffix=".log")[1])
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                ["bash", "-c", f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w}', chromium_path(), *args],
                pass_fds=(to_browser_r, from_browser_w),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buf = b""
        self._next_id = 0

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout_s: float = 30) -> dict:
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        try:
            os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        except BrokenPipeError:
            raise RuntimeError(f"Chromium exited (code {self.proc.poll()}): {self.log.read_text()[-2000:]}") from None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for answer in self._read():
                if answer.get("id") == self._next_id:
                    if "error" in answer:
                        raise RuntimeError(f"{method}: {answer['error']}")
                    return answer.get("result", {})
        raise TimeoutError(f"Chromium did not answer {method} within {timeout_s} s")

    def _read(self) -> list[dict]:
        chunk = os.read(self._from_browser, 1 << 20)
        if not chunk:
            raise RuntimeError(f"Chromium exited (code {self.proc.poll()}): {self.log.read_text()[-2000:]}")
        self._buf += chunk
        *done, self._buf = self._buf.split(b"\0")
        return [json.loads(m) for m in done if m]

    def open(self, url: str) -> "Page":
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        page.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False},
        )
        page.call("Page.enable")
        page.call("Page.navigate", {"url": url})
        return page

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("Browser.close", timeout_s=10)
            except (RuntimeError, TimeoutError, OSError):
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)
        self.log.unlink(missing_ok=True)


class Page:
    def __init__(self, browser: Browser, session: str):
        self.browser, self.session = browser, session

    def call(self, method: str, params: dict | None = None) -> dict:
        return self.browser.send(method, params, self.session)

    def eval(self, expression: str):
        out = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in out:
            raise RuntimeError(f"{expression}: {out['exceptionDetails'].get('text')}")
        return out["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 60) -> object:
        """Poll a JS expression until it is truthy (the page's own JS has rendered what it fetches)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                value = self.eval(expression)
            except RuntimeError:
                value = None
            if value:
                return value
            time.sleep(0.25)
        raise TimeoutError(f"{expression} stayed false for {timeout_s} s; the page says: {self.text()[:1500]!r}")

    def text(self) -> str:
        return self.eval("document.body ? document.body.innerText : ''") or ""

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        params = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            size = self.eval("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            params["clip"] = {"x": 0, "y": 0, "width": size[0], "height": min(size[1], 8000), "scale": 1}
        data = base64.b64decode(self.call("Page.captureScreenshot", params)["data"])
        Path(path).write_bytes(data)
        keep = os.environ.get("LLEM_SCREENSHOT_DIR")  # CI can keep the screenshots as artifacts
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            (Path(keep) / Path(path).name).write_bytes(data)
        return Path(path)


def not_blank(png: Path) -> dict:
    """Evidence that a screenshot shows something: its colours and how much is not background."""
    from PIL import Image

    with Image.open(io.BytesIO(Path(png).read_bytes())) as im:
        rgb = im.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20) or []
        background = max(colours)[1] if colours else None
        total = rgb.size[0] * rgb.size[1]
        other = total - (max(colours)[0] if colours else total)
    return {"size": rgb.size, "colours": len(colours), "background": background, "non_background_share": other / total}


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.close()

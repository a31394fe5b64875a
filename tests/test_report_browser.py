"""Render the HTML report in headless Chromium and check it: screenshot, no errors, offline.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: the
browser reads commands on fd 3 and writes replies on fd 4, NUL-separated JSON), which lets
the test see every console message, uncaught exception and network request of the page
instead of grepping log output.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from report_fixtures import make_main_job_like_study, make_study

CHROMIUM = os.environ.get("WEIGHTSPACE_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-pipe",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        shutil.which(CHROMIUM) is None,
        reason=f"headless Chromium not found at {CHROMIUM} (apt-get install chromium, or "
        "run the bootstrap with WEIGHTSPACE_BROWSER=1)",
    ),
]


class _Cdp:
    """A minimal DevTools-protocol client over Chromium's debugging pipe."""

    def __init__(self, user_data: Path) -> None:
        # fd 3 <- our stdin pipe (commands), fd 4 -> our stdout pipe (replies).
        wrapper = ["sh", "-c", 'exec "$@" 3<&0 4>&1 0</dev/null 1>/dev/null', "sh", CHROMIUM]
        self.proc = subprocess.Popen(
            [*wrapper, *FLAGS, f"--user-data-dir={user_data}", "about:blank"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.buf = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read_message(self, deadline: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError("no reply from Chromium")
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the debugging pipe")
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None, *, session: str | None = None,
             timeout: float = 60.0) -> dict[str, Any]:  # fmt: skip
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(msg).encode() + b"\0")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._read_message(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, BrokenPipeError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def render(page: Path, shot: Path, tmp: Path, *, width: int = 1200, height: int = 2000,
           probe: str = "null") -> dict:  # fmt: skip
    """Load ``page``, screenshot it, and return its errors, requests, image state and the
    value of the JavaScript expression ``probe`` (JSON) evaluated in the page."""
    cdp = _Cdp(tmp / "chromium-profile")
    try:
        target = cdp.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Runtime", "Log", "Network", "Page"):
            cdp.send(f"{domain}.enable", session=session)
        cdp.send("Emulation.setDeviceMetricsOverride",
                 {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                 session=session)  # fmt: skip
        cdp.send("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
        cdp.wait_event("Page.loadEventFired")
        images = cdp.send(
            "Runtime.evaluate",
            {"expression": "JSON.stringify(Array.from(document.images).map("
             "i => [i.complete, i.naturalWidth]))", "returnByValue": True},
            session=session,
        )["result"]["value"]  # fmt: skip
        probed = cdp.send("Runtime.evaluate",
                          {"expression": f"JSON.stringify({probe})", "returnByValue": True},
                          session=session)["result"]["value"]  # fmt: skip
        data = cdp.send("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
        shot.write_bytes(base64.b64decode(data))
    finally:
        cdp.close()
    errors = []
    requests = []
    for ev in cdp.events:
        method, params = ev.get("method"), ev.get("params", {})
        if method == "Runtime.exceptionThrown":
            errors.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in {"error", "assert"}:
            errors.append(f"console.{params['type']}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            errors.append(params["entry"].get("text", "log error"))
        elif method == "Network.requestWillBeSent":
            requests.append(params["request"]["url"])
    return {"errors": errors, "requests": requests, "images": json.loads(images),
            "probe": json.loads(probed)}  # fmt: skip


def _external(urls: list[str]) -> list[str]:
    return [u for u in urls if not u.startswith(("file:", "data:", "about:"))]


def _check_screenshot(shot: Path, size: tuple[int, int] = (2000, 1200)) -> np.ndarray:
    from matplotlib.image import imread

    assert shot.is_file() and shot.stat().st_size > 10_000
    img = imread(shot)  # (H, W, 3|4) floats in [0, 1]
    assert img.shape[:2] == size
    rgb = img[..., :3]
    assert rgb.std() > 0.05, "screenshot is (nearly) blank"
    assert len(np.unique((rgb * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 50
    return rgb


def test_harness_detects_errors_and_network(tmp_path: Path) -> None:
    """Negative control: a page with a script error and a remote image is caught."""
    page = tmp_path / "bad.html"
    page.write_text(
        "<html><body><h1>x</h1><img src='http://192.0.2.1/x.png'>"
        "<script>console.error('boom'); undefined_function();</script></body></html>"
    )
    result = render(page, tmp_path / "bad.png", tmp_path)
    assert any("boom" in e or "console.error" in e for e in result["errors"])
    assert any("Uncaught" in e or "undefined_function" in e for e in result["errors"])
    assert _external(result["requests"]) == ["http://192.0.2.1/x.png"]


def test_report_renders_offline_without_errors(tmp_path: Path) -> None:
    from weightspace.compare import compare
    from weightspace.compare.result import save_to_study
    from weightspace.report import build_report

    study = make_study(tmp_path / "study", seeds=(0, 1))
    save_to_study(study, {"default": compare(study, n_perm=50, n_boot=50, n_sims=0)})
    page = build_report(study, formats=(), esd_layers=["fc"])
    shot = tmp_path / "report.png"
    result = render(page, shot, tmp_path)
    assert result["errors"] == []
    assert _external(result["requests"]) == []
    assert len(result["images"]) >= 7
    assert all(complete and width > 100 for complete, width in result["images"]), result["images"]
    _check_screenshot(shot)


# Where each element of the first screen is, in CSS pixels of the 1400 × 900 viewport.
FIRST_SCREEN_PROBE = """Object.fromEntries(
  ["fig-axis", "answer-axis", "answer-rotation", "answer-prediction"].map(id => {
    const el = document.getElementById(id);
    if (!el) return [id, null];
    const r = (el.querySelector("img") || el).getBoundingClientRect();
    return [id, {top: r.top, bottom: r.bottom, left: r.left, right: r.right,
                 text: el.innerText.slice(0, 60)}];
  }).concat([["design", (() => {
    const p = [...document.querySelectorAll("#answer p.note")].find(
      e => e.innerText.startsWith("Design:"));
    return p ? {top: p.getBoundingClientRect().top, bottom: p.getBoundingClientRect().bottom}
             : null;
  })()], ["viewport", {width: innerWidth, height: innerHeight}]]))"""


def test_first_screen_holds_the_axis_figure_and_the_three_answers(tmp_path: Path) -> None:
    """A study of the main job's shape (20 conditions), at 1400 × 900: the axis figure, the
    three answers and the design line are all on the first screen, in that order."""
    from weightspace.report import build_report

    study = make_main_job_like_study(tmp_path / "study")
    page = build_report(study, formats=())
    shot = tmp_path / "first-screen.png"
    result = render(page, shot, tmp_path, width=1400, height=900, probe=FIRST_SCREEN_PROBE)
    assert result["errors"] == [] and _external(result["requests"]) == []
    where = result["probe"]
    assert where["viewport"] == {"width": 1400, "height": 900}
    order = ["fig-axis", "answer-axis", "answer-rotation", "answer-prediction", "design"]
    for name in order:
        box = where[name]
        assert box is not None, name
        assert 0 <= box["top"] < box["bottom"] <= 900, (name, box)
    assert [where[n]["top"] for n in order] == sorted(where[n]["top"] for n in order)
    assert where["fig-axis"]["bottom"] - where["fig-axis"]["top"] > 250  # a figure, not a strip
    assert where["fig-axis"]["right"] - where["fig-axis"]["left"] > 1000
    assert where["answer-axis"]["text"].startswith("Data diversity between dropout and weight")
    assert where["answer-rotation"]["text"].startswith("Rotate or rescale?")
    assert where["answer-prediction"]["text"].startswith("Does the diversity score predict")
    _check_screenshot(shot, (900, 1400))

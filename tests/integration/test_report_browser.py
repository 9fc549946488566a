"""The HTML crash-test report in a real browser: Debian's headless Chromium renders it, the
timeline shows every minion, and the screenshot is kept in ``artifacts/report/``.

``make test`` installs the ``chromium`` package and sets ``KDUMP_MAKE_TEST=1``; there a
missing browser fails the test. Elsewhere it skips and says why.
"""

import html.parser
import os
import pathlib
import shutil
import struct
import subprocess
import tempfile
import zlib

import pytest

from kdumplib import report

REPO = pathlib.Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "report"
WIDTH, HEIGHT = 1280, 900
PANIC = "Kernel panic - not syncing: sysrq triggered crash"


def _fleet():
    """Ten minions: a canary, two waves (one minion did not come back), one not ready."""
    minions = {"db1": {"status": "not_ready", "stage": None,
                       "problems": ["reboot pending: crashkernel=256M is configured, the running kernel has none"]}}
    stages = [("canary", ["web01"]), ("wave 1", ["web02", "web03", "web04", "web05"]),
              ("wave 2", ["web06", "web07", "web08", "web09"])]
    for index, (stage, names) in enumerate(stages):
        for offset, name in enumerate(names):
            minions[name] = {"status": "passed", "stage": stage, "seconds": 35.0 + 7 * offset + index,
                             "dump": f"/var/crash/20261202{index}{offset}/dump.20261202{index}{offset}",
                             "size": (24 + offset) << 20, "panic": PANIC, "reason": None}
    minions["web07"].update(status="failed", seconds=None, dump=None, size=None, panic=None,
                            reason="did not come back with a new boot_id within 900 s")
    return {"result": False, "retcode": 1, "test": False, "duration": 402.0,
            "comment": "8 passed, 1 failed, 1 not ready",
            "stages": [{"name": n, "minions": m, "status": "failed" if "web07" in m else "passed"}
                       for n, m in stages],
            "minions": minions}


def _chromium():
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if os.environ.get("KDUMP_MAKE_TEST"):
            pytest.fail("chromium is missing although make test installs it (APT_PKGS)")
        pytest.skip("chromium is not installed: apt-get install chromium (make test does)")
    return found


def _browse(*args):
    with tempfile.TemporaryDirectory(prefix="kdx-chromium-") as profile:
        proc = subprocess.run(
            [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def _png(path):
    """(width, height, the decompressed scanlines) of a PNG file."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    index, size, idat = 8, None, b""
    while index < len(data):
        length, kind = struct.unpack(">I4s", data[index:index + 8])
        body = data[index + 8:index + 8 + length]
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        index += 12 + length
    return size[0], size[1], zlib.decompress(idat)


class _Timeline(html.parser.HTMLParser):
    """The ``data-minion`` of every timeline row inside ``<svg id="timeline">``."""

    def __init__(self):
        super().__init__()
        self.depth, self.rows = 0, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "svg" and attrs.get("id") == "timeline":
            self.depth = 1
        elif self.depth:
            self.depth += 1
            if tag == "g" and attrs.get("class") == "tl-row":
                self.rows.append(attrs.get("data-minion"))

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1


@pytest.fixture(scope="module")
def page():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "browser-check.html"
    path.write_text(report.html_report(_fleet(), title="kdump crash test: browser check"), encoding="utf-8")
    return path


def test_chromium_renders_the_report_to_a_screenshot(page):
    shot = ARTIFACTS / "browser-check.png"
    shot.unlink(missing_ok=True)
    _browse(f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", page.as_uri())
    width, height, pixels = _png(shot)
    assert (width, height) == (WIDTH, HEIGHT)
    # Not blank: a white page compresses to a handful of distinct scanlines.
    stride = len(pixels) // height
    rows = {pixels[i * stride:(i + 1) * stride] for i in range(height)}
    assert len(rows) > 100, f"only {len(rows)} distinct rows: the page looks blank"


def test_the_rendered_timeline_shows_every_minion(page):
    dom = _browse("--dump-dom", page.as_uri())
    timeline = _Timeline()
    timeline.feed(dom)
    assert sorted(timeline.rows) == sorted(_fleet()["minions"])
    assert "8 passed, 1 failed, 1 excluded in 6 min 42 s" in dom

"""e2e tier: a real Debian kernel under QEMU. Runs in CI (root); skipped only without root."""

import os
import time

import pytest

from tests.e2e import benchfile
from tests.e2e import image as image_mod
from tests.e2e import repo as repo_mod

# P5: the wall time of the pytest session that ran the e2e tier (this conftest is imported at
# collection, which is where `make test`'s pytest starts its work).
_SESSION = {"started": time.monotonic(), "e2e_items": 0}


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)
            _SESSION["e2e_items"] += 1
    _SESSION["items"] = len(items)
    _SESSION["images_cached_at_start"] = {
        f"{suite}-{variant}": image_mod.cached_image(suite, variant) is not None
        for suite, variant in (("bookworm", "step"), ("bookworm", "fleet"), ("trixie", "fleet"))
    }


def pytest_sessionfinish(session, exitstatus):
    """Record the session's wall time when it ran e2e tests (P5 in bench/report.py)."""
    if not _SESSION["e2e_items"] or os.geteuid() != 0:
        return
    benchfile.record("pytest-session", {
        "recorded_at": time.strftime("%FT%T%z"),
        "seconds": round(time.monotonic() - _SESSION["started"], 1),
        "items": _SESSION.get("items"),
        "e2e_items": _SESSION["e2e_items"],
        "failed": session.testsfailed,
        "exitstatus": int(exitstatus),
        "warm": all(_SESSION.get("images_cached_at_start", {}).values()),
        "images_cached_at_start": _SESSION.get("images_cached_at_start"),
    })


def _log(message):
    print(f"[e2e] {message}", flush=True)


@pytest.fixture(scope="session")
def e2e_image():
    """The cached base image (built on first use: several minutes) and how long getting it took."""
    if os.geteuid() != 0:
        pytest.skip("e2e tier needs root (loop devices, mounts, chroot); CI runs as root")
    was_cached = image_mod.cached_image() is not None
    started = time.monotonic()
    image = image_mod.ensure_image(_log)
    return {"image": image, "was_cached": was_cached, "ensure_seconds": round(time.monotonic() - started, 1)}


@pytest.fixture(scope="session")
def e2e_repo(e2e_image):
    """The local apt repository (kdump-tools and what the guest lacks) for the guest's share."""
    return repo_mod.ensure_repo(e2e_image["image"], _log)

"""e2e tier: a real Debian kernel under QEMU. Runs in CI (root); skipped only without root."""

import os
import time

import pytest

from tests.e2e import image as image_mod
from tests.e2e import repo as repo_mod


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)


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

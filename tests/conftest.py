"""Shared test configuration for every tier."""

import shutil
import tempfile

import pytest


@pytest.fixture(scope="session")
def salt_factories_config():
    """Keep salt-factories' daemons under a short private directory (unix socket paths are
    limited to 108 bytes) and remove it afterwards."""
    root_dir = tempfile.mkdtemp(prefix="kdf-")
    try:
        yield {"root_dir": root_dir}
    finally:
        shutil.rmtree(root_dir, ignore_errors=True)

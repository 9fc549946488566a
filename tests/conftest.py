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


def pytest_sessionfinish(session, exitstatus):
    """Salt buffers early log records in a temporary handler bound to the sys.stderr of import
    time (pytest's capture stream); flushed at interpreter exit it writes to a closed file.
    Hand the records over while pytest's own handlers still exist."""
    from salt._logging import impl  # pylint: disable=import-outside-toplevel

    impl.shutdown_temp_handler()

"""Shared fixtures of the unit tier."""

import pytest


@pytest.fixture
def root(tmp_path):
    """An empty fake root (the modules' ``kdump_root``); a test module may define its own."""
    path = tmp_path / "root"
    path.mkdir()
    return path

"""Functional tier: Salt's real loaders over our source directories and a sandbox root.

Each test gets loaders whose minion option ``kdump_root`` points at a fresh fake root
(``fake_root``), so execution and state modules read and write only inside it.
"""

import os
import pathlib

import pytest
from saltfactories.utils.functional import Loaders

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def minion_config_defaults(tmp_path_factory):
    return {}


@pytest.fixture(scope="package")
def base_minion_opts(salt_factories):
    factory = salt_factories.salt_minion_daemon(
        "kdump-functional",
        overrides={
            "file_client": "local",
            "file_roots": {"base": [str(REPO / "salt"), str(REPO)]},
            "module_dirs": [str(REPO / "_modules")],
            "states_dirs": [str(REPO / "_states")],
            "utils_dirs": [str(REPO / "_utils")],
            "runner_dirs": [str(REPO / "_runners")],
        },
    )
    return factory.config.copy()


@pytest.fixture
def fake_root(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    return root


@pytest.fixture
def fake_bin(tmp_path, monkeypatch):
    """A directory put first on PATH for recording stand-ins of system tools."""
    path = tmp_path / "bin"
    path.mkdir()
    monkeypatch.setenv("PATH", f"{path}{os.pathsep}{os.environ['PATH']}")
    return path


@pytest.fixture
def loaders(base_minion_opts, fake_root):
    opts = dict(base_minion_opts)
    opts["kdump_root"] = str(fake_root)
    loaders = Loaders(opts)
    try:
        yield loaders
    finally:
        loaders.reset_state()

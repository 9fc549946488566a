"""Functional tier: Salt's real loaders over our source directories and a sandbox root.

Each test gets loaders whose minion option ``kdump_root`` points at a fresh fake root
(``fake_root``), so execution and state modules read and write only inside it.
"""

import os
import pathlib

import pytest
import yaml
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


@pytest.fixture(scope="package")
def package_loaders(base_minion_opts):
    """One set of real Salt loaders for the whole tier: building them costs ~8 s (grains are
    loaded twice and a sync runs), so tests share them and ``loaders`` resets what they touch."""
    return Loaders(dict(base_minion_opts))


@pytest.fixture
def loaders(package_loaders, fake_root):
    """The shared loaders pointed at this test's fake root.

    The modules read ``__opts__`` live, so setting ``kdump_root`` here is enough; grains and
    pillar a test changes are put back afterwards, and the loader context and cache are wiped.
    """
    opts = package_loaders.opts
    grains = dict(package_loaders.grains)
    saved = {key: opts.get(key) for key in ("kdump_root", "pillar")}
    opts["kdump_root"] = str(fake_root)
    try:
        yield package_loaders
    finally:
        package_loaders.grains.clear()
        package_loaders.grains.update(grains)
        for key, value in saved.items():
            if value is None:
                opts.pop(key, None)
            else:
                opts[key] = value
        package_loaders.reset_state()


def make_own_pillar_loaders(base_minion_opts, tmp_path, kdump, os_family="RedHat", **overrides):
    """Loaders whose minion has its own ``kdump`` pillar (pillar_roots, read through Salt's real
    pillar.get) and a fake root with /proc/meminfo; ``overrides`` go into the minion opts.
    Returns ``(loaders, root)``."""
    pillar_dir = tmp_path / "pillar"
    pillar_dir.mkdir(parents=True)
    (pillar_dir / "top.sls").write_text(yaml.safe_dump({"base": {"*": ["kdump"]}}))
    (pillar_dir / "kdump.sls").write_text(yaml.safe_dump({"kdump": kdump}))
    root = tmp_path / "root"
    (root / "proc").mkdir(parents=True)
    (root / "proc/meminfo").write_text("MemTotal:        2097152 kB\n")
    opts = dict(base_minion_opts, pillar_roots={"base": [str(pillar_dir)]}, kdump_root=str(root), **overrides)
    loaders = Loaders(opts)
    loaders.grains["os_family"] = os_family
    return loaders, root


@pytest.fixture
def own_pillar_loaders(base_minion_opts):
    """``own_pillar_loaders(tmp_dir, kdump, os_family="RedHat", **opts) -> (loaders, root)``."""
    return lambda *args, **kwargs: make_own_pillar_loaders(base_minion_opts, *args, **kwargs)

"""Functional tier: Salt's real loaders over our source directories and a sandbox root.

Each test gets loaders whose minion option ``kdump_root`` points at a fresh fake root
(``fake_root``), so execution and state modules read and write only inside it.
"""

import os
import pathlib
import sys

import pytest
import salt.version
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


def _loader_opts(package_loaders):
    """The opts dicts the modules read. Salt 3008 hands every loader and module the same
    dict; Salt 3006/3007 give each loader a copy and each loaded module another (taken when
    it loads), and pack a copy of the grains: point the packs at the shared grains and
    return every opts dict, so a test's ``kdump_root`` and grains reach the modules."""
    found = []
    candidates = [package_loaders.opts]
    for loader in (package_loaders.utils, package_loaders.modules, package_loaders.states):
        if isinstance(loader.pack.get("__grains__"), dict):
            loader.pack["__grains__"] = package_loaders.grains
        candidates.append(loader.opts)
        # Salt 3007: the modules' __salt__ can be another loader with opts of its own
        candidates.append(getattr(loader.pack.get("__salt__"), "opts", None))
    # every module a loader has imported so far, also those of the loaders state.single builds
    candidates.extend(getattr(module, "__opts__", None) for name, module in list(sys.modules.items())
                      if name.startswith("salt.loaded."))
    for opts in candidates:
        if isinstance(opts, dict) and not any(opts is seen for seen in found):
            found.append(opts)
    return found


@pytest.fixture(scope="module", autouse=True)
def fresh_loaders_per_module_before_3008(request):
    """Salt 3006/3007: fresh loaders for every test module. There, ``state.single`` builds
    loaders of its own from copies of the opts, and a copy left from an earlier module's test
    can point at that test's root; rebuilding per module (~1 s) keeps the tier order-free."""
    if salt.version.__saltstack_version__.major >= 3008 or "package_loaders" not in request.fixturenames:
        return
    request.getfixturevalue("package_loaders").reload_all()


@pytest.fixture
def loaders(package_loaders, fake_root):
    """The shared loaders pointed at this test's fake root.

    ``kdump_root`` is set in every opts dict the modules read (``_loader_opts``); grains and
    pillar a test changes are put back afterwards, and the loader context and cache are wiped.
    """
    grains = dict(package_loaders.grains)
    every_opts = _loader_opts(package_loaders)
    saved = [{key: opts.get(key) for key in ("kdump_root", "pillar")} for opts in every_opts]
    for opts in every_opts:
        opts["kdump_root"] = str(fake_root)
    try:
        yield package_loaders
    finally:
        package_loaders.grains.clear()
        package_loaders.grains.update(grains)
        for opts, before in zip(every_opts, saved):
            for key, value in before.items():
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

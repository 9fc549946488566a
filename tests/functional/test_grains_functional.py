"""Functional tier: the kdump_* grains loaded by Salt's real grains loader (``grains_dirs`` =
the checkout's ``_grains``, kdumplib from ``utils_dirs``), on a fake Debian 12 root, next to
the execution modules that answer the same questions the long way."""

import json
import pathlib
import shutil
import subprocess
import sys

import pytest
import salt.loader
from saltfactories.utils.functional import Loaders

REPO = pathlib.Path(__file__).resolve().parents[2]
CONF = REPO / "tests" / "fixtures" / "kdumpconf"
M = 1 << 20


def put(root, path, text):
    real = root / path.lstrip("/")
    real.parent.mkdir(parents=True, exist_ok=True)
    real.write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def grains_root(tmp_path_factory):
    """A Debian 12 host with kdump-tools configured and the crash kernel loaded in 128M."""
    root = tmp_path_factory.mktemp("grains-root")
    put(root, "/proc/cmdline", "BOOT_IMAGE=/vmlinuz ro quiet crashkernel=128M\n")
    put(root, "/proc/meminfo", "MemTotal:        2017196 kB\n")
    put(root, "/proc/sys/kernel/random/boot_id", "5b0c8f0e-8f7e-4a35-9a43-2d1c7e6b9f10\n")
    put(root, "/sys/kernel/kexec_crash_size", f"{128 * M}\n")
    put(root, "/sys/kernel/kexec_crash_loaded", "1\n")
    put(root, "/etc/default/grub", 'GRUB_CMDLINE_LINUX="ro crashkernel=128M"\n')
    put(root, "/etc/default/kdump-tools", (CONF / "debian12-kdump-tools").read_text())
    return root


@pytest.fixture(scope="module")
def grain_loaders(base_minion_opts, grains_root):
    opts = dict(base_minion_opts, grains_dirs=[str(REPO / "_grains")], kdump_root=str(grains_root))
    loaders = Loaders(opts)
    try:
        yield loaders
    finally:
        loaders.reset_state()


def test_salt_loads_the_grain_module(grain_loaders):
    funcs = salt.loader.grain_funcs(grain_loaders.opts)
    assert "kdump.kdump_grains" in funcs
    assert grain_loaders.grains["os_family"] == "Debian"  # this host: the fake root is Debian's


def test_grains_of_a_ready_host_agree_with_the_modules(grain_loaders):
    grains = grain_loaders.grains
    assert grains["kdump_ready"] is True and grains["kdump_problems"] == []
    assert grains["kdump_target_type"] == "local" and grains["kdump_managed"] is False
    current = grain_loaders.modules.crashkernel.get()
    assert (grains["kdump_bootloader"], grains["kdump_crashkernel_configured"], grains["kdump_crashkernel_running"],
            grains["kdump_crashkernel_reserved"], grains["kdump_crash_loaded"], grains["kdump_reboot_pending"]) == (
        current["backend"], current["configured"], current["running"],
        current["reserved_bytes"], current["loaded"], current["reboot_pending"]) == (
        "grub2-default", "128M", "128M", 128 * M, True, False)
    assert grain_loaders.modules["grains.get"]("kdump_crashkernel_reserved") == 128 * M
    assert grains["kdump_target_type"] == grain_loaders.modules.kdump.settings()["target"]["type"]


def test_a_refresh_sees_a_pending_reboot_and_a_rebuild(grain_loaders, grains_root):
    """What the formula changes shows on the next grains refresh: a new crashkernel= in the
    boot loader (reboot pending) and a config change this boot (the module's own marker)."""
    modules = grain_loaders.modules
    put(grains_root, "/etc/default/grub", 'GRUB_CMDLINE_LINUX="ro crashkernel=256M"\n')
    modules.kdump.request_rebuild("a test hook changed")
    try:
        grains = salt.loader.grains(grain_loaders.opts, force_refresh=True)
        assert grains["kdump_reboot_pending"] is True and grains["kdump_rebuild_pending"] is True
        assert grains["kdump_ready"] is False
        assert grains["kdump_problems"] == ["reboot_pending", "rebuild_pending"]
        status = modules.kdump.status()
        assert status["reboot_pending"] is True and status["rebuild_pending"] is True
        assert set(grains["kdump_problems"]) <= set(status["codes"]), status
    finally:
        put(grains_root, "/etc/default/grub", 'GRUB_CMDLINE_LINUX="ro crashkernel=128M"\n')
        (grains_root / grain_loaders.opts["cachedir"].lstrip("/") / "kdump-formula/rebuild-pending").unlink()
    assert salt.loader.grains(grain_loaders.opts, force_refresh=True)["kdump_ready"] is True


# A fresh interpreter (nothing of this checkout on sys.path, as on a minion) loads the grains of
# a synced minion: <extmods>/grains/kdump.py, and kdumplib in <extmods>/utils only when synced.
SYNCED_MINION = """
import json, sys
import salt.config, salt.loader
opts = salt.config.minion_config(None)
opts.update(extension_modules=sys.argv[1], kdump_root=sys.argv[2], file_client="local")
grains = salt.loader.grains(opts, force_refresh=True)
print(json.dumps({"kdump_ready": grains.get("kdump_ready", "absent"), "kernel": grains.get("kernel"),
                  "kdumplib": "kdumplib" in sys.modules}))
"""


@pytest.mark.parametrize("utils_synced", [False, True])
def test_a_minion_with_the_grain_but_not_kdumplib_loads_its_other_grains(tmp_path, grains_root, utils_synced):
    """``saltutil.sync_grains`` alone: Salt skips the kdump grain module (its __virtual__ says
    to sync _utils too) and every other grain loads; with kdumplib synced the grains are there."""
    extmods = tmp_path / "extmods"
    (extmods / "grains").mkdir(parents=True)
    shutil.copy2(REPO / "_grains" / "kdump.py", extmods / "grains")
    if utils_synced:
        shutil.copytree(REPO / "_utils" / "kdumplib", extmods / "utils" / "kdumplib")
    proc = subprocess.run([sys.executable, "-c", SYNCED_MINION, str(extmods), str(grains_root)],
                          capture_output=True, text=True, cwd=tmp_path, check=False,
                          env={"PATH": "/usr/bin:/bin"}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded["kernel"] == "Linux"  # the core grains
    if utils_synced:
        assert loaded == {"kdump_ready": True, "kernel": "Linux", "kdumplib": True}
    else:
        assert loaded == {"kdump_ready": "absent", "kernel": "Linux", "kdumplib": False}

"""Integration tier: a real salt-master and two salt-minions on loopback, the kdump grains
synced from file_roots, and minions targeted by them (``salt -G 'kdump_ready:False' ...``).

One minion is a fresh Debian 12 host (no crashkernel=, nothing reserved: the fake root of
test_master_minion.py), the other the same host with kdump working (128M reserved, the crash
kernel loaded, kdump-tools configured). ``kdump_root`` points each at its root. What a
minion does with the grain synced but not kdumplib (``saltutil.sync_grains`` alone) is
tests/functional/test_grains_functional.py's: a fresh interpreter with nothing else on its path.
"""

import pathlib

import pytest

from tests.integration.test_master_minion import FAMILIES, make_root

REPO = pathlib.Path(__file__).resolve().parents[2]
CONF = REPO / "tests" / "fixtures" / "kdumpconf"
FRESH, READY = "kdg-fresh", "kdg-ready"


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """What a user serves (docs/grains.md): the module directories, _grains among them."""
    deployed = tmp_path_factory.mktemp("kdump-formula-grains")
    for name in ("salt", "_modules", "_states", "_utils", "_grains"):
        (deployed / name).symlink_to(REPO / name, target_is_directory=True)
    return deployed


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    fresh = make_root(tmp_path_factory.mktemp("root-fresh"), "Debian")
    ready = make_root(tmp_path_factory.mktemp("root-ready"), "Debian")
    (ready / "proc/cmdline").write_text("BOOT_IMAGE=/boot/vmlinuz root=/dev/vda1 ro quiet crashkernel=128M\n")
    (ready / "sys/kernel/kexec_crash_size").write_text(f"{128 << 20}\n")
    (ready / "sys/kernel/kexec_crash_loaded").write_text("1\n")
    (ready / "etc/default/grub").write_text('GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="crashkernel=128M"\n')
    (ready / "etc/default/kdump-tools").write_text((CONF / "debian12-kdump-tools").read_text())
    return {FRESH: fresh, READY: ready}


@pytest.fixture(scope="module")
def salt_cli(salt_factories, checkout, roots):
    master = salt_factories.salt_master_daemon(
        "kdg-master", overrides={"file_roots": {"base": [str(checkout / "salt"), str(checkout)]}})
    with master.started():
        minions = [master.salt_minion_daemon(
            minion_id, overrides={"kdump_root": str(root), "grains": FAMILIES["Debian"]["grains"]})
            for minion_id, root in roots.items()]
        for minion in minions:
            minion.start()
        try:
            yield master.salt_cli(timeout=120)
        finally:
            for minion in minions:
                minion.terminate()


def targeted(salt_cli, expression):
    """The minions ``salt -G <expression> test.ping`` reaches."""
    ret = salt_cli.run("-G", "test.ping", minion_tgt=expression)
    if ret.returncode != 0 and "No minions matched" in (ret.stdout + ret.stderr):
        return set()
    assert ret.returncode == 0, ret
    return {minion for minion, answer in ret.data.items() if answer is True}


def kdump_grains(salt_cli):
    ret = salt_cli.run("grains.item", "kdump_ready", "kdump_problems", "kdump_crashkernel_reserved",
                       "kdump_reboot_pending", "kdump_target_type", minion_tgt="kdg-*")
    assert ret.returncode == 0, ret
    return ret.data


def test_grains_target_minions_by_readiness(salt_cli):
    for function in ("saltutil.sync_utils", "saltutil.sync_grains"):
        ret = salt_cli.run(function, minion_tgt="kdg-*")
        assert ret.returncode == 0, ret
    data = kdump_grains(salt_cli)
    assert data[FRESH] == {"kdump_ready": False, "kdump_problems": ["config_missing", "not_reserved"],
                           "kdump_crashkernel_reserved": 0, "kdump_reboot_pending": False,
                           "kdump_target_type": None}, data
    assert data[READY] == {"kdump_ready": True, "kdump_problems": [], "kdump_crashkernel_reserved": 128 << 20,
                           "kdump_reboot_pending": False, "kdump_target_type": "local"}, data
    assert targeted(salt_cli, "kdump_ready:False") == {FRESH}
    assert targeted(salt_cli, "kdump_ready:True") == {READY}
    assert targeted(salt_cli, "kdump_problems:not_reserved") == {FRESH}
    assert targeted(salt_cli, "kdump_target_type:local") == {READY}


def test_a_grains_refresh_follows_the_host(salt_cli, roots):
    """A new crashkernel= in the boot loader shows as a pending reboot after refresh_grains."""
    grub = roots[READY] / "etc/default/grub"
    before = grub.read_text()
    grub.write_text(before.replace("crashkernel=128M", "crashkernel=256M"))
    try:
        assert salt_cli.run("saltutil.refresh_grains", minion_tgt=READY).returncode == 0
        assert targeted(salt_cli, "kdump_reboot_pending:True") == {READY}
        assert targeted(salt_cli, "kdump_ready:False") == {FRESH, READY}
    finally:
        grub.write_text(before)
        salt_cli.run("saltutil.refresh_grains", minion_tgt=READY)

"""_grains/kdump.py on fake roots, and kdumplib.grainfacts: what the kdump_* grains say, that
they agree with crashkernel.get and kdump.status, and that a grain load never fails."""

import pathlib
from unittest.mock import MagicMock, patch

import pytest

from _grains import kdump as kdump_grains
from _modules import crashkernel
from _modules import kdump as kdump_module
from kdumplib import grainfacts
from tests.fakeroot import put

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"
BOOT = FIXTURES / "bootloader"
CONF = FIXTURES / "kdumpconf"
M = 1 << 20
CACHEDIR = "/var/cache/salt/minion"
BOOT_ID = "2f1d6a52-5c4e-4a8b-9d43-0c1e3f6a7b80"


@pytest.fixture
def configure_loader_modules(root):
    opts = {"kdump_root": str(root), "cachedir": CACHEDIR}
    return {
        kdump_grains: {"__opts__": opts},
        crashkernel: {"__opts__": opts, "__grains__": {"os_family": "Debian"},
                      "__salt__": {"cmd.run_all": MagicMock(side_effect=AssertionError("no command"))}},
    }


def no_tools(name):
    return None


def grubby_only(name):
    return "/usr/sbin/grubby" if name == "grubby" else None


def kernel(root, reserved=128 * M, loaded=True, cmdline="ro quiet crashkernel=128M"):
    """The running kernel's view: sysfs and /proc under the root."""
    put(root, "/sys/kernel/kexec_crash_size", f"{reserved}\n")
    put(root, "/sys/kernel/kexec_crash_loaded", "1\n" if loaded else "0\n")
    put(root, "/proc/cmdline", f"BOOT_IMAGE=/vmlinuz {cmdline}\n")
    put(root, "/proc/sys/kernel/random/boot_id", BOOT_ID + "\n")


def debian_ready(root, grub_value="128M"):
    kernel(root)
    put(root, "/etc/default/grub", f'GRUB_CMDLINE_LINUX="ro crashkernel={grub_value}"\n')
    put(root, "/etc/default/kdump-tools", (CONF / "debian12-kdump-tools").read_text())


def load(os_family="Debian"):
    with patch("salt.utils.path.which", no_tools):
        return kdump_grains.kdump_grains({"os_family": os_family})


# ---------------------------------------------------------------- the verdicts


def test_a_ready_host(root):
    debian_ready(root)
    assert load() == {
        "kdump_ready": True,
        "kdump_problems": [],
        "kdump_crash_loaded": True,
        "kdump_crashkernel_reserved": 128 * M,
        "kdump_crashkernel_running": "128M",
        "kdump_crashkernel_configured": "128M",
        "kdump_bootloader": "grub2-default",
        "kdump_reboot_pending": False,
        "kdump_rebuild_pending": False,
        "kdump_target_type": "local",
        "kdump_managed": False,
    }


def test_reboot_pending_when_the_boot_loader_gives_another_value(root):
    debian_ready(root, grub_value="256M")
    grains = load()
    assert grains["kdump_reboot_pending"] is True
    assert grains["kdump_crashkernel_configured"] == "256M" and grains["kdump_crashkernel_running"] == "128M"
    assert grains["kdump_ready"] is False and grains["kdump_problems"] == ["reboot_pending"]


def test_equal_values_in_other_spellings_are_no_reboot(root):
    debian_ready(root, grub_value="131072K")
    assert load()["kdump_reboot_pending"] is False


def test_no_reservation_on_a_fresh_host(root):
    kernel(root, reserved=0, loaded=False, cmdline="ro quiet")
    put(root, "/etc/default/grub", 'GRUB_CMDLINE_LINUX="ro"\n')
    grains = load()
    assert grains["kdump_crashkernel_reserved"] == 0 and grains["kdump_crashkernel_running"] is None
    assert grains["kdump_problems"] == ["config_missing", "not_reserved"] and grains["kdump_ready"] is False
    assert "kdump_target_type" in grains and grains["kdump_target_type"] is None


def test_reserved_but_not_loaded(root):
    debian_ready(root)
    put(root, "/sys/kernel/kexec_crash_loaded", "0\n")
    grains = load()
    assert grains["kdump_crash_loaded"] is False and grains["kdump_problems"] == ["not_loaded"]


def test_a_kernel_without_kexec(root):
    put(root, "/proc/cmdline", "ro\n")
    put(root, "/etc/default/kdump-tools", (CONF / "debian12-kdump-tools").read_text())
    grains = load()
    assert grains["kdump_problems"] == ["no_kexec_support", "not_reserved"]
    assert grains["kdump_crash_loaded"] is False and grains["kdump_bootloader"] is None


def test_rebuild_pending_is_a_problem_only_in_the_boot_it_was_set(root):
    debian_ready(root)
    marker = put(root, f"{CACHEDIR}/kdump-formula/rebuild-pending", f"{BOOT_ID}\nkdump.conf changed\n")
    grains = load()
    assert grains["kdump_rebuild_pending"] is True and grains["kdump_problems"] == ["rebuild_pending"]
    marker.write_text("0000-an-earlier-boot\nkdump.conf changed\n")
    grains = load()
    assert grains["kdump_rebuild_pending"] is True and grains["kdump_ready"] is True


def test_the_same_marker_as_kdump_rebuild_pending_reads(root):
    put(root, "/proc/sys/kernel/random/boot_id", BOOT_ID + "\n")
    put(root, f"{CACHEDIR}/kdump-formula/rebuild-pending", f"{BOOT_ID}\nwhy\n")
    with patch.dict(kdump_module.__dict__, {"__opts__": {"kdump_root": str(root), "cachedir": CACHEDIR}}, clear=False):
        module = kdump_module.rebuild_pending()
    assert (module["pending"], module["this_boot"]) == grainfacts.rebuild_marker(
        (root / CACHEDIR.lstrip("/") / "kdump-formula/rebuild-pending").read_text(), BOOT_ID)


@pytest.mark.parametrize("os_family, path, text, target", [
    ("RedHat", "/etc/kdump.conf", "nfs nfs.example.org:/export/crash\npath /var/crash\n", "nfs"),
    ("RedHat", "/etc/kdump.conf", (CONF / "rhel6-seed-kdump.conf").read_text(), None),
    ("Suse", "/etc/sysconfig/kdump", (CONF / "suse-sysconfig-kdump").read_text(), None),
    ("Debian", "/etc/default/kdump-tools", 'SSH="kdump@dumps.example.org"\n', "ssh"),
])
def test_target_type_from_the_distribution_config(root, os_family, path, text, target):
    debian_ready(root)
    put(root, path, text)
    grains = load(os_family)
    from kdumplib import kdumpconf  # the module's own parser says what the file means
    assert grains["kdump_target_type"] == (target or kdumpconf.parse(os_family, text)["target"]["type"])


def test_managed_once_the_formula_kept_the_original(root):
    debian_ready(root)
    assert load()["kdump_managed"] is False
    put(root, "/etc/default/kdump-tools" + kdump_module.ORIGINAL, "")
    assert load()["kdump_managed"] is True
    assert kdump_grains.MANAGED_SUFFIXES == (kdump_module.ORIGINAL, kdump_module.CREATED)
    assert kdump_grains.REBUILD_MARKER == kdump_module.REBUILD_MARKER


def test_a_static_os_family_of_the_minion_config_wins(root):
    """Salt applies the configuration's ``grains:`` after every grain function: the config file
    read must be that family's."""
    debian_ready(root)
    put(root, "/etc/kdump.conf", "ssh kdump@dumps.example.org\n")
    with patch.dict(kdump_grains.__opts__, {"grains": {"os_family": "RedHat"}}):
        assert load("Debian")["kdump_target_type"] == "ssh"
    assert load("Debian")["kdump_target_type"] == "local"


def test_unsupported_family_has_no_config_grains(root):
    debian_ready(root)
    grains = load("Windows")
    assert grains["kdump_problems"] == ["unsupported_os_family"]
    assert "kdump_target_type" not in grains and "kdump_managed" not in grains


# ---------------------------------------------------------------- never failing


def test_an_unreadable_boot_loader_omits_its_grains_only(root, caplog):
    debian_ready(root)
    put(root, "/etc/default/grub", 'GRUB_CMDLINE_LINUX="ro crashkernel=128M\n')  # unbalanced quote
    with caplog.at_level("DEBUG", logger=kdump_grains.__name__):
        grains = load()
    for name in ("kdump_crashkernel_configured", "kdump_bootloader", "kdump_reboot_pending"):
        assert name not in grains
    assert grains["kdump_crashkernel_reserved"] == 128 * M and grains["kdump_target_type"] == "local"
    assert grains["kdump_ready"] is False and grains["kdump_problems"] == ["grain_error"]
    assert any("cannot tell crashkernel" in record.getMessage() and record.exc_info for record in caplog.records)


def test_garbage_in_sysfs_and_a_directory_for_a_file(root):
    debian_ready(root)
    put(root, "/sys/kernel/kexec_crash_size", "lots\n")
    (root / "etc/default/kdump-tools").unlink()
    (root / "etc/default/kdump-tools").mkdir()
    grains = load()
    assert "kdump_crashkernel_reserved" not in grains and "kdump_target_type" not in grains
    assert grains["kdump_problems"] == ["grain_error"] and grains["kdump_reboot_pending"] is False


def test_undecodable_config_is_a_grain_error(root):
    debian_ready(root)
    (root / "etc/default/kdump-tools").write_bytes(b"KDUMP_COREDIR=\xff\xfe\n")
    assert load()["kdump_problems"] == ["grain_error"]


def test_anything_unexpected_leaves_only_not_ready(root, caplog):
    with patch.object(kdump_grains, "_reader", side_effect=RuntimeError("boom")), \
            caplog.at_level("DEBUG", logger=kdump_grains.__name__):
        assert kdump_grains.kdump_grains({"os_family": "Debian"}) == {
            "kdump_ready": False, "kdump_problems": ["grain_error"]}
    assert any("not computed" in record.getMessage() for record in caplog.records)


def test_virtual_names_the_missing_kdumplib():
    with patch.object(kdump_grains, "IMPORT_ERROR", ImportError("No module named 'kdumplib'")):
        ok, reason = kdump_grains.__virtual__()
    assert ok is False and "kdumplib" in reason and "sync_all" in reason
    assert kdump_grains.__virtual__() == "kdump"


# ---------------------------------------------------------------- agreement with the modules


def _bls(root, name, fixture, grubenv=None):
    put(root, f"/boot/loader/entries/{name}.conf", (BOOT / fixture).read_text())
    if grubenv:
        put(root, "/boot/grub2/grubenv", (BOOT / grubenv).read_text())


LAYOUTS = {
    "debian12+kdump-tools.cfg": lambda root: (
        put(root, "/etc/default/grub", (BOOT / "default_grub.debian12").read_text()),
        put(root, "/etc/default/grub.d/kdump-tools.cfg", (BOOT / "kdump-tools.cfg").read_text())),
    "debian12+guard": lambda root: (
        put(root, "/etc/default/grub", 'GRUB_CMDLINE_LINUX="ro crashkernel=256M"\n'),
        put(root, "/etc/default/grub.d/kdump-tools.cfg", (BOOT / "kdump-tools.cfg").read_text()),
        put(root, "/etc/default/grub.d/zz-kdump-formula.cfg", crashkernel.bootloader.GUARD_TEXT)),
    "rhel8-bls+grubenv": lambda root: (
        _bls(root, "0a1b2c3d4e5f40718293a4b5c6d7e8f9-4.18.0-553.el8_10.x86_64", "bls.rhel8.conf", "grubenv.rhel8"),
        _bls(root, "0a1b2c3d4e5f40718293a4b5c6d7e8f9-4.18.0-999.el8.x86_64", "bls.rhel9.conf")),
    "rhel9-bls": lambda root: _bls(root, "abc-5.14.0", "bls.rhel9.conf"),
    "rhel9-bls+default_grub": lambda root: (
        _bls(root, "abc-5.14.0", "bls.rhel9.conf"), put(root, "/etc/default/grub", 'GRUB_CMDLINE_LINUX="ro"\n')),
    "grub-legacy": lambda root: put(root, "/boot/grub/grub.conf", (BOOT / "grub.conf").read_text()),
    "debian12-pair": lambda root: put(
        root, "/etc/default/grub", 'GRUB_CMDLINE_LINUX="ro crashkernel=512m,high crashkernel=256M,low"\n'),
    "nothing": lambda root: None,
}


@pytest.mark.parametrize("which", [no_tools, grubby_only], ids=["no-grubby", "grubby"])
@pytest.mark.parametrize("running", ["128M", "384M-:128M", "1G-4G:192M,4G-64G:256M,64G-:512M",
                                     "512M,high crashkernel=256M,low", None])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_grains_agree_with_crashkernel_get(root, layout, running, which):
    """The grain reads the boot loader without the crashkernel module: on every fixture it
    must answer what crashkernel.get answers (same backend, value, reservation, reboot)."""
    kernel(root, cmdline=f"ro crashkernel={running}" if running else "ro")
    LAYOUTS[layout](root)
    with patch("salt.utils.path.which", which):
        module = crashkernel.get()
        grains = kdump_grains.kdump_grains({"os_family": "Debian"})
    assert (grains["kdump_bootloader"], grains["kdump_crashkernel_configured"], grains["kdump_crashkernel_running"],
            grains["kdump_crashkernel_reserved"], grains["kdump_crash_loaded"], grains["kdump_reboot_pending"]) == (
        module["backend"], module["configured"], module["running"],
        module["reserved_bytes"], module["loaded"], module["reboot_pending"])


def test_boot_loader_order_is_the_modules():
    assert [name for name, _ in grainfacts.BOOT_LOADERS] == [backend.name for backend in crashkernel.BACKENDS]
    for name in ("GRUB_LEGACY_CONF", "DEFAULT_GRUB", "DEFAULT_GRUB_D", "BLS_DIR", "GRUBENV", "GRUB2_CFGS"):
        assert getattr(grainfacts, name) == getattr(crashkernel, name)


def test_problem_codes_are_kdump_status_codes():
    assert set(grainfacts.PROBLEM_CODES) - {"grain_error"} <= set(kdump_module.PROBLEM_CODES)


# ---------------------------------------------------------------- kdumplib.grainfacts alone


@pytest.mark.parametrize("text, value", [(None, None), ("134217728\n", 134217728), ("0", 0), ("", None), ("x", None)])
def test_sysfs_int(text, value):
    assert grainfacts.sysfs_int(text) == value


def test_rebuild_marker():
    assert grainfacts.rebuild_marker(None, BOOT_ID) == (False, False)
    assert grainfacts.rebuild_marker(f"{BOOT_ID}\nwhy\n", BOOT_ID + "\n") == (True, True)
    assert grainfacts.rebuild_marker("\nwhy\n", "") == (True, False)


def test_problems_order_and_unknowns():
    assert grainfacts.problems({"supported": True, "config_present": True, "kexec_support": True,
                                "crashkernel_reserved": 1, "crash_loaded": True, "reboot_pending": False,
                                "rebuild_this_boot": False, "errors": []}) == []
    assert grainfacts.problems({"supported": True, "config_present": False, "kexec_support": True,
                                "crashkernel_reserved": 1, "crash_loaded": False, "reboot_pending": True,
                                "rebuild_this_boot": True, "errors": ["config"]}) == [
        "config_missing", "not_loaded", "reboot_pending", "rebuild_pending", "grain_error"]
    found = grainfacts.problems({"supported": False, "kexec_support": False, "crashkernel_reserved": 0, "errors": []})
    assert found == ["unsupported_os_family", "no_kexec_support", "not_reserved"]
    assert found == [code for code in grainfacts.PROBLEM_CODES if code in found]


def test_next_boot_with_a_dict_reader():
    texts = {"/etc/default/grub": 'GRUB_CMDLINE_LINUX="crashkernel=64M"\n',
             "/etc/default/grub.d/a.cfg": 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX crashkernel=96M"\n'}
    reader = grainfacts.Reader(read=texts.get, exists=texts.__contains__, which=no_tools,
                               glob=lambda pattern: sorted(p for p in texts if p.startswith(pattern[:-5])))
    assert grainfacts.next_boot(reader) == ("grub2-default", "96M")
    assert grainfacts.next_boot(grainfacts.Reader(read=lambda p: None, exists=lambda p: False,
                                                  glob=lambda p: [], which=no_tools)) == (None, None)

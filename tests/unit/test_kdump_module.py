"""_modules/kdump.py with Salt's loader mocked: a fake root, fake cmd/service/crashkernel."""

import os
import pathlib

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from _modules import kdump

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "kdumpconf"
SEED = (FIXTURES / "rhel6-seed-kdump.conf").read_text()


class Commands:
    """Records cmd.run_all calls; answers from a table of argv-prefix → result."""

    def __init__(self):
        self.calls = []
        self.results = {}
        self.side_effects = {}

    def __call__(self, cmd, python_shell=None, **kwargs):
        assert isinstance(cmd, list) and python_shell is False
        self.calls.append(cmd)
        effect = self.side_effects.get(cmd[0])
        if effect:
            effect(cmd)
        return self.results.get(tuple(cmd), {"retcode": 0, "stdout": "", "stderr": ""})


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "root"
    for path, text in {
        "etc/kdump.conf": SEED,
        "proc/meminfo": "MemTotal:        4194304 kB\n",
        "proc/cmdline": "ro root=/dev/mapper/rootvg-root crashkernel=128M\n",
        "sys/kernel/kexec_crash_size": "134217728\n",
        "sys/kernel/kexec_crash_loaded": "1\n",
        "proc/sys/kernel/sysrq": "0\n",
        "proc/sysrq-trigger": "",
        "dev/mapper/rootvg-crashlv": "",
    }.items():
        real = root / path
        real.parent.mkdir(parents=True, exist_ok=True)
        real.write_text(text)
    (root / "var/crash").mkdir(parents=True)
    return root


@pytest.fixture
def commands():
    return Commands()


@pytest.fixture
def crashkernel_get():
    return {"running": "128M", "configured": "128M", "reserved_bytes": 134217728, "loaded": True, "reboot_pending": False}


@pytest.fixture
def configure_loader_modules(root, commands, crashkernel_get):
    return {
        kdump: {
            "__opts__": {"kdump_root": str(root), "id": "web01"},
            "__grains__": {"os_family": "RedHat", "id": "web01"},
            "__salt__": {
                "cmd.run_all": commands,
                "service.enabled": lambda name: True,
                "service.status": lambda name: True,
                "crashkernel.get": lambda: dict(crashkernel_get),
                # The one reader of RAM (crashkernel.mem_bytes): MemTotal under the root.
                "crashkernel.mem_bytes": lambda: int((root / "proc/meminfo").read_text().split()[1]) * 1024,
            },
        }
    }


def test_virtual_is_linux_only(monkeypatch):
    assert kdump.__virtual__() == "kdump"
    monkeypatch.setattr(kdump.salt.utils.platform, "is_linux", lambda: False)
    assert kdump.__virtual__()[0] is False


def test_validate_names_key():
    assert kdump.validate({})["collector"]["dump_level"] == 31
    with pytest.raises(SaltInvocationError, match=r"^kdump:settings:collector:dump_level: 40 is out of range 0-31"):
        kdump.validate({"collector": {"dump_level": 40}})


def test_validate_refuses_what_the_family_cannot_express():
    with kdump_patch_family("Suse"):
        with pytest.raises(SaltInvocationError, match=r"^kdump:settings:collector:dump_level: .*Suse"):
            kdump.validate({"collector": {"dump_level": "11,31"}})


class kdump_patch_family:  # noqa: N801 - used as a context manager
    def __init__(self, family):
        self.family = family

    def __enter__(self):
        self.old = kdump.__grains__["os_family"]
        kdump.__grains__["os_family"] = self.family

    def __exit__(self, *exc):
        kdump.__grains__["os_family"] = self.old


def test_validate_pillar_device_checks(root):
    ok = {"settings": {"target": {"type": "device", "device": "/dev/mapper/rootvg-crashlv", "fstype": "ext4"}}}
    assert kdump.validate_pillar(ok)["settings"]["target"]["fstype"] == "ext4"
    missing = {"settings": {"target": {"type": "device", "device": "/dev/sdz1", "fstype": "ext4"}}}
    with pytest.raises(SaltInvocationError, match=r"^kdump:settings:target:device: /dev/sdz1 does not exist"):
        kdump.validate_pillar(missing)
    managed = {
        "settings": {"target": {"type": "device", "device": "/dev/newvg/crashlv", "fstype": "xfs"}},
        "volume": {"vg": "newvg", "lv": "crashlv", "size": "2G", "fstype": "xfs", "mountpoint": "/var/crash"},
    }
    assert kdump.validate_pillar(managed)["volume"]["size"] == "2G"
    with pytest.raises(SaltInvocationError, match=r"^kdump:volume:size: "):
        kdump.validate_pillar({"volume": {"vg": "v", "lv": "l", "size": "-1G"}})


def test_validate_pillar_debian_device_target_must_be_the_volume_mounted_at_boot(root):
    target = {"type": "device", "device": "/dev/rootvg/crashlv", "fstype": "ext4", "path": "/var/crash"}
    volume = {"vg": "rootvg", "lv": "crashlv", "size": "1G", "mountpoint": "/var/crash"}
    with kdump_patch_family("Debian"):
        with pytest.raises(SaltInvocationError, match=r"^kdump:volume:mount_at_boot: on Debian"):
            kdump.validate_pillar({"settings": {"target": target}, "volume": volume})
        mounted = dict(volume, mount_at_boot=True)
        assert kdump.validate_pillar({"settings": {"target": target}, "volume": mounted})["volume"]["mount_at_boot"]
        other = dict(target, device="/dev/mapper/rootvg-crashlv")
        with pytest.raises(SaltInvocationError, match=r"^kdump:settings:target:device: .* not the managed volume"):
            kdump.validate_pillar({"settings": {"target": other}})


def test_validate_pillar_refuses_a_fixed_volume_smaller_than_the_dump(root, monkeypatch):
    small = {"volume": {"vg": "rootvg", "lv": "crashlv", "size": "8M"}}
    # The ratio model (fake root: no makedumpfile) only sizes; it never refuses a volume.
    assert kdump.validate_pillar(small)["volume"]["size"] == "8M"
    measured = {"bytes": 40 << 20, "method": "makedumpfile", "mem_bytes": 1 << 30, "dump_level": 31}
    monkeypatch.setattr(kdump, "estimate", lambda dump_level=None: measured)
    with pytest.raises(SaltInvocationError, match=r"^kdump:volume:size: 8M is smaller than a vmcore .*: not enough space to save a vmcore"):
        kdump.validate_pillar(small)
    # The check is the pillar's: off, or sized from the estimate, it does not apply.
    assert kdump.validate_pillar(dict(small, space_check=False))["volume"]["size"] == "8M"
    assert kdump.validate_pillar({"volume": dict(small["volume"], size="auto")})["volume"]["size"] == "auto"


def test_settings_parses_the_seed():
    current = kdump.settings()
    assert current["target"]["device"] == "/dev/mapper/rootvg-crashlv"
    assert current["collector"]["dump_level"] == 20


def test_render_without_settings_is_the_current_file():
    assert kdump.render() == {"path": "/etc/kdump.conf", "text": SEED}


def test_configure_writes_once_with_backup_and_diff(root):
    wanted = kdump.settings()
    wanted["collector"]["dump_level"] = 31
    preview = kdump.configure(wanted, test=True)
    assert preview["changed"] is True
    assert (root / "etc/kdump.conf").read_text() == SEED
    assert "-core_collector makedumpfile -c -d 20\n+core_collector makedumpfile -c -d 31" in preview["diff"]
    first = kdump.configure(wanted)
    assert first == preview
    assert "core_collector makedumpfile -c -d 31" in (root / "etc/kdump.conf").read_text()
    assert (root / "etc/kdump.conf.kdump-formula.bak").read_text() == SEED
    second = kdump.configure(wanted)
    assert second == {"path": "/etc/kdump.conf", "changed": False, "diff": ""}


def test_configure_bad_settings_changes_nothing(root):
    with pytest.raises(SaltInvocationError, match="^kdump:settings:target:path"):
        kdump.configure({"target": {"path": "relative"}})
    assert (root / "etc/kdump.conf").read_text() == SEED


def test_estimate_by_ratio_under_a_fake_root(commands):
    result = kdump.estimate()
    assert result == {
        "bytes": kdump.sizing.estimate_by_ratio(4 << 30, 20),
        "method": "ratio",
        "mem_bytes": 4 << 30,
        "dump_level": 20,
    }
    assert commands.calls == []


def test_estimate_uses_makedumpfile_on_the_real_root(monkeypatch, commands):
    from tests.unit.test_sizing import MEM_USAGE

    monkeypatch.setitem(kdump.__opts__, "kdump_root", "/")
    monkeypatch.setattr(kdump.salt.utils.path, "which", lambda name: "/usr/sbin/makedumpfile")
    monkeypatch.setattr(kdump.os, "geteuid", lambda: 0)
    real_exists = os.path.exists
    monkeypatch.setattr(kdump.os.path, "exists", lambda p: True if p == "/proc/kcore" else real_exists(p))
    commands.results[("/usr/sbin/makedumpfile", "--mem-usage", "/proc/kcore")] = {"retcode": 0, "stdout": MEM_USAGE, "stderr": ""}
    result = kdump.estimate(dump_level=31)
    assert result["method"] == "makedumpfile"
    assert result["bytes"] == 14243 * 4096
    commands.results[("/usr/sbin/makedumpfile", "--mem-usage", "/proc/kcore")] = {"retcode": 1, "stdout": "", "stderr": "permission denied"}
    assert kdump.estimate(dump_level=31)["method"] == "ratio"


def test_check_space(root):
    ok = kdump.check_space(needed="1M")
    assert ok["ok"] is True and ok["path"] == "/var/crash" and ok["needed_bytes"] == 1 << 20
    with pytest.raises(CommandExecutionError, match=r"^not enough space to save a vmcore: need 1152921504606846976 \(1024.0 PiB\), target has \d+ \("):
        kdump.check_space(needed="1E")
    with pytest.raises(SaltInvocationError, match="^needed: "):
        kdump.check_space(needed="lots")
    with pytest.raises(SaltInvocationError, match="^path: "):
        kdump.check_space(path="var/crash", needed=1)


def test_status_ready_and_problems(root, crashkernel_get):
    status = kdump.status()
    assert status["problems"] == [] and status["ready"] is True
    assert status["service"] == "kdump" and status["os_family"] == "RedHat"
    assert status["reserved_bytes"] == 134217728 and status["loaded"] is True
    assert status["target"]["device"] == "/dev/mapper/rootvg-crashlv"
    (root / "sys/kernel/kexec_crash_size").write_text("0\n")
    (root / "sys/kernel/kexec_crash_loaded").write_text("0\n")
    (root / "proc/cmdline").write_text("ro quiet\n")
    crashkernel_get.update(running=None, configured="256M", reboot_pending=True)
    status = kdump.status()
    assert status["ready"] is False
    assert "no memory reserved for the crash kernel: crashkernel= is not on the running kernel's command line" in status["problems"]
    assert any(p.startswith("reboot pending: the boot loader gives crashkernel=256M") for p in status["problems"])


def test_status_reports_the_boot_id(root):
    assert kdump.status()["boot_id"] is None
    boot_id = root / "proc/sys/kernel/random/boot_id"
    boot_id.parent.mkdir(parents=True)
    boot_id.write_text("0b6c41a5-3a2e-4f4e-9d0c-2f1d8c0e7a11\n")
    assert kdump.status()["boot_id"] == "0b6c41a5-3a2e-4f4e-9d0c-2f1d8c0e7a11"


def test_status_without_kdump_installed(root):
    (root / "etc/kdump.conf").unlink()
    (root / "sys/kernel/kexec_crash_loaded").unlink()
    del kdump.__salt__["service.enabled"]
    status = kdump.status()
    assert status["ready"] is False
    assert any("/etc/kdump.conf does not exist" in p for p in status["problems"])
    assert any("kexec crash support" in p for p in status["problems"])
    assert any("no service module" in p for p in status["problems"])


def test_rebuild_runs_the_family_commands_and_verifies(root, commands):
    result = kdump.rebuild()
    assert commands.calls == [["kdumpctl", "rebuild"], ["kdumpctl", "restart"]]
    assert result["loaded"] is True and result["command"] == ["kdumpctl", "restart"]
    (root / "sys/kernel/kexec_crash_loaded").write_text("0\n")
    with pytest.raises(CommandExecutionError, match="kexec_crash_loaded is 0 after kdumpctl restart"):
        kdump.rebuild()
    commands.results[("kdumpctl", "rebuild")] = {"retcode": 1, "stdout": "", "stderr": "mkdumprd: failed to make kdump initrd"}
    with pytest.raises(CommandExecutionError, match=r"^kdumpctl rebuild failed \(exit 1\): mkdumprd: failed"):
        kdump.rebuild()


def test_rebuild_debian_commands(commands):
    with kdump_patch_family("Debian"):
        kdump.rebuild()
    assert commands.calls == [["kdump-config", "unload"], ["kdump-config", "load"]]


def test_crash_guards(root, commands):
    with pytest.raises(SaltInvocationError, match=r"^confirm: 'web02' is not this minion's id"):
        kdump.crash(confirm="web02")
    assert (root / "proc/sysrq-trigger").read_text() == ""
    (root / "sys/kernel/kexec_crash_loaded").write_text("0\n")
    with pytest.raises(CommandExecutionError, match="^refusing to crash: kdump is not ready: the crash kernel is not loaded"):
        kdump.crash(confirm="web01")
    assert (root / "proc/sysrq-trigger").read_text() == ""
    assert kdump.crash(confirm="web01", force=True) == {"triggered": True, "minion": "web01"}
    assert (root / "proc/sys/kernel/sysrq").read_text() == "1\n"
    assert (root / "proc/sysrq-trigger").read_text() == "c"
    assert ["sync"] in commands.calls

"""_modules/kdump.py with Salt's loader mocked: a fake root, fake cmd/service/crashkernel."""

import json
import os
import pathlib
from unittest.mock import patch

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
    measured = {"bytes": 40 << 20, "floor_bytes": 40 << 20, "method": "makedumpfile", "mem_bytes": 1 << 30,
                "dump_level": 31, "compression": "zlib"}
    monkeypatch.setattr(kdump, "estimate", lambda dump_level=None, compression=None: measured)
    with pytest.raises(SaltInvocationError, match=r"^kdump:volume:size: 8M gives 8388608 bytes \(8.0 MiB\), but a vmcore "
                       r"of this minion needs 41943040 bytes \(40.0 MiB\), measured by makedumpfile .*: not enough space to save a vmcore"):
        kdump.validate_pillar(small)
    # The check is the pillar's: off, or sized from the estimate, it does not apply.
    assert kdump.validate_pillar(dict(small, space_check=False))["volume"]["size"] == "8M"
    assert kdump.validate_pillar({"volume": dict(small["volume"], size="auto")})["volume"]["size"] == "auto"


# The seed's trap on a first run: no makedumpfile yet (fake root), a fixed volume, much RAM.
FIRST_RUN = {"volume": {"vg": "rootvg", "lv": "crashlv", "size": "1000M"}, "settings": {"collector": {"dump_level": 0}}}


def test_first_run_refuses_a_fixed_volume_below_the_floor_without_makedumpfile(root):
    # 4 GiB of RAM, level 0, zlib: at least half of RAM = 2 GiB > 1000M.
    with pytest.raises(SaltInvocationError) as err:
        kdump.validate_pillar(FIRST_RUN)
    message = str(err.value)
    assert message.startswith("kdump:volume:size: 1000M gives 1048576000 bytes (1000.0 MiB), but a vmcore of this minion needs "
                              "2147483648 bytes (2.0 GiB), the least a dump takes with 4.0 GiB of RAM at dump level 0"), message
    assert "not enough space to save a vmcore" in message


@pytest.mark.parametrize("family, pillar", [
    # The e2e pillar (Debian guest): 1 GiB, level 31, auto size.
    ("Debian", {"volume": {"vg": "rootvg", "lv": "crashlv", "size": "auto", "mountpoint": "/var/crash", "mount_at_boot": True},
     "settings": {"collector": {"dump_level": 31}, "capture_cmdline_append": "panic=10"}}),
    # The seed (pillar.example, RedHat): 1000M, level 20.
    ("RedHat", {"volume": {"vg": "rootvg", "lv": "crashlv", "size": "1000M", "fstype": "ext3"},
     "settings": {"target": {"type": "device", "device": "/dev/mapper/rootvg-crashlv", "fstype": "ext3"},
                  "collector": {"dump_level": 20}}}),
])
def test_first_run_keeps_the_shipped_pillars_valid(root, family, pillar):
    (root / "proc/meminfo").write_text("MemTotal:        1048576 kB\n")
    with kdump_patch_family(family):
        assert kdump.validate_pillar(pillar)["volume"]["vg"] == "rootvg"


def test_first_run_refuses_8m_on_the_e2e_guest_at_level_31(root):
    (root / "proc/meminfo").write_text("MemTotal:        1048576 kB\n")
    pillar = {"volume": {"vg": "rootvg", "lv": "smalllv", "size": "7M"}, "settings": {"collector": {"dump_level": 31}}}
    # floor: 1 GiB / 64 (mem_map) / 2 (zlib) = 8 MiB
    with pytest.raises(SaltInvocationError, match=r"^kdump:volume:size: 7M .* needs 8388608 bytes \(8.0 MiB\)"):
        kdump.validate_pillar(pillar)


@pytest.mark.parametrize("method", ["makedumpfile", "ratio"])
@pytest.mark.parametrize("short_by, refused", [(0, False), (1, True)])
def test_volume_gate_boundary(root, monkeypatch, method, short_by, refused):
    """A volume exactly the size of the dump holds it; one byte less does not."""
    size = 100 << 20
    need = size + short_by
    guess = {"bytes": need if method == "makedumpfile" else 1 << 40, "floor_bytes": need, "method": method,
             "mem_bytes": 4 << 30, "dump_level": 31, "compression": "zlib"}
    monkeypatch.setattr(kdump, "estimate", lambda dump_level=None, compression=None: guess)
    pillar = {"volume": {"vg": "rootvg", "lv": "crashlv", "size": "100M"}}
    if refused:
        with pytest.raises(SaltInvocationError, match=f"^kdump:volume:size: 100M gives {size} bytes .* needs {need} bytes"):
            kdump.validate_pillar(pillar)
    else:
        assert kdump.validate_pillar(pillar)["volume"]["size"] == "100M"


def test_a_bare_volume_size_is_refused_naming_the_key(root):
    with pytest.raises(SaltInvocationError, match=r"^kdump:volume:size: '1000' has no unit"):
        kdump.validate_pillar({"volume": {"vg": "rootvg", "lv": "crashlv", "size": 1000}})


def test_validate_pillar_reports_schema_and_system_errors_at_once(root):
    pillar = {
        "crashkernel": {"value": "128M;reboot"},
        "settings": {"target": {"type": "raw", "device": "/dev/sdz9"}},
        "sysctl": {"kernel.panic": "$(reboot)"},
    }
    with pytest.raises(SaltInvocationError) as err:
        kdump.validate_pillar(pillar)
    keys = [line.split(": ", 1)[0] for line in str(err.value).splitlines()]
    assert keys == ["kdump:crashkernel:value", "kdump:sysctl:kernel.panic", "kdump:settings:target:device"], str(err.value)
    assert "/dev/sdz9 does not exist" in str(err.value)


def test_validate_pillar_without_argument_reads_the_minions_own_pillar_unmasked(root):
    calls = []

    def pillar_get(key, default=None, unmask=None):
        calls.append((key, unmask))
        return {"settings": {"collector": {"dump_level": 40}}}

    kdump.__salt__["pillar.get"] = pillar_get
    try:
        with pytest.raises(SaltInvocationError, match="^kdump:settings:collector:dump_level: 40 is out of range"):
            kdump.validate_pillar()
    finally:
        del kdump.__salt__["pillar.get"]
    assert calls == [("kdump", True if kdump.PILLAR_UNMASK else None)]  # no unmask before 3008


def test_suse_refuses_a_device_target_that_is_not_the_volume_mounted_at_boot(root):
    """SUSE's kdump writes KDUMP_SAVEDIR=file://<path> on the running system's filesystems:
    a device that is not mounted there would be dropped and the dump would land on /."""
    target = {"type": "device", "device": "/dev/mapper/rootvg-crashlv", "fstype": "ext4", "path": "/var/crash"}
    with kdump_patch_family("Suse"):
        with pytest.raises(SaltInvocationError, match=r"^kdump:settings:target:device: .* not the managed volume .* on Suse SUSE's kdump cannot mount a device"):
            kdump.validate_pillar({"settings": {"target": target}})
        volume = {"vg": "rootvg", "lv": "crashlv", "size": "auto", "mountpoint": "/var/crash"}
        with pytest.raises(SaltInvocationError, match=r"^kdump:volume:mount_at_boot: on Suse"):
            kdump.validate_pillar({"settings": {"target": target}, "volume": volume})
        mounted = dict(volume, mount_at_boot=True)
        assert kdump.validate_pillar({"settings": {"target": target}, "volume": mounted})["volume"]["mount_at_boot"]


def test_settings_parses_the_seed():
    current = kdump.settings()
    assert current["target"]["device"] == "/dev/mapper/rootvg-crashlv"
    assert current["collector"]["dump_level"] == 20


def test_render_without_settings_is_the_current_file():
    rendered = kdump.render()
    assert (rendered["path"], rendered["text"]) == ("/etc/kdump.conf", SEED)
    # no sysconfig under this root: nothing to write there
    assert rendered["files"] == [{"path": "/etc/kdump.conf", "text": SEED}, {"path": "/etc/sysconfig/kdump", "text": ""}]


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
    assert second == {
        "path": "/etc/kdump.conf",
        "changed": False,
        "diff": "",
        "files": [
            {"path": "/etc/kdump.conf", "changed": False, "diff": ""},
            {"path": "/etc/sysconfig/kdump", "changed": False, "diff": ""},
        ],
    }


def test_configure_bad_settings_changes_nothing(root):
    with pytest.raises(SaltInvocationError, match="^kdump:settings:target:path"):
        kdump.configure({"target": {"path": "relative"}})
    assert (root / "etc/kdump.conf").read_text() == SEED


def test_estimate_by_ratio_under_a_fake_root(commands):
    result = kdump.estimate()
    assert result == {
        "bytes": kdump.sizing.estimate_by_ratio(4 << 30, 20),
        "floor_bytes": kdump.sizing.floor_bytes(4 << 30, 20, "zlib"),
        "method": "ratio",
        "mem_bytes": 4 << 30,
        "dump_level": 20,
        "compression": "zlib",
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


@pytest.fixture
def real_root_scans(monkeypatch, commands, tmp_path):
    """The real root with makedumpfile, the minion cache in tmp_path; returns the scan key."""
    from tests.unit.test_sizing import MEM_USAGE

    monkeypatch.setitem(kdump.__opts__, "kdump_root", "/")
    monkeypatch.setitem(kdump.__opts__, "cachedir", str(tmp_path / "cache"))
    monkeypatch.setattr(kdump.salt.utils.path, "which", lambda name: "/usr/sbin/makedumpfile")
    monkeypatch.setattr(kdump.os, "geteuid", lambda: 0)
    monkeypatch.setattr(kdump, "_mem_bytes", lambda: 4 << 30)
    real_exists = os.path.exists
    monkeypatch.setattr(kdump.os.path, "exists", lambda p: True if p == "/proc/kcore" else real_exists(p))
    key = ("/usr/sbin/makedumpfile", "--mem-usage", "/proc/kcore")
    commands.results[key] = {"retcode": 0, "stdout": MEM_USAGE, "stderr": ""}
    return key


def test_estimate_reuses_a_recent_scan_and_max_age_0_scans_again(real_root_scans, commands, tmp_path):
    first = kdump.estimate(dump_level=31)
    cache = tmp_path / "cache" / "kdump" / "mem-usage.json"
    assert first["method"] == "makedumpfile" and cache.stat().st_mode & 0o777 == 0o600
    scans = sum(1 for call in commands.calls if tuple(call) == real_root_scans)
    # a failing makedumpfile is not run again while the scan is recent: the same answer
    commands.results[real_root_scans] = {"retcode": 1, "stdout": "", "stderr": "permission denied"}
    again = kdump.estimate(dump_level=31)
    assert again["bytes"] == first["bytes"] and again["measured_at"] == first["measured_at"]
    assert sum(1 for call in commands.calls if tuple(call) == real_root_scans) == scans
    # other dump levels come from the same scan
    assert kdump.estimate(dump_level=0)["bytes"] > first["bytes"]
    # max_age=0 scans now (here it fails: the ratio table answers)
    assert kdump.estimate(dump_level=31, max_age=0)["method"] == "ratio"
    assert sum(1 for call in commands.calls if tuple(call) == real_root_scans) == scans + 1


@pytest.mark.parametrize("content", ["{not json", "[]", '{"usage": 3}', ""])
def test_estimate_scans_again_over_a_broken_cache(real_root_scans, commands, tmp_path, content):
    cache = tmp_path / "cache" / "kdump" / "mem-usage.json"
    cache.parent.mkdir(parents=True)
    cache.write_text(content)
    assert kdump.estimate(dump_level=31)["method"] == "makedumpfile"
    assert any(tuple(call) == real_root_scans for call in commands.calls)
    assert json.loads(cache.read_text())["usage"]["page_size"] == 4096


@pytest.mark.parametrize("max_age", [-1, "soon", True])
def test_estimate_refuses_a_bad_max_age(max_age):
    with pytest.raises(SaltInvocationError, match="^max_age: "):
        kdump.estimate(dump_level=31, max_age=max_age)


def test_check_space(root):
    ok = kdump.check_space(path="/var/crash", needed="1M")
    assert ok["ok"] is True and ok["path"] == "/var/crash" and ok["needed_bytes"] == 1 << 20
    with pytest.raises(CommandExecutionError, match=r"^not enough space to save a vmcore: need 1152921504606846976 \(1024.0 PiB\), target has \d+ \("):
        kdump.check_space(path="/var/crash", needed="1E")
    with pytest.raises(SaltInvocationError, match="^needed: "):
        kdump.check_space(needed="lots")
    with pytest.raises(SaltInvocationError, match="^path: "):
        kdump.check_space(path="var/crash", needed=1)


class FreeSpace:
    """_free_bytes replaced: a fixed number of free bytes, and the paths that were measured."""

    def __init__(self, free):
        self.free = free
        self.paths = []

    def __call__(self, path):
        self.paths.append(path)
        return self.free


@pytest.fixture
def free_space(monkeypatch):
    space = FreeSpace(1 << 30)
    monkeypatch.setattr(kdump, "_free_bytes", space)
    return space


@pytest.fixture
def mounts():
    table = {"/": {"device": "/dev/vda1"}}
    kdump.__salt__["mount.active"] = lambda: dict(table)
    yield table
    del kdump.__salt__["mount.active"]


def local_target(root):
    (root / "etc/kdump.conf").write_text("path /var/crash\ncore_collector makedumpfile -c -d 31\n")


@pytest.mark.parametrize("extra, ok", [(0, True), (1, False)])
def test_check_space_boundary(root, free_space, extra, ok):
    """Exactly the free bytes fit; one byte more does not (catches < vs <= and a halved need)."""
    local_target(root)
    needed = free_space.free + extra
    if ok:
        assert kdump.check_space(needed=needed)["free_bytes"] == free_space.free
    else:
        with pytest.raises(CommandExecutionError, match=f"^not enough space to save a vmcore: need {needed} "):
            kdump.check_space(needed=needed)
    assert free_space.paths == ["/var/crash"]


def test_check_space_does_not_measure_the_root_below_an_unmounted_device(root, free_space, mounts):
    # The seed: an ext3 device target that only kdump mounts.
    result = kdump.check_space(needed=1)
    assert result["checked"] is False and result["free_bytes"] is None
    assert "/dev/mapper/rootvg-crashlv is not mounted" in result["reason"]
    assert free_space.paths == []


def test_check_space_on_redhat_measures_path_inside_the_mounted_device(root, free_space, mounts):
    mounts["/srv/dumps"] = {"device": "/dev/mapper/rootvg-crashlv"}
    result = kdump.check_space(needed=1)
    assert result["checked"] is True and result["path"] == "/srv/dumps/var/crash"
    assert free_space.paths == ["/srv/dumps/var/crash"]
    assert kdump.dump_dir()["dir"] == "/srv/dumps/var/crash"


def test_check_space_on_debian_needs_the_device_mounted_at_the_path(root, free_space, mounts):
    target = {"type": "device", "device": "/dev/rootvg/crashlv", "fstype": "ext4", "path": "/var/crash"}
    with kdump_patch_family("Debian"):
        where = kdump.dump_dir(target, {"vg": "rootvg", "lv": "crashlv", "mountpoint": "/var/crash", "mount_at_boot": True})
        assert where["measurable"] is False and "not mounted at /var/crash" in where["reason"]
        mounts["/var/crash"] = {"device": "/dev/mapper/rootvg-crashlv"}
        where = kdump.dump_dir(target, {"vg": "rootvg", "lv": "crashlv", "mountpoint": "/var/crash", "mount_at_boot": True})
        assert where["measurable"] is True and where["dir"] == "/var/crash"


@pytest.mark.parametrize("extra, ready", [(0, True), (1, False)])
def test_status_reports_a_dump_that_does_not_fit(root, free_space, monkeypatch, extra, ready):
    local_target(root)
    monkeypatch.setattr(kdump, "estimate", lambda dump_level=None, compression=None: {"bytes": free_space.free + extra})
    status = kdump.status()
    assert status["ready"] is ready and status["free_bytes"] == free_space.free
    assert status["dump_dir"] == "/var/crash" and free_space.paths == ["/var/crash"]
    space = [p for p in status["problems"] if p.startswith("not enough space to save a vmcore")]
    assert space == ([] if ready else [
        f"not enough space to save a vmcore: need {free_space.free + 1} (1.0 GiB), target has {free_space.free} (1.0 GiB) at /var/crash"
    ])


def test_status_measures_the_mounted_dump_device_not_the_root_below(root, free_space, mounts, monkeypatch):
    monkeypatch.setattr(kdump, "estimate", lambda dump_level=None, compression=None: {"bytes": 1 << 40})
    status = kdump.status()
    assert status["free_bytes"] is None and free_space.paths == []
    assert not any(p.startswith("not enough space") for p in status["problems"])
    mounts["/srv/dumps"] = {"device": "/dev/mapper/rootvg-crashlv"}
    status = kdump.status()
    assert free_space.paths == ["/srv/dumps/var/crash"] and status["dump_dir"] == "/srv/dumps/var/crash"
    assert any(p.startswith("not enough space") and p.endswith("at /srv/dumps/var/crash") for p in status["problems"])


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
    assert status["codes"] == ["reboot_pending", "not_reserved"]


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
    # One stable code beside each sentence, every one documented in PROBLEM_CODES.
    assert len(status["codes"]) == len(status["problems"])
    assert {"config_missing", "no_kexec_support", "service_unknown"} <= set(status["codes"])
    assert set(status["codes"]) <= set(kdump.PROBLEM_CODES)


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


# --- the rebuild-pending marker: kdump.configure sets it, kdump.rebuild clears it ----------


def _boot(root, boot_id):
    path = root / "proc/sys/kernel/random/boot_id"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(boot_id + "\n")


def test_configure_from_the_command_line_keeps_the_rebuild_protection(root, commands):
    """The seed's trap ("config changed, initrd not rebuilt") without any state: the module
    alone marks the rebuild before the write, status reports it, rebuild clears it."""
    _boot(root, "boot-1")
    assert kdump.rebuild_pending()["pending"] is False and kdump.status()["ready"] is True
    assert kdump.configure({"collector": {"dump_level": 1}}, test=True)["changed"] is True
    assert kdump.rebuild_pending()["pending"] is False  # a prediction marks nothing
    assert kdump.configure({"collector": {"dump_level": 1}})["changed"] is True
    assert kdump.rebuild_pending() == {"pending": True, "reason": "config /etc/kdump.conf changed", "this_boot": True}
    status = kdump.status()
    assert status["ready"] is False and status["rebuild_pending"] is True
    assert status["codes"] == ["rebuild_pending"]
    assert status["problems"] == [
        "the capture initrd is not rebuilt since config /etc/kdump.conf changed: the next formula "
        "run rebuilds it, or run kdump.rebuild"
    ]
    kdump.rebuild()
    assert kdump.rebuild_pending()["pending"] is False
    status = kdump.status()
    assert status["ready"] is True and status["rebuild_pending"] is False and status["codes"] == []


def test_the_marker_stays_until_the_crash_kernel_is_loaded(root, commands):
    _boot(root, "boot-1")
    (root / "sys/kernel/kexec_crash_size").write_text("0\n")
    (root / "sys/kernel/kexec_crash_loaded").write_text("0\n")
    kdump.configure({"failure_action": "halt"})
    assert kdump.rebuild()["loaded"] is False
    assert kdump.rebuild_pending()["pending"] is True
    # After the reboot the service loaded the crash kernel from the file on disk: still
    # pending for the formula (it rebuilds once more), but not a problem of this boot.
    _boot(root, "boot-2")
    (root / "sys/kernel/kexec_crash_size").write_text("134217728\n")
    (root / "sys/kernel/kexec_crash_loaded").write_text("1\n")
    status = kdump.status()
    assert status["rebuild_pending"] is True and status["ready"] is True
    assert kdump.rebuild_pending()["this_boot"] is False


def test_request_rebuild_for_a_change_the_file_does_not_show(root):
    _boot(root, "boot-1")
    assert kdump.request_rebuild("kdump-pre changed", test=True) == {"changed": True}
    assert kdump.rebuild_pending()["pending"] is False
    assert kdump.request_rebuild("kdump-pre changed") == {"changed": True}
    assert kdump.request_rebuild("again") == {"changed": False}
    assert kdump.rebuild_pending()["reason"] == "kdump-pre changed"
    with pytest.raises(SaltInvocationError, match=r"^reason: "):
        kdump.request_rebuild("two\nlines")


def test_configure_keeps_the_distributions_file_once_for_clean(root):
    """Before the first write the distribution's file is kept as .kdump-formula.orig (or, when
    there was none, .kdump-formula.created is marked); later writes never touch the copy."""
    kdump.configure({"collector": {"dump_level": 1}})
    kdump.configure({"collector": {"dump_level": 11}})
    assert (root / "etc/kdump.conf.kdump-formula.orig").read_text() == SEED
    assert not (root / "etc/kdump.conf.kdump-formula.created").exists()
    (root / "etc/kdump.conf").unlink()
    (root / "etc/kdump.conf.kdump-formula.orig").unlink()
    kdump.configure({"collector": {"dump_level": 1}})
    assert (root / "etc/kdump.conf.kdump-formula.created").read_text() == ""
    assert not (root / "etc/kdump.conf.kdump-formula.orig").exists()


def test_status_says_crashkernel_is_not_managed_and_still_requires_a_reservation(root, crashkernel_get):
    (root / "sys/kernel/kexec_crash_size").write_text("0\n")
    (root / "proc/cmdline").write_text("ro quiet\n")
    crashkernel_get.update(running=None, configured=None, reboot_pending=False)
    manage = {"kdump:crashkernel:manage": False}
    with patch.dict(kdump.__salt__, {"pillar.get": lambda key, default=None, **kw: manage.get(key, default)}):
        status = kdump.status()
    assert status["crashkernel_managed"] is False and status["ready"] is False
    assert status["codes"] == ["not_reserved"]
    assert status["problems"][0].endswith("(crashkernel= not managed: kdump:crashkernel:manage is false)")
    assert kdump.status()["crashkernel_managed"] is True  # no pillar: managed, the default


def test_validate_pillar_asks_the_boot_loader_about_scope_and_pair(root):
    asked = []

    def refuses(value, low=None, scope="all"):
        asked.append((value, low, scope))
        return {"key": "low", "reason": "the grubby boot loader keeps these entries' arguments in $kernelopts"}

    pillar = {"crashkernel": {"value": "512M,high", "low": "256M", "default_entry_only": True}}
    with patch.dict(kdump.__salt__, {"crashkernel.refuses": refuses}):
        with pytest.raises(SaltInvocationError, match=r"kdump:crashkernel:low: the grubby boot loader keeps"):
            kdump.validate_pillar(pillar)
        assert asked == [("512M,high", "256M", "default")]
        # not managed: the boot loader is not asked
        assert kdump.validate_pillar({"crashkernel": {"manage": False}})["crashkernel"]["manage"] is False
        assert len(asked) == 1
def test_validate_pillar_ssh_target_checks_the_key_this_family_can_use(root):
    ssh_target = {"type": "ssh", "host": "dump.example", "user": "kdump"}
    # RedHat without sshkey: kdumpctl's default /root/.ssh/kdump_id_rsa.
    assert kdump.validate_pillar({"settings": {"target": ssh_target}})["ssh"]["port"] == 22
    (root / "proc/sys/crypto").mkdir(parents=True)
    (root / "proc/sys/crypto/fips_enabled").write_text("1\n")
    with pytest.raises(SaltInvocationError, match=r"^kdump:ssh:key_type: ed25519 cannot be used here: FIPS"):
        kdump.validate_pillar({"settings": {"target": ssh_target}, "ssh": {"key_type": "ed25519"}})
    with kdump_patch_family("Suse"):
        with pytest.raises(SaltInvocationError) as raised:
            kdump.validate_pillar({"settings": {"target": ssh_target}, "ssh": {"port": 0}})
    lines = str(raised.value).splitlines()
    assert [line.split(":")[0:4] for line in lines] == [
        ["kdump", "ssh", "port", " 0 is not a TCP port (1-65535)"],
        ["kdump", "settings", "target", "sshkey"],
    ]

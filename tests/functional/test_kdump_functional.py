"""kdump execution module through Salt's real loaders, against a fake root per OS family."""

import pathlib

import pytest
from salt.exceptions import CommandExecutionError

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "kdumpconf"
FAMILY_FILES = {
    "RedHat": ("/etc/kdump.conf", "rhel6-seed-kdump.conf"),
    "Debian": ("/etc/default/kdump-tools", "debian12-kdump-tools"),
    "Suse": ("/etc/sysconfig/kdump", "suse-sysconfig-kdump"),
}
WANTED = {
    "target": {"type": "local", "path": "/var/crash"},
    "collector": {"dump_level": 31, "compression": "lzo"},
    "failure_action": "reboot",
}


def _place(root, path, text):
    real = root / path.lstrip("/")
    real.parent.mkdir(parents=True, exist_ok=True)
    real.write_text(text)
    return real


@pytest.fixture(params=sorted(FAMILY_FILES))
def family(request, loaders, fake_root):
    loaders.grains["os_family"] = request.param
    config, fixture = FAMILY_FILES[request.param]
    _place(fake_root, config, (FIXTURES / fixture).read_text())
    _place(fake_root, "/proc/meminfo", "MemTotal:        2097152 kB\n")
    _place(fake_root, "/proc/cmdline", "ro quiet\n")
    _place(fake_root, "/sys/kernel/kexec_crash_size", "0\n")
    _place(fake_root, "/sys/kernel/kexec_crash_loaded", "0\n")
    (fake_root / "var/crash").mkdir(parents=True, exist_ok=True)
    return request.param


def test_loader_sees_the_overridden_family(loaders, family):
    assert loaders.modules.grains.get("os_family") == family


def test_configure_changes_once(loaders, fake_root, family):
    config, _fixture = FAMILY_FILES[family]
    kdump = loaders.modules.kdump
    before = (fake_root / config.lstrip("/")).read_text()
    first = kdump.configure(WANTED)
    assert first["changed"] is True and first["path"] == config
    after = (fake_root / config.lstrip("/")).read_text()
    assert after != before
    assert (fake_root / (config.lstrip("/") + ".kdump-formula.bak")).read_text() == before
    current = kdump.settings()
    assert current["collector"]["compression"] == "lzo" and current["collector"]["dump_level"] == 31
    second = kdump.configure(WANTED)
    assert (second["path"], second["changed"], second["diff"]) == (config, False, "")
    assert second["files"][0] == {"path": config, "changed": False, "diff": ""}
    assert not any(item["changed"] for item in second["files"])
    # every comment line of the original file is still there
    assert [l for l in before.splitlines() if l.startswith("#")] == [l for l in after.splitlines() if l.startswith("#")]


def test_check_space_fails_when_target_is_too_small(loaders, family):
    where = loaders.modules.kdump.dump_dir()
    path = where["dir"] if where["measurable"] else "/var/crash"
    with pytest.raises(CommandExecutionError, match=r"^not enough space to save a vmcore: need \d+ \(.*\), target has \d+"):
        loaders.modules.kdump.check_space(path=path, needed="1E")
    assert loaders.modules.kdump.check_space(path=path, needed="4K")["ok"] is True
    default = loaders.modules.kdump.check_space(needed="4K")
    # The default is where the dumps land; an unmounted dump device is not measured.
    assert default["checked"] is where["measurable"] and (default["checked"] or default["reason"] == where["reason"])


def test_status_reports_problems_in_plain_words(loaders, family):
    status = loaders.modules.kdump.status()
    assert status["os_family"] == family
    assert status["ready"] is False
    estimate = loaders.modules.kdump.estimate()
    assert estimate["method"] == "ratio" and estimate["mem_bytes"] == 2 << 30
    assert status["estimate_bytes"] == estimate["bytes"] > 0
    assert (
        "no memory reserved for the crash kernel: crashkernel= is not on the running kernel's command line"
        in status["problems"]
    )


def test_rebuild_runs_recorded_tools(loaders, fake_root, fake_bin, family):
    log = fake_root / "commands.log"
    loaded = fake_root / "sys/kernel/kexec_crash_loaded"
    for tool in ("kdumpctl", "kdump-config", "systemctl"):
        script = fake_bin / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> {log}\necho 1 > {loaded}\n')
        script.chmod(0o755)
    (fake_root / "sys/kernel/kexec_crash_size").write_text("134217728\n")
    result = loaders.modules.kdump.rebuild()
    assert result["loaded"] is True
    expected = {
        "RedHat": ["kdumpctl rebuild", "kdumpctl restart"],
        "Debian": ["kdump-config unload", "kdump-config load"],
        "Suse": ["systemctl restart kdump"],
    }[family]
    assert log.read_text().splitlines() == expected


def test_configure_from_the_command_line_leaves_a_rebuild_pending_until_rebuild(loaders, fake_root, fake_bin, family):
    """``salt-call kdump.configure`` alone (no state): the module marks the capture initrd
    stale before it writes, ``kdump.status`` reports it (code ``rebuild_pending``), and
    ``kdump.rebuild`` clears it once the crash kernel is loaded. Recording scripts stand in
    for the family's tools; the marker lives under the fake root's cachedir."""
    _place(fake_root, "/proc/sys/kernel/random/boot_id", "0b6c41a5-boot-1\n")
    (fake_root / "sys/kernel/kexec_crash_size").write_text("134217728\n")
    loaded = fake_root / "sys/kernel/kexec_crash_loaded"
    for tool in ("kdumpctl", "kdump-config", "systemctl"):
        script = fake_bin / tool
        script.write_text(f"#!/bin/sh\necho 1 > {loaded}\n")
        script.chmod(0o755)
    kdump = loaders.modules.kdump
    assert kdump.rebuild_pending()["pending"] is False
    assert kdump.configure(WANTED)["changed"] is True
    assert kdump.rebuild_pending()["pending"] is True
    marker = fake_root / loaders.opts["cachedir"].lstrip("/") / "kdump-formula/rebuild-pending"
    assert marker.exists()
    status = kdump.status()
    assert status["rebuild_pending"] is True and "rebuild_pending" in status["codes"]
    assert len(status["codes"]) == len(status["problems"])
    assert kdump.rebuild()["loaded"] is True
    assert kdump.rebuild_pending()["pending"] is False and not marker.exists()
    status = kdump.status()
    assert status["rebuild_pending"] is False and "rebuild_pending" not in status["codes"]

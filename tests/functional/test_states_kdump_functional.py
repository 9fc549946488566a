"""Functional tier: the kdump states through Salt's real loaders and the real kdump and
crashkernel execution modules, on a fake Debian root (the host's os_family) whose sysfs says
256M are reserved, with a recording ``kdump-config`` first on PATH that loads the crash kernel."""

import pytest

RESERVED = 256 << 20
SETTINGS = {"collector": {"dump_level": 31, "compression": "zstd"}, "failure_action": "reboot"}


@pytest.fixture
def debian_host(fake_root, fake_bin):
    (fake_root / "etc/default").mkdir(parents=True)
    (fake_root / "etc/default/grub").write_text('GRUB_CMDLINE_LINUX="crashkernel=256M"\n')
    (fake_root / "etc/default/kdump-tools").write_text("USE_KDUMP=1\n")
    (fake_root / "proc").mkdir()
    (fake_root / "proc/cmdline").write_text("BOOT_IMAGE=/vmlinuz root=/dev/vda1 crashkernel=256M\n")
    (fake_root / "proc/meminfo").write_text("MemTotal:        4026532 kB\n")
    sysfs = fake_root / "sys/kernel"
    sysfs.mkdir(parents=True)
    (sysfs / "kexec_crash_size").write_text(f"{RESERVED}\n")
    (sysfs / "kexec_crash_loaded").write_text("0\n")
    (fake_root / "var/crash").mkdir(parents=True)
    log = fake_bin / "kdump-config.log"
    fail_flag = fake_bin / "kdump-config.fail"
    script = fake_bin / "kdump-config"
    script.write_text(
        "#!/bin/sh\n"
        f'[ -e {fail_flag} ] && {{ echo "mkinitramfs: out of space" >&2; exit 1; }}\n'
        f'echo "kdump-config $*" >> {log}\n'
        f'case "$1" in load) echo 1 ;; *) echo 0 ;; esac > {sysfs}/kexec_crash_loaded\n'
    )
    script.chmod(0o755)
    return {"root": fake_root, "log": log, "fail_flag": fail_flag, "sysfs": sysfs}


def calls(host):
    return host["log"].read_text().splitlines() if host["log"].exists() else []


def test_configured_rebuilds_on_change_only(loaders, debian_host):
    config = debian_host["root"] / "etc/default/kdump-tools"
    predicted = loaders.states.kdump.configured(name="kdump-config", settings=SETTINGS, test=True)
    assert predicted.result is None
    assert set(predicted.changes) == {"config", "rebuilt"}
    assert config.read_text() == "USE_KDUMP=1\n" and calls(debian_host) == []

    real = loaders.states.kdump.configured(name="kdump-config", settings=SETTINGS)
    assert real.result is True, real.comment
    assert real.changes == predicted.changes
    assert real.changes["config"]["path"] == "/etc/default/kdump-tools"
    assert config.read_text() != "USE_KDUMP=1\n"
    assert calls(debian_host) == ["kdump-config unload", "kdump-config load"]

    again = loaders.states.kdump.configured(name="kdump-config", settings=SETTINGS)
    assert again.result is True and again.changes == {}
    assert calls(debian_host) == ["kdump-config unload", "kdump-config load"]


def test_config_change_is_never_left_without_rebuild(loaders, debian_host):
    """The seed's bug: config changed, initrd not rebuilt until someone touched the file."""
    debian_host["fail_flag"].write_text("")
    failed = loaders.states.kdump.configured(name="kdump-config", settings=SETTINGS)
    assert failed.result is False and "out of space" in failed.comment
    assert "config" in failed.changes and "rebuilt" not in failed.changes
    debian_host["fail_flag"].unlink()

    # The file is already right; the rebuild still happens on the next run.
    predicted = loaders.states.kdump.configured(name="kdump-config", settings=SETTINGS, test=True)
    assert predicted.changes == {"rebuilt": True}
    healed = loaders.states.kdump.configured(name="kdump-config", settings=SETTINGS)
    assert healed.result is True and healed.changes == {"rebuilt": True}
    assert calls(debian_host) == ["kdump-config unload", "kdump-config load"]
    assert loaders.states.kdump.configured(name="kdump-config", settings=SETTINGS).changes == {}


def test_bad_settings_fail_naming_the_key_and_change_nothing(loaders, debian_host):
    bad = {"collector": {"dump_level": 40}}
    for test in (True, False):
        ret = loaders.states.kdump.configured(name="kdump-config", settings=bad, test=test)
        assert ret.result is False and ret.changes == {}
        assert "dump_level" in ret.comment
    assert (debian_host["root"] / "etc/default/kdump-tools").read_text() == "USE_KDUMP=1\n"


def test_validated_gives_the_real_verdict_in_test_mode(loaders, debian_host):
    good = loaders.states.kdump.validated(name="pillar", config={"settings": SETTINGS}, test=True)
    assert good.result is True and good.changes == {}
    bad = loaders.states.kdump.validated(name="pillar", config={"crashkernel": {"require_reboot": "x"}}, test=True)
    assert bad.result is False and str(bad.comment).startswith("kdump:crashkernel:require_reboot")


def test_ready_loads_the_crash_kernel_and_predicts_it(loaders, debian_host):
    predicted = loaders.states.kdump.ready(name="kdump-ready", test=True)
    assert predicted.changes == {"loaded": {"old": False, "new": True}}
    assert (debian_host["sysfs"] / "kexec_crash_loaded").read_text() == "0\n"
    real = loaders.states.kdump.ready(name="kdump-ready")
    assert real.changes == predicted.changes
    assert (debian_host["sysfs"] / "kexec_crash_loaded").read_text() == "1\n"
    # The host has no kdump-tools service: ready is honest about that instead of green.
    status = loaders.modules.kdump.status()
    assert real.result is status["ready"]
    for problem in status["problems"]:
        assert problem in real.comment
    again = loaders.states.kdump.ready(name="kdump-ready")
    assert again.changes == {} and calls(debian_host) == ["kdump-config unload", "kdump-config load"]


def test_space_checked_fails_with_estimate_and_free_space(loaders, debian_host):
    # 64 TiB of RAM: no estimate of its dump fits in the test's temporary directory.
    (debian_host["root"] / "proc/meminfo").write_text("MemTotal:        68719476736 kB\n")
    for test in (True, False):
        ret = loaders.states.kdump.space_checked(name="space", path="/var/crash", test=test)
        assert ret.result is False and ret.changes == {}
        assert "not enough space to save a vmcore: need" in ret.comment and "target has" in ret.comment

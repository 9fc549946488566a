"""Functional tier: crashkernel.configured/absent through Salt's real loaders and the real
crashkernel execution module, on a fake root with a GRUB 2 /etc/default/grub and a recording
update-grub first on PATH."""

import pytest

GRUB = 'GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n'


@pytest.fixture
def grub_host(fake_root, fake_bin):
    (fake_root / "etc/default").mkdir(parents=True)
    (fake_root / "etc/default/grub").write_text(GRUB)
    (fake_root / "proc").mkdir()
    (fake_root / "proc/cmdline").write_text("BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro quiet\n")
    (fake_root / "proc/meminfo").write_text("MemTotal:        4026532 kB\n")
    log = fake_bin / "update-grub.log"
    script = fake_bin / "update-grub"
    script.write_text(f'#!/bin/sh\necho "update-grub $*" >> {log}\n')
    script.chmod(0o755)
    return fake_root, log


def runs(log):
    return log.read_text().splitlines() if log.exists() else []


def test_configured_predicts_changes_then_second_run_is_quiet(loaders, grub_host):
    root, log = grub_host
    predicted = loaders.states.crashkernel.configured(name="128M@16M", test=True)
    assert predicted.result is None
    assert predicted.changes == {"configured": {"old": None, "new": "128M@16M"}}
    assert predicted["reboot_pending"] is True
    assert (root / "etc/default/grub").read_text() == GRUB and runs(log) == []

    real = loaders.states.crashkernel.configured(name="128M@16M")
    assert real.result is True
    assert real.changes == predicted.changes
    assert real["reboot_pending"] is True
    assert "reboot required for the reservation to take effect" in real.comment
    assert "crashkernel=128M@16M" in (root / "etc/default/grub").read_text()
    assert runs(log) == ["update-grub "]

    again = loaders.states.crashkernel.configured(name="128M@16M")
    assert again.result is True and again.changes == {}
    assert runs(log) == ["update-grub "]
    assert loaders.states.crashkernel.configured(name="128M@16M", test=True).changes == {}


def test_require_reboot_fail_until_running_kernel_has_it(loaders, grub_host):
    root, _ = grub_host
    assert loaders.states.crashkernel.configured(name="256M", require_reboot="fail").result is False
    (root / "proc/cmdline").write_text("BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro quiet crashkernel=256M\n")
    after = loaders.states.crashkernel.configured(name="256M", require_reboot="fail")
    assert after.result is True and after["reboot_pending"] is False and after.changes == {}


def test_bad_value_fails_naming_it_and_changes_nothing(loaders, grub_host):
    root, log = grub_host
    ret = loaders.states.crashkernel.configured(name="lots", require_reboot="warn")
    assert ret.result is False and ret.changes == {}
    assert str(ret.comment).startswith("value:")
    bad = loaders.states.crashkernel.configured(name="256M", require_reboot="later")
    assert bad.result is False and str(bad.comment).startswith("require_reboot:")
    assert (root / "etc/default/grub").read_text() == GRUB and runs(log) == []


def test_absent_removes_what_configured_wrote(loaders, grub_host):
    root, log = grub_host
    loaders.states.crashkernel.configured(name="256M")
    predicted = loaders.states.crashkernel.absent(name="no-crashkernel", test=True)
    assert predicted.result is None
    real = loaders.states.crashkernel.absent(name="no-crashkernel")
    assert real.result is True
    assert real.changes == predicted.changes == {"configured": {"old": "256M", "new": None}}
    assert "crashkernel=" not in (root / "etc/default/grub").read_text()
    assert loaders.states.crashkernel.absent(name="no-crashkernel").changes == {}

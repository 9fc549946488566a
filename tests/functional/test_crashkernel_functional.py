"""crashkernel module through Salt's real loaders, against fake roots and recording tools."""

import pathlib
import stat

import pytest

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "bootloader"


def put(root, path, text):
    real = root / path.lstrip("/")
    real.parent.mkdir(parents=True, exist_ok=True)
    real.write_text(text, encoding="utf-8")
    return real


def recording_tool(fake_bin, name):
    """A stand-in that appends its argv to <fake_bin>/<name>.calls."""
    calls = fake_bin / f"{name}.calls"
    script = fake_bin / name
    script.write_text(f'#!/bin/sh\necho "$0 $*" >> "{calls}"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return calls


@pytest.fixture
def debian12(fake_root):
    put(fake_root, "/etc/default/grub", (FIXTURES / "default_grub.debian12").read_text())
    put(fake_root, "/etc/default/grub.d/init-select.cfg", "# unrelated\nGRUB_TIMEOUT=3\n")
    put(fake_root, "/etc/default/grub.d/kdump-tools.cfg", (FIXTURES / "kdump-tools.cfg").read_text())
    put(fake_root, "/boot/grub/grub.cfg", "# generated\n")
    put(fake_root, "/proc/cmdline", "BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=1 ro quiet crashkernel=384M-:128M\n")
    put(fake_root, "/sys/kernel/kexec_crash_size", "134217728\n")
    put(fake_root, "/sys/kernel/kexec_crash_loaded", "1\n")
    return fake_root


def test_debian12_set_beats_kdump_tools_once(loaders, debian12, fake_bin):
    calls = recording_tool(fake_bin, "update-grub")
    mod = loaders.modules.crashkernel
    before = mod.get()
    assert before["backend"] == "grub2-default"
    assert before["configured"] == "384M-:128M" and before["running"] == "384M-:128M"
    assert before["reboot_pending"] is False and before["loaded"] is True
    assert before["reserved_bytes"] == 128 << 20

    result = mod.set("256M")
    assert result["changed"] is True and result["old"] == "384M-:128M" and result["new"] == "256M"
    assert result["commands"] == [["update-grub"]]
    assert calls.read_text().count("update-grub") == 1

    after = mod.get()
    assert after["configured"] == "256M"
    assert after["reboot_pending"] is True
    assert [s["value"] for s in after["sources"]] == ["256M"]
    kdump_tools = (debian12 / "etc/default/grub.d/kdump-tools.cfg").read_text()
    assert kdump_tools == 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT"\n'
    assert (debian12 / "etc/default/grub.d/kdump-tools.cfg.kdump-formula.bak").read_text() == (
        FIXTURES / "kdump-tools.cfg"
    ).read_text()
    assert (debian12 / "etc/default/grub.d/zz-kdump-formula.cfg").exists()

    again = mod.set("256M")
    assert again["changed"] is False and again["files"] == [] and again["commands"] == []
    assert calls.read_text().count("update-grub") == 1

    # a kdump-tools upgrade restores its file: the guard still keeps exactly one value
    put(debian12, "/etc/default/grub.d/kdump-tools.cfg", (FIXTURES / "kdump-tools.cfg").read_text())
    assert mod.get()["configured"] == "256M"

    removed = mod.remove()
    assert removed["changed"] is True and removed["new"] is None
    assert mod.get()["configured"] is None
    assert calls.read_text().count("update-grub") == 2
    assert (debian12 / "etc/default/grub").read_text() == (FIXTURES / "default_grub.debian12").read_text()


def test_grub_legacy_root(loaders, fake_root, fake_bin):
    seed = (FIXTURES / "grub.conf").read_text()
    put(fake_root, "/boot/grub/grub.conf", seed)
    put(fake_root, "/proc/cmdline", "ro root=/dev/rootvg/rootlv rhgb quiet crashkernel=128M@16M\n")
    mod = loaders.modules.crashkernel
    assert mod.backend()["name"] == "grub-legacy"
    assert mod.get()["configured"] == "128M@16M"
    assert mod.get()["reboot_pending"] is False

    predicted = mod.set("256M", test=True)
    assert predicted["files"] == ["/boot/grub/grub.conf"]
    assert (fake_root / "boot/grub/grub.conf").read_text() == seed

    result = mod.set("256M")
    assert result == predicted
    text = (fake_root / "boot/grub/grub.conf").read_text()
    assert text.count("crashkernel=256M") == 3 and "crashkernel=128M@16M" not in text
    assert text.replace(" crashkernel=256M", "") == seed.replace(" crashkernel=128M@16M", "")
    assert mod.get()["reboot_pending"] is True
    assert mod.set("256M")["changed"] is False
    mod.remove()
    assert "crashkernel" not in (fake_root / "boot/grub/grub.conf").read_text()


def test_parse_error_through_loader(loaders):
    from salt.exceptions import SaltInvocationError

    with pytest.raises(SaltInvocationError, match=r"^value: '1G-4G:192M,2G-:1G': .*overlaps"):
        loaders.modules.crashkernel.parse("1G-4G:192M,2G-:1G")

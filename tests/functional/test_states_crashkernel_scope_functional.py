"""Functional tier: crashkernel.configured with scope all|default, a ,high + ,low pair and
manage: false, through Salt's real loaders, on a fake root per boot loader (recording
update-grub, a grubby stand-in that edits the BLS entries under the root)."""

import pathlib
import stat
import sys

import pytest

from kdumplib import bootloader

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "bootloader"
PAIR = "512M,high 256M,low"

GRUBBY = """#!{python}
# Stand-in for grubby: --update-kernel=ALL|DEFAULT, --args=crashkernel=V / --remove-args=crashkernel
import pathlib, sys
sys.path.insert(0, {utils!r})
from kdumplib import bootloader
root = pathlib.Path({root!r})
with open({calls!r}, "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
which, change = sys.argv[1].split("=", 1)[1], sys.argv[2]
for entry in sorted((root / "boot/loader/entries").glob("*.conf")):
    if which == "DEFAULT" and entry.name != "b-5.14.0.conf":
        continue
    text = entry.read_text()
    value = change.split("=", 2)[2] if change.startswith("--args=") else None
    entry.write_text(bootloader.bls_set(text, value))
"""


def put(root, path, text):
    real = root / path.lstrip("/")
    real.parent.mkdir(parents=True, exist_ok=True)
    real.write_text(text, encoding="utf-8")
    return real


def tool(fake_bin, name, text):
    script = fake_bin / name
    script.write_text(text)
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return fake_bin / f"{name}.calls"


def calls(path):
    return path.read_text().splitlines() if path.exists() else []


def common(root):
    put(root, "/proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro quiet\n")
    put(root, "/proc/meminfo", "MemTotal:        8388608 kB\n")


def grub2_default(root, fake_bin):
    put(root, "/etc/default/grub", 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n')
    put(root, "/etc/default/grub.d/kdump-tools.cfg", (FIXTURES / "kdump-tools.cfg").read_text())
    put(root, "/boot/grub/grub.cfg", "# generated\n")
    log = fake_bin / "update-grub.calls"
    return tool(fake_bin, "update-grub", f'#!/bin/sh\necho "update-grub $*" >> "{log}"\n')


def grub_legacy(root, fake_bin):
    put(root, "/boot/grub/grub.conf", (FIXTURES / "grub.conf").read_text().replace("default=0", "default=2"))
    return fake_bin / "none.calls"


def grubby(root, fake_bin):
    for name in ("a-5.14.0", "b-5.14.0"):
        put(root, f"/boot/loader/entries/{name}.conf", (FIXTURES / "bls.rhel9.conf").read_text())
    put(root, "/boot/grub2/grubenv", "# GRUB Environment Block\nsaved_entry=b-5.14.0\n")
    log = fake_bin / "grubby.calls"
    utils = str(pathlib.Path(__file__).resolve().parents[2] / "_utils")
    return tool(fake_bin, "grubby", GRUBBY.format(python=sys.executable, utils=utils, root=str(root), calls=str(log)))


HOSTS = {"grub2-default": grub2_default, "grub-legacy": grub_legacy, "grubby": grubby}


def snapshot(root):
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def in_scope(root, backend):
    """The crashkernel= values of the boot entries: [(entry, [values])]."""
    if backend == "grub-legacy":
        text = (root / "boot/grub/grub.conf").read_text()
        return [(entry, (value or "").split()) for entry, value in bootloader.grub_legacy_entries(text)]
    if backend == "grubby":
        return [(p.name, bootloader.cmdline_values(bootloader.bls_options(p.read_text())))
                for p in sorted((root / "boot/loader/entries").glob("*.conf"))]
    files = [(p, (root / p.lstrip("/")).read_text()) for p in
             ["/etc/default/grub", "/etc/default/grub.d/kdump-tools.cfg", bootloader.GUARD_PATH]
             if (root / p.lstrip("/")).exists()]
    return [("normal", bootloader.cmdline_values(bootloader.default_grub_evaluate(files)[0])),
            ("recovery", bootloader.cmdline_values(bootloader.default_grub_recovery(files)))]


EXPECTED = {
    ("grub-legacy", "all"): [(0, PAIR.split()), (1, PAIR.split()), (2, PAIR.split())],
    ("grub-legacy", "default"): [(0, ["128M@16M"]), (1, []), (2, PAIR.split())],
    ("grubby", "all"): [("a-5.14.0.conf", PAIR.split()), ("b-5.14.0.conf", PAIR.split())],
    ("grubby", "default"): [("a-5.14.0.conf", ["1G-4G:192M,4G-64G:256M,64G-:512M"]), ("b-5.14.0.conf", PAIR.split())],
    ("grub2-default", "all"): [("normal", PAIR.split()), ("recovery", PAIR.split())],
    ("grub2-default", "default"): [("normal", PAIR.split()), ("recovery", [])],
}


@pytest.mark.parametrize("scope", ["all", "default"])
@pytest.mark.parametrize("backend", sorted(HOSTS))
def test_pair_in_each_scope_predicted_applied_and_idempotent(loaders, fake_root, fake_bin, backend, scope):
    common(fake_root)
    log = HOSTS[backend](fake_root, fake_bin)
    assert loaders.modules.crashkernel.backend()["name"] == backend
    before = snapshot(fake_root)
    args = {"name": "512M,high", "low": "256M", "scope": scope}

    predicted = loaders.states.crashkernel.configured(test=True, **args)
    assert predicted.result is None, predicted.comment
    assert predicted.changes["configured"]["new"] == PAIR
    assert snapshot(fake_root) == before and calls(log) == []

    real = loaders.states.crashkernel.configured(**args)
    assert real.result is True, real.comment
    assert real.changes == predicted.changes
    assert real["reboot_pending"] is True
    assert in_scope(fake_root, backend) == EXPECTED[(backend, scope)]
    assert loaders.modules.crashkernel.get()["configured"] == PAIR
    ran = calls(log)

    again = loaders.states.crashkernel.configured(**args)
    assert again.result is True and again.changes == {}, again.comment
    assert loaders.states.crashkernel.configured(test=True, **args).changes == {}
    assert calls(log) == ran


@pytest.mark.parametrize("scope, flag", [("all", "ALL"), ("default", "DEFAULT")])
def test_grubby_single_value_uses_update_kernel_of_the_scope(loaders, fake_root, fake_bin, scope, flag):
    common(fake_root)
    log = grubby(fake_root, fake_bin)
    real = loaders.states.crashkernel.configured(name="256M", scope=scope)
    assert real.result is True, real.comment
    assert calls(log) == [f"--update-kernel={flag} --args=crashkernel=256M"]
    assert loaders.states.crashkernel.configured(name="256M", scope=scope).changes == {}
    assert len(calls(log)) == 1


@pytest.mark.parametrize("backend", sorted(HOSTS))
def test_not_managed_changes_nothing_and_reports(loaders, fake_root, fake_bin, backend):
    common(fake_root)
    put(fake_root, "/proc/cmdline", "BOOT_IMAGE=/vmlinuz ro crashkernel=512M,high crashkernel=256M,low\n")
    put(fake_root, "/sys/kernel/kexec_crash_size", f"{512 << 20}\n")
    log = HOSTS[backend](fake_root, fake_bin)
    before = snapshot(fake_root)
    for test in (True, False):
        ret = loaders.states.crashkernel.configured(name="1G", manage=False, test=test)
        assert ret.result is True and ret.changes == {}
        assert "not managed" in ret.comment
        assert "(crashkernel=512M,high 256M,low) reserves 512M" in ret.comment
    assert snapshot(fake_root) == before and calls(log) == []

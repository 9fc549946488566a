"""Functional tier: crashkernel=measured through Salt's real loaders, on a fake Debian root
whose /var/lib/kdump holds a capture kernel and initrd built in memory: the recommendation
follows the capture initrd (a kernel upgrade, a bigger initrd) and a value inside the band is
left alone."""

import shutil
import subprocess

import pytest

from kdumplib import capturesize
from tests.fixtures.capture import capturefiles

M = 1 << 20
RELEASE = "6.1.0-50-amd64"
GRUB = 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n'
MODULES = "virtio_blk 24576 2 - Live 0x0\next4 1011712 1 - Live 0x0\nsnd 131072 0 - Live 0x0\n"


def initrd(unpacked_mib):
    """A capture initrd: busybox of ``unpacked_mib`` MiB and two modules (one loaded here)."""
    return capturefiles.initramfs(
        {"bin/busybox": b"b" * (unpacked_mib * M), "lib/modules/x/ext4.ko": b"e" * 100,
         "lib/modules/x/nvme.ko": b"n" * 100},
        early={"kernel/x86/microcode/AuthenticAMD.bin": b"u" * 10},
    )


@pytest.fixture
def debian_host(loaders, fake_root, fake_bin):
    loaders.grains.update(os="Debian", os_family="Debian", osrelease="12")
    for path, text in {
        "etc/default/grub": GRUB,
        "proc/cmdline": "BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro quiet crashkernel=384M-:128M\n",
        "proc/meminfo": "MemTotal:        1048576 kB\n",
        "proc/modules": MODULES,
    }.items():
        (fake_root / path).parent.mkdir(parents=True, exist_ok=True)
        (fake_root / path).write_text(text)
    kdump = fake_root / "var/lib/kdump"
    kdump.mkdir(parents=True)
    (kdump / f"vmlinuz-{RELEASE}").write_bytes(capturefiles.bzimage(60 * M))
    (kdump / f"initrd.img-{RELEASE}").write_bytes(initrd(20))
    log = fake_bin / "update-grub.log"
    (fake_bin / "update-grub").write_text(f'#!/bin/sh\necho "update-grub $*" >> {log}\n')
    (fake_bin / "update-grub").chmod(0o755)
    return fake_root, log


def configured(root):
    return root.joinpath("etc/default/grub").read_text()


def test_measure_sums_the_capture_files(loaders, debian_host):
    root, _ = debian_host
    found = loaders.modules.crashkernel.measure()
    size = root.joinpath(f"var/lib/kdump/initrd.img-{RELEASE}").stat().st_size
    assert found["release"] == RELEASE and found["kernel_method"] == "bzImage init_size"
    assert found["unpacked_method"] == "measured"
    assert found["parts"] == {
        "kernel": 60 * M, "initrd": size, "unpacked": 20 * M + 4096 + 4096 + 4096,
        "modules": 1011712, "cpus": 5000 * 1024, "ram": (1 << 30) // 16384, "base": 32 * M,
    }
    assert found["model_bytes"] == sum(found["parts"].values())
    assert found["min_bytes"] == int(found["model_bytes"] / capturesize.MODEL_BIAS)
    assert found["reserved_bytes"] == capturesize.round_up(found["min_bytes"] * 1.4, 8 * M)

    # kdump-tools' own record of the unpacked size wins over measuring (MiB, du -sm)
    root.joinpath(f"var/lib/kdump/size_initrd.img-{RELEASE}").write_text("25\n")
    recorded = loaders.modules.crashkernel.measure()
    assert recorded["parts"]["unpacked"] == 25 * M
    assert recorded["unpacked_method"] == f"/var/lib/kdump/size_initrd.img-{RELEASE}"


def test_measure_errors_name_what_is_missing(loaders, debian_host):
    root, _ = debian_host
    with pytest.raises(Exception, match="release: no capture initrd for kernel 6.12.0"):
        loaders.modules.crashkernel.measure(release="6.12.0")
    root.joinpath(f"var/lib/kdump/size_initrd.img-{RELEASE}").write_text("lots\n")
    with pytest.raises(Exception, match=f"size_initrd.img-{RELEASE}: 'lots' is not a size in MiB"):
        loaders.modules.crashkernel.measure()
    root.joinpath(f"var/lib/kdump/initrd.img-{RELEASE}").write_bytes(b"\x1f\x8b truncated")
    with pytest.raises(Exception, match=f"initrd.img-{RELEASE}: initramfs: the gzip data at byte 0 does not"):
        loaders.modules.crashkernel.measure()
    assert loaders.states.crashkernel.configured(name="measured").result is False
    assert GRUB == configured(root)
    root.joinpath(f"var/lib/kdump/vmlinuz-{RELEASE}").unlink()
    with pytest.raises(Exception, match=f"release: no kernel for {RELEASE}"):
        loaders.modules.crashkernel.measure()
    root.joinpath(f"var/lib/kdump/initrd.img-{RELEASE}").unlink()
    with pytest.raises(Exception, match=r"no capture initrd built yet \(looked for /var/lib/kdump/initrd.img-<release>\)"):
        loaders.modules.crashkernel.measure()


def test_before_the_first_capture_initrd_the_distribution_default(loaders, debian_host):
    """A fresh host: the service builds the capture initrd after the crashkernel state."""
    root, _ = debian_host
    root.joinpath(f"var/lib/kdump/initrd.img-{RELEASE}").unlink()
    found = loaders.modules.crashkernel.recommend("measured")
    assert found["value"] == "384M-:128M" and "band" not in found
    assert found["source"].startswith("measured: no capture initrd built yet")
    assert found["source"].endswith("until then the default for Debian 12 (kdump-tools)")
    first = loaders.states.crashkernel.configured(name="measured")
    assert first.result is True and first.changes == {"configured": {"old": None, "new": "384M-:128M"}}
    # the service built it: the next run measures; 128M has no margin, so it moves
    root.joinpath(f"var/lib/kdump/initrd.img-{RELEASE}").write_bytes(initrd(40))
    second = loaders.states.crashkernel.configured(name="measured")
    assert second.changes["configured"]["old"] == "384M-:128M"
    assert second.changes["configured"]["new"] == loaders.modules.crashkernel.recommend("measured")["value"]


def test_measured_follows_the_capture_initrd(loaders, debian_host):
    root, log = debian_host
    state = loaders.states.crashkernel
    first = loaders.modules.crashkernel.recommend("measured")
    predicted = state.configured(name="measured", test=True)
    assert predicted.result is None
    assert predicted.changes == {"configured": {"old": None, "new": first["value"]}}
    assert GRUB == configured(root) and not log.exists()

    applied = state.configured(name="measured")
    assert applied.result is True and applied.changes == predicted.changes
    assert applied["reboot_pending"] is True
    assert f"crashkernel={first['value']}" in configured(root)
    assert state.configured(name="measured").changes == {}

    # a slightly bigger initrd: the value still reserves 1.2-1.6x the new minimum, kept
    root.joinpath(f"var/lib/kdump/initrd.img-{RELEASE}").write_bytes(initrd(26))
    kept = state.configured(name="measured")
    assert kept.result is True and kept.changes == {}
    assert "within the band" in kept.comment
    assert loaders.modules.crashkernel.recommend("measured")["value"] != first["value"]

    # the kernel upgrade: a newer release with a much bigger capture initrd
    new = "6.1.0-51-amd64"
    root.joinpath(f"var/lib/kdump/vmlinuz-{new}").write_bytes(capturefiles.bzimage(60 * M))
    root.joinpath(f"var/lib/kdump/initrd.img-{new}").write_bytes(initrd(70))
    second = loaders.modules.crashkernel.recommend("measured")
    assert second["release"] == new and second["reserved_bytes"] > first["reserved_bytes"]
    drifted = state.configured(name="measured")
    assert drifted.result is True
    assert drifted.changes == {"configured": {"old": first["value"], "new": second["value"]}}
    assert drifted["reboot_pending"] is True
    assert "reboot required for the reservation to take effect" in drifted.comment
    assert f"crashkernel={second['value']}" in configured(root)
    assert state.configured(name="measured").changes == {}


@pytest.mark.skipif(not shutil.which("zstd"), reason="zstd not installed")
def test_a_zstd_capture_initrd_is_unpacked_with_the_zstd_tool(loaders, debian_host):
    """Debian 12's initramfs-tools compresses with zstd, which the stdlib cannot read."""
    root, _ = debian_host
    main = subprocess.run(["zstd", "-q", "-c"], input=capturefiles.cpio({"bin/busybox": b"b" * (3 * M)}),
                          capture_output=True, check=True).stdout
    root.joinpath(f"var/lib/kdump/initrd.img-{RELEASE}").write_bytes(capturefiles.cpio({"early": b"e"}) + main)
    found = loaders.modules.crashkernel.measure()
    assert found["parts"]["unpacked"] == 4096 + 3 * M and found["parts"]["modules"] == 0

"""kdumplib.capturesize: the measured crashkernel model, on capture files built in memory."""

import gzip
import subprocess
import shutil

import pytest

from kdumplib import capturesize
from tests.fixtures.capture import capturefiles

M = 1 << 20


def test_bzimage_init_size_is_the_kernel_footprint():
    kernel = capturefiles.bzimage(66678784)
    assert capturesize.kernel_bytes(kernel[:0x264], len(kernel)) == (66678784, "bzImage init_size")


@pytest.mark.parametrize("kernel", [b"\x7fELF" + b"\0" * 0x300, capturefiles.bzimage(5 * M, version=0x209)])
def test_without_init_size_the_file_size_times_six(kernel):
    assert capturesize.kernel_bytes(kernel[:0x264], 1000) == (6000, "file size x6")


def test_members_read_an_early_cpio_and_a_compressed_one():
    data = capturefiles.initramfs(
        {"usr/": b"", "usr/bin/busybox": b"x" * 5000, "lib/modules/6.1/kernel/virtio-blk.ko": b"m" * 10},
        compress="xz",
        early={"kernel/x86/microcode/GenuineIntel.bin": b"u" * 4097},
    )
    entries = capturesize.members(data)
    assert [e["name"] for e in entries] == [
        "kernel/x86/microcode/GenuineIntel.bin", "usr", "usr/bin/busybox", "lib/modules/6.1/kernel/virtio-blk.ko",
    ]
    # regular files in whole pages; the directory takes none
    assert capturesize.unpacked_bytes(entries) == 8192 + 8192 + 4096
    assert capturesize.module_names(entries) == {"virtio_blk"}


def test_external_decompressor_gets_the_compressed_segment():
    inner = capturefiles.cpio({"init": b"#!/bin/sh\n"})
    seen = []

    def decompress(kind, data):
        seen.append((kind, data))
        return inner

    entries = capturesize.members(b"\x28\xb5\x2f\xfd" + b"zstd frame", decompress)
    assert [e["name"] for e in entries] == ["init"] and seen == [("zstd", b"\x28\xb5\x2f\xfd" + b"zstd frame")]
    with pytest.raises(ValueError, match="zstd-compressed initramfs and no decompressor"):
        capturesize.members(b"\x28\xb5\x2f\xfd" + b"zstd frame")


@pytest.mark.skipif(not shutil.which("zstd"), reason="zstd not installed")
def test_a_real_zstd_initramfs_with_the_zstd_tool():
    main = subprocess.run(["zstd", "-q", "-c"], input=capturefiles.cpio({"init": b"i" * 9000}),
                          capture_output=True, check=True).stdout
    data = capturefiles.cpio({"early": b"e"}) + main

    def decompress(kind, blob):
        return subprocess.run(["zstd", "-d", "-q", "-c"], input=blob, capture_output=True, check=True).stdout

    assert capturesize.unpacked_bytes(capturesize.members(data, decompress)) == 4096 + 12288


@pytest.mark.parametrize("data, message", [
    (b"", "no files in it"),
    (b"garbage!", "neither cpio nor a known compression at byte 0"),
    (capturefiles.cpio({"a": b"x" * 100})[:150], "runs past the end"),
    (b"070701ZZZZZZZZ" + b"0" * 100, "bad cpio header at byte 0"),
    (gzip.compress(b"not a cpio"), r"neither cpio .* at byte 0 \(in the gzip data at byte 0\)"),
    (b"\x1f\x8b" + b"broken", "the gzip data at byte 0 does not decompress"),
])
def test_broken_initramfs_is_a_clear_error(data, message):
    with pytest.raises(ValueError, match=message):
        capturesize.members(data)


def test_proc_modules_and_recorded_size():
    text = "virtio_blk 24576 2 - Live 0x0\next4 1011712 1 - Live 0x0\nbroken\n"
    assert capturesize.proc_modules(text) == {"virtio_blk": 24576, "ext4": 1011712}
    assert capturesize.recorded_unpacked("31\n", "/var/lib/kdump/size_initrd.img-6.1") == 31 * M
    for bad in ("", "0", "31M", None):
        with pytest.raises(ValueError, match=r"^/var/lib/kdump/size_initrd.img-6.1: .* is not a size in MiB"):
            capturesize.recorded_unpacked(bad, "/var/lib/kdump/size_initrd.img-6.1")


def test_estimate_sums_every_part():
    found = capturesize.estimate(64 * M, 10 * M, 30 * M, 2 * M, 1 << 30)
    assert found["parts"] == {
        "kernel": 64 * M, "initrd": 10 * M, "unpacked": 30 * M, "modules": 2 * M,
        "cpus": 5000 * 1024, "ram": 65536, "base": 32 * M,
    }
    assert found["model_bytes"] == sum(found["parts"].values())
    # the sum over-estimates by MODEL_BIAS, measured on the Debian 12 and 13 guests
    assert found["min_bytes"] == int(found["model_bytes"] / capturesize.MODEL_BIAS) < found["model_bytes"]
    # 1 TiB of RAM adds makedumpfile's bitmaps: 64 MiB (RHEL's crashkernel=auto term)
    big = capturesize.estimate(64 * M, 10 * M, 30 * M, 2 * M, 1 << 40)
    assert big["model_bytes"] - found["model_bytes"] == 64 * M - 65536
    with pytest.raises(ValueError, match=r"^unpacked: -1 is not a byte count"):
        capturesize.estimate(1, 1, -1, 0, 1)


@pytest.mark.parametrize("minimum", [100 * M, 123 * M + 5, 143 * M, 700 * M, 3 << 30])
def test_recommendation_is_inside_the_band(minimum):
    value, reserved = capturesize.recommendation(minimum)
    assert reserved % (8 * M) == 0 and capturesize.sizes.parse_size(value) == reserved
    assert 1.2 <= capturesize.MARGIN <= reserved / minimum < 1.6
    assert capturesize.in_band(reserved, minimum)
    assert not capturesize.in_band(int(minimum * 1.19), minimum)
    assert not capturesize.in_band(int(minimum * 1.61), minimum)


def test_version_key_orders_kernel_releases():
    releases = ["6.1.0-9-amd64", "6.1.0-50-amd64", "6.12.48+deb13-amd64", "6.1.0-10-amd64"]
    assert max(releases, key=capturesize.version_key) == "6.12.48+deb13-amd64"
    assert sorted(releases, key=capturesize.version_key)[:2] == ["6.1.0-9-amd64", "6.1.0-10-amd64"]


@pytest.mark.parametrize("model_bytes, smallest, recommended", [
    (144334022, 128 * M, 176 * M),  # Debian 12 guest (bench/crashkernel_bisect.py, 2026-12-02)
    (156399233, 128 * M, 192 * M),  # Debian 13 guest, same run
])
def test_the_bench_guests_get_1_2_to_1_6_times_what_really_captured(model_bytes, smallest, recommended):
    minimum = int(model_bytes / capturesize.MODEL_BIAS)
    value, reserved = capturesize.recommendation(minimum)
    assert reserved == recommended and 1.2 <= reserved / smallest <= 1.6, value

"""How much memory the capture kernel needs, measured from the files it really boots.

Distribution defaults are guesses (Debian 12's 128M is the bare minimum on a 1 GiB guest,
RHEL's tables reserve nothing below 1-2 GiB); this module sums what the capture environment
holds at its peak, from the capture kernel and initrd built on the minion, and recommends a
reservation inside a band above that minimum. Where each term comes from:
docs/modules/crashkernel.md, "Measured sizing".

Pure code: bytes in, numbers out (no Salt, no I/O). Formats the stdlib cannot decompress
(zstd, lz4, lzo) are handed to a ``decompress(kind, data)`` callback of the caller.
"""

import bz2
import gzip
import lzma
import re

from kdumplib import sizes

MIB = 1 << 20
PAGE = 4096

#: x86 boot protocol (Documentation/arch/x86/boot.rst): "HdrS" at 0x202, the protocol
#: version at 0x206, and from 2.10 on ``init_size`` at 0x260: the linear memory the kernel
#: needs while it decompresses and initializes itself (text, data, bss and the decompressor's
#: room), i.e. what it takes of the reservation before the initramfs is unpacked.
BZIMAGE_MAGIC_OFFSET = 0x202
BZIMAGE_VERSION_OFFSET = 0x206
BZIMAGE_INIT_SIZE_OFFSET = 0x260
BZIMAGE_HEADER_BYTES = 0x264
#: A kernel that is not a bzImage (no init_size): its file size times this factor, kdump-tools
#: 1.10.7's ``VMLINUX_FACTOR`` for x86_64 (kdump-config, crashkernel_estimate). On Debian
#: 12's 6.1 kernel it gives 47 MiB where init_size says 63.6 MiB: only the fallback.
KERNEL_FILE_FACTOR = 6

#: The bare minimum for Linux to run at all beside its kernel and initramfs: kdump-tools
#: 1.10.7's floor "vmlinux + initrd (both decompressed) + 32M", set from x86 experiments.
BASE_BYTES = 32 * MIB
#: Per CPU the capture kernel brings up: kdump-tools 1.10.7's first CPU bucket (5000 KiB per
#: CPU, crashkernel_cpumem_surplus). Both kdump-tools and kdumpctl boot it with nr_cpus=1.
PER_CPU_BYTES = 5000 * 1024
CAPTURE_CPUS = 1
#: makedumpfile's page bitmaps grow with the RAM being dumped: 2 bits per 4 KiB page, the
#: RAM term of RHEL's crashkernel=auto (64 MiB per TiB; kdumplib.crashkernel.AUTO_*).
RAM_BYTES_PER_BYTE = 1 / 16384

#: What the sum of the parts over-estimates, measured: bench/crashkernel_bisect.py on the
#: Debian 12 (6.1) and 13 (6.12) fleet guests, 1 GiB each, found 128M the smallest
#: reservation that captured on both (120M ran out of memory unpacking the initramfs); the sum
#: was 1.075x and 1.165x that (docs/modules/crashkernel.md, "Calibration"). The minimum is the
#: sum divided by their mean.
MODEL_BIAS = 1.12
#: The recommendation is the minimum times MARGIN, rounded up to ROUND; a configured value
#: between BAND[0] and BAND[1] times the minimum is kept ("measured" leaves it alone).
MARGIN = 1.4
BAND = (1.2, 1.6)
ROUND = 8 * MIB

_KO = re.compile(r"^(?P<name>[^/]+)\.ko(\.(xz|zst|gz))?$")
_TRAILER = "TRAILER!!!"
_CPIO_HEADER = 110
_MAGICS = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x5d\x00\x00", "lzma"),
    (b"BZh", "bzip2"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x02\x21\x4c\x18", "lz4"),
    (b"\x89LZO", "lzo"),
)


def round_up(value, unit):
    return -(-int(value) // unit) * unit


def kernel_bytes(header, file_size):
    """``(bytes, how)``: init_size of an x86 bzImage header, else the file size times
    :data:`KERNEL_FILE_FACTOR`. ``header`` is the file's first bytes (0x264 are enough)."""
    if (
        len(header) >= BZIMAGE_HEADER_BYTES
        and header[BZIMAGE_MAGIC_OFFSET:BZIMAGE_MAGIC_OFFSET + 4] == b"HdrS"
        and int.from_bytes(header[BZIMAGE_VERSION_OFFSET:BZIMAGE_VERSION_OFFSET + 2], "little") >= 0x20A
    ):
        init_size = int.from_bytes(header[BZIMAGE_INIT_SIZE_OFFSET:BZIMAGE_INIT_SIZE_OFFSET + 4], "little")
        if init_size > 0:
            return init_size, "bzImage init_size"
    return file_size * KERNEL_FILE_FACTOR, f"file size x{KERNEL_FILE_FACTOR}"


def compression(data):
    """The compression format ``data`` starts with, or None."""
    for magic, kind in _MAGICS:
        if data.startswith(magic):
            return kind
    return None


def _decompress(kind, data, external):
    if kind == "gzip":
        return gzip.decompress(data)
    if kind in ("xz", "lzma"):
        return lzma.decompress(data)
    if kind == "bzip2":
        return bz2.decompress(data)
    if external is None:
        raise ValueError(f"{kind}-compressed initramfs and no decompressor for it")
    return external(kind, data)


def _cpio(data, pos, members):
    """Read one newc/crc cpio archive from ``pos`` into ``members``; the position after it."""
    while True:
        header = data[pos:pos + _CPIO_HEADER]
        if len(header) < _CPIO_HEADER or header[:6] not in (b"070701", b"070702"):
            raise ValueError(f"initramfs: no cpio header at byte {pos} (truncated or not newc)")
        try:
            fields = [int(header[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        except ValueError:
            raise ValueError(f"initramfs: bad cpio header at byte {pos}") from None
        mode, file_size, name_size = fields[1], fields[6], fields[11]
        name_start = pos + _CPIO_HEADER
        name = data[name_start:name_start + name_size - 1].decode("utf-8", "replace")
        data_start = round_up(name_start + name_size, 4)
        pos = round_up(data_start + file_size, 4)
        if pos > len(data) and name != _TRAILER:
            raise ValueError(f"initramfs: {name!r} runs past the end of the archive")
        if name == _TRAILER:
            return pos
        members.append({"name": name, "mode": mode, "size": file_size})


def members(data, decompress=None):
    """Every entry of an initramfs as the kernel unpacks it: ``[{name, mode, size}]``.

    Handles what mkinitramfs and dracut write: uncompressed cpio segments (early microcode)
    followed by a compressed one, NUL padding between them. ``decompress(kind, data)`` is
    called for zstd, lz4 and lzo (gzip, xz, lzma and bzip2 are read here).
    """
    found = []
    pos, compressed_seen = 0, False
    while pos < len(data):
        if data[pos] == 0:
            pos += 1
            continue
        if data[pos:pos + 4] == b"0707":
            pos = _cpio(data, pos, found)
            continue
        kind = compression(data[pos:pos + 8])
        if kind is None or compressed_seen:
            raise ValueError(f"initramfs: neither cpio nor a known compression at byte {pos}")
        try:
            inner = _decompress(kind, data[pos:], decompress)
        except (OSError, EOFError, lzma.LZMAError) as exc:
            raise ValueError(f"initramfs: the {kind} data at byte {pos} does not decompress: {exc}") from None
        try:
            found.extend(members(inner))
        except ValueError as exc:
            raise ValueError(f"{exc} (in the {kind} data at byte {pos})") from None
        compressed_seen = True
        break
    if not found:
        raise ValueError("initramfs: no files in it")
    return found


def unpacked_bytes(entries):
    """What the unpacked initramfs takes in the capture kernel's rootfs (tmpfs): every regular
    file's data in whole pages."""
    return sum(round_up(entry["size"], PAGE) for entry in entries if entry["mode"] & 0o170000 == 0o100000)


def module_names(entries):
    """Kernel module names in the initramfs (``virtio-blk.ko.xz`` → ``virtio_blk``)."""
    names = set()
    for entry in entries:
        match = _KO.match(entry["name"].rsplit("/", 1)[-1])
        if match and entry["mode"] & 0o170000 == 0o100000:
            names.add(match.group("name").replace("-", "_"))
    return names


def proc_modules(text):
    """``{name: bytes}`` of ``/proc/modules`` (name, size, ... per line)."""
    loaded = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[1].isdigit():
            loaded[fields[0]] = int(fields[1])
    return loaded


def recorded_unpacked(text, path):
    """kdump-tools' ``size_initrd.img-<version>`` (``du -sm`` of the unpacked initrd: MiB)."""
    word = (text or "").strip()
    if not word.isdigit() or int(word) == 0:
        raise ValueError(f"{path}: {word!r} is not a size in MiB (kdump-tools writes du -sm)")
    return int(word) * MIB


def estimate(kernel, initrd, unpacked, modules, mem_bytes, cpus=CAPTURE_CPUS):
    """``{min_bytes, parts}``: the least the capture environment holds at its peak.

    ``kernel``: the kernel's own bytes (:func:`kernel_bytes`); ``initrd``: the initrd file
    (kexec places it in the reservation; it stays until unpacked); ``unpacked``:
    :func:`unpacked_bytes`; ``modules``: loaded size of the initrd's modules the capture
    kernel will load; ``mem_bytes``: the RAM to dump.
    """
    for name, value in (("kernel", kernel), ("initrd", initrd), ("unpacked", unpacked),
                        ("modules", modules), ("mem_bytes", mem_bytes), ("cpus", cpus)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name}: {value!r} is not a byte count")
    parts = {
        "kernel": kernel,
        "initrd": initrd,
        "unpacked": unpacked,
        "modules": modules,
        "cpus": cpus * PER_CPU_BYTES,
        "ram": int(mem_bytes * RAM_BYTES_PER_BYTE),
        "base": BASE_BYTES,
    }
    model = sum(parts.values())
    return {"min_bytes": int(model / MODEL_BIAS), "model_bytes": model, "parts": parts}


def recommendation(min_bytes):
    """``(value, bytes)``: :data:`MARGIN` times the minimum, rounded up to :data:`ROUND`."""
    wanted = round_up(min_bytes * MARGIN, ROUND)
    return sizes.format_size(wanted), wanted


def band(min_bytes):
    """``(low, high)`` bytes: a reservation in this range is kept."""
    return int(min_bytes * BAND[0]), int(min_bytes * BAND[1])


def in_band(reserved, min_bytes):
    low, high = band(min_bytes)
    return low <= reserved <= high


def version_key(release):
    """Sort key of a kernel release (``6.1.0-50-amd64``): numbers compare as numbers."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", release) if part]

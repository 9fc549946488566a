"""Sizing and naming for the dump logical volume (``kdump:volume``).

Pure logic for ``kdump.dump_target``: what the ``size`` argument means in bytes, rounded to
whole LVM extents, and the device names LVM gives the volume. No Salt, no I/O.
"""

from kdumplib import schema, sizes

MIB = 1 << 20
#: ``auto`` = the dump estimate plus this share of it (filesystem metadata, journal, a dump
#: that grows between the estimate and the crash) ...
AUTO_MARGIN_RATIO = 0.25
#: ... but never less than this many bytes of headroom.
AUTO_MARGIN_MIN = 64 * MIB
FSTYPES = schema.VOLUME_FSTYPES
#: One rule for VG/LV names, the pillar's and the state's: ``schema.check_lvm_name(what, name)``.
check_lvm_name = schema.check_lvm_name


def parse_size_spec(size):
    """Read the ``size`` argument: ``1000M``/``4G`` (absolute), ``auto`` or ``N%RAM``.

    The syntax is the pillar's (``schema.validate_volume_size``). Returns
    ``{"kind": "absolute", "bytes": int}``, ``{"kind": "auto"}`` or
    ``{"kind": "percent_ram", "percent": int}``. A bare number is refused here: the seed's
    ``lvcreate --size 1000`` means MiB to LVM but bytes to the kernel's size syntax.
    """
    if isinstance(size, int) and not isinstance(size, bool) or str(size).strip().isdigit():
        raise ValueError(f"size: {size!r} has no unit (LVM reads MiB, sizes here are bytes); write e.g. {size}M")
    normalized = schema.validate_volume_size(size, "size")
    if normalized == "auto":
        return {"kind": "auto"}
    if normalized.endswith("%RAM"):
        return {"kind": "percent_ram", "percent": int(normalized[: -len("%RAM")])}
    return {"kind": "absolute", "bytes": sizes.parse_size(normalized)}


def check_dumps(dumps):
    """``dumps``: a whole number >= 1 (ValueError naming it otherwise)."""
    if isinstance(dumps, bool) or not isinstance(dumps, int) or dumps < 1:
        raise ValueError(f"dumps: {dumps!r} must be a whole number >= 1")
    return dumps


def auto_bytes(estimate_bytes, dumps=1):
    """Bytes for ``size: auto``: room for ``dumps`` dumps of the estimate, plus a margin
    (see AUTO_MARGIN_*) on their total."""
    if estimate_bytes < 0:
        raise ValueError(f"estimate {estimate_bytes!r} is negative")
    need = estimate_bytes * check_dumps(dumps)
    return need + max(int(need * AUTO_MARGIN_RATIO), AUTO_MARGIN_MIN)


def percent_ram_bytes(percent, mem_bytes):
    """Bytes for ``size: N%RAM``."""
    if mem_bytes <= 0:
        raise ValueError(f"size: memory size {mem_bytes!r} is unknown, cannot size {percent}%RAM")
    return int(mem_bytes * percent / 100)


def round_up_to_extent(num_bytes, extent_bytes):
    """Round ``num_bytes`` up to a whole number of LVM extents (what lvcreate allocates)."""
    if extent_bytes <= 0:
        raise ValueError(f"extent size {extent_bytes!r} is not positive")
    extents = -(-num_bytes // extent_bytes)
    return max(extents, 1) * extent_bytes


def target_bytes(spec, extent_bytes, estimate_bytes=None, mem_bytes=None, dumps=1):
    """The LV size in bytes for a parsed ``spec`` (``parse_size_spec``), in whole extents;
    ``auto`` holds ``dumps`` dumps."""
    if spec["kind"] == "absolute":
        wanted = spec["bytes"]
    elif spec["kind"] == "auto":
        if estimate_bytes is None:
            raise ValueError("size: auto needs the dump estimate")
        wanted = auto_bytes(estimate_bytes, dumps)
    elif spec["kind"] == "percent_ram":
        wanted = percent_ram_bytes(spec["percent"], mem_bytes or 0)
    else:
        raise ValueError(f"size: unknown kind {spec['kind']!r}")
    return round_up_to_extent(wanted, extent_bytes)


def grow_below(spec, wanted, estimate_bytes=None, dumps=1):
    """The size under which an existing LV is grown to ``wanted`` (``target_bytes``).

    A fixed size or a share of RAM: ``wanted`` itself. ``auto``: the dumps plus half of their
    margin. The estimate follows memory use, so ``wanted`` moves by a few extents from one run
    to the next (708M then 716M on a fleet guest after its crash test): a volume that still
    holds the dumps with half the margin to spare is left as it is, and a run stays idempotent.
    """
    if spec["kind"] != "auto":
        return wanted
    if estimate_bytes is None:
        raise ValueError("size: auto needs the dump estimate")
    need = estimate_bytes * check_dumps(dumps)
    return min(wanted, need + (wanted - need) // 2)


def lvm_size_arg(num_bytes):
    """``--size`` argument for lvcreate/lvresize: binary units, ``b`` when not whole KiB."""
    text = sizes.format_size(num_bytes)
    return text if text[-1].isalpha() else f"{text}b"


def device_paths(vg, lv):
    """The names the LV's block device has: ``/dev/vg/lv`` and ``/dev/mapper/vg-lv``."""
    return schema.volume_devices({"vg": vg, "lv": lv})

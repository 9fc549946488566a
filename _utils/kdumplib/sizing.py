"""How big a vmcore will be (the volume margin on top lives in ``kdumplib.dumpvolume``).

Two ways to estimate:

1. ``makedumpfile --mem-usage /proc/kcore`` prints, for the running kernel, how many pages
   fall in each class (zero, cache, user, free, kernel data). ``parse_mem_usage`` reads that
   table and ``dump_bytes_from_usage`` sums the pages a dump level keeps. This is exact for the
   moment it runs (before compression, so an upper bound for a compressed dump).
2. Without it (no root, no /proc/kcore, no makedumpfile, a fake root in tests): RAM times a
   ratio for the dump level, ``ratio_for_level``.

The ratio model gives every page class a share of RAM and keeps the classes the dump level
does not exclude. The shares are our assumption, chosen as an upper bound that agrees with
Red Hat's guidance that a ``-d 31`` dump is usually under 10 % of RAM (Red Hat, "Estimating
the kdump size" / kdump FAQ) and with what we measured: a 1 GiB Debian guest gave 24-45 MB
dumps with ``-c -d 31`` (docs/testing notes). Kernel data is never excludable.

A third number, ``floor_bytes``, is a lower bound for refusing a fixed-size dump volume
before makedumpfile is installed (``kdump.validate_pillar`` on a host's first run): a volume
smaller than the floor surely cannot hold a dump, whatever the machine's memory holds. See
``FLOOR_*`` below for each assumption and where it comes from.

Pure code: no Salt, no I/O.
"""

import math

# makedumpfile dump level bits (makedumpfile(8)): which page classes each bit excludes.
LEVEL_BITS = {
    1: ("ZERO",),
    2: ("NON_PRI_CACHE",),
    4: ("NON_PRI_CACHE", "PRI_CACHE"),
    8: ("USER",),
    16: ("FREE",),
}

# Share of RAM per page class used when makedumpfile cannot tell us (upper-bound assumption).
PAGE_CLASS_SHARES = {
    "ZERO": 0.05,
    "NON_PRI_CACHE": 0.25,
    "PRI_CACHE": 0.05,
    "USER": 0.25,
    "FREE": 0.30,
    "KERN_DATA": 0.10,
}

# --- the floor: what a dump takes at least (used to refuse, so every choice errs low) ---------
#: Kernel data no dump level excludes includes ``mem_map``: one ``struct page`` per page frame,
#: 64 bytes per 4 KiB page on x86_64 (include/linux/mm_types.h; ``pahole`` shows 64 bytes),
#: i.e. 1/64 of RAM. Measured: the 1 GiB e2e guest's ``-d 31`` dump kept 39.5 MiB of pages
#: (3.9 % of RAM), above this floor.
FLOOR_KERNEL_DATA_RATIO = 64 / 4096
#: Zero-filled pages, the only ones level 1 drops, are assumed at most this share of RAM:
#: free pages hold the old data of freed memory, not zeros. ``makedumpfile --mem-usage`` on a
#: 4 GiB machine (the sample in tests/unit/test_sizing.py) counted 2.4 % zero pages next to
#: 84 % free pages; 10 % leaves four times that margin. So levels 0 and 1 keep nearly all RAM.
FLOOR_ZERO_PAGES_MAX_RATIO = 0.10
#: Compression is assumed to shrink the pages a dump keeps to no less than half. Measured on
#: the 1 GiB e2e guest: ``-c -d 31`` dumps of 24-45 MB for 39.5 MiB of kept pages (ratio
#: 0.58-1.09). Without compression (``none``, ELF) the pages are written as they are.
FLOOR_COMPRESSED_RATIO = 0.5
#: Page classes that a busy machine can fill with (almost) all its RAM: a level dropping any of
#: them can shrink the dump to the kernel data alone.
_UNBOUNDED_CLASSES = {"NON_PRI_CACHE", "PRI_CACHE", "USER", "FREE"}


def excluded_classes(dump_level):
    """The page classes a single dump level (0-31) excludes."""
    if not 0 <= dump_level <= 31:
        raise ValueError(f"dump_level: {dump_level} is out of range 0-31")
    classes = set()
    for bit, names in LEVEL_BITS.items():
        if dump_level & bit:
            classes.update(names)
    return classes


def _worst_level(dump_level):
    """For a retry list (``[11, 31]``) the first level is tried first: size for it."""
    return dump_level[0] if isinstance(dump_level, list) else dump_level


def ratio_for_level(dump_level):
    """Fraction of RAM a dump at ``dump_level`` is expected to take (see module docstring)."""
    excluded = excluded_classes(_worst_level(dump_level))
    return round(sum(share for name, share in PAGE_CLASS_SHARES.items() if name not in excluded), 6)


def estimate_by_ratio(mem_bytes, dump_level):
    """RAM × ratio, in whole bytes."""
    return int(math.ceil(mem_bytes * ratio_for_level(dump_level)))


def floor_ratio(dump_level, compression="zlib"):
    """The smallest fraction of RAM a dump at ``dump_level`` can take (see ``FLOOR_*``).

    For a retry list the smallest over its levels: the last, most filtering try may succeed.
    """
    levels = dump_level if isinstance(dump_level, list) else [dump_level]
    kept = []
    for level in levels:
        excluded = excluded_classes(level)
        if excluded & _UNBOUNDED_CLASSES:
            kept.append(FLOOR_KERNEL_DATA_RATIO)
        elif "ZERO" in excluded:
            kept.append(1 - FLOOR_ZERO_PAGES_MAX_RATIO)
        else:
            kept.append(1.0)
    factor = 1.0 if compression in (None, "none") else FLOOR_COMPRESSED_RATIO
    return min(kept) * factor


def floor_bytes(mem_bytes, dump_level, compression="zlib"):
    """RAM × ``floor_ratio``, rounded down: a fixed volume smaller than this cannot hold a dump."""
    return int(mem_bytes * floor_ratio(dump_level, compression))


def parse_mem_usage(text):
    """``makedumpfile --mem-usage`` output → ``{"pages": {CLASS: n}, "page_size": int,
    "total_pages": int|None}``. ValueError when the table or the page size is missing."""
    pages = {}
    page_size = None
    total_pages = None
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[0].isupper() and fields[1].isdigit() and fields[2] in ("yes", "no"):
            pages[fields[0]] = int(fields[1])
            continue
        lowered = line.strip().lower()
        if lowered.startswith("page size:") and fields[-1].isdigit():
            page_size = int(fields[-1])
        elif lowered.startswith("total pages on system:") and fields[-1].isdigit():
            total_pages = int(fields[-1])
    if not pages or page_size is None:
        raise ValueError("makedumpfile --mem-usage: no page table or page size in its output")
    return {"pages": pages, "page_size": page_size, "total_pages": total_pages}


def dump_bytes_from_usage(usage, dump_level, reserved_bytes=0):
    """Bytes of the pages ``dump_level`` keeps, from ``parse_mem_usage``'s result.

    ``reserved_bytes``: the crash kernel reservation (``/sys/kernel/kexec_crash_size``). Its
    pages are reserved, so ``--mem-usage`` counts them as kernel data, but kexec-tools leaves
    that range out of ``/proc/vmcore``: they are never in the dump. Measured on the e2e guest:
    167.5 MiB estimated with a 128 MiB reservation, 39.5 MiB without it.
    """
    excluded = excluded_classes(_worst_level(dump_level))
    kept = sum(count for name, count in usage["pages"].items() if name not in excluded)
    kernel_data = usage["pages"].get("KERN_DATA", 0) * usage["page_size"]
    return kept * usage["page_size"] - min(max(reserved_bytes, 0), kernel_data)


#: Seconds a ``makedumpfile --mem-usage`` scan stands for the next ones. The scan reads every
#: page of RAM: 5-9 s on the fleet's 1 GiB TCG guests (measured), and more with more RAM. Status,
#: the space check and an ``auto`` volume each need the estimate, the crash test asks for status
#: before and after every crash: with this reuse a formula run scans once. Memory use moves
#: slowly compared with the margins the estimate is used with (AUTO_MARGIN_* in dumpvolume).
MEASUREMENT_MAX_AGE = 900


def measurement(usage, reserved_bytes, mem_bytes, now):
    """The record of one scan (``parse_mem_usage``'s ``usage``) kept for reuse: with the
    reservation and RAM it was taken under, and when (Unix time)."""
    return {"usage": usage, "reserved_bytes": int(reserved_bytes), "mem_bytes": int(mem_bytes),
            "measured_at": float(now)}


def reusable(record, mem_bytes, now, max_age):
    """True when ``record`` (``measurement``) may stand for a new scan: taken on as much RAM
    as now, at most ``max_age`` seconds ago, and not in the future (a clock set back)."""
    try:
        age = now - float(record["measured_at"])
        same_ram = int(record["mem_bytes"]) == int(mem_bytes)
        shaped = isinstance(record["usage"]["pages"], dict) and int(record["usage"]["page_size"]) > 0
        int(record["reserved_bytes"])
    except (KeyError, TypeError, ValueError):
        return False
    return shaped and same_ram and 0 <= age <= max_age


def human(num_bytes):
    """1610612736 → ``"1.5 GiB"``: a size for people, in messages."""
    value = float(num_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{num_bytes} B"

"""The kernel's ``crashkernel=`` syntax: parse, format, resolve, and the default table.

Syntaxes accepted by the kernel (Documentation/admin-guide/kdump/kdump.rst):

* ``128M`` and ``128M@16M`` (size at a fixed physical offset)
* ``1G-4G:192M,4G-64G:256M,64G-:512M`` with an optional ``@offset`` after the ranges;
  a range is ``start-[end]:size``, ``end`` is exclusive, an empty end means "no limit"
* ``512M,high`` / ``128M,low`` (``0,low`` is allowed: it turns the low reservation off)
* ``auto`` (RHEL 6-8 kernels only)

Errors are ``ValueError`` whose message names the value and the reason.
"""

import re

from kdumplib import sizes

_SIZE_TOKEN = re.compile(r"^(\d+)([A-Za-z]*)$")
_MODIFIERS = ("high", "low")

# RHEL's crashkernel=auto on x86_64 (RHEL 7 Kernel Crash Dump Guide, table "automatic
# memory reservation"): nothing below 2 GiB of RAM, else 160 MiB plus 2 bits for every
# 4 KiB page of RAM (= 64 MiB per TiB). The kernel's own alignment is not modelled.
AUTO_MIN_RAM = 2 << 30
AUTO_BASE = 160 << 20
AUTO_BYTES_PER_RAM_BYTE = 1 / 16384  # 2 bits per 4096-byte page

UBUNTU_2410_LADDER = "2G-4G:320M,4G-32G:512M,32G-64G:1024M,64G-128G:2048M,128G-:4096M"
RHEL_RANGES = "1G-4G:192M,4G-64G:256M,64G-:512M"
RHEL10_RANGES = "2G-64G:256M,64G-:512M"

#: The smallest reservation that captured a dump on a 1 GiB Debian 12 guest (kdump-tools,
#: makedumpfile -c -d 31; 120M and below ran out of memory unpacking the capture initramfs:
#: the e2e tier, /work/shared/testing.md). ``recommend`` falls back to it when a
#: distribution default reserves nothing on this RAM.
MIN_WORKING = "128M"

# The default crashkernel per distribution: key = ``os`` grain, or ``os_family`` grain when
# the ``os`` has no entry of its own. Each value is a version ladder of
# (first version, value, origin); the highest first version <= the minion's version applies.
# Where each row comes from:
RECOMMENDATIONS = {
    "RedHat": [
        # RHEL 5 Deployment Guide, "Configuring kdump": crashkernel=128M@16M on the kernel line.
        ((5,), "128M@16M", "kexec-tools, fixed offset"),
        # RHEL 6 and 7 Kernel Crash Dump Guide, "Memory requirements": the installer writes
        # crashkernel=auto; the kernel sizes it (auto_reservation below). RHEL 8.0-8.9 too.
        ((6,), "auto", "kexec-tools, crashkernel=auto"),
        # RHEL 8.10 and 9: kexec-tools' kdump.conf(5)/kdumpctl get-default-crashkernel on x86_64
        # ("crashkernel=auto" was removed from the kernel).
        ((8, 10), RHEL_RANGES, "kexec-tools default-crashkernel"),
        # RHEL 10: kexec-tools' kdumpctl get-default-crashkernel on x86_64 (first range at 2G).
        ((10,), RHEL10_RANGES, "kexec-tools default-crashkernel"),
    ],
    # Fedora 37+: the same kexec-tools default as RHEL 10.
    "Fedora": [((0,), RHEL10_RANGES, "kexec-tools default-crashkernel")],
    "Debian": [
        # kdump-tools 1:1.8.1 (Debian 12), /etc/default/grub.d/kdump-tools.cfg.
        ((0,), "384M-:128M", "kdump-tools"),
        # kdump-tools 1:1.10.7 (Debian 13), /etc/default/grub.d/kdump-tools.cfg.
        ((13,), "512M-:192M", "kdump-tools"),
    ],
    "Ubuntu": [
        # Ubuntu's kdump-tools up to 24.04, /etc/default/grub.d/kdump-tools.cfg.
        ((0,), "512M-:192M", "kdump-tools"),
        # Ubuntu's kdump-tools from 24.10 (Ubuntu Server docs, "Kernel crash dump").
        ((24, 10), UBUNTU_2410_LADDER, "kdump-tools"),
    ],
    # SUSE ships no fixed value (YaST/kdumptool calibrate size it per host); this formula's own
    # choice, above the 128M measured minimum.
    "Suse": [((0,), "192M", "SUSE fallback")],
}


def _size(value, token, what):
    match = _SIZE_TOKEN.match(token)
    if not match:
        raise ValueError(f"{value!r}: {what} {token!r} is not a size (expected digits and K/M/G/T/P/E)")
    if match.group(2) and match.group(2).upper() not in sizes.UNITS:
        raise ValueError(f"{value!r}: {what} {token!r} has an unknown suffix {match.group(2)!r}")
    if len(match.group(2)) > 1:
        raise ValueError(f"{value!r}: {what} {token!r} has an unknown suffix {match.group(2)!r}")
    return sizes.parse_size(token)


def _result(kind, size=None, offset=None, ranges=None, modifier=None):
    parsed = {
        "value": None,
        "kind": kind,
        "size": size,
        "offset": offset,
        "ranges": ranges or [],
        "modifier": modifier,
    }
    parsed["value"] = format(parsed)
    return parsed


def _parse_ranges(value, text):
    ranges = []
    for item in text.split(","):
        if ":" not in item or "-" not in item.split(":", 1)[0]:
            raise ValueError(f"{value!r}: range {item!r} is not start-[end]:size")
        bounds, size_token = item.split(":", 1)
        start_token, end_token = bounds.split("-", 1)
        start = _size(value, start_token, "range start")
        end = _size(value, end_token, "range end") if end_token else None
        size = _size(value, size_token, "range size")
        if end is not None and start >= end:
            raise ValueError(f"{value!r}: range {item!r} has start >= end")
        if size == 0:
            raise ValueError(f"{value!r}: range {item!r} reserves a zero size")
        if ranges:
            previous = ranges[-1]
            if previous["end"] is None:
                raise ValueError(f"{value!r}: range {item!r} follows an open-ended range")
            if start < previous["end"]:
                raise ValueError(
                    f"{value!r}: range {item!r} overlaps or is not sorted after the previous range"
                )
        ranges.append({"start": start, "end": end, "size": size})
    return ranges


def parse(value):
    """``"1G-4G:192M@16M"`` → dict (kind, size, offset, ranges, modifier, canonical value)."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r}: not a string")
    text = value.strip()
    if text.startswith("crashkernel="):
        text = text[len("crashkernel="):]
    if not text:
        raise ValueError(f"{value!r}: empty value")
    if any(char.isspace() for char in text):
        raise ValueError(f"{value!r}: contains whitespace")
    if text.lower() == "auto":
        return _result("auto")
    offset = None
    if "@" in text:
        text, offset_token = text.rsplit("@", 1)
        if "," in offset_token:
            raise ValueError(f"{value!r}: @offset cannot be combined with ,{offset_token.split(',', 1)[1]}")
        offset = _size(value, offset_token, "offset")
        if "@" in text:
            raise ValueError(f"{value!r}: more than one @offset")
    if ":" in text:
        return _result("ranges", offset=offset, ranges=_parse_ranges(value, text))
    size_token, _, modifier = text.partition(",")
    modifier = modifier or None
    if modifier is not None:
        if modifier.lower() not in _MODIFIERS:
            raise ValueError(f"{value!r}: unknown modifier {modifier!r} (expected high or low)")
        modifier = modifier.lower()
        if offset is not None:
            raise ValueError(f"{value!r}: @offset cannot be combined with ,{modifier}")
    size = _size(value, size_token, "size")
    if size == 0 and modifier != "low":
        raise ValueError(f"{value!r}: zero size reserves nothing (remove crashkernel= instead)")
    return _result("simple", size=size, offset=offset, modifier=modifier)


def format(parsed):  # pylint: disable=redefined-builtin
    """The canonical string of a parsed value; ``parse(format(p)) == p``."""
    kind = parsed["kind"]
    if kind == "auto":
        return "auto"
    if kind == "ranges":
        text = ",".join(
            f"{sizes.format_size(r['start'])}-"
            f"{sizes.format_size(r['end']) if r['end'] is not None else ''}:"
            f"{sizes.format_size(r['size'])}"
            for r in parsed["ranges"]
        )
    elif kind == "simple":
        text = sizes.format_size(parsed["size"])
    else:
        raise ValueError(f"{parsed!r}: unknown kind {kind!r}")
    if parsed.get("offset") is not None:
        text += "@" + sizes.format_size(parsed["offset"])
    if parsed.get("modifier"):
        text += "," + parsed["modifier"]
    return text


def auto_reservation(mem_bytes):
    """Bytes RHEL's ``crashkernel=auto`` reserves on x86_64 with ``mem_bytes`` of RAM."""
    if mem_bytes < AUTO_MIN_RAM:
        return 0
    return AUTO_BASE + int(mem_bytes * AUTO_BYTES_PER_RAM_BYTE)


def resolve(value, mem_bytes):
    """Bytes the kernel reserves for ``value`` (str or parsed) on ``mem_bytes`` of RAM.

    Ranges match as in the kernel's ``parse_crashkernel_mem()``: ``start <= RAM < end``;
    no matching range reserves 0.
    """
    parsed = parse(value) if isinstance(value, str) else value
    if parsed["kind"] == "auto":
        return auto_reservation(mem_bytes)
    if parsed["kind"] == "simple":
        return parsed["size"]
    for entry in parsed["ranges"]:
        if entry["start"] <= mem_bytes and (entry["end"] is None or mem_bytes < entry["end"]):
            return entry["size"]
    return 0


def version_tuple(text):
    """``"24.10"`` → (24, 10); non-numeric parts end the tuple."""
    numbers = []
    for part in str(text or "").split("."):
        if not part.isdigit():
            break
        numbers.append(int(part))
    return tuple(numbers)


def recommend(os_name, os_family, osrelease):
    """``(value, origin)`` of the distribution default, or ValueError when none is known."""
    ladder = RECOMMENDATIONS.get(os_name) or RECOMMENDATIONS.get(os_family)
    version = version_tuple(osrelease)
    if ladder:
        matches = [entry for entry in ladder if entry[0] <= version]
        if matches:
            _, value, origin = matches[-1]
            return value, origin
    raise ValueError(
        f"{os_name} {osrelease} (os_family {os_family}): no default crashkernel known; "
        "set pillar kdump:crashkernel:value"
    )


def working(value, mem_bytes):
    """``(value, note)``: ``value`` when it reserves memory on ``mem_bytes`` of RAM, else
    :data:`MIN_WORKING` with a note saying why (RHEL's ``auto`` below 2 GiB, a range table
    whose first range starts above this RAM: the kernel would reserve 0 bytes)."""
    if resolve(value, mem_bytes) > 0:
        return value, None
    return MIN_WORKING, (
        f"crashkernel={value} reserves nothing on {mem_bytes / (1 << 30):.1f} GiB of RAM; "
        f"{MIN_WORKING} instead, the smallest reservation that captured a dump on a 1G guest"
    )


# --------------------------------------------------------------------------- ,high + ,low pairs
# ``crashkernel=512M,high crashkernel=256M,low`` are two tokens the kernel reads together
# (Documentation/admin-guide/kernel-parameters.txt; kernel/crash_reserve.c parse_crashkernel):
# a token without a suffix wins over both and the ,high/,low tokens are then ignored;
# otherwise the last ,high is the main reservation (crashk_res, the one
# /sys/kernel/kexec_crash_size reports) and the last ,low the extra memory below 4G
# (crashk_low_res; without one the kernel picks a default size on x86 and arm64).
# A *spec* is the text of what the kernel reads: one value, or "HIGH,high LOW,low" (one space,
# high first), the form every function of the formula passes around.


def spec_tokens(value):
    """The parsed tokens of a spec (``"512M,high 256M,low"``, a list of values, or one value),
    checked to be something the kernel reads together. ValueError names the value."""
    items = value.split() if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise ValueError(f"{value!r}: empty value")
    if not all(isinstance(item, str) for item in items):
        raise ValueError(f"{value!r}: every token must be a string")
    parsed = [parse(item) for item in items]
    modifiers = [p["modifier"] for p in parsed]
    if len(parsed) == 1:
        if modifiers[0] == "low":
            raise ValueError(
                f"{value!r}: a ,low value alone reserves nothing (the kernel reads it only with a ,high value)"
            )
        return parsed
    if len(parsed) != 2 or sorted(modifiers, key=str) != ["high", "low"]:
        raise ValueError(
            f"{value!r}: more than one crashkernel= value only as a pair: one X,high and one Y,low"
        )
    return sorted(parsed, key=lambda p: p["modifier"] != "high")


def parse_spec(value, low=None):
    """The canonical spec of ``value`` (plus ``low``, a size for the ,low token).

    ``parse_spec("512M,high", low="256M") == parse_spec("256M,low 512m,high") ==
    "512M,high 256M,low"``."""
    items = list(value.split() if isinstance(value, str) else value)
    if low is not None:
        low_text = str(low).strip()
        if low_text.lower().endswith(",low"):
            low_text = low_text[: -len(",low")]
        if len(items) != 1 or not items[0].lower().endswith(",high"):
            raise ValueError(f"low: {low!r} goes only with a value X,high (value is {value!r})")
        items.append(f"{low_text},low")
    return " ".join(p["value"] for p in spec_tokens(" ".join(items)))


def spec_parts(spec):
    """``{"main": parsed, "low": parsed or None}`` of a spec."""
    tokens = spec_tokens(spec)
    return {"main": tokens[0], "low": tokens[1] if len(tokens) > 1 else None}


def suffix(value):
    """``"high"``, ``"low"`` or None: the suffix the kernel matches on a raw token."""
    for name in _MODIFIERS:
        if value.endswith("," + name):
            return name
    return None


def effective(values):
    """The spec the kernel uses from every ``crashkernel=`` value of a command line, in order,
    or None: the last plain one; else the last ,high and the last ,low."""
    values = list(values or [])
    plain = [v for v in values if suffix(v) is None]
    if plain:
        return plain[-1]
    picked = [kind[-1] for kind in ([v for v in values if suffix(v) == "high"], [v for v in values if suffix(v) == "low"]) if kind]
    return " ".join(picked) or None


def canonical_spec(spec):
    """Canonical text of a spec for comparisons; unparsable text compares as written."""
    if spec is None:
        return None
    try:
        return " ".join(p["value"] for p in spec_tokens(spec))
    except ValueError:
        return spec


def resolve_spec(spec, mem_bytes):
    """``(main_bytes, low_bytes or None)``: ``main`` is what /sys/kernel/kexec_crash_size
    reports (the ,high part of a pair); ``low`` the ,low part (None: no ,low token)."""
    parts = spec_parts(spec)
    low = parts["low"]
    return resolve(parts["main"], mem_bytes), (low["size"] if low else None)

"""Memory and disk sizes as the kernel and LVM write them: ``128M``, ``1G``, ``4096K``.

Suffixes are binary (K = 1024), as in the kernel's ``memparse()``; a bare number is bytes.
"""

import re

UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50, "E": 1 << 60}
_SIZE = re.compile(r"^(\d+)([KMGTPE]?)$", re.IGNORECASE)


def parse_size(text):
    """``"128M"`` → 134217728. Raises ValueError naming the text and the reason."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise ValueError(f"{text!r} is not a size (expected e.g. 128M, 1G)")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"{text!r} is negative")
        return text
    match = _SIZE.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a size (expected digits with an optional K/M/G/T suffix)")
    return int(match.group(1)) * UNITS[match.group(2).upper()]


def format_size(num_bytes):
    """134217728 → ``"128M"``: the largest unit that divides the value exactly."""
    if num_bytes < 0:
        raise ValueError(f"{num_bytes!r} is negative")
    for suffix in ("E", "P", "T", "G", "M", "K"):
        unit = UNITS[suffix]
        if num_bytes and num_bytes % unit == 0:
            return f"{num_bytes // unit}{suffix}"
    return str(num_bytes)

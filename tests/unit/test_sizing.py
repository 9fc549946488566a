"""kdumplib.sizing: vmcore estimates from makedumpfile's page table or from the ratio table."""

import pytest

from kdumplib import sizing

# makedumpfile --mem-usage /proc/kcore on a 4 GiB machine (layout of makedumpfile 1.6/1.7).
MEM_USAGE = """\
The kernel version is not supported.
The makedumpfile operation may be incomplete.

TYPE		PAGES			EXCLUDABLE	DESCRIPTION
----------------------------------------------------------------------
ZERO		21299           	yes		Pages filled with zero
NON_PRI_CACHE	91785           	yes		Cache pages without private flag
PRI_CACHE	1               	yes		Cache pages with private flag
USER		14057           	yes		User process pages
FREE		740700          	yes		Free pages
KERN_DATA	14243           	no		Dumpable kernel data

page size:		4096
Total pages on system:	882085
Total size on system:	3613020160       Byte
"""


def test_parse_mem_usage():
    usage = sizing.parse_mem_usage(MEM_USAGE)
    assert usage["page_size"] == 4096
    assert usage["total_pages"] == 882085
    assert usage["pages"] == {
        "ZERO": 21299, "NON_PRI_CACHE": 91785, "PRI_CACHE": 1,
        "USER": 14057, "FREE": 740700, "KERN_DATA": 14243,
    }


@pytest.mark.parametrize(
    "level, kept_pages",
    [
        (31, 14243),
        (0, 21299 + 91785 + 1 + 14057 + 740700 + 14243),
        (1, 91785 + 1 + 14057 + 740700 + 14243),
        (2, 21299 + 1 + 14057 + 740700 + 14243),
        (4, 21299 + 14057 + 740700 + 14243),
        (17, 91785 + 1 + 14057 + 14243),
        ([11, 31], 1 + 740700 + 14243),
    ],
)
def test_dump_bytes_follow_the_level_bits(level, kept_pages):
    usage = sizing.parse_mem_usage(MEM_USAGE)
    assert sizing.dump_bytes_from_usage(usage, level) == kept_pages * 4096


def test_the_crash_kernel_reservation_is_not_in_the_dump():
    # KERN_DATA is 14243 pages here; a reservation counts there but kexec leaves it out.
    usage = sizing.parse_mem_usage(MEM_USAGE)
    full = sizing.dump_bytes_from_usage(usage, 31)
    assert sizing.dump_bytes_from_usage(usage, 31, reserved_bytes=10000 * 4096) == full - 10000 * 4096
    # Never below zero kernel data, whatever the reservation claims.
    assert sizing.dump_bytes_from_usage(usage, 31, reserved_bytes=1 << 40) == 0
    assert sizing.dump_bytes_from_usage(usage, 0, reserved_bytes=1 << 40) == sizing.dump_bytes_from_usage(usage, 0) - full


def test_parse_mem_usage_rejects_other_output():
    with pytest.raises(ValueError, match="no page table"):
        sizing.parse_mem_usage("makedumpfile: command not found\n")


def test_ratio_table():
    assert sizing.ratio_for_level(31) == pytest.approx(0.10)
    assert sizing.ratio_for_level(0) == pytest.approx(1.0)
    assert sizing.ratio_for_level(16) == pytest.approx(0.70)
    # a retry list is sized for its first (larger) level
    assert sizing.ratio_for_level([1, 31]) == sizing.ratio_for_level(1)
    ratios = [sizing.ratio_for_level(level) for level in range(32)]
    assert all(0 < ratio <= 1 for ratio in ratios)
    # Red Hat: a -d 31 dump is usually under 10 % of RAM; our table is that upper bound.
    assert min(ratios) == sizing.ratio_for_level(31)


def test_estimate_by_ratio():
    assert sizing.estimate_by_ratio(1 << 30, 31) == (1 << 30) // 10 + 1
    assert sizing.estimate_by_ratio(1 << 30, 0) == 1 << 30


def test_out_of_range_level():
    with pytest.raises(ValueError, match="^dump_level: 32 is out of range"):
        sizing.ratio_for_level(32)


@pytest.mark.parametrize("num, text", [(10, "10 B"), (1536, "1.5 KiB"), (1610612736, "1.5 GiB")])
def test_human(num, text):
    assert sizing.human(num) == text


# ---------------------------------------------------------------- the first-run floor


@pytest.mark.parametrize(
    "level, compression, ratio",
    [
        (0, "none", 1.0),
        (0, "zlib", 0.5),
        (1, "none", 0.9),
        (1, "lzo", 0.45),
        (31, "none", 1 / 64),
        (31, "zstd", 1 / 128),
        (16, "none", 1 / 64),
        (8, "none", 1 / 64),
        ([0, 31], "none", 1 / 64),
        ([0, 1], "none", 0.9),
    ],
)
def test_floor_ratio(level, compression, ratio):
    assert sizing.floor_ratio(level, compression) == pytest.approx(ratio)


def test_floor_is_never_above_the_sizing_estimate():
    for level in range(32):
        for compression in ("none", "zlib"):
            assert sizing.floor_bytes(64 << 30, level, compression) <= sizing.estimate_by_ratio(64 << 30, level)


def test_floor_bytes_of_the_seed_trap():
    # 64 GiB, level 0, zlib: at least 32 GiB; a 1000M volume cannot hold it.
    assert sizing.floor_bytes(64 << 30, 0, "zlib") == 32 << 30
    # The e2e guest: 1 GiB at level 31 with zlib: 8 MiB.
    assert sizing.floor_bytes(1 << 30, 31, "zlib") == 8 << 20


def test_a_scan_is_reused_on_the_same_ram_within_its_age():
    usage = sizing.parse_mem_usage(MEM_USAGE)
    record = sizing.measurement(usage, 128 << 20, 4 << 30, now=1000.0)
    assert sizing.reusable(record, 4 << 30, now=1000.0 + 900, max_age=900)
    assert not sizing.reusable(record, 4 << 30, now=1000.0 + 901, max_age=900)
    assert not sizing.reusable(record, 8 << 30, now=1001.0, max_age=900)  # RAM changed
    assert not sizing.reusable(record, 4 << 30, now=999.0, max_age=900)  # clock set back
    for broken in ({}, {"usage": {}}, dict(record, measured_at="x"), dict(record, usage={"pages": [], "page_size": 1})):
        assert not sizing.reusable(broken, 4 << 30, now=1000.0, max_age=900)


def test_a_reused_scan_keeps_the_reservation_it_was_taken_under():
    """Kernel data counted a reservation that is never in a dump: the one of the scan."""
    usage = sizing.parse_mem_usage(MEM_USAGE)
    record = sizing.measurement(usage, 16 << 20, 4 << 30, now=0)
    assert sizing.dump_bytes_from_usage(record["usage"], 31, record["reserved_bytes"]) == (
        sizing.dump_bytes_from_usage(usage, 31, 0) - (16 << 20))

"""Unit tier: kdumplib.dumpvolume, the pure sizing behind kdump.dump_target."""

import pytest

from kdumplib import dumpvolume

MIB = 1 << 20


@pytest.mark.parametrize(
    "size, spec",
    [
        ("1000M", {"kind": "absolute", "bytes": 1000 * MIB}),
        ("4G", {"kind": "absolute", "bytes": 4 << 30}),
        ("auto", {"kind": "auto"}),
        ("10%RAM", {"kind": "percent_ram", "percent": 10}),
    ],
)
def test_parse_size_spec(size, spec):
    assert dumpvolume.parse_size_spec(size) == spec


@pytest.mark.parametrize("size", ["1000", 1000, "0M", "big", "0%RAM", None, True])
def test_parse_size_spec_refuses_with_the_argument_name(size):
    with pytest.raises(ValueError, match=r"^size: "):
        dumpvolume.parse_size_spec(size)


def test_auto_margin_is_a_quarter_but_at_least_64_mib():
    assert dumpvolume.auto_bytes(100 * MIB) == 164 * MIB
    assert dumpvolume.auto_bytes(1000 * MIB) == 1250 * MIB


def test_auto_holds_several_dumps_with_the_margin_on_their_total():
    # retention keep 3: the three kept and the next crash's
    assert dumpvolume.auto_bytes(100 * MIB, dumps=4) == 500 * MIB
    assert dumpvolume.auto_bytes(10 * MIB, dumps=2) == 84 * MIB
    extent = 4 * MIB
    assert dumpvolume.target_bytes({"kind": "auto"}, extent, estimate_bytes=70 * MIB, dumps=4) == 352 * MIB


@pytest.mark.parametrize("dumps", [0, -1, 1.5, "2", True, None])
def test_dumps_must_be_a_whole_number_of_at_least_one(dumps):
    with pytest.raises(ValueError, match=r"^dumps: "):
        dumpvolume.auto_bytes(100 * MIB, dumps=dumps)


def test_target_bytes_rounds_up_to_whole_extents():
    extent = 4 * MIB
    assert dumpvolume.target_bytes({"kind": "absolute", "bytes": 1001 * MIB}, extent) == 1004 * MIB
    assert dumpvolume.target_bytes({"kind": "absolute", "bytes": 1}, extent) == extent
    assert dumpvolume.target_bytes({"kind": "percent_ram", "percent": 10}, extent, mem_bytes=4096 * MIB) == 412 * MIB
    with pytest.raises(ValueError, match="size: auto needs the dump estimate"):
        dumpvolume.target_bytes({"kind": "auto"}, extent)


def test_lvm_size_arg_always_has_a_unit():
    assert dumpvolume.lvm_size_arg(1000 * MIB) == "1000M"
    assert dumpvolume.lvm_size_arg(3072) == "3K"
    assert dumpvolume.lvm_size_arg(1000) == "1000b"


@pytest.mark.parametrize("name", ["root vg", "-x", "", "..", None, "a/b"])
def test_check_lvm_name(name):
    with pytest.raises(ValueError, match=r"^vg: "):
        dumpvolume.check_lvm_name("vg", name)


def test_device_paths_double_dashes_for_device_mapper():
    assert dumpvolume.device_paths("root-vg", "crash-lv") == [
        "/dev/root-vg/crash-lv", "/dev/mapper/root--vg-crash--lv"]


def test_an_auto_volume_is_grown_only_once_half_its_margin_is_gone():
    """The estimate follows memory use: a few extents more on the next run do not grow it."""
    extent = 4 * MIB
    wanted = dumpvolume.target_bytes({"kind": "auto"}, extent, estimate_bytes=400 * MIB, dumps=2)
    assert wanted == 1000 * MIB
    assert dumpvolume.grow_below({"kind": "auto"}, wanted, estimate_bytes=400 * MIB, dumps=2) == 900 * MIB
    # 708M made for an estimate that then reads 716M worth: still over the threshold
    made = dumpvolume.target_bytes({"kind": "auto"}, extent, estimate_bytes=283 * MIB, dumps=2)
    later = dumpvolume.target_bytes({"kind": "auto"}, extent, estimate_bytes=287 * MIB, dumps=2)
    assert later > made >= dumpvolume.grow_below({"kind": "auto"}, later, estimate_bytes=287 * MIB, dumps=2)
    # fixed sizes grow to the size asked, as before
    fixed = {"kind": "absolute", "bytes": 768 * MIB}
    assert dumpvolume.grow_below(fixed, 768 * MIB) == 768 * MIB
    with pytest.raises(ValueError, match="^size: auto needs the dump estimate"):
        dumpvolume.grow_below({"kind": "auto"}, wanted)

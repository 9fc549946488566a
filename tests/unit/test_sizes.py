"""kdumplib.sizes: the kernel's memparse() units."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kdumplib import sizes


@pytest.mark.parametrize(
    "text,expected",
    [("128M", 128 << 20), ("1G", 1 << 30), ("4096k", 4 << 20), ("512", 512), ("0", 0), (" 2T ", 2 << 40)],
)
def test_parse_size(text, expected):
    assert sizes.parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "M", "12Q", "1.5G", "-1G", "ten", None, True, 1.5])
def test_parse_size_rejects_and_names_the_value(text):
    with pytest.raises(ValueError, match=repr(text).replace("(", r"\(").replace(".", r"\.")):
        sizes.parse_size(text)


def test_format_size_picks_largest_exact_unit():
    assert sizes.format_size(128 << 20) == "128M"
    assert sizes.format_size(3 << 30) == "3G"
    assert sizes.format_size(1536 << 20) == "1536M"
    assert sizes.format_size(1000) == "1000"
    assert sizes.format_size(0) == "0"


@given(st.integers(min_value=0, max_value=1 << 62))
def test_format_then_parse_is_identity(num):
    assert sizes.parse_size(sizes.format_size(num)) == num

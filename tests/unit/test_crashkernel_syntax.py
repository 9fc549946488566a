"""kdumplib.crashkernel: every kernel syntax, its errors, resolution and the default table."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kdumplib import crashkernel as ck

M = 1 << 20
G = 1 << 30


@pytest.mark.parametrize(
    "text, expected",
    [
        ("128M", {"kind": "simple", "size": 128 * M, "offset": None, "ranges": [], "modifier": None}),
        ("128M@16M", {"kind": "simple", "size": 128 * M, "offset": 16 * M, "ranges": [], "modifier": None}),
        ("512M,high", {"kind": "simple", "size": 512 * M, "offset": None, "ranges": [], "modifier": "high"}),
        ("128M,low", {"kind": "simple", "size": 128 * M, "offset": None, "ranges": [], "modifier": "low"}),
        ("0,low", {"kind": "simple", "size": 0, "offset": None, "ranges": [], "modifier": "low"}),
        ("auto", {"kind": "auto", "size": None, "offset": None, "ranges": [], "modifier": None}),
        (
            "1G-4G:192M,4G-64G:256M,64G-:512M",
            {
                "kind": "ranges",
                "size": None,
                "offset": None,
                "modifier": None,
                "ranges": [
                    {"start": G, "end": 4 * G, "size": 192 * M},
                    {"start": 4 * G, "end": 64 * G, "size": 256 * M},
                    {"start": 64 * G, "end": None, "size": 512 * M},
                ],
            },
        ),
        (
            "1G-4G:192M,4G-64G:256M@16M",
            {
                "kind": "ranges",
                "size": None,
                "offset": 16 * M,
                "modifier": None,
                "ranges": [
                    {"start": G, "end": 4 * G, "size": 192 * M},
                    {"start": 4 * G, "end": 64 * G, "size": 256 * M},
                ],
            },
        ),
    ],
)
def test_parse_every_kernel_syntax(text, expected):
    parsed = ck.parse(text)
    assert {k: v for k, v in parsed.items() if k != "value"} == expected
    assert parsed["value"] == text


def test_parse_canonicalises_units_and_case():
    assert ck.parse("1024m")["value"] == "1G"
    assert ck.parse("crashkernel=512M,HIGH")["value"] == "512M,high"
    assert ck.parse("AUTO")["value"] == "auto"


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "empty value"),
        ("128Q", "unknown suffix 'Q'"),
        ("128MB", "unknown suffix 'MB'"),
        ("abc", "is not a size"),
        ("0", "zero size"),
        ("0M@16M", "zero size"),
        ("4G-1G:128M", "start >= end"),
        ("1G-1G:128M", "start >= end"),
        ("1G-4G:0", "zero size"),
        ("2G-8G:256M,4G-:512M", "overlaps or is not sorted"),
        ("4G-:512M,1G-2G:128M", "follows an open-ended range"),
        ("4G-8G:512M,1G-2G:128M", "overlaps or is not sorted"),
        ("1G:128M", "is not start-[end]:size"),
        ("128M,middle", "unknown modifier 'middle'"),
        ("128M@16M,high", "cannot be combined"),
        ("128M@16M@32M", "more than one @offset"),
        ("128M@", "offset '' is not a size"),
        ("1G-4G:192M,high", "is not start-[end]:size"),
        ("128M 256M", "contains whitespace"),
    ],
)
def test_parse_errors_name_value_and_reason(text, reason):
    with pytest.raises(ValueError) as info:
        ck.parse(text)
    assert repr(text) in str(info.value)
    assert reason in str(info.value)


def test_parse_rejects_non_strings():
    with pytest.raises(ValueError, match="128 *: not a string"):
        ck.parse(128)


@pytest.mark.parametrize(
    "value, mem, expected",
    [
        ("128M", 512 * M, 128 * M),
        ("1G-4G:192M,4G-64G:256M,64G-:512M", 512 * M, 0),
        ("1G-4G:192M,4G-64G:256M,64G-:512M", G, 192 * M),
        ("1G-4G:192M,4G-64G:256M,64G-:512M", 4 * G - 1, 192 * M),
        ("1G-4G:192M,4G-64G:256M,64G-:512M", 4 * G, 256 * M),  # end is exclusive
        ("1G-4G:192M,4G-64G:256M,64G-:512M", 1 << 40, 512 * M),
        ("384M-:128M", 384 * M, 128 * M),
        ("384M-:128M", 384 * M - 1, 0),
        ("auto", 2 * G - 1, 0),
        ("auto", 2 * G, 160 * M + 2 * G // 16384),
        ("auto", 1 << 40, 160 * M + 64 * M),
    ],
)
def test_resolve_matches_the_kernel(value, mem, expected):
    assert ck.resolve(value, mem) == expected


@pytest.mark.parametrize(
    "os_name, family, release, first_version",
    [
        ("RedHat", "RedHat", "5.11", (5,)),
        ("CentOS", "RedHat", "6.10", (6,)),
        ("Rocky", "RedHat", "8.9", (6,)),
        ("RedHat", "RedHat", "8.10", (8, 10)),
        ("AlmaLinux", "RedHat", "9.4", (8, 10)),
        ("RedHat", "RedHat", "10.0", (10,)),
        ("Debian", "Debian", "12", (0,)),
        ("Debian", "Debian", "13.1", (13,)),
        ("Ubuntu", "Debian", "24.04", (0,)),
        ("Ubuntu", "Debian", "25.04", (24, 10)),
    ],
)
def test_recommend_picks_the_highest_row_at_or_below_the_release(os_name, family, release, first_version):
    """Which row of the ladder applies (the values themselves are cited in the table)."""
    ladder = ck.RECOMMENDATIONS.get(os_name) or ck.RECOMMENDATIONS[family]
    row = next(entry for entry in ladder if entry[0] == first_version)
    assert ck.recommend(os_name, family, release) == (row[1], row[2])


_RAM = [n * M for n in (256, 512, 768, 1024, 1536, 2048, 3072, 4096, 16384, 65536, 131072, 1 << 20)]
_ROWS = [(key, entry) for key, ladder in ck.RECOMMENDATIONS.items() for entry in ladder]


@pytest.mark.parametrize("key, entry", _ROWS, ids=[f"{k}-{'.'.join(map(str, e[0]))}" for k, e in _ROWS])
def test_every_table_row_is_sane(key, entry):
    """Properties, not a copy: valid syntax, a reservation that never shrinks as RAM grows,
    nothing reserved only below the first range, and the fallback always reserves memory."""
    first, value, origin = entry
    parsed = ck.parse(value)
    assert origin
    reserved = [ck.resolve(parsed, ram) for ram in _RAM]
    assert reserved == sorted(reserved), (value, reserved)
    smallest = parsed["ranges"][0]["start"] if parsed["kind"] == "ranges" else (
        ck.AUTO_MIN_RAM if parsed["kind"] == "auto" else 0
    )
    for ram, got in zip(_RAM, reserved):
        assert (got > 0) == (ram >= smallest), (value, ram, got)
        assert got < ram
        fixed, note = ck.working(value, ram)
        assert ck.resolve(fixed, ram) > 0
        assert (note is None) == (got > 0)
        assert fixed == (value if got else ck.MIN_WORKING)


def test_ladders_are_sorted_by_version():
    for key, ladder in ck.RECOMMENDATIONS.items():
        versions = [entry[0] for entry in ladder]
        assert versions == sorted(versions) and len(set(versions)) == len(versions), key


def test_fallback_names_the_value_and_the_ram():
    value, note = ck.working("auto", 1 * G)
    assert value == "128M" == ck.MIN_WORKING
    assert note.startswith("crashkernel=auto reserves nothing on 1.0 GiB of RAM; 128M instead")
    assert ck.working("auto", 2 * G) == ("auto", None)
    assert ck.working("1G-4G:192M", 4 * G)[0] == "128M"  # the end is exclusive


def test_recommend_unknown_distribution_names_it():
    with pytest.raises(ValueError, match="Gentoo 2.14 .*no default crashkernel"):
        ck.recommend("Gentoo", "Gentoo", "2.14")


# ---------------------------------------------------------------- properties

_units = st.sampled_from([1, 1 << 10, 1 << 20, 1 << 30])
_sizes = st.builds(lambda n, u: n * u, st.integers(1, 4096), _units)


@st.composite
def parsed_values(draw):
    kind = draw(st.sampled_from(["simple", "ranges", "auto"]))
    if kind == "auto":
        return {"kind": "auto", "size": None, "offset": None, "ranges": [], "modifier": None}
    if kind == "simple":
        modifier = draw(st.sampled_from([None, "high", "low"]))
        offset = draw(st.one_of(st.none(), _sizes)) if modifier is None else None
        return {"kind": "simple", "size": draw(_sizes), "offset": offset, "ranges": [], "modifier": modifier}
    bounds = sorted(draw(st.sets(_sizes, min_size=2, max_size=6)))
    open_end = draw(st.booleans())
    ranges = [
        {"start": start, "end": end, "size": draw(_sizes)} for start, end in zip(bounds, bounds[1:])
    ]
    if open_end:
        ranges.append({"start": bounds[-1], "end": None, "size": draw(_sizes)})
    offset = draw(st.one_of(st.none(), _sizes))
    return {"kind": "ranges", "size": None, "offset": offset, "ranges": ranges, "modifier": None}


@given(parsed_values())
def test_parse_of_format_is_identity(parsed):
    text = ck.format(parsed)
    again = ck.parse(text)
    assert {k: v for k, v in again.items() if k != "value"} == parsed
    assert again["value"] == text
    assert ck.format(again) == text

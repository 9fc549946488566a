"""kdumplib: ,high + ,low pairs (spec grammar, the kernel's choice, editors) and the scope
of /etc/default/grub (GRUB_CMDLINE_LINUX vs GRUB_CMDLINE_LINUX_DEFAULT, the guard)."""

import pathlib
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kdumplib import bootloader as bl
from kdumplib import crashkernel as ck

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "bootloader"
M = 1 << 20
G = 1 << 30


# ---------------------------------------------------------------- spec grammar


@pytest.mark.parametrize(
    "value, low, spec",
    [
        ("512M,high", "256M", "512M,high 256M,low"),
        ("512m,HIGH", "256M,low", "512M,high 256M,low"),
        ("256M,low 512M,high", None, "512M,high 256M,low"),
        (["512M,high", "0,low"], None, "512M,high 0,low"),
        ("512M,high", None, "512M,high"),
        ("1G-4G:192M,4G-:256M", None, "1G-4G:192M,4G-:256M"),
    ],
)
def test_parse_spec_canonical(value, low, spec):
    assert ck.parse_spec(value, low) == spec
    assert ck.parse_spec(spec) == spec


@pytest.mark.parametrize(
    "value, low, reason",
    [
        ("256M,low", None, "a ,low value alone reserves nothing"),
        ("512M 256M,low", None, "only as a pair"),
        ("512M,high 256M,high", None, "only as a pair"),
        ("512M,high 256M,low 1M,low", None, "only as a pair"),
        ("512M", "256M", "low: '256M' goes only with a value X,high"),
        ("512M,high", "lots", "'lots,low': size 'lots' is not a size"),
    ],
)
def test_parse_spec_refuses_what_the_kernel_would_not_read_together(value, low, reason):
    with pytest.raises(ValueError) as info:
        ck.parse_spec(value, low)
    assert reason in str(info.value)


@pytest.mark.parametrize(
    "values, spec",
    [
        ([], None),
        (["256M"], "256M"),
        (["512M,high", "256M,low"], "512M,high 256M,low"),
        (["256M,low", "512M,high"], "512M,high 256M,low"),
        (["1G,high", "128M", "256M,low"], "128M"),  # a plain value wins over both
        (["1G,high", "256M,low", "2G,high"], "2G,high 256M,low"),  # last of each kind
        (["256M,low"], "256M,low"),
    ],
)
def test_effective_is_the_kernels_choice(values, spec):
    assert ck.effective(values) == spec


def test_resolve_spec_main_part_is_what_kexec_crash_size_reports():
    assert ck.resolve_spec("512M,high 256M,low", 8 * G) == (512 * M, 256 * M)
    assert ck.resolve_spec("512M,high", 8 * G) == (512 * M, None)
    assert ck.resolve_spec("1G-4G:192M,4G-:256M", 8 * G) == (256 * M, None)


# ---------------------------------------------------------------- editors, property tests

_WORD = st.text(alphabet="abcdefgh=/0123456789.", min_size=1, max_size=8).filter(
    lambda w: not w.startswith("crashkernel")
)
_CK = st.sampled_from(["crashkernel=128M", "crashkernel=1G,high", "crashkernel=64M,low", "crashkernel=auto"])
_ARGS = st.lists(st.one_of(_WORD, _CK), max_size=8).map(" ".join)
_SPEC = st.sampled_from(["256M", "512M,high 256M,low", "1G,high 0,low", "1G-4G:192M,4G-:256M", "2G,high"])


@settings(max_examples=300, deadline=None)
@given(args=_ARGS, spec=_SPEC)
def test_set_gives_exactly_the_spec_and_keeps_every_other_word(args, spec):
    new = bl.cmdline_set(args, spec)
    assert bl.cmdline_values(new) == spec.split()
    assert bl.cmdline_effective(new) == spec
    others = [w for w in args.split() if not w.startswith("crashkernel=")]
    assert [w for w in new.split() if not w.startswith("crashkernel=")] == others
    assert bl.cmdline_set(new, spec) == new  # idempotent


@settings(max_examples=300, deadline=None)
@given(args=_ARGS, first=_SPEC, second=_SPEC)
def test_replacing_a_pair_never_leaves_half_of_it(args, first, second):
    new = bl.cmdline_set(bl.cmdline_set(args, first), second)
    assert bl.cmdline_values(new) == second.split()
    removed = bl.cmdline_remove(new)
    assert bl.cmdline_values(removed) == [] and bl.cmdline_effective(removed) is None


def test_pair_tokens_are_adjacent_where_the_first_one_was():
    assert bl.cmdline_set("ro crashkernel=1 quiet crashkernel=2", "512M,high 256M,low") == (
        "ro crashkernel=512M,high crashkernel=256M,low quiet"
    )


# ---------------------------------------------------------------- GRUB legacy and BLS


def test_grub_legacy_pair_on_every_entry_or_the_default_only():
    text = (FIXTURES / "grub.conf").read_text()
    every = bl.grub_legacy_set(text, "512M,high 256M,low")
    assert [v for _, v in bl.grub_legacy_entries(every)] == ["512M,high 256M,low"] * 3
    only = bl.grub_legacy_set(text.replace("default=0", "default=1"), "512M,high 256M,low", True)
    assert bl.grub_legacy_entries(only) == [(0, "128M@16M"), (1, "512M,high 256M,low"), (2, None)]
    assert bl.grub_legacy_configured(only) == "512M,high 256M,low"


def test_bls_set_writes_the_pair_into_options_and_removes_it():
    entry = (FIXTURES / "bls.rhel9.conf").read_text()
    new = bl.bls_set(entry, "512M,high 256M,low")
    assert bl.cmdline_values(bl.bls_options(new)) == ["512M,high", "256M,low"]
    assert [a for a, b in zip(entry.splitlines(), new.splitlines()) if a != b] == [
        line for line in entry.splitlines() if line.startswith("options ")
    ]
    assert bl.cmdline_values(bl.bls_options(bl.bls_set(new, None))) == []


def test_bls_set_refuses_kernelopts_and_entries_without_options():
    with pytest.raises(ValueError, match=r"\$kernelopts from grubenv"):
        bl.bls_set((FIXTURES / "bls.rhel8.conf").read_text(), "512M,high 256M,low")
    with pytest.raises(ValueError, match="no options line"):
        bl.bls_set("title x\nlinux /vmlinuz\n", "256M")


# ---------------------------------------------------------------- /etc/default/grub scope

GRUB = 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="ro crashkernel=384M-:128M"\n'
PACKAGE = 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT crashkernel=384M-:128M"\n'


def test_scope_all_is_grub_cmdline_linux_normal_and_recovery_entries():
    new = bl.default_grub_set(GRUB, "512M,high 256M,low", "all")
    files = [("/etc/default/grub", new)]
    assert 'GRUB_CMDLINE_LINUX="ro crashkernel=512M,high crashkernel=256M,low"' in new
    assert bl.cmdline_effective(bl.default_grub_evaluate(files)[0]) == "512M,high 256M,low"
    assert bl.cmdline_values(bl.default_grub_recovery(files)) == ["512M,high", "256M,low"]


def test_scope_default_is_grub_cmdline_linux_default_normal_entries_only():
    new = bl.default_grub_set(GRUB, "512M,high 256M,low", "default")
    files = [("/etc/default/grub", new)]
    assert new == (
        'GRUB_CMDLINE_LINUX_DEFAULT="quiet crashkernel=512M,high crashkernel=256M,low"\n'
        'GRUB_CMDLINE_LINUX="ro"\n'
    )
    assert bl.cmdline_effective(bl.default_grub_evaluate(files)[0]) == "512M,high 256M,low"
    assert bl.cmdline_values(bl.default_grub_recovery(files)) == []
    assert bl.default_grub_set(new, "512M,high 256M,low", "default") == new
    appended = bl.default_grub_set('GRUB_TIMEOUT=5\n', "256M", "default")
    assert appended.endswith('GRUB_CMDLINE_LINUX_DEFAULT="crashkernel=256M"  # kdump-formula\n')
    assert bl.default_grub_remove(appended) == 'GRUB_TIMEOUT=5\n'


def test_scope_default_guard_beats_a_package_file_and_keeps_recovery_clean():
    guard = bl.guard_text("512M,high 256M,low", "default")
    assert bl.guard_value(guard) == "512M,high 256M,low"
    assert bl.guard_text("512M", "all") == bl.GUARD_TEXT and bl.guard_value(bl.GUARD_TEXT) is None
    files = [
        ("/etc/default/grub", bl.default_grub_set(GRUB, "512M,high 256M,low", "default")),
        ("/etc/default/grub.d/kdump-tools.cfg", PACKAGE),  # restored by a package upgrade
        ("/etc/default/grub.d/other.cfg", 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX crashkernel=1G"\n'),
        (bl.GUARD_PATH, guard),
    ]
    normal = bl.default_grub_evaluate(files)[0]
    assert bl.cmdline_values(normal) == ["512M,high", "256M,low"]
    assert bl.cmdline_values(bl.default_grub_recovery(files)) == []


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")
def test_guards_evaluate_as_sh_sources_them(tmp_path):
    """The Python evaluation of each guard is what sh makes of the files, in order."""
    for scope, spec in (("default", "512M,high 256M,low"), ("all", "256M")):
        files = [
            ("/etc/default/grub", bl.default_grub_set(GRUB, spec, scope)),
            ("/etc/default/grub.d/kdump-tools.cfg", PACKAGE),
            (bl.GUARD_PATH, bl.guard_text(spec, scope)),
        ]
        script = "".join(text for _, text in files) + 'printf "%s|%s" "$GRUB_CMDLINE_LINUX" "$GRUB_CMDLINE_LINUX_DEFAULT"\n'
        (tmp_path / "s.sh").write_text(script)
        linux, default = subprocess.run(["sh", str(tmp_path / "s.sh")], capture_output=True, text=True,
                                        check=True).stdout.split("|")
        assert " ".join(p for p in (linux, default) if p) == bl.default_grub_evaluate(files)[0]
        assert linux == bl.default_grub_recovery(files)

"""kdumplib.bootloader: crashkernel= edits keep every other byte; sources evaluate in order."""

import pathlib
import shutil
import subprocess
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kdumplib import bootloader as bl

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "bootloader"


def fixture(name):
    return (FIXTURES / name).read_text(encoding="utf-8")


# ---------------------------------------------------------------- arguments


def test_cmdline_set_replaces_first_and_drops_others():
    assert bl.cmdline_set("ro crashkernel=1 quiet crashkernel=2", "256M") == "ro crashkernel=256M quiet"
    assert bl.cmdline_set("", "256M") == "crashkernel=256M"
    assert bl.cmdline_set("ro", "256M") == "ro crashkernel=256M"


def test_cmdline_remove_keeps_neighbours():
    assert bl.cmdline_remove("crashkernel=1 ro quiet") == "ro quiet"
    assert bl.cmdline_remove("ro crashkernel=1 quiet") == "ro quiet"
    assert bl.cmdline_remove("ro notcrashkernel=1") == "ro notcrashkernel=1"
    assert bl.cmdline_last("a crashkernel=1 b crashkernel=2") == "2"


# ---------------------------------------------------------------- GRUB legacy


def test_grub_legacy_set_every_kernel_line():
    text = fixture("grub.conf")
    new = bl.grub_legacy_set(text, "256M")
    assert [v for _, v in bl.grub_legacy_entries(new)] == ["256M", "256M", "256M"]
    assert "\tkernel /vmlinuz-2.6.18-8.el5 ro root=/dev/rootvg/rootlv rhgb quiet crashkernel=256M\n" in new
    assert "\tkernel /xen.gz-2.6.18-8.el5 crashkernel=256M\n" in new
    # only kernel lines differ
    changed = [(a, b) for a, b in zip(text.splitlines(), new.splitlines()) if a != b]
    assert all(b.lstrip().startswith("kernel ") for _, b in changed) and len(changed) == 3
    assert bl.grub_legacy_set(new, "256M") == new


def test_grub_legacy_default_entry_only():
    text = fixture("grub.conf").replace("default=0", "default=2")
    new = bl.grub_legacy_set(text, "256M", default_only=True)
    assert bl.grub_legacy_entries(new) == [(0, "128M@16M"), (1, None), (2, "256M")]
    assert bl.grub_legacy_configured(new) == "256M"
    assert bl.grub_legacy_entries(bl.grub_legacy_remove(new, default_only=True))[2] == (2, None)


def test_grub_legacy_default_errors_name_the_setting():
    text = fixture("grub.conf").replace("default=0", "default=7")
    with pytest.raises(ValueError, match="default=7 has no kernel line"):
        bl.grub_legacy_set(text, "256M", default_only=True)
    with pytest.raises(ValueError, match="default=saved is not an entry number"):
        bl.grub_legacy_default(text.replace("default=7", "default=saved"))


def test_grub_legacy_remove_restores_seed_without_crashkernel():
    text = fixture("grub.conf")
    stripped = bl.grub_legacy_remove(text)
    assert stripped == text.replace(" crashkernel=128M@16M", "")
    assert bl.grub_legacy_configured(stripped) is None


# ---------------------------------------------------------------- /etc/default/grub(.d)


def test_debian12_trap_kdump_tools_wins_until_neutralised():
    grub, kdump_tools = fixture("default_grub.debian12"), fixture("kdump-tools.cfg")
    new_grub = bl.default_grub_set(grub, "256M")
    assert 'GRUB_CMDLINE_LINUX="crashkernel=256M"\n' in new_grub
    cmdline, sources = bl.default_grub_evaluate(
        [("/etc/default/grub", new_grub), ("/etc/default/grub.d/kdump-tools.cfg", kdump_tools)]
    )
    assert cmdline == "crashkernel=256M quiet crashkernel=384M-:128M"
    assert bl.cmdline_last(cmdline) == "384M-:128M"  # the trap: the package's value wins
    assert [s["file"] for s in sources] == ["/etc/default/grub", "/etc/default/grub.d/kdump-tools.cfg"]
    stripped = bl.default_grub_remove(kdump_tools)
    assert stripped == 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT"\n'
    cmdline, _ = bl.default_grub_evaluate(
        [("/etc/default/grub", new_grub), ("/etc/default/grub.d/kdump-tools.cfg", stripped)]
    )
    assert bl.cmdline_values(cmdline) == ["256M"]


def test_guard_drops_a_restored_package_value():
    new_grub = bl.default_grub_set(fixture("default_grub.debian12"), "256M")
    cmdline, _ = bl.default_grub_evaluate(
        [
            ("/etc/default/grub", new_grub),
            ("/etc/default/grub.d/kdump-tools.cfg", fixture("kdump-tools.cfg")),
            (bl.GUARD_PATH, bl.GUARD_TEXT),
        ]
    )
    assert cmdline == "crashkernel=256M quiet"


def test_default_grub_set_moves_value_out_of_linux_default_and_keeps_quotes():
    text = "GRUB_CMDLINE_LINUX_DEFAULT='quiet crashkernel=1G'\nGRUB_CMDLINE_LINUX='ro'  # mine\n"
    new = bl.default_grub_set(text, "256M")
    assert new == "GRUB_CMDLINE_LINUX_DEFAULT='quiet'\nGRUB_CMDLINE_LINUX='ro crashkernel=256M'  # mine\n"
    assert bl.default_grub_set(new, "256M") == new


def test_default_grub_multiline_assignment_is_refused():
    with pytest.raises(ValueError, match="line 1: .* is not a one-line assignment"):
        bl.default_grub_set('GRUB_CMDLINE_LINUX="ro\n quiet"\n', "256M")


def test_bls_options_expand_kernelopts_from_grubenv():
    options = bl.bls_options(fixture("bls.rhel8.conf"), fixture("grubenv.rhel8"))
    assert bl.cmdline_last(options) == "auto"
    assert options.endswith("$tuned_params")
    assert bl.cmdline_last(bl.bls_options(fixture("bls.rhel9.conf"))) == "1G-4G:192M,4G-64G:256M,64G-:512M"


# ---------------------------------------------------------------- properties

_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_./-", min_size=1, max_size=12)
# Other arguments only: hypothesis does find "crashkernel" among 12-letter words, and a text
# that already reserves memory is not one that set-then-remove can give back unchanged.
_key = _word.filter(lambda word: word.lower() != "crashkernel")
_arg = st.one_of(_word, st.builds(lambda k, v: f"{k}={v}", _key, _word))
_values = st.sampled_from(["256M", "128M@16M", "1G-4G:192M,4G-:256M", "512M,high", "auto"])
_ws = st.sampled_from([" ", "  ", "\t"])


@st.composite
def kernel_args(draw, with_crashkernel):
    args = draw(st.lists(_arg, max_size=6))
    if with_crashkernel:
        args.insert(draw(st.integers(0, len(args))), "crashkernel=" + draw(_values))
    if not args:
        return ""
    return "".join(draw(_ws) + a for a in args)  # kernel lines: args follow the path after blanks


@st.composite
def grub_conf_texts(draw, with_crashkernel=False):
    lines = [draw(st.sampled_from(["# grub.conf generated by anaconda\n", "#boot=/dev/sda\n", ""]))]
    entries = draw(st.integers(1, 3))
    lines.append(f"default={draw(st.integers(0, entries - 1))}\ntimeout={draw(st.integers(0, 9))}\n")
    lines.append(draw(st.sampled_from(["hiddenmenu\n", "splashimage=(hd0,0)/grub/splash.xpm.gz\n", ""])))
    for index in range(entries):
        indent = draw(st.sampled_from(["\t", "    ", ""]))
        lines.append(f"title Linux {index}\n{indent}root (hd0,0)\n")
        args = draw(kernel_args(with_crashkernel and draw(st.booleans())))
        trailing = draw(st.sampled_from(["", " ", "\t"]))
        lines.append(f"{indent}kernel /vmlinuz-{index}{args}{trailing}\n")
        lines.append(f"{indent}initrd /initrd-{index}.img\n")
    return "".join(lines)


@st.composite
def default_grub_texts(draw, with_crashkernel=False):
    lines = []
    for name in draw(st.permutations(["GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT", "GRUB_TIMEOUT", "#"])):
        if name == "#":
            lines.append(draw(st.sampled_from(["# comment\n", "\n", "#GRUB_GFXMODE=640x480\n"])))
        elif name == "GRUB_TIMEOUT":
            lines.append(f"GRUB_TIMEOUT={draw(st.integers(0, 9))}\n")
        elif draw(st.booleans()):
            args = draw(kernel_args(with_crashkernel and draw(st.booleans()))).lstrip(" \t")
            quote = draw(st.sampled_from(['"', "'"]))
            export = draw(st.sampled_from(["", "export "]))
            comment = draw(st.sampled_from(["", "  # tuned"]))
            lines.append(f"{export}{name}={quote}{args}{quote}{comment}\n")
    return "".join(lines)


@settings(max_examples=300)
@given(grub_conf_texts(), _values, st.booleans())
def test_grub_conf_set_then_remove_is_identity(text, value, default_only):
    new = bl.grub_legacy_set(text, value, default_only)
    assert bl.grub_legacy_remove(new, default_only) == text
    targets = [v for e, v in bl.grub_legacy_entries(new) if not default_only or e == bl.grub_legacy_default(text)]
    assert targets and all(v == value for v in targets)


@settings(max_examples=300)
@given(grub_conf_texts(with_crashkernel=True), _values)
def test_grub_conf_set_touches_only_kernel_lines(text, value):
    new = bl.grub_legacy_set(text, value)
    old_lines, new_lines = text.splitlines(keepends=True), new.splitlines(keepends=True)
    assert len(old_lines) == len(new_lines)
    for old, line in zip(old_lines, new_lines):
        if old != line:
            assert line.lstrip().startswith("kernel ")
            assert bl.cmdline_values(line) == [value]
            assert bl.cmdline_remove(line) == bl.cmdline_remove(old)


@settings(max_examples=300)
@given(default_grub_texts(), _values)
def test_default_grub_set_then_remove_is_identity(text, value):
    new = bl.default_grub_set(text, value)
    cmdline, _ = bl.default_grub_evaluate([("/etc/default/grub", new)])
    assert bl.cmdline_values(cmdline) == [value]
    assert bl.default_grub_remove(new) == text


@settings(max_examples=300)
@given(default_grub_texts(with_crashkernel=True), _values)
def test_default_grub_set_is_idempotent_and_single(text, value):
    new = bl.default_grub_set(text, value)
    assert bl.default_grub_set(new, value) == new
    cmdline, _ = bl.default_grub_evaluate([("/etc/default/grub", new)])
    assert bl.cmdline_values(cmdline) == [value]
    cmdline, _ = bl.default_grub_evaluate([("/etc/default/grub", bl.default_grub_remove(new))])
    assert bl.cmdline_values(cmdline) == []


# ---------------------------------------------------------------- against independent models
#
# The editor is checked against two models it shares no code with: POSIX sh sourcing the
# defaults files in grub-mkconfig's order (what 10_linux then puts on the kernel line is
# "$GRUB_CMDLINE_LINUX $GRUB_CMDLINE_LINUX_DEFAULT"), and the kernel's rule that the last
# crashkernel= on its command line is the one it uses. Inputs carry several crashkernel=
# tokens per line and several assignments per file.

SH = shutil.which("sh")


def sourced_cmdline(texts):
    """The kernel arguments sh gets by sourcing ``texts`` in order (as grub-mkconfig does)."""
    script = "".join(f". \"$1/{index}.cfg\"\n" for index in range(len(texts)))
    script += 'printf "%s %s" "$GRUB_CMDLINE_LINUX" "$GRUB_CMDLINE_LINUX_DEFAULT"\n'
    with tempfile.TemporaryDirectory() as tmp:
        for index, text in enumerate(texts):
            pathlib.Path(tmp, f"{index}.cfg").write_text(text)
        out = subprocess.run(
            [SH, "-c", script, "sh", tmp], capture_output=True, text=True, check=True,
            env={"PATH": "/usr/bin:/bin"},
        ).stdout
    return out.split()


def kernel_crashkernel(tokens):
    """The kernel's choice: the value of the last crashkernel= token, or None."""
    values = [token[len("crashkernel="):] for token in tokens if token.startswith("crashkernel=")]
    return values[-1] if values else None


def others(tokens):
    return [token for token in tokens if not token.startswith("crashkernel=")]


_plain_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_./-", min_size=1, max_size=8).filter(
    lambda word: not word.startswith("crashkernel")
)
_token = st.one_of(
    _plain_word,
    st.builds(lambda k, v: f"{k}={v}", _plain_word, _plain_word),
    _values.map(lambda value: "crashkernel=" + value),
)


@st.composite
def assignment(draw, names=("GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT")):
    name = draw(st.sampled_from(names))
    tokens = draw(st.lists(_token, max_size=5))
    quote = draw(st.sampled_from(['"', "'"]))
    if quote == '"' and draw(st.booleans()):
        tokens = [f"${name}"] + tokens  # append to what earlier lines or files gave
    export = draw(st.sampled_from(["", "export "]))
    return f"{export}{name}={quote}{' '.join(tokens)}{quote}\n"


@st.composite
def defaults_file(draw, names=("GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT")):
    lines = draw(st.lists(st.one_of(assignment(names), st.sampled_from(["# note\n", "\n", "GRUB_TIMEOUT=5\n"])), max_size=6))
    return "".join(lines)


@settings(max_examples=150, deadline=None)
@given(defaults_file())
def test_default_grub_evaluate_agrees_with_sh(text):
    cmdline, _ = bl.default_grub_evaluate([("/etc/default/grub", text)])
    assert cmdline.split() == sourced_cmdline([text])


@settings(max_examples=150, deadline=None)
@given(defaults_file(), st.lists(defaults_file(names=("GRUB_CMDLINE_LINUX_DEFAULT",)), max_size=3), _values)
def test_set_across_files_gives_the_kernel_exactly_the_value(grub, grub_d, value):
    """/etc/default/grub edited with default_grub_set, every grub.d file with
    default_grub_remove (what crashkernel.set plans): sh sees one crashkernel=, the value, and
    every other argument exactly as before, in order."""
    before = sourced_cmdline([grub, *grub_d])
    edited = [bl.default_grub_set(grub, value)] + [bl.default_grub_remove(text) for text in grub_d]
    after = sourced_cmdline(edited)
    assert [token for token in after if token.startswith("crashkernel=")] == [f"crashkernel={value}"]
    assert kernel_crashkernel(after) == value
    assert others(after) == others(before)


@settings(max_examples=150, deadline=None)
@given(defaults_file(), st.lists(defaults_file(names=("GRUB_CMDLINE_LINUX_DEFAULT",)), max_size=3), _values)
def test_guard_wins_over_later_package_values(grub, grub_d, value):
    """The guard file, sourced last, drops any crashkernel= a grub.d file adds back (a package
    upgrade restoring kdump-tools.cfg), whatever the other files do."""
    texts = [bl.default_grub_set(grub, value), *grub_d, bl.GUARD_TEXT]
    tokens = sourced_cmdline(texts)
    assert kernel_crashkernel(tokens) == value
    cmdline, _ = bl.default_grub_evaluate([(f"/f{index}", text) for index, text in enumerate(texts)])
    assert cmdline.split() == tokens


@settings(max_examples=300)
@given(st.lists(_token, max_size=8), _values)
def test_cmdline_set_with_several_tokens_against_the_kernel_rule(tokens, value):
    args = " ".join(tokens)
    new = bl.cmdline_set(args, value)
    assert kernel_crashkernel(new.split()) == value
    assert [token for token in new.split() if token.startswith("crashkernel=")] == [f"crashkernel={value}"]
    assert others(new.split()) == others(tokens)
    assert bl.cmdline_last(args) == kernel_crashkernel(tokens)
    assert others(bl.cmdline_remove(args).split()) == others(tokens)
    assert "crashkernel=" not in bl.cmdline_remove(args)

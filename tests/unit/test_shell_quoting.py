"""Values written into shell-sourced files (/etc/default/kdump-tools, /etc/sysconfig/kdump)
come back byte for byte when a real /bin/sh or bash sources the file, and run nothing; what
the validator accepts renders and parses back to the same settings on every family."""

import os
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, assume, given, settings as hsettings, strategies as st

from kdumplib import kdumpconf, schema

SHELLS = [shell for shell in ("/bin/sh", "/bin/bash") if os.path.exists(shell)]
SLOW = hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Text that tries hardest to escape quoting: every shell metacharacter, quotes, blanks,
# line breaks, NUL, non-ASCII, plus arbitrary Unicode.
NASTY = st.text(alphabet=st.sampled_from(list("$`\\\"'!;&|<>()[]{}*?~#= \t\n\r\x00aZ9/.-_é\u2028")), max_size=30)
VALUES = st.one_of(NASTY, st.text(max_size=30))


def written(value):
    """The writer's line for ``value``, or None when it refuses the value."""
    try:
        return kdumpconf.shell_line("VALUE", value)
    except ValueError:
        return None


def source(shell, directory, text):
    path = directory / "conf"
    path.write_bytes(text.encode("utf-8"))
    proc = subprocess.run(
        [shell, "-c", '. ./conf; printf %s "$VALUE"'],
        cwd=directory, capture_output=True, check=False, env={"PATH": os.environ["PATH"], "LC_ALL": "C"},
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.skipif(not SHELLS, reason="no /bin/sh")
@SLOW
@given(value=VALUES)
def test_sourcing_yields_exactly_the_value_and_runs_nothing(tmp_path, value):
    line = written(value)
    assume(line is not None)
    canary = tmp_path / "canary"
    for shell in SHELLS:
        # A value that expands $(...) or `...` would create the canary.
        probe = value.replace("CANARY", str(canary))
        probe_line = written(probe)
        assert source(shell, tmp_path, line + "\n") == value.encode("utf-8"), (shell, line)
        if probe_line is not None:
            source(shell, tmp_path, probe_line + "\n")
    assert not canary.exists()


@pytest.mark.parametrize("trap", ["$(touch CANARY)", "`touch CANARY`", "x; touch CANARY", "'; touch CANARY; '", '"; touch CANARY; "', "$((1+1))${HOME}\\"])
@pytest.mark.parametrize("shell", SHELLS)
def test_command_substitution_is_not_run(tmp_path, shell, trap):
    canary = tmp_path / "canary"
    value = trap.replace("CANARY", str(canary))
    assert source(shell, tmp_path, kdumpconf.shell_line("VALUE", value) + "\n") == value.encode()
    assert not canary.exists()


@given(value=VALUES)
@hsettings(max_examples=300, deadline=None)
def test_the_parser_reads_back_exactly_what_the_writer_wrote(value):
    line = written(value)
    assume(line is not None)
    assert kdumpconf._last_values("shell", line + "\n") == {"VALUE": value}


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\x00b", "a\u2028b", "\ud800"])
def test_values_no_line_can_hold_are_refused(value):
    with pytest.raises(ValueError, match="^VALUE: "):
        kdumpconf.shell_line("VALUE", value)


# ---------------------------------------------------------------- validated settings round-trip

_PLAIN = "abcXYZ019_.+,@%:=-"
segments = st.text(alphabet=_PLAIN, min_size=1, max_size=8).filter(lambda s: s not in (".", ".."))
paths = st.lists(segments, min_size=1, max_size=3).map(lambda parts: "/" + "/".join(parts))
labels = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?\Z")
hosts = st.lists(labels, min_size=1, max_size=3).map(".".join)
users = st.from_regex(r"\A[a-z_][a-z0-9_.-]{0,8}\Z")
tokens = st.text(alphabet=_PLAIN + "/", min_size=1, max_size=10).filter(
    lambda t: t not in ("-d", "-c", "-l", "-p", "-z", "-F") and not t.startswith("-d")
)
args = st.lists(tokens, max_size=3).map(" ".join)


@st.composite
def target_settings(draw, family):
    kinds = {"RedHat": ["local", "device", "nfs", "ssh", "raw"], "Debian": ["local", "nfs", "ssh"], "Suse": ["local", "nfs", "ssh"]}
    kind = draw(st.sampled_from(kinds[family]))
    target = {"type": kind, "path": draw(paths)}
    if kind in ("device", "raw"):
        target["device"] = "/dev" + draw(paths)
    if kind == "device":
        target["fstype"] = draw(st.sampled_from(schema.TARGET_FSTYPES))
    if kind == "nfs":
        target["host"] = f"{draw(hosts)}:{draw(paths)}"
    if kind == "ssh":
        target.update(host=draw(hosts), user=draw(users), sshkey=draw(st.one_of(st.none(), paths)))
    return target


@st.composite
def family_settings(draw):
    family = draw(st.sampled_from(["RedHat", "Debian", "Suse"]))
    settings = {
        "target": draw(target_settings(family)),
        "collector": {"dump_level": draw(st.integers(0, 31)), "compression": draw(st.sampled_from(schema.COMPRESSIONS))},
    }
    if family != "Suse":
        settings["collector"]["extra_args"] = draw(args)
    if family == "RedHat":
        settings["failure_action"] = draw(st.sampled_from(schema.FAILURE_ACTIONS))
        settings["initrd"] = {"extra_args": draw(args), "extra_modules": draw(st.lists(st.from_regex(r"\A[a-z0-9_-]{1,10}\Z"), max_size=3))}
        settings["hooks"] = {"pre": draw(st.one_of(st.none(), paths)), "post": draw(st.one_of(st.none(), paths))}
    else:
        settings["failure_action"] = draw(st.sampled_from(["reboot", "halt", "poweroff"] if family == "Debian" else ["reboot", "shell"]))
        settings["capture_cmdline_append"] = draw(st.one_of(st.none(), args))
    if family == "Suse":
        settings["hooks"] = {"pre": draw(st.one_of(st.none(), paths)), "post": draw(st.one_of(st.none(), paths))}
    return family, settings


def _comparable(family, settings):
    """What the family's file can say: Suse's nfs URL carries the export and path joined."""
    settings = dict(settings, target=dict(settings["target"]))
    if family == "Suse" and settings["target"]["type"] == "nfs":
        server, export = settings["target"]["host"].split(":", 1)
        path = settings["target"]["path"]
        settings["target"].update(host=f"{server}:{export.rstrip('/')}{'' if path == '/' else path}", path="/")
    return settings


@given(case=family_settings())
@hsettings(max_examples=150, deadline=None)
def test_validated_settings_render_and_parse_back(case):
    family, raw = case
    try:
        settings = schema.validate_settings(raw)
    except ValueError:
        assume(False)
    text = kdumpconf.render(family, settings)
    parsed = kdumpconf.parse(family, text)
    expected = _comparable(family, settings)
    if family == "Debian":
        for section in ("initrd", "hooks"):
            parsed[section] = expected[section]
    if family == "Suse":
        parsed["initrd"] = expected["initrd"]
        expected["collector"]["extra_args"] = ""
    if family == "RedHat":
        expected["capture_cmdline_append"] = None
    assert parsed == expected, text


@pytest.mark.skipif(not shutil.which("sh"), reason="no sh")
@given(case=family_settings())
@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_rendered_shell_file_sources_to_the_rendered_values(tmp_path, case):
    family, raw = case
    assume(family != "RedHat")
    try:
        settings = schema.validate_settings(raw)
    except ValueError:
        assume(False)
    text = kdumpconf.render(family, settings)
    values = kdumpconf._last_values("shell", text)
    (tmp_path / "conf").write_text(text, encoding="utf-8")
    names = sorted(values)
    script = ". ./conf; " + "; ".join(f'printf "%s\\0" "${name}"' for name in names)
    proc = subprocess.run(["sh", "-c", script], cwd=tmp_path, capture_output=True, check=True)
    assert proc.stdout.decode().split("\0")[:-1] == [values[name] for name in names]

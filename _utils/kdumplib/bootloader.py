"""Pure text editing of boot-loader configuration for the ``crashkernel=`` argument.

Every function takes and returns text; nothing here reads or writes files. Edits touch only
the ``crashkernel=`` tokens: every other byte of the input is kept.

* kernel argument strings: :func:`cmdline_values`, :func:`cmdline_set`, :func:`cmdline_remove`
One section per backend of ``crashkernel.BACKENDS``:

* grub-legacy, ``grub.conf``: ``kernel`` lines, optionally only the ``default=N`` entry
* grub2-default, ``/etc/default/grub`` and ``/etc/default/grub.d/*.cfg``: the shell
  assignments of ``GRUB_CMDLINE_LINUX`` / ``GRUB_CMDLINE_LINUX_DEFAULT``, evaluated in order
* grubby, BLS entries (``/boot/loader/entries/*.conf``) and ``grubenv`` (read only; grubby
  edits them)
"""

import re
import shlex

from kdumplib import crashkernel as ck_syntax
from kdumplib import kdumpconf

_TOKEN = re.compile(r"(?<!\S)crashkernel=(\S*)")

# --------------------------------------------------------------------------- arguments


def cmdline_values(args):
    """Every ``crashkernel=`` value in a kernel argument string, in order."""
    return _TOKEN.findall(args or "")


def cmdline_last(args):
    """The last ``crashkernel=`` value, or None (see :func:`cmdline_effective`)."""
    values = cmdline_values(args)
    return values[-1] if values else None


def cmdline_effective(args):
    """The spec the kernel uses (``kdumplib.crashkernel.effective``): the last plain
    ``crashkernel=``, else the last ``,high`` with the last ``,low`` (``"512M,high 256M,low"``)."""
    return ck_syntax.effective(cmdline_values(args))


def spec_args(value):
    """``"512M,high 256M,low"`` → ``"crashkernel=512M,high crashkernel=256M,low"``."""
    return " ".join(f"crashkernel={token}" for token in value.split())


def cmdline_remove(args):
    """Drop every ``crashkernel=`` token with the one separator before it (or the spaces
    after it when it opens the string)."""
    out = args
    while True:
        match = _TOKEN.search(out)
        if not match:
            return out
        start, end = match.span()
        if start > 0:
            start -= 1
        else:
            while end < len(out) and out[end] in " \t":
                end += 1
        out = out[:start] + out[end:]


def cmdline_set(args, value):
    """Exactly the tokens of the spec ``value`` (one ``crashkernel=``, or a ``,high`` + ``,low``
    pair, adjacent): they replace the first existing token in place and every other one is
    dropped; with none, they are appended after one space."""
    tokens = spec_args(value)
    match = _TOKEN.search(args)
    if not match:
        return f"{args} {tokens}" if args else tokens
    head = args[: match.start()] + tokens
    return head + cmdline_remove(args[match.end():])


# --------------------------------------------------------------------------- GRUB legacy

_LEGACY_KERNEL = re.compile(r"^(?P<head>[ \t]*kernel[ \t]+\S+)(?P<args>.*?)(?P<tail>[ \t]*\r?\n?)$")
_LEGACY_TITLE = re.compile(r"^[ \t]*title\b")
_LEGACY_DEFAULT = re.compile(r"^[ \t]*default[ \t]*[= \t][ \t]*(\S+)")


def grub_legacy_default(text):
    """The ``default=N`` entry index of a grub.conf (0 when absent)."""
    for line in text.splitlines():
        if _LEGACY_TITLE.match(line):
            break
        match = _LEGACY_DEFAULT.match(line)
        if match:
            if not match.group(1).isdigit():
                raise ValueError(f"/boot/grub/grub.conf: default={match.group(1)} is not an entry number")
            return int(match.group(1))
    return 0


def _legacy_kernel_lines(text):
    """(line index, entry index) of every ``kernel`` line inside a ``title`` entry."""
    entry = -1
    found = []
    for index, line in enumerate(text.splitlines(keepends=True)):
        if _LEGACY_TITLE.match(line):
            entry += 1
        elif entry >= 0 and _LEGACY_KERNEL.match(line):
            found.append((index, entry))
    return found


def _legacy_edit(text, edit, default_only):
    lines = text.splitlines(keepends=True)
    targets = _legacy_kernel_lines(text)
    if default_only:
        default = grub_legacy_default(text)
        targets = [t for t in targets if t[1] == default]
        if not targets:
            raise ValueError(f"/boot/grub/grub.conf: default={default} has no kernel line")
    for index, _ in targets:
        match = _LEGACY_KERNEL.match(lines[index])
        args = match.group("args")
        new_args = edit(args)
        if not args and new_args:
            new_args = " " + new_args
        lines[index] = match.group("head") + new_args + match.group("tail")
    return "".join(lines)


def grub_legacy_set(text, value, default_only=False):
    """grub.conf with ``crashkernel=value`` on every kernel line (or the default entry's)."""
    return _legacy_edit(text, lambda args: cmdline_set(args, value), default_only)


def grub_legacy_remove(text, default_only=False):
    """grub.conf without ``crashkernel=`` on every kernel line (or the default entry's)."""
    return _legacy_edit(text, cmdline_remove, default_only)


def grub_legacy_entries(text):
    """``[(entry index, crashkernel value or None)]`` of every kernel line."""
    lines = text.splitlines(keepends=True)
    return [
        (entry, cmdline_effective(_LEGACY_KERNEL.match(lines[index]).group("args")))
        for index, entry in _legacy_kernel_lines(text)
    ]


def grub_legacy_configured(text):
    """The crashkernel value of the default entry: what the next boot gets."""
    default = grub_legacy_default(text)
    for entry, value in grub_legacy_entries(text):
        if entry == default:
            return value
    return None


# --------------------------------------------------------------------------- /etc/default/grub

CMDLINE_VARS = ("GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT")
_ASSIGN = re.compile(
    r"^(?P<lead>[ \t]*(?:export[ \t]+)?)(?P<name>GRUB_CMDLINE_LINUX(?:_DEFAULT)?)="
    r"(?:\"(?P<dq>[^\"]*)\"|'(?P<sq>[^']*)'|(?P<bare>[^\s#\"';]*))"
    r"(?P<tail>(?:[ \t;#][^\n]*)?\n?)$"
)
_EXPAND = re.compile(r"\$(?:\{(\w+)\}|(\w+))")

#: The boot loaders' files (the crashkernel module's backends and the grains read them).
GRUB_LEGACY_CONF = "/boot/grub/grub.conf"
DEFAULT_GRUB = "/etc/default/grub"
DEFAULT_GRUB_D = "/etc/default/grub.d"
BLS_DIR = "/boot/loader/entries"
GRUBENV = "/boot/grub2/grubenv"
GRUB2_CFGS = ("/boot/grub2/grub.cfg", "/boot/grub/grub.cfg")

APPENDED_MARK = "  # kdump-formula"
GUARD_PATH = "/etc/default/grub.d/zz-kdump-formula.cfg"
GUARD_MARKER = "# kdump-formula crashkernel guard"
def _drop_crashkernel_sh(var):
    """Shell lines that leave ``$_kdf_args`` = the words of ``$var`` without any
    ``crashkernel=`` (the guard files run them on both GRUB_CMDLINE_LINUX variables)."""
    return (
        '_kdf_args=""\n'
        f"for _kdf_arg in ${var}; do\n"
        '    case "$_kdf_arg" in\n'
        "        crashkernel=*) ;;\n"
        '        *) _kdf_args="${_kdf_args:+$_kdf_args }$_kdf_arg" ;;\n'
        "    esac\n"
        "done\n"
    )


GUARD_TEXT = f"""{GUARD_MARKER}
# Managed by kdump-formula (crashkernel.set). crashkernel= is set once, in
# GRUB_CMDLINE_LINUX of /etc/default/grub. This file is sourced after every other
# /etc/default/grub.d/*.cfg and drops any crashkernel= another file (e.g. kdump-tools.cfg,
# restored by a package upgrade) adds to GRUB_CMDLINE_LINUX_DEFAULT, so the kernel command
# line never carries two.
{_drop_crashkernel_sh('GRUB_CMDLINE_LINUX_DEFAULT')}GRUB_CMDLINE_LINUX_DEFAULT="$_kdf_args"
unset _kdf_args _kdf_arg
"""

GUARD_VALUE_VAR = "_kdf_crashkernel"


def guard_text(value=None, scope="all"):
    """The guard file for a scope: ``all`` (or no value) is :data:`GUARD_TEXT`; ``default``
    also carries the value, drops ``crashkernel=`` from ``GRUB_CMDLINE_LINUX`` (so recovery
    entries get none) and appends the value last to ``GRUB_CMDLINE_LINUX_DEFAULT``, after any
    package file. The value line is written by ``kdumpconf.shell_line``."""
    if scope == "all" or not value:
        return GUARD_TEXT
    assignment = kdumpconf.shell_line(GUARD_VALUE_VAR, spec_args(value))
    return f"""{GUARD_MARKER}
# Managed by kdump-formula (crashkernel.set, scope default). crashkernel= goes on the normal
# boot entries only (GRUB_CMDLINE_LINUX_DEFAULT), not on recovery entries. This file is sourced
# after every other /etc/default/grub.d/*.cfg: it drops any crashkernel= from both variables
# and appends the formula's value, so the kernel command line carries it exactly once.
{assignment}
{_drop_crashkernel_sh('GRUB_CMDLINE_LINUX')}GRUB_CMDLINE_LINUX="$_kdf_args"
{_drop_crashkernel_sh('GRUB_CMDLINE_LINUX_DEFAULT')}GRUB_CMDLINE_LINUX_DEFAULT="${{_kdf_args:+$_kdf_args }}${GUARD_VALUE_VAR}"
unset _kdf_args _kdf_arg {GUARD_VALUE_VAR}
"""


def _assignments(text):
    """``[(line index, match)]`` of the cmdline assignments in a shell defaults file."""
    found = []
    for index, line in enumerate(text.splitlines(keepends=True)):
        match = _ASSIGN.match(line)
        if match:
            found.append((index, match))
        elif re.match(r"^[ \t]*(?:export[ \t]+)?GRUB_CMDLINE_LINUX(?:_DEFAULT)?=", line):
            raise ValueError(f"line {index + 1}: {line.strip()!r} is not a one-line assignment")
    return found


def _literal(match):
    for group in ("dq", "sq", "bare"):
        if match.group(group) is not None:
            return group, match.group(group)
    return "bare", ""


def _render(match, group, value):
    if group == "dq" or (group == "bare" and re.search(r"\s", value)):
        quoted = f'"{value}"'
    elif group == "sq":
        quoted = f"'{value}'"
    else:
        quoted = value
    return f"{match.group('lead')}{match.group('name')}={quoted}{match.group('tail')}"


def _edit_assignments(text, edit, target="GRUB_CMDLINE_LINUX"):
    """Apply ``edit(name, literal, is_last_target) -> literal`` to every assignment."""
    lines = text.splitlines(keepends=True)
    found = _assignments(text)
    last = max((i for i, m in found if m.group("name") == target), default=None)
    for index, match in found:
        group, literal = _literal(match)
        new = edit(match.group("name"), literal, index == last)
        if new != literal:
            lines[index] = _render(match, group, new)
    return "".join(lines), last


#: Where each scope puts crashkernel= in /etc/default/grub: GRUB_CMDLINE_LINUX reaches every
#: entry grub-mkconfig writes (normal and recovery); GRUB_CMDLINE_LINUX_DEFAULT only the normal
#: entries (10_linux leaves it off "recovery mode" ones), of every kernel.
SCOPE_VARIABLE = {"all": "GRUB_CMDLINE_LINUX", "default": "GRUB_CMDLINE_LINUX_DEFAULT"}


def default_grub_set(text, value, scope="all"):
    """``/etc/default/grub`` with the spec ``value`` once, in the last assignment of the scope's
    variable (:data:`SCOPE_VARIABLE`; appended when there is none) and nowhere else in the file."""
    variable = SCOPE_VARIABLE[scope]

    def edit(name, literal, is_last):
        if is_last:
            return cmdline_set(literal, value)
        return cmdline_remove(literal)

    new, last = _edit_assignments(text, edit, variable)
    if last is None:
        if new and not new.endswith("\n"):
            new += "\n"
        new += f'{variable}="{spec_args(value)}"{APPENDED_MARK}\n'
    return new


def default_grub_remove(text):
    """A defaults file without any ``crashkernel=``; the line that
    :func:`default_grub_set` appended (marked ``# kdump-formula``) is dropped whole."""
    lines = text.splitlines(keepends=True)
    drop = set()
    for index, match in _assignments(text):
        _, literal = _literal(match)
        if (
            cmdline_values(literal)
            and not cmdline_remove(literal).strip()
            and match.group("tail") == APPENDED_MARK + "\n"
        ):
            drop.add(index)
    kept = "".join(line for index, line in enumerate(lines) if index not in drop)
    new, _ = _edit_assignments(kept, lambda name, literal, last: cmdline_remove(literal))
    return new


def _expand(literal, env):
    return _EXPAND.sub(lambda m: env.get(m.group(1) or m.group(2), ""), literal)


def _strip(args):
    return " ".join(arg for arg in args.split() if not arg.startswith("crashkernel="))


def guard_value(text):
    """The spec a scope-``default`` guard appends (None: the plain guard, or not a guard)."""
    if GUARD_MARKER not in text:
        return None
    for line in text.splitlines():
        if line.startswith(GUARD_VALUE_VAR + "="):
            words = shlex.split(line[len(GUARD_VALUE_VAR) + 1:])
            return " ".join(word[len("crashkernel="):] for word in " ".join(words).split()) or None
    return None


def default_grub_env(files):
    """Evaluate the defaults files as grub-mkconfig sources them.

    ``files``: ``[(path, text)]`` in sourcing order (``/etc/default/grub``, then
    ``/etc/default/grub.d/*.cfg`` sorted). Returns ``(env, sources)``: the final
    ``GRUB_CMDLINE_LINUX`` / ``GRUB_CMDLINE_LINUX_DEFAULT`` and ``[{"file", "variable",
    "value"}]`` for every literal ``crashkernel=`` in the files (and a guard's own value).
    """
    env = {name: "" for name in CMDLINE_VARS}
    sources = []
    for path, text in files:
        if GUARD_MARKER in text:
            env["GRUB_CMDLINE_LINUX_DEFAULT"] = _strip(env["GRUB_CMDLINE_LINUX_DEFAULT"])
            value = guard_value(text)
            if value:
                env["GRUB_CMDLINE_LINUX"] = _strip(env["GRUB_CMDLINE_LINUX"])
                env["GRUB_CMDLINE_LINUX_DEFAULT"] = " ".join(
                    part for part in (env["GRUB_CMDLINE_LINUX_DEFAULT"], spec_args(value)) if part
                )
                for token in value.split():
                    sources.append({"file": path, "variable": "GRUB_CMDLINE_LINUX_DEFAULT", "value": token})
            continue
        for _, match in _assignments(text):
            group, literal = _literal(match)
            name = match.group("name")
            for value in cmdline_values(literal):
                sources.append({"file": path, "variable": name, "value": value})
            env[name] = literal if group == "sq" else _expand(literal, env)
    return env, sources


def default_grub_evaluate(files):
    """``(cmdline, sources)`` of :func:`default_grub_env`: ``cmdline`` is what 10_linux puts on
    a normal entry (``GRUB_CMDLINE_LINUX GRUB_CMDLINE_LINUX_DEFAULT``)."""
    env, sources = default_grub_env(files)
    cmdline = " ".join(part for part in (env["GRUB_CMDLINE_LINUX"], env["GRUB_CMDLINE_LINUX_DEFAULT"]) if part)
    return cmdline, sources


def default_grub_recovery(files):
    """What 10_linux puts on a recovery entry: ``GRUB_CMDLINE_LINUX`` alone."""
    return default_grub_env(files)[0]["GRUB_CMDLINE_LINUX"]


# --------------------------------------------------------------------------- BLS / grubenv


def grubenv_values(text):
    """``key=value`` pairs of a grubenv block (padding ``#`` lines ignored)."""
    values = {}
    for line in (text or "").splitlines():
        if line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key] = value
    return values


def bls_set(entry_text, value):
    """A BLS entry with exactly the spec ``value`` on its ``options`` line (the first one;
    ``crashkernel=`` dropped from any other); None/empty ``value`` removes every token.
    ValueError for ``$kernelopts`` (RHEL 8: the arguments live in grubenv, grubby's to edit)
    and for an entry without ``options``."""
    lines = entry_text.splitlines(keepends=True)
    found = [i for i, line in enumerate(lines) if re.match(r"^[ \t]*options(?:[ \t]|$)", line)]
    if not found:
        raise ValueError("the BLS entry has no options line")
    for position, index in enumerate(found):
        match = re.match(r"^(?P<head>[ \t]*options[ \t]*)(?P<args>.*?)(?P<tail>[ \t]*\r?\n?)$", lines[index])
        args = match.group("args")
        if "$kernelopts" in args or "${kernelopts}" in args:
            raise ValueError("options use $kernelopts from grubenv: only grubby can edit them")
        new = cmdline_set(args, value) if value and position == 0 else cmdline_remove(args)
        head = match.group("head")
        if new and not head[-1:].isspace():
            head += " "
        lines[index] = head + new + match.group("tail")
    return "".join(lines)


def bls_options(entry_text, grubenv=None):
    """The kernel arguments of a BLS entry, ``$kernelopts`` expanded from grubenv (RHEL 8)."""
    env = grubenv_values(grubenv)
    options = []
    for line in entry_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("options ") or stripped == "options":
            options.append(stripped[len("options"):].strip())
    joined = " ".join(options)
    return _EXPAND.sub(lambda m: env.get(m.group(1) or m.group(2), m.group(0)), joined)

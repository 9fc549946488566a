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

_TOKEN = re.compile(r"(?<!\S)crashkernel=(\S*)")

# --------------------------------------------------------------------------- arguments


def cmdline_values(args):
    """Every ``crashkernel=`` value in a kernel argument string, in order."""
    return _TOKEN.findall(args or "")


def cmdline_last(args):
    """The value the kernel uses (the last ``crashkernel=``), or None."""
    values = cmdline_values(args)
    return values[-1] if values else None


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
    """Exactly one ``crashkernel=value``: the first existing token is rewritten in place and
    the others dropped; with none, it is appended after one space."""
    match = _TOKEN.search(args)
    if not match:
        return f"{args} crashkernel={value}" if args else f"crashkernel={value}"
    head = args[: match.start()] + f"crashkernel={value}"
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
        (entry, cmdline_last(_LEGACY_KERNEL.match(lines[index]).group("args")))
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

APPENDED_MARK = "  # kdump-formula"
GUARD_PATH = "/etc/default/grub.d/zz-kdump-formula.cfg"
GUARD_MARKER = "# kdump-formula crashkernel guard"
GUARD_TEXT = f"""{GUARD_MARKER}
# Managed by kdump-formula (crashkernel.set). crashkernel= is set once, in
# GRUB_CMDLINE_LINUX of /etc/default/grub. This file is sourced after every other
# /etc/default/grub.d/*.cfg and drops any crashkernel= another file (e.g. kdump-tools.cfg,
# restored by a package upgrade) adds to GRUB_CMDLINE_LINUX_DEFAULT, so the kernel command
# line never carries two.
_kdf_args=""
for _kdf_arg in $GRUB_CMDLINE_LINUX_DEFAULT; do
    case "$_kdf_arg" in
        crashkernel=*) ;;
        *) _kdf_args="${{_kdf_args:+$_kdf_args }}$_kdf_arg" ;;
    esac
done
GRUB_CMDLINE_LINUX_DEFAULT="$_kdf_args"
unset _kdf_args _kdf_arg
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


def _edit_assignments(text, edit):
    """Apply ``edit(name, literal, is_last_linux) -> literal`` to every assignment."""
    lines = text.splitlines(keepends=True)
    found = _assignments(text)
    last_linux = max((i for i, m in found if m.group("name") == "GRUB_CMDLINE_LINUX"), default=None)
    for index, match in found:
        group, literal = _literal(match)
        new = edit(match.group("name"), literal, index == last_linux)
        if new != literal:
            lines[index] = _render(match, group, new)
    return "".join(lines), last_linux


def default_grub_set(text, value):
    """``/etc/default/grub`` with ``crashkernel=value`` once, in the last
    ``GRUB_CMDLINE_LINUX`` (appended when there is none) and nowhere else in the file."""

    def edit(name, literal, is_last_linux):
        if is_last_linux:
            return cmdline_set(literal, value)
        return cmdline_remove(literal)

    new, last_linux = _edit_assignments(text, edit)
    if last_linux is None:
        if new and not new.endswith("\n"):
            new += "\n"
        new += f'GRUB_CMDLINE_LINUX="crashkernel={value}"{APPENDED_MARK}\n'
    return new


def default_grub_remove(text):
    """A defaults file without any ``crashkernel=``; the ``GRUB_CMDLINE_LINUX`` line that
    :func:`default_grub_set` appended (marked ``# kdump-formula``) is dropped whole."""
    lines = text.splitlines(keepends=True)
    drop = set()
    for index, match in _assignments(text):
        _, literal = _literal(match)
        if (
            match.group("name") == "GRUB_CMDLINE_LINUX"
            and cmdline_values(literal)
            and not cmdline_remove(literal).strip()
            and match.group("tail") == APPENDED_MARK + "\n"
        ):
            drop.add(index)
    kept = "".join(line for index, line in enumerate(lines) if index not in drop)
    new, _ = _edit_assignments(kept, lambda name, literal, last: cmdline_remove(literal))
    return new


def _expand(literal, env):
    return _EXPAND.sub(lambda m: env.get(m.group(1) or m.group(2), ""), literal)


def default_grub_evaluate(files):
    """Evaluate the defaults files as grub-mkconfig sources them.

    ``files``: ``[(path, text)]`` in sourcing order (``/etc/default/grub``, then
    ``/etc/default/grub.d/*.cfg`` sorted). Returns ``(cmdline, sources)``: the arguments
    10_linux puts on a normal entry (``GRUB_CMDLINE_LINUX GRUB_CMDLINE_LINUX_DEFAULT``) and
    ``[{"file", "variable", "value"}]`` for every literal ``crashkernel=`` in the files.
    """
    env = {name: "" for name in CMDLINE_VARS}
    sources = []
    for path, text in files:
        if GUARD_MARKER in text:
            env["GRUB_CMDLINE_LINUX_DEFAULT"] = " ".join(
                arg for arg in env["GRUB_CMDLINE_LINUX_DEFAULT"].split() if not arg.startswith("crashkernel=")
            )
            continue
        for _, match in _assignments(text):
            group, literal = _literal(match)
            name = match.group("name")
            for value in cmdline_values(literal):
                sources.append({"file": path, "variable": name, "value": value})
            env[name] = literal if group == "sq" else _expand(literal, env)
    cmdline = " ".join(part for part in (env["GRUB_CMDLINE_LINUX"], env["GRUB_CMDLINE_LINUX_DEFAULT"]) if part)
    return cmdline, sources


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

"""The kdump configuration file of each OS family: rendering and parsing (facts: osfamily).

One neutral ``settings`` dict (see ``kdumplib.schema``) maps to three file formats:

* RedHat ``/etc/kdump.conf``: ``directive value`` lines read by ``kdumpctl``;
* Debian ``/etc/default/kdump-tools``: shell variables read by ``kdump-config``;
* Suse ``/etc/sysconfig/kdump``: shell variables read by ``kdumptool``.

RedHat's ``/etc/sysconfig/kdump`` (shell, read by kdumpctl) holds ``capture_cmdline_append``
(``render_sysconfig``); ``kdump:passthrough`` keys (``kdumplib.passthrough``) are written by
the same line writers (``render``'s ``extra``).

Rendering edits an existing file in place: a managed line whose value already means what the
settings say is kept byte for byte, a changed one is rewritten where it stands, duplicates of
a managed line are dropped, missing ones are appended. Comments, blank lines and every line we
do not manage stay as they are. A managed entry that is absent from the file and whose wanted
value is what the tool does without it (``path /var/crash``) is not added, so parsing a file and
rendering it back changes nothing. Both derive from one :class:`Key` per managed entry per
family (``LAYOUTS``): how it is written, how it is read, and its default when absent.

A setting a family cannot express raises ``ValueError`` naming the key and the family.
Pure code: no Salt, no I/O.
"""

import re
import shlex
from dataclasses import dataclass
from typing import Callable, Optional

from kdumplib import schema
from kdumplib.osfamily import OS_FAMILIES, family  # noqa: F401  (the facts live there)

# Debian's kdump-tools passes this to the capture kernel unless KDUMP_CMDLINE_APPEND is set;
# we keep it in front of the user's extra arguments so the capture environment still starts
# kdump-tools-dump.service (kdump-tools 1.8, Debian 12).
DEBIAN_CMDLINE_APPEND_BASE = (
    "reset_devices systemd.unit=kdump-tools-dump.service nr_cpus=1 irqpoll usbcore.nousb"
)

COMPRESSION_FLAGS = {"zlib": "-c", "lzo": "-l", "snappy": "-p", "zstd": "-z", "none": None}
FLAG_COMPRESSIONS = {flag: name for name, flag in COMPRESSION_FLAGS.items() if flag}
SUSE_FORMATS = {"zlib": "compressed", "lzo": "lzo", "snappy": "snappy", "zstd": "zstd", "none": "ELF"}
DEBIAN_FAIL_CMDS = {"reboot": "reboot -f", "halt": "halt -f", "poweroff": "poweroff -f"}
SUSE_CONTINUE_ON_ERROR = {"reboot": "true", "shell": "false"}
RHEL_TARGET_DIRECTIVES = tuple(schema.TARGET_FSTYPES) + ("nfs", "ssh", "raw")

_SHELL_ASSIGN = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*?)\s*$")


def _unsupported(key, value, os_family, reason):
    raise ValueError(f"kdump:settings:{key}: {value!r} cannot be expressed on {os_family} ({reason})")


# --------------------------------------------------------------------------- makedumpfile args


def collector_tokens(collector, flattened=False):
    """makedumpfile arguments for a collector: ``-c --message-level 7 -d 11,31``."""
    tokens = []
    flag = COMPRESSION_FLAGS[collector["compression"]]
    if flag:
        tokens.append(flag)
    if flattened:
        tokens.append("-F")
    tokens.extend(shlex.split(collector["extra_args"]))
    levels = schema.dump_levels(collector["dump_level"])
    tokens.extend(["-d", ",".join(str(level) for level in levels)])
    return tokens


def parse_collector_tokens(tokens, key="core_collector"):
    """makedumpfile arguments → ``({compression, dump_level, extra_args}, flattened)``."""
    compression = "none"
    level = None
    flattened = False
    extra = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token in FLAG_COMPRESSIONS:
            compression = FLAG_COMPRESSIONS[token]
        elif token == "-F":
            flattened = True
        elif token == "-d":
            if index + 1 >= len(tokens):
                raise ValueError(f"{key}: -d without a dump level")
            index += 1
            level = tokens[index]
        elif token.startswith("-d") and token[2:].replace(",", "").isdigit():
            level = token[2:]
        else:
            extra.append(token)
        index += 1
    collector = {
        "compression": compression,
        "dump_level": schema.normalize_dump_level(level if level is not None else 0, f"{key}: -d"),
        "extra_args": shlex.join(extra),
    }
    return collector, flattened


def _same_collector(left, right):
    return parse_collector_tokens(shlex.split(left)) == parse_collector_tokens(shlex.split(right))


# --------------------------------------------------------------------------- shell quoting


def _shell_value(text):
    """The value of ``VAR=...`` as the shell would see it (comments stripped)."""
    try:
        return " ".join(shlex.split(text, comments=True))
    except ValueError:
        return text


# Characters that end a line for ``str.splitlines`` (our parser) or for the shell, and NUL,
# which no shell variable can hold: a value with one of them cannot be written as one line.
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\x00")
# Inside double quotes these keep a meaning for the shell (and ! for an interactive bash).
_DOUBLE_QUOTE_SPECIAL = frozenset('$`"\\!')


def _check_one_line(name, value):
    bad = sorted(set(value) & _LINE_BREAKS)
    if bad:
        raise ValueError(f"{name}: {value!r} holds a line break or NUL ({bad[0]!r}): it cannot be written as one line")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{name}: {value!r} is not valid UTF-8 text ({exc.reason})") from None


def shell_word(value):
    """``value`` as one shell word that expands to exactly ``value``.

    Digits stay bare; text without characters special inside double quotes is double-quoted
    (as the distributions' own files write it); anything else is single-quoted, with each
    ``'`` written as ``'\\''``: inside single quotes the shell expands nothing.
    """
    if value.isdigit() and value.isascii():
        return value
    if not set(value) & _DOUBLE_QUOTE_SPECIAL and "'" not in value:
        return f'"{value}"'
    return "'" + value.replace("'", "'\\''") + "'"


def shell_line(name, value):
    """``NAME=<word>``: sourcing it sets ``NAME`` to exactly ``value``; parsing it back
    (``parse``) reads exactly ``value``. ValueError for values no line can hold."""
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
        raise ValueError(f"{name!r} is not a shell variable name")
    _check_one_line(name, value)
    return f"{name}={shell_word(value)}"


def _conf_line(key, value):
    """``directive value`` for kdump.conf: kdumpctl reads one line and splits on blanks, so a
    value is plain words (the schema's grammars) on one line without ``#``."""
    _check_one_line(key, value)
    if "#" in value:
        raise ValueError(f"{key}: {value!r} holds #, which kdumpctl reads as a comment")
    return f"{key} {value}"


# --------------------------------------------------------------------------- key declarations
# Every managed entry of a family's file is declared once, as a Key: how it is written from the
# settings, how it is read back into them, and what the tool does when the entry is absent.
# ``render`` and ``parse`` derive from these declarations only (docs/architecture.md, "How to
# add a config key").


def _same_words(left, right):
    return " ".join(left.split()) == " ".join(right.split())


def _same_collector_args(left, right):
    try:
        return _same_collector(left, right)
    except ValueError:
        return False


@dataclass(frozen=True)
class Key:
    """One managed directive (kdump.conf) or variable (shell) of a family's config file.

    ``write(settings)`` gives its text, or None when it must not be in the file.
    ``read(parsed, text, directive)`` puts its text into the settings being parsed: called for
    each directive of ``directives`` found in the file (in that order), or once with
    ``default`` (directive None) when none is. ``default`` is what the tool does without the
    entry: a missing entry whose wanted text means the same is not added (unless ``always``),
    so parse then render changes nothing. ``directive(settings, present)`` names what is
    written when that depends on the settings (RedHat's target is ``ext4 …``, ``nfs …``);
    ``blank_is_default``: an empty value means the default (the tool's ``${VAR:-default}``).
    """

    name: str
    write: Callable
    read: Callable
    default: Optional[str] = None
    always: bool = False
    same: Callable = _same_words
    blank_is_default: bool = False
    directives: tuple = ()
    directive: Optional[Callable] = None

    def names(self):
        """Every directive of the file that belongs to this key."""
        return self.directives or (self.name,)

    def written_as(self, settings, present):
        """The directive written for ``settings`` (``present``: the file's directives)."""
        return self.directive(settings, present) if self.directive else self.name

    def implied(self, text):
        """True when ``text`` is what the tool does with the entry absent."""
        return not self.always and self.default is not None and self.same(text, self.default)


def setting(path, convert=None):
    """``write`` giving the setting at ``path`` (``target:path``), through ``convert``."""
    names = path.split(":")

    def write(settings):
        for name in names:
            settings = settings[name]
        return convert(settings) if convert else settings

    return write


def into(path, convert=None):
    """``read`` putting the text (through ``convert``) at ``path`` of the parsed settings."""
    names = path.split(":")

    def read(parsed, text, _directive):
        node = parsed
        for name in names[:-1]:
            node = node.setdefault(name, {})
        node[names[-1]] = convert(text) if convert else text

    return read


def _or_none(text):
    return text or None


def _user_host(text):
    user, _, host = text.rpartition("@")
    return {"user": user or None, "host": host}


# --------------------------------------------------------------------------- RedHat /etc/kdump.conf


def _redhat_refuse(_settings):
    """Every neutral setting has a RedHat entry (capture_cmdline_append is written into
    /etc/sysconfig/kdump, see ``render_sysconfig``)."""


def _redhat_target_directive(settings, _present):
    target = settings["target"]
    return {"local": None, "device": target["fstype"]}.get(target["type"], target["type"])


def _redhat_target_write(settings):
    target = settings["target"]
    kind = target["type"]
    if kind in ("device", "raw"):
        return target["device"]
    if kind == "nfs":
        return target["host"]
    if kind == "ssh":
        return f"{target['user']}@{target['host']}"
    return None


def _redhat_target_read(parsed, text, directive):
    target = parsed["target"]
    if directive is None:
        return
    if directive == "nfs":
        target.update(type="nfs", host=text)
    elif directive == "ssh":
        target.update(type="ssh", **_user_host(text))
    elif directive == "raw":
        target.update(type="raw", device=text)
    else:
        target.update(type="device", fstype=directive, device=text)


def _redhat_sshkey_read(parsed, text, _directive):
    if text is not None and parsed["target"]["type"] == "ssh":
        parsed["target"]["sshkey"] = text


def _redhat_collector_write(settings):
    flattened = settings["target"]["type"] in ("ssh", "raw")
    return "makedumpfile " + shlex.join(collector_tokens(settings["collector"], flattened=flattened))


def _redhat_collector_read(parsed, text, _directive):
    tokens = shlex.split(text)
    if not tokens or not tokens[0].endswith("makedumpfile"):
        raise ValueError(f"core_collector: {text!r} is not makedumpfile; not managed")
    collector, flattened = parse_collector_tokens(tokens[1:])
    if flattened and parsed["target"]["type"] not in ("ssh", "raw"):
        collector["extra_args"] = shlex.join(["-F"] + shlex.split(collector["extra_args"]))
    parsed["collector"] = collector


REDHAT_KEYS = (
    Key(
        "target",
        _redhat_target_write,
        _redhat_target_read,
        directives=RHEL_TARGET_DIRECTIVES,
        directive=_redhat_target_directive,
    ),
    Key("sshkey", setting("target:sshkey"), _redhat_sshkey_read),
    Key("path", setting("target:path"), into("target:path"), default="/var/crash"),
    Key(
        "core_collector",
        _redhat_collector_write,
        _redhat_collector_read,
        default=OS_FAMILIES["RedHat"]["default_collector"],
        same=_same_collector_args,
    ),
    Key(
        "failure_action",
        setting("failure_action"),
        into("failure_action"),
        default="reboot",
        # ``default`` is the older name of the directive: kept where the file uses it
        directives=("default", "failure_action"),
        directive=lambda _settings, present: "default" if "default" in present else "failure_action",
    ),
    Key("dracut_args", setting("initrd:extra_args", _or_none), into("initrd:extra_args"), default=""),
    Key(
        "extra_modules",
        setting("initrd:extra_modules", lambda modules: " ".join(modules) or None),
        into("initrd:extra_modules", str.split),
        default="",
    ),
    Key("kdump_pre", setting("hooks:pre"), into("hooks:pre")),
    Key("kdump_post", setting("hooks:post"), into("hooks:post")),
)


# --------------------------------------------------------------------------- Debian /etc/default/kdump-tools


def _debian_refuse(settings):
    if settings["target"]["type"] == "raw":
        _unsupported("target:type", "raw", "Debian", "kdump-tools saves to a directory, NFS or SSH only")
    if settings["failure_action"] not in DEBIAN_FAIL_CMDS:
        _unsupported(
            "failure_action",
            settings["failure_action"],
            "Debian",
            f"KDUMP_FAIL_CMD supports {', '.join(DEBIAN_FAIL_CMDS)}",
        )
    for key, value in (
        ("initrd:extra_args", settings["initrd"]["extra_args"]),
        ("initrd:extra_modules", settings["initrd"]["extra_modules"]),
        ("hooks:pre", settings["hooks"]["pre"]),
        ("hooks:post", settings["hooks"]["post"]),
    ):
        if value:
            _unsupported(key, value, "Debian", "kdump-tools has no such setting")


def _remote(kind, write):
    """``write`` for a variable that is set only for a ``kind`` target (else empty)."""
    return lambda settings: write(settings["target"]) if settings["target"]["type"] == kind else ""


def _debian_fail_read(parsed, text, _directive):
    fail = " ".join(text.split())
    actions = {cmd: action for action, cmd in DEBIAN_FAIL_CMDS.items()}
    if fail not in actions:
        raise ValueError(f"KDUMP_FAIL_CMD: {fail!r} is not one of {', '.join(actions)}; not managed")
    parsed["failure_action"] = actions[fail]


def _debian_nfs_read(parsed, text, _directive):
    if text:
        parsed["target"].update(type="nfs", host=text)


def _debian_ssh_read(parsed, text, _directive):
    if text and parsed["target"]["type"] == "local":
        parsed["target"].update(type="ssh", **_user_host(text))


def _debian_ssh_key_read(parsed, text, _directive):
    if parsed["target"]["type"] == "ssh":
        parsed["target"]["sshkey"] = text or None


def _debian_append_write(settings):
    append = settings["capture_cmdline_append"]
    return f"{DEBIAN_CMDLINE_APPEND_BASE} {append}" if append else DEBIAN_CMDLINE_APPEND_BASE


def _debian_append_read(parsed, text, _directive):
    base = DEBIAN_CMDLINE_APPEND_BASE.split()
    parsed["capture_cmdline_append"] = " ".join(arg for arg in text.split() if arg not in base) or None


DEBIAN_KEYS = (
    Key("USE_KDUMP", lambda _settings: "1", lambda _parsed, _text, _directive: None),
    # device targets: the volume is mounted at the path through fstab (kdump.dump_target),
    # kdump-tools itself mounts nothing.
    Key("KDUMP_COREDIR", setting("target:path"), into("target:path"), default="/var/crash", blank_is_default=True),
    Key(
        "MAKEDUMP_ARGS",
        lambda settings: shlex.join(collector_tokens(settings["collector"])),
        into("collector", lambda text: parse_collector_tokens(shlex.split(text), "MAKEDUMP_ARGS")[0]),
        default=OS_FAMILIES["Debian"]["default_collector"],
        same=_same_collector_args,
        blank_is_default=True,
    ),
    Key(
        "KDUMP_FAIL_CMD",
        lambda settings: DEBIAN_FAIL_CMDS[settings["failure_action"]],
        _debian_fail_read,
        default=DEBIAN_FAIL_CMDS["reboot"],
    ),
    Key("NFS", _remote("nfs", lambda target: target["host"]), _debian_nfs_read, default=""),
    Key("SSH", _remote("ssh", lambda target: f"{target['user']}@{target['host']}"), _debian_ssh_read, default=""),
    Key("SSH_KEY", setting("target:sshkey", lambda key: key or ""), _debian_ssh_key_read, default=""),
    Key(
        "KDUMP_CMDLINE_APPEND",
        _debian_append_write,
        _debian_append_read,
        default=DEBIAN_CMDLINE_APPEND_BASE,
    ),
)


# --------------------------------------------------------------------------- Suse /etc/sysconfig/kdump


def _suse_refuse(settings):
    collector = settings["collector"]
    if settings["target"]["type"] == "raw":
        _unsupported("target:type", "raw", "Suse", "KDUMP_SAVEDIR takes file://, nfs:// or ssh:// URLs")
    if isinstance(collector["dump_level"], list):
        _unsupported(
            "collector:dump_level", collector["dump_level"], "Suse", "KDUMP_DUMPLEVEL takes one level"
        )
    if settings["failure_action"] not in SUSE_CONTINUE_ON_ERROR:
        _unsupported(
            "failure_action",
            settings["failure_action"],
            "Suse",
            "KDUMP_CONTINUE_ON_ERROR gives reboot (true) or shell (false)",
        )
    for key, value in (
        ("collector:extra_args", collector["extra_args"]),
        ("initrd:extra_args", settings["initrd"]["extra_args"]),
        ("initrd:extra_modules", settings["initrd"]["extra_modules"]),
    ):
        if value:
            _unsupported(key, value, "Suse", "kdump on SUSE has no such setting")


def _suse_savedir(target):
    # A device target is file://<path>: SUSE's kdump saves into a directory of the running
    # system and mounts no device of its own, so kdump.validate_pillar accepts a device only
    # as the managed volume mounted at boot at that path (else the dump would land below it).
    kind = target["type"]
    path = target["path"]
    if kind == "nfs":
        server, export = target["host"].split(":", 1)
        return f"nfs://{server}{export.rstrip('/')}{'' if path == '/' else path}"
    if kind == "ssh":
        return f"ssh://{target['user']}@{target['host']}{path}"
    return f"file://{path}"


def _parse_suse_savedir(savedir):
    match = re.match(r"^(file|nfs|ssh|sftp)://(?:([^@/]+)@)?([^/]*)(/.*)?$", savedir)
    if savedir.startswith("/"):
        return {"type": "local", "path": savedir}
    if not match:
        raise ValueError(f"KDUMP_SAVEDIR: {savedir!r} is not a file://, nfs:// or ssh:// URL")
    scheme, user, host, path = match.groups()
    path = path or "/"
    if scheme == "file":
        return {"type": "local", "path": path}
    if scheme == "nfs":
        return {"type": "nfs", "host": f"{host}:{path}", "path": "/"}
    return {"type": "ssh", "user": user, "host": host, "path": path}


def _suse_format_read(parsed, text, _directive):
    formats = {name: compression for compression, name in SUSE_FORMATS.items()}
    if text not in formats:
        raise ValueError(f"KDUMP_DUMPFORMAT: {text!r} is not one of {', '.join(formats)}")
    parsed.setdefault("collector", {})["compression"] = formats[text]


def _suse_identity_read(parsed, text, _directive):
    if parsed["target"]["type"] == "ssh":
        parsed["target"]["sshkey"] = text or None


SUSE_KEYS = (
    Key(
        "KDUMP_SAVEDIR",
        lambda settings: _suse_savedir(settings["target"]),
        into("target", _parse_suse_savedir),
        default="file:///var/crash",
        blank_is_default=True,
    ),
    Key(
        "KDUMP_DUMPLEVEL",
        setting("collector:dump_level", str),
        into("collector:dump_level", lambda text: schema.normalize_dump_level(text, "KDUMP_DUMPLEVEL")),
        default="31",
        always=True,
        blank_is_default=True,
    ),
    Key(
        "KDUMP_DUMPFORMAT",
        setting("collector:compression", SUSE_FORMATS.get),
        _suse_format_read,
        default="compressed",
        always=True,
    ),
    Key(
        "KDUMP_CONTINUE_ON_ERROR",
        setting("failure_action", SUSE_CONTINUE_ON_ERROR.get),
        into("failure_action", lambda text: "reboot" if text == "true" else "shell"),
        default="true",
    ),
    Key("KDUMP_SSH_IDENTITY", setting("target:sshkey", lambda key: key or ""), _suse_identity_read, default=""),
    Key("KDUMP_PRESCRIPT", setting("hooks:pre", lambda path: path or ""), into("hooks:pre", _or_none), default=""),
    Key("KDUMP_POSTSCRIPT", setting("hooks:post", lambda path: path or ""), into("hooks:post", _or_none), default=""),
    Key(
        "KDUMP_COMMANDLINE_APPEND",
        setting("capture_cmdline_append", lambda text: text or ""),
        into("capture_cmdline_append", _or_none),
        default="",
    ),
)


@dataclass(frozen=True)
class Layout:
    """A family's config file: its managed keys (in the order missing ones are appended) and
    ``refuse(settings)``, which raises for settings the family has no key for."""

    keys: tuple
    refuse: Callable


LAYOUTS = {
    "RedHat": Layout(REDHAT_KEYS, _redhat_refuse),
    "Debian": Layout(DEBIAN_KEYS, _debian_refuse),
    "Suse": Layout(SUSE_KEYS, _suse_refuse),
}


def _wanted(os_family, settings, present=()):
    """``[(key, directive, text)]`` for ``settings``; ValueError for what the family lacks."""
    layout = LAYOUTS[os_family]
    layout.refuse(settings)
    return [(key, key.written_as(settings, present), key.write(settings)) for key in layout.keys]


def check_supported(os_family, settings):
    """Raise ValueError naming the key when ``settings`` cannot be expressed on ``os_family``."""
    family(os_family)
    _wanted(os_family, settings)


# --------------------------------------------------------------------------- line model


def _redhat_entry(line):
    """``directive value`` → (directive, value); None for comments and blank lines."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return None
    parts = stripped.split(None, 1)
    value = parts[1] if len(parts) > 1 else ""
    value = re.split(r"\s+#", value, maxsplit=1)[0].strip()
    return parts[0], value


def _shell_entry(line):
    match = _SHELL_ASSIGN.match(line)
    if not match:
        return None
    return match.group(1), _shell_value(match.group(2))


#: file format (``OS_FAMILIES[...]["format"]``) → (line → entry, (directive, text) → line)
SYNTAXES = {"kdump.conf": (_redhat_entry, _conf_line), "shell": (_shell_entry, shell_line)}


def _entries(fmt, text):
    parse_line = SYNTAXES[fmt][0]
    for line in text.splitlines(keepends=True):
        yield line, parse_line(line)


def _fixed(name, text):
    """A Key for a value decided outside the settings (``kdump:passthrough``): ``text`` is
    written, None removes the entry; reading it back is not part of the settings."""
    return Key(name, lambda _settings: text, lambda _parsed, _text, _directive: None)


def edit(fmt, existing, wanted):
    """``existing`` with the ``wanted`` entries ``[(key, directive, text or None)]`` edited
    in place: a line already meaning the value kept byte for byte, a changed one rewritten
    where it stands (by the format's line writer), duplicates and None values dropped, missing
    ones appended; every other line kept."""
    write_line = SYNTAXES[fmt][1]
    entries = list(_entries(fmt, existing or ""))
    owner = {name: index for index, (key, _, _) in enumerate(wanted) for name in key.names()}
    done = set()
    out = []
    for line, entry in entries:
        index = owner.get(entry[0]) if entry else None
        if index is None:
            out.append(line)
            continue
        key, directive, value = wanted[index]
        if index in done or value is None:
            continue
        done.add(index)
        newline = line[len(line.rstrip("\r\n")):] or "\n"
        if entry[0] == directive and key.same(entry[1], value):
            out.append(line)
        else:
            out.append(write_line(directive, value) + newline)
    missing = [
        write_line(directive, value) + "\n"
        for index, (key, directive, value) in enumerate(wanted)
        if index not in done and value is not None and not key.implied(value)
    ]
    if missing and out and not out[-1].endswith("\n"):
        out[-1] += "\n"
    return "".join(out + missing)


def _present(fmt, existing):
    return {entry[0] for _line, entry in _entries(fmt, existing or "") if entry}


def render(os_family, settings, existing="", extra=None):
    """The config file text for ``settings``, edited into ``existing`` (keeps what we don't
    manage). ``extra``: ``{directive: text or None}`` of ``kdump:passthrough`` for this file
    (checked by ``kdumplib.passthrough``), after the managed keys."""
    fmt = family(os_family)["format"]
    wanted = _wanted(os_family, settings, _present(fmt, existing))
    managed = {name for key, _, _ in wanted for name in key.names()}
    for name, text in (extra or {}).items():
        if name in managed:
            raise ValueError(f"{name}: managed by the settings, not passed through")
        wanted.append((_fixed(name, text), name, text))
    return edit(fmt, existing, wanted)


def shell_value(text, name):
    """The value of the last ``name=`` assignment of a shell file, None when there is none."""
    return _last_values("shell", text or "").get(name)


def render_sysconfig(existing, cmdline_append, extra=None):
    """RedHat's /etc/sysconfig/kdump (shell, read by kdumpctl) with ``KDUMP_COMMANDLINE_APPEND``
    = ``cmdline_append`` (None: no such line) and the ``sysconfig`` passthrough ``extra``,
    edited in place through ``shell_line``; the distribution's other lines kept."""
    wanted = [(_fixed("KDUMP_COMMANDLINE_APPEND", cmdline_append), "KDUMP_COMMANDLINE_APPEND", cmdline_append)]
    for name, text in (extra or {}).items():
        if name == "KDUMP_COMMANDLINE_APPEND":
            raise ValueError(f"{name}: managed by capture_cmdline_append, not passed through")
        wanted.append((_fixed(name, text), name, text))
    return edit("shell", existing, wanted)


# --------------------------------------------------------------------------- parsing


def _last_values(fmt, text):
    values = {}
    for _line, entry in _entries(fmt, text):
        if entry:
            values[entry[0]] = entry[1]
    return values


def parse(os_family, text):
    """The config file text → neutral settings (validated, defaults filled)."""
    row = family(os_family)
    values = _last_values(row["format"], text or "")
    parsed = {"target": {"type": "local"}}
    for key in LAYOUTS[os_family].keys:
        found = [(name, values[name]) for name in key.names() if name in values]
        if key.blank_is_default:
            found = [(name, text) for name, text in found if text]
        for name, text in found or [(None, key.default)]:
            key.read(parsed, text, name)
    return schema.validate_settings(parsed, key=row["config_file"])

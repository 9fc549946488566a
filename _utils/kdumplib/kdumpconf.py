"""The kdump configuration file of each OS family: rendering and parsing (facts: osfamily).

One neutral ``settings`` dict (see ``kdumplib.schema``) maps to three file formats:

* RedHat ``/etc/kdump.conf``: ``directive value`` lines read by ``kdumpctl``;
* Debian ``/etc/default/kdump-tools``: shell variables read by ``kdump-config``;
* Suse ``/etc/sysconfig/kdump``: shell variables read by ``kdumptool``.

Rendering edits an existing file in place: a managed line whose value already means what the
settings say is kept byte for byte, a changed one is rewritten where it stands, duplicates of
a managed line are dropped, missing ones are appended. Comments, blank lines and every line we
do not manage stay as they are. A managed entry that is absent from the file and whose wanted
value is what the tool does without it (``path /var/crash``) is not added, so parsing a file and
rendering it back changes nothing.

A setting a family cannot express raises ``ValueError`` naming the key and the family.
Pure code: no Salt, no I/O.
"""

import re
import shlex

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


# --------------------------------------------------------------------------- desired entries
# Each family turns settings into "slots": slot name → (key, value, implicit). ``key`` is the
# directive or variable written, ``value`` its text (None: must not be in the file),
# ``implicit`` the value the tool assumes when the entry is absent (None: always written).


def _redhat_slots(settings, existing_keys=()):
    target = settings["target"]
    kind = target["type"]
    if settings["capture_cmdline_append"]:
        _unsupported(
            "capture_cmdline_append",
            settings["capture_cmdline_append"],
            "RedHat",
            "it lives in /etc/sysconfig/kdump KDUMP_COMMANDLINE_APPEND, which this module does not manage",
        )
    if kind == "device":
        target_entry = (target["fstype"], target["device"])
    elif kind == "nfs":
        target_entry = ("nfs", target["host"])
    elif kind == "ssh":
        target_entry = ("ssh", f"{target['user']}@{target['host']}")
    elif kind == "raw":
        target_entry = ("raw", target["device"])
    else:
        target_entry = (None, None)
    collector = "makedumpfile " + shlex.join(
        collector_tokens(settings["collector"], flattened=kind in ("ssh", "raw"))
    )
    failure_key = "default" if "default" in existing_keys else "failure_action"
    initrd = settings["initrd"]
    return {
        "target": target_entry + (None,),
        "sshkey": ("sshkey", target["sshkey"], None),
        "path": ("path", target["path"], "/var/crash"),
        "core_collector": ("core_collector", collector, OS_FAMILIES["RedHat"]["default_collector"]),
        "failure_action": (failure_key, settings["failure_action"], "reboot"),
        "dracut_args": ("dracut_args", initrd["extra_args"] or None, None),
        "extra_modules": ("extra_modules", " ".join(initrd["extra_modules"]) or None, None),
        "kdump_pre": ("kdump_pre", settings["hooks"]["pre"], None),
        "kdump_post": ("kdump_post", settings["hooks"]["post"], None),
    }


def _debian_slots(settings, existing_keys=()):
    target = settings["target"]
    kind = target["type"]
    if kind == "raw":
        _unsupported("target:type", kind, "Debian", "kdump-tools saves to a directory, NFS or SSH only")
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
    append = settings["capture_cmdline_append"]
    return {
        "USE_KDUMP": ("USE_KDUMP", "1", None),
        # device targets: the volume is mounted at the path through fstab (kdump.dump_target),
        # kdump-tools itself mounts nothing.
        "KDUMP_COREDIR": ("KDUMP_COREDIR", target["path"], "/var/crash"),
        "MAKEDUMP_ARGS": (
            "MAKEDUMP_ARGS",
            shlex.join(collector_tokens(settings["collector"])),
            OS_FAMILIES["Debian"]["default_collector"],
        ),
        "KDUMP_FAIL_CMD": ("KDUMP_FAIL_CMD", DEBIAN_FAIL_CMDS[settings["failure_action"]], "reboot -f"),
        "NFS": ("NFS", target["host"] if kind == "nfs" else "", ""),
        "SSH": ("SSH", f"{target['user']}@{target['host']}" if kind == "ssh" else "", ""),
        "SSH_KEY": ("SSH_KEY", target["sshkey"] or "", ""),
        "KDUMP_CMDLINE_APPEND": (
            "KDUMP_CMDLINE_APPEND",
            f"{DEBIAN_CMDLINE_APPEND_BASE} {append}" if append else DEBIAN_CMDLINE_APPEND_BASE,
            DEBIAN_CMDLINE_APPEND_BASE,
        ),
    }


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


def _suse_slots(settings, existing_keys=()):
    target = settings["target"]
    collector = settings["collector"]
    if target["type"] == "raw":
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
    return {
        "KDUMP_SAVEDIR": ("KDUMP_SAVEDIR", _suse_savedir(target), "file:///var/crash"),
        "KDUMP_DUMPLEVEL": ("KDUMP_DUMPLEVEL", str(collector["dump_level"]), None),
        "KDUMP_DUMPFORMAT": ("KDUMP_DUMPFORMAT", SUSE_FORMATS[collector["compression"]], None),
        "KDUMP_CONTINUE_ON_ERROR": (
            "KDUMP_CONTINUE_ON_ERROR",
            SUSE_CONTINUE_ON_ERROR[settings["failure_action"]],
            "true",
        ),
        "KDUMP_SSH_IDENTITY": ("KDUMP_SSH_IDENTITY", target["sshkey"] or "", ""),
        "KDUMP_PRESCRIPT": ("KDUMP_PRESCRIPT", settings["hooks"]["pre"] or "", ""),
        "KDUMP_POSTSCRIPT": ("KDUMP_POSTSCRIPT", settings["hooks"]["post"] or "", ""),
        "KDUMP_COMMANDLINE_APPEND": (
            "KDUMP_COMMANDLINE_APPEND",
            settings["capture_cmdline_append"] or "",
            "",
        ),
    }


_SLOTS = {"RedHat": _redhat_slots, "Debian": _debian_slots, "Suse": _suse_slots}


def check_supported(os_family, settings):
    """Raise ValueError naming the key when ``settings`` cannot be expressed on ``os_family``."""
    family(os_family)
    _SLOTS[os_family](settings)


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


def _redhat_slot_of(key):
    if key in RHEL_TARGET_DIRECTIVES:
        return "target"
    if key == "default":
        return "failure_action"
    return key


def _same_value(slot, left, right):
    if left is None or right is None:
        return left == right
    if slot == "core_collector":
        try:
            return _same_collector(left, right)
        except ValueError:
            return False
    if slot == "MAKEDUMP_ARGS":
        try:
            return _same_collector(left, right)
        except ValueError:
            return False
    return " ".join(left.split()) == " ".join(right.split())


def _format_entry(fmt, key, value):
    if fmt == "kdump.conf":
        return _conf_line(key, value)
    return shell_line(key, value)


def _entries(fmt, text):
    parse_line = _redhat_entry if fmt == "kdump.conf" else _shell_entry
    for line in text.splitlines(keepends=True):
        yield line, parse_line(line)


def render(os_family, settings, existing=""):
    """The config file text for ``settings``, edited into ``existing`` (keeps what we don't manage)."""
    row = family(os_family)
    fmt = row["format"]
    existing = existing or ""
    entries = list(_entries(fmt, existing))
    present = {entry[0] for _line, entry in entries if entry}
    slots = _SLOTS[os_family](settings, present)
    slot_of = _redhat_slot_of if fmt == "kdump.conf" else (lambda key: key)
    done = set()
    out = []
    for line, entry in entries:
        slot = slot_of(entry[0]) if entry else None
        if slot not in slots:
            out.append(line)
            continue
        key, value, _implicit = slots[slot]
        if slot in done or value is None:
            continue
        done.add(slot)
        newline = line[len(line.rstrip("\r\n")):] or "\n"
        if entry[0] == key and _same_value(slot, entry[1], value):
            out.append(line)
        else:
            out.append(_format_entry(fmt, key, value) + newline)
    missing = [
        _format_entry(fmt, key, value) + "\n"
        for slot, (key, value, implicit) in slots.items()
        if slot not in done and value is not None and not _same_value(slot, value, implicit)
    ]
    if missing and out and not out[-1].endswith("\n"):
        out[-1] += "\n"
    return "".join(out + missing)


# --------------------------------------------------------------------------- parsing


def _last_values(fmt, text):
    values = {}
    for _line, entry in _entries(fmt, text):
        if entry:
            values[entry[0]] = entry[1]
    return values


def _parse_redhat(text):
    values = _last_values("kdump.conf", text)
    target = {"type": "local", "path": values.get("path", "/var/crash")}
    for directive in RHEL_TARGET_DIRECTIVES:
        if directive not in values:
            continue
        value = values[directive]
        if directive == "nfs":
            target.update(type="nfs", host=value)
        elif directive == "ssh":
            user, _, host = value.rpartition("@")
            target.update(type="ssh", user=user or None, host=host)
        elif directive == "raw":
            target.update(type="raw", device=value)
        else:
            target.update(type="device", fstype=directive, device=value)
    if target["type"] == "ssh" and "sshkey" in values:
        target["sshkey"] = values["sshkey"]
    collector_text = values.get("core_collector", OS_FAMILIES["RedHat"]["default_collector"])
    tokens = shlex.split(collector_text)
    if not tokens or not tokens[0].endswith("makedumpfile"):
        raise ValueError(f"core_collector: {collector_text!r} is not makedumpfile; not managed")
    collector, flattened = parse_collector_tokens(tokens[1:])
    if flattened and target["type"] not in ("ssh", "raw"):
        collector["extra_args"] = shlex.join(["-F"] + shlex.split(collector["extra_args"]))
    modules = values.get("extra_modules", "").split()
    return {
        "target": target,
        "collector": collector,
        "failure_action": values.get("failure_action", values.get("default", "reboot")),
        "initrd": {"extra_args": values.get("dracut_args", ""), "extra_modules": modules},
        "hooks": {"pre": values.get("kdump_pre"), "post": values.get("kdump_post")},
        "capture_cmdline_append": None,
    }


def _parse_debian(text):
    values = _last_values("shell", text)
    target = {"type": "local", "path": values.get("KDUMP_COREDIR") or "/var/crash"}
    if values.get("NFS"):
        target.update(type="nfs", host=values["NFS"])
    elif values.get("SSH"):
        user, _, host = values["SSH"].rpartition("@")
        target.update(type="ssh", user=user or None, host=host, sshkey=values.get("SSH_KEY") or None)
    args = values.get("MAKEDUMP_ARGS") or OS_FAMILIES["Debian"]["default_collector"]
    collector, _flattened = parse_collector_tokens(shlex.split(args), "MAKEDUMP_ARGS")
    fail = " ".join(values.get("KDUMP_FAIL_CMD", "reboot -f").split())
    actions = {cmd: action for action, cmd in DEBIAN_FAIL_CMDS.items()}
    if fail not in actions:
        raise ValueError(f"KDUMP_FAIL_CMD: {fail!r} is not one of {', '.join(actions)}; not managed")
    base = DEBIAN_CMDLINE_APPEND_BASE.split()
    append = [arg for arg in values.get("KDUMP_CMDLINE_APPEND", "").split() if arg not in base]
    return {
        "target": target,
        "collector": collector,
        "failure_action": actions[fail],
        "capture_cmdline_append": " ".join(append) or None,
    }


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


def _parse_suse(text):
    values = _last_values("shell", text)
    target = _parse_suse_savedir(values.get("KDUMP_SAVEDIR") or "file:///var/crash")
    if target["type"] == "ssh":
        target["sshkey"] = values.get("KDUMP_SSH_IDENTITY") or None
    formats = {name: compression for compression, name in SUSE_FORMATS.items()}
    dump_format = values.get("KDUMP_DUMPFORMAT", "compressed")
    if dump_format not in formats:
        raise ValueError(f"KDUMP_DUMPFORMAT: {dump_format!r} is not one of {', '.join(formats)}")
    continue_on_error = values.get("KDUMP_CONTINUE_ON_ERROR", "true")
    return {
        "target": target,
        "collector": {
            "dump_level": schema.normalize_dump_level(
                values.get("KDUMP_DUMPLEVEL") or "31", "KDUMP_DUMPLEVEL"
            ),
            "compression": formats[dump_format],
            "extra_args": "",
        },
        "failure_action": "reboot" if continue_on_error == "true" else "shell",
        "hooks": {
            "pre": values.get("KDUMP_PRESCRIPT") or None,
            "post": values.get("KDUMP_POSTSCRIPT") or None,
        },
        "capture_cmdline_append": values.get("KDUMP_COMMANDLINE_APPEND") or None,
    }


_PARSERS = {"RedHat": _parse_redhat, "Debian": _parse_debian, "Suse": _parse_suse}


def parse(os_family, text):
    """The config file text → neutral settings (validated, defaults filled)."""
    family(os_family)
    return schema.validate_settings(_PARSERS[os_family](text or ""), key=OS_FAMILIES[os_family]["config_file"])

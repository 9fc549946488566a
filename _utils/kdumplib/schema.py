"""The ``kdump:`` pillar and its neutral ``settings``: checked once, normalized, defaults filled.

Every error is a ``ValueError`` whose message starts with the key path
(``kdump:settings:collector:dump_level: 40 is out of range 0-31``) so the user can find the
line in the pillar. The execution module turns it into ``SaltInvocationError``.
Pure code: no Salt, no I/O. System checks (does a device exist?) live in ``_modules/kdump.py``.
"""

import copy
import ipaddress
import re
import shlex

from kdumplib import crashkernel, osfamily, sizes, sshdump

TARGET_TYPES = ("local", "device", "nfs", "ssh", "raw")
TARGET_FSTYPES = ("ext2", "ext3", "ext4", "xfs", "btrfs")
VOLUME_FSTYPES = ("ext3", "ext4", "xfs")
COMPRESSIONS = ("zlib", "lzo", "snappy", "zstd", "none")
FAILURE_ACTIONS = ("reboot", "halt", "poweroff", "shell", "dump_to_rootfs")
REQUIRE_REBOOT = ("warn", "fail")
#: ``all``: every boot entry; ``default``: the default entry only (per boot loader:
#: docs/modules/crashkernel.md, "Scope").
CRASHKERNEL_SCOPES = ("all", "default")
DUMP_LEVEL_MAX = 31
# A dump volume larger than this is certainly a typo (64 TiB is more RAM than any box has).
VOLUME_SIZE_MAX = 64 << 40

DEFAULT_SETTINGS = {
    "target": {
        "type": "local",
        "device": None,
        "fstype": None,
        "host": None,
        "user": None,
        "sshkey": None,
        "path": "/var/crash",
    },
    "collector": {"dump_level": 31, "compression": "zlib", "extra_args": ""},
    "failure_action": "reboot",
    "initrd": {"extra_args": "", "extra_modules": []},
    "hooks": {"pre": None, "post": None},
    "capture_cmdline_append": None,
}

DEFAULT_PILLAR = {
    "lookup": {},
    "enabled": True,
    "crashkernel": {
        "manage": True,
        "value": "auto",
        "low": None,
        "scope": "all",
        "require_reboot": "warn",
        "default_entry_only": False,
    },
    "settings": DEFAULT_SETTINGS,
    "volume": None,
    "space_check": True,
    "retention": {"keep": 3},
    # Managed unless the pillar sets a key to null: reboot 180 s after a panic (after the dump),
    # and leave oopses alone unless the user wants them to panic.
    "sysctl": {"kernel.panic": 180, "kernel.panic_on_oops": 0},
    "purge_target": False,
    # Distribution keys the settings do not model, per file (kdumplib.passthrough): none.
    "passthrough": {"kdump_conf": {}, "sysconfig": {}, "kdump_tools": {}},
}

#: ``kdump:ssh`` (dumps over ssh: the key, the dump host's key, the dump host's side).
DEFAULT_SSH = {
    "manage_key": True,
    "key_type": "auto",
    "port": 22,
    "known_hosts": "/root/.ssh/known_hosts",
    "host_minion": None,
    "host_key": None,
    "authorize": None,
}
#: ``kdump:ssh:authorize``: read on the dump host only (salt/kdump/ssh_server.sls).
DEFAULT_AUTHORIZE = {
    "user": None,
    "tgt": "*",
    "tgt_type": "glob",
    "from": [],
    "config": ".ssh/authorized_keys",
    "path": None,
}
TGT_TYPES = ("glob", "pcre", "list", "grain", "grain_pcre", "pillar", "pillar_pcre", "compound",
             "ipcidr", "nodegroup")
DEFAULT_PILLAR["ssh"] = DEFAULT_SSH
_MINION_ID = re.compile(r"^[A-Za-z0-9_.@-]{1,253}$")
_TGT = re.compile(r"^[A-Za-z0-9_.*?!@:,/\[\] -]{1,512}$")
_AUTH_CONFIG = re.compile(r"^[A-Za-z0-9_.+,@%:=/-]+$")

DEFAULT_VOLUME = {
    "vg": None,
    "lv": None,
    "size": "auto",
    "fstype": "ext4",
    "mountpoint": None,
    "mount_at_boot": False,
}

_PERCENT_RAM = re.compile(r"^(\d+)%RAM$", re.IGNORECASE)
_SYSCTL_KEY = re.compile(r"^[a-z0-9_]+(\.[A-Za-z0-9_-]+)+$")
# The grammars below admit no whitespace, no quote, no shell metacharacter (; & | $ ` ( ) < > *
# ? [ ] { } ! ~ # \ ' "), so a value that passes is one word wherever it is written.
# A path: absolute, of these characters only, and no ``..`` component.
_PATH = re.compile(r"^/[A-Za-z0-9_.+,@%:=/-]*$")
# RFC 1123 host name label; a name is labels joined by dots, at most 253 characters.
_HOST_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_IP_CHARS = re.compile(r"^[0-9A-Fa-f:.]+$")
# POSIX-ish user name (useradd's default NAME_REGEX, plus upper case and dots), at most 32.
_USER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")
# Kernel module name as modprobe takes it (``-`` and ``_`` are the same to the kernel).
_MODULE = re.compile(r"^[A-Za-z0-9_-]{1,55}$")
# One token of a free-form argument string after shlex splitting.
_ARG_TOKEN = re.compile(r"^[A-Za-z0-9_.+,@%:=/-]+$")
# One word of a sysctl value (several words are separated by single spaces).
_SYSCTL_WORD = re.compile(r"^[A-Za-z0-9_.+,@%:=/-]+$")
# lvm(8): letters, digits and + _ . -, not starting with a hyphen, not . or .., and not the
# prefixes and parts LVM reserves for its own volumes.
_LVM_NAME = re.compile(r"^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$")
_LVM_RESERVED_PREFIXES = ("snapshot", "pvmove")
_LVM_RESERVED_PARTS = ("_cdata", "_cmeta", "_corig", "_mlog", "_mimage", "_pmspare", "_rimage",
                       "_rmeta", "_tdata", "_tmeta", "_vorigin")
# Debian package names (Debian Policy 5.6.1) and RPM names: letters, digits, + - . _; an
# optional ``:arch`` qualifier (Debian multiarch).
_PACKAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+._-]*(?::[a-z0-9-]+)?$")
# A systemd unit or SysV service name: letters, digits and : _ . @ - (systemd.unit(5)).
_SERVICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:_.@-]{0,254}$")
#: The formula's own ``kdump:lookup`` keys: paths only salt/kdump/*.sls use (defaults in
#: salt/kdump/defaults.yaml). The other lookup keys are the OS facts the modules act on.
FORMULA_LOOKUP_KEYS = ("sysctl_file", "sysctl_saved_file")
#: Every ``kdump:lookup`` key: overrides that reach the modules and the formula alike.
LOOKUP_KEYS = osfamily.OVERRIDABLE + FORMULA_LOOKUP_KEYS
#: Lookup keys that once existed but cannot reach every user of the fact: refused by name.
REFUSED_LOOKUP_KEYS = {
    "fstab_file": "cannot be overridden: kdump.dump_target (mount_at_boot) writes /etc/fstab",
}


def _fail(key, reason):
    raise ValueError(f"{key}: {reason}")


class Report:
    """Every error of one validation run, in pillar order; ``check`` records instead of raising.

    A validation reports all mistakes at once (one line each, starting with its key path),
    so one run of the formula shows the user everything to fix.
    """

    def __init__(self):
        self.errors = []

    def check(self, func, *args, fallback=None):
        """``func(*args)``; on ValueError record its lines and return ``fallback``."""
        try:
            return func(*args)
        except ValueError as exc:
            self.errors.extend(str(exc).splitlines() or [repr(exc)])
            return fallback

    def add(self, key, reason):
        self.errors.append(f"{key}: {reason}")

    def has(self, key):
        """True when an error was recorded for ``key`` or a key below it."""
        return any(error.startswith(key + ":") for error in self.errors)

    def raise_if_any(self):
        if self.errors:
            raise ValueError("\n".join(self.errors))


def _mapping(value, key):
    if value is None:
        return {}
    if not isinstance(value, dict):
        _fail(key, f"expected a mapping, got {type(value).__name__} {value!r}")
    return value


def _merge(defaults, data, key, report):
    """``defaults`` updated with the known keys of ``data``; unknown keys are recorded."""
    data = report.check(_mapping, data, key, fallback={})
    allowed = sorted(defaults)
    for name in sorted(set(data) - set(defaults), key=str):
        report.add(f"{key}:{name}", f"unknown key (known keys: {', '.join(allowed)})")
    merged = copy.deepcopy(defaults)
    for name, value in data.items():
        if name in defaults:
            merged[name] = value
    return merged


def _bool(value, key):
    if not isinstance(value, bool):
        _fail(key, f"expected true or false, got {value!r}")
    return value


def _choice(value, choices, key):
    if value not in choices:
        _fail(key, f"{value!r} is not one of {', '.join(choices)}")
    return value


def _optional_text(value, key):
    if value is None:
        return None
    if not isinstance(value, str):
        _fail(key, f"expected a string, got {type(value).__name__} {value!r}")
    return value.strip() or None


def _text(value, key):
    if value is None:
        return ""
    if not isinstance(value, str):
        _fail(key, f"expected a string, got {type(value).__name__} {value!r}")
    return value.strip()


def check_path(value, key):
    """An absolute path of plain characters (no whitespace, quotes, shell metacharacters,
    newlines) and no ``..`` component; returned unchanged."""
    if not isinstance(value, str) or not value.startswith("/"):
        _fail(key, f"{value!r} is not an absolute path")
    if not _PATH.match(value):
        _fail(key, f"{value!r}: a path may hold only letters, digits and _ . + , @ % : = / -")
    if ".." in value.split("/"):
        _fail(key, f"{value!r}: a path must not contain a .. component")
    return value


def _absolute(value, key):
    value = _optional_text(value, key)
    return None if value is None else check_path(value, key)


def check_host(value, key):
    """An RFC 1123 host name or an IPv4/IPv6 address."""
    if not isinstance(value, str) or not value:
        _fail(key, f"{value!r} is not a host name or IP address")
    try:
        ipaddress.ip_address(value)
    except ValueError:
        pass
    else:
        # An IPv6 scope (``fe80::1%eth0``) may hold any character: addresses are hex, : and . only.
        if not _IP_CHARS.match(value):
            _fail(key, f"{value!r}: an IP address here is digits, hex, : and . (no %scope)")
        return value
    labels = value[:-1].split(".") if value.endswith(".") else value.split(".")
    if len(value) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        _fail(key, f"{value!r} is not a host name (RFC 1123) or IP address")
    return value


def check_nfs_export(value, key):
    """``server:/export`` with a host name, an IPv4 address or ``[IPv6]``, and a path."""
    if not isinstance(value, str) or ":/" not in value:
        _fail(key, f"{value!r} is not server:/export")
    if value.startswith("["):
        server, sep, export = value[1:].partition("]:")
        if not sep:
            _fail(key, f"{value!r} is not server:/export")
        try:
            ipaddress.IPv6Address(server)
        except ValueError:
            _fail(key, f"{value!r}: {server!r} in [...] is not an IPv6 address")
        check_host(server, key)
    else:
        server, _, export = value.partition(":")
        check_host(server, key)
    check_path(export, key)
    return value


def check_user(value, key):
    if not isinstance(value, str) or not _USER.match(value):
        _fail(key, f"{value!r} is not a user name (a letter or _, then letters, digits, _ . -; at most 32)")
    return value


def check_lvm_name(key, name):
    """A volume group or logical volume name LVM accepts (one rule for the pillar and the state)."""
    if not isinstance(name, str) or not _LVM_NAME.match(name) or name in (".", ".."):
        _fail(key, f"{name!r} is not an LVM name (letters, digits, + _ . -; not starting with -)")
    if name.startswith(_LVM_RESERVED_PREFIXES) or any(part in name for part in _LVM_RESERVED_PARTS):
        _fail(key, f"{name!r} is not an LVM name: LVM reserves it for its own volumes")
    return name


def check_args(value, key):
    """A free-form argument string split like a shell would, each token of plain characters;
    returns the tokens joined by single spaces (the same words wherever it is written)."""
    text = _text(value, key)
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        _fail(key, f"{text!r} cannot be split into arguments: {exc}")
    for token in tokens:
        if not _ARG_TOKEN.match(token):
            _fail(key, f"{token!r} in {text!r} is not a plain argument (letters, digits and _ . + , @ % : = / -)")
    return " ".join(tokens)


def _optional_args(value, key):
    return check_args(value, key) or None


#: crashkernel:value words that are not kernel syntax: the distribution default, or sized from
#: the capture kernel and initrd built on the minion (crashkernel.recommend).
CRASHKERNEL_WORDS = ("auto", "measured")


def check_crashkernel(value, key):
    """``auto``, ``measured``, or a value the kernel's ``crashkernel=`` parser takes."""
    if not isinstance(value, str) or not value.strip():
        _fail(key, f"{value!r} is not a crashkernel= value")
    if value.strip() == "measured":
        return "measured"
    try:
        if value.strip().lower() != "auto":
            crashkernel.spec_tokens(value.strip())
    except ValueError as exc:
        _fail(key, f"{value!r} is not a crashkernel= value (or auto, or measured): {exc}")
    return value.strip()


def check_crashkernel_low(low, value, key):
    """The size of the ``crashkernel=<low>,low`` token: only next to a ``value`` X,high
    (the kernel ignores ,low otherwise); ``0`` turns the kernel's default low part off."""
    if low is None:
        return None
    if isinstance(low, bool) or not isinstance(low, (str, int)):
        _fail(key, f"{low!r} is not a size (e.g. 256M)")
    if not isinstance(value, str) or not value.strip().lower().endswith(",high"):
        _fail(key, f"{low!r} goes only with kdump:crashkernel:value X,high (value is {value!r})")
    try:
        return crashkernel.parse_spec(value.strip(), str(low)).split()[1][: -len(",low")]
    except ValueError as exc:
        _fail(key, f"{low!r} is not a ,low size: {exc}")
    return None


def _crashkernel(data, key, report):
    """The ``kdump:crashkernel`` section checked; ``default_entry_only: true`` is the older
    spelling of ``scope: default``."""
    given = data if isinstance(data, dict) else {}
    crash = _merge(DEFAULT_PILLAR["crashkernel"], data, key, report)
    report.check(_bool, crash["manage"], f"{key}:manage")
    crash["value"] = report.check(check_crashkernel, crash["value"], f"{key}:value")
    if not report.has(f"{key}:value"):
        crash["low"] = report.check(check_crashkernel_low, crash["low"], crash["value"], f"{key}:low")
    report.check(_choice, crash["scope"], CRASHKERNEL_SCOPES, f"{key}:scope")
    report.check(_choice, crash["require_reboot"], REQUIRE_REBOOT, f"{key}:require_reboot")
    if report.check(_bool, crash["default_entry_only"], f"{key}:default_entry_only", fallback=False):
        if given.get("scope", "default") != "default":
            report.add(f"{key}:scope", f"{given['scope']!r} contradicts default_entry_only: true (say scope: default)")
        crash["scope"] = "default"
    return crash


def check_sysctl(name, value, key):
    """A sysctl key like ``kernel.panic`` and an int, a string of plain words, or null."""
    if not isinstance(name, str) or not _SYSCTL_KEY.match(name):
        _fail(key, "is not a sysctl name like kernel.panic")
    if value is None or isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        _fail(key, f"{value!r} is not a number, a string or null (leave it alone)")
    if not all(_SYSCTL_WORD.match(word) for word in value.split(" ")):
        _fail(key, f"{value!r} is not a sysctl value (words of letters, digits and _ . + , @ % : = / -, single spaces)")
    return value


def dump_levels(value):
    """The dump level(s) as a list of ints: ``31`` → [31], ``"11,31"`` → [11, 31]."""
    if isinstance(value, list):
        return list(value)
    return [value]


def normalize_dump_level(value, key="dump_level"):
    """0-31, ``"11,31"`` or ``[11, 31]`` → an int for one level, a list of ints for a retry list."""
    if isinstance(value, bool):
        _fail(key, f"{value!r} is not a dump level (0-{DUMP_LEVEL_MAX})")
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(",")]
        if not all(part.isdigit() for part in parts):
            _fail(key, f"{value!r} is not a dump level (0-{DUMP_LEVEL_MAX}) or a list like 11,31")
        levels = [int(part) for part in parts]
    elif isinstance(value, int):
        levels = [value]
    elif isinstance(value, list) and value:
        levels = []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, int):
                _fail(key, f"{item!r} in {value!r} is not a dump level (0-{DUMP_LEVEL_MAX})")
            levels.append(item)
    else:
        _fail(key, f"{value!r} is not a dump level (0-{DUMP_LEVEL_MAX}) or a list like 11,31")
    for level in levels:
        if not 0 <= level <= DUMP_LEVEL_MAX:
            _fail(key, f"{level} is out of range 0-{DUMP_LEVEL_MAX}")
    if len(set(levels)) != len(levels):
        _fail(key, f"{value!r} repeats a level")
    return levels[0] if len(levels) == 1 else levels


_DEVICE_UUID = re.compile(r"^UUID=[A-Fa-f0-9-]+$")
_DEVICE_LABEL = re.compile(r"^LABEL=[A-Za-z0-9_.+,@%:=-]+$")


def check_device(value, key):
    """``/dev/...`` (a path), ``UUID=<hex and ->`` or ``LABEL=<plain characters>``."""
    if isinstance(value, str) and value.startswith("/dev/"):
        return check_path(value, key)
    if isinstance(value, str) and (_DEVICE_UUID.match(value) or _DEVICE_LABEL.match(value)):
        return value
    _fail(key, f"{value!r} is not /dev/..., UUID=... or LABEL=... (plain characters)")


def _target(data, key, report):
    target = _merge(DEFAULT_SETTINGS["target"], data, key, report)
    kind = report.check(_choice, target["type"], TARGET_TYPES, f"{key}:type")
    for name in ("device", "host", "user"):
        target[name] = report.check(_optional_text, target[name], f"{key}:{name}")
    target["sshkey"] = report.check(_absolute, target["sshkey"], f"{key}:sshkey")
    path = report.check(_absolute, target["path"], f"{key}:path", fallback=False)
    if path is None:
        report.add(f"{key}:path", "must not be empty")
    target["path"] = path or None
    if target["fstype"] is not None:
        report.check(_choice, target["fstype"], TARGET_FSTYPES, f"{key}:fstype")
    if target["device"] is not None:
        target["device"] = report.check(check_device, target["device"], f"{key}:device")
    if target["user"] is not None:
        target["user"] = report.check(check_user, target["user"], f"{key}:user")
    if target["host"] is not None and kind in ("nfs", "ssh"):
        check = check_nfs_export if kind == "nfs" else check_host
        target["host"] = report.check(check, target["host"], f"{key}:host")
    if report.has(f"{key}:type"):
        return target
    required = {
        "device": kind in ("device", "raw"),
        "fstype": kind == "device",
        "host": kind in ("nfs", "ssh"),
        "user": kind == "ssh",
    }
    for name, needed in required.items():
        if needed and target[name] is None and not report.has(f"{key}:{name}"):
            report.add(f"{key}:{name}", f"required when type is {kind}")
    unused = {
        "device": kind not in ("device", "raw"),
        "fstype": kind != "device",
        "host": kind not in ("nfs", "ssh"),
        "user": kind != "ssh",
        "sshkey": kind != "ssh",
    }
    for name, not_used in unused.items():
        if not_used and target[name] is not None:
            report.add(f"{key}:{name}", f"does not apply to a {kind} target")
    return target


def _collector(data, key, report):
    collector = _merge(DEFAULT_SETTINGS["collector"], data, key, report)
    collector["dump_level"] = report.check(
        normalize_dump_level, collector["dump_level"], f"{key}:dump_level", fallback=DEFAULT_SETTINGS["collector"]["dump_level"]
    )
    report.check(_choice, collector["compression"], COMPRESSIONS, f"{key}:compression")
    extra = report.check(check_args, collector["extra_args"], f"{key}:extra_args", fallback="")
    for flag in ("-d", "-c", "-l", "-p", "-z"):
        if flag in extra.split():
            report.add(f"{key}:extra_args", f"{flag} is set by dump_level/compression, not extra_args")
    collector["extra_args"] = extra
    return collector


def _module_names(modules, key):
    if modules is None:
        return []
    if isinstance(modules, str):
        modules = modules.split()
    if not isinstance(modules, list) or not all(isinstance(name, str) for name in modules):
        _fail(key, f"expected a list of module names, got {modules!r}")
    for name in modules:
        if not _MODULE.match(name):
            _fail(key, f"{name!r} is not a kernel module name (letters, digits, _ and -; expected a list of module names)")
    return list(modules)


def _initrd(data, key, report):
    initrd = _merge(DEFAULT_SETTINGS["initrd"], data, key, report)
    initrd["extra_args"] = report.check(check_args, initrd["extra_args"], f"{key}:extra_args", fallback="")
    initrd["extra_modules"] = report.check(
        _module_names, initrd["extra_modules"], f"{key}:extra_modules", fallback=[]
    )
    return initrd


def check_settings(data, key, report):
    """The neutral settings normalized as far as they are valid; errors go to ``report``."""
    settings = _merge(DEFAULT_SETTINGS, data, key, report)
    settings["target"] = _target(settings["target"], f"{key}:target", report)
    settings["collector"] = _collector(settings["collector"], f"{key}:collector", report)
    report.check(_choice, settings["failure_action"], FAILURE_ACTIONS, f"{key}:failure_action")
    settings["initrd"] = _initrd(settings["initrd"], f"{key}:initrd", report)
    hooks = _merge(DEFAULT_SETTINGS["hooks"], settings["hooks"], f"{key}:hooks", report)
    for name in ("pre", "post"):
        hooks[name] = report.check(_absolute, hooks[name], f"{key}:hooks:{name}")
    settings["hooks"] = hooks
    settings["capture_cmdline_append"] = report.check(
        _optional_args, settings["capture_cmdline_append"], f"{key}:capture_cmdline_append"
    )
    return settings


def validate_settings(data, key="kdump:settings"):
    """Check the neutral settings and return them with every default filled in.

    ValueError lists every error, one line each, starting with its key path.
    """
    report = Report()
    settings = check_settings(data, key, report)
    report.raise_if_any()
    return settings


def validate_volume_size(value, key="kdump:volume:size"):
    """``auto``, a size (``4G``), or a share of RAM (``10%RAM``); returns it normalized."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    if isinstance(value, str):
        match = _PERCENT_RAM.match(value.strip())
        if match:
            percent = int(match.group(1))
            if not 1 <= percent <= 100:
                _fail(key, f"{value!r}: the share of RAM must be 1-100 %")
            return f"{percent}%RAM"
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        _fail(key, f"{value!r} is negative")
    try:
        num_bytes = sizes.parse_size(value)
    except ValueError as exc:
        _fail(key, f"{exc} (or auto, or N%RAM)")
    if num_bytes == 0:
        _fail(key, "0 is not a usable size")
    if num_bytes > VOLUME_SIZE_MAX:
        _fail(key, f"{value!r} is larger than {sizes.format_size(VOLUME_SIZE_MAX)}: surely a typo")
    return sizes.format_size(num_bytes)


def _volume(data, key, report):
    if data is None:
        return None
    volume = _merge(DEFAULT_VOLUME, data, key, report)
    for name in ("vg", "lv"):
        volume[name] = report.check(check_lvm_name, f"{key}:{name}", volume[name])
    volume["size"] = report.check(validate_volume_size, volume["size"], f"{key}:size")
    report.check(_choice, volume["fstype"], VOLUME_FSTYPES, f"{key}:fstype")
    volume["mountpoint"] = report.check(_absolute, volume["mountpoint"], f"{key}:mountpoint")
    volume["mount_at_boot"] = report.check(_bool, volume["mount_at_boot"], f"{key}:mount_at_boot", fallback=False)
    if volume["mount_at_boot"] and volume["mountpoint"] is None and not report.has(f"{key}:mountpoint"):
        report.add(f"{key}:mountpoint", "required when mount_at_boot is true")
    return volume


def volume_devices(volume):
    """The device names under which the managed LV appears: ``/dev/vg/lv``, ``/dev/mapper/vg-lv``."""
    if not volume or not isinstance(volume.get("vg"), str) or not isinstance(volume.get("lv"), str):
        return []
    mapper = "{}-{}".format(volume["vg"].replace("-", "--"), volume["lv"].replace("-", "--"))
    return [f"/dev/{volume['vg']}/{volume['lv']}", f"/dev/mapper/{mapper}"]


def _lookup_value(name, value, key):
    if name in ("service_starts_unreserved", "service_sets_panic_on_oops"):
        return _bool(value, key)
    if name in ("pkgs", "lvm_pkgs"):
        if not isinstance(value, list) or (name == "pkgs" and not value):
            _fail(key, f"expected a non-empty list of package names, got {value!r}")
        for package in value:
            if not isinstance(package, str) or not _PACKAGE.match(package):
                _fail(key, f"{package!r} is not a package name (Debian/RPM: letters, digits, + . _ -)")
        return list(value)
    if name == "service":
        if not isinstance(value, str) or not _SERVICE.match(value):
            _fail(key, f"{value!r} is not a service name (letters, digits and : _ . @ -)")
        return value
    return check_path(value, key)


def _lookup(data, key, report):
    lookup = report.check(_mapping, data, key, fallback={})
    checked = {}
    for name, value in lookup.items():
        if name in REFUSED_LOOKUP_KEYS:
            report.add(f"{key}:{name}", REFUSED_LOOKUP_KEYS[name])
            continue
        if name not in LOOKUP_KEYS:
            report.add(f"{key}:{name}", f"unknown key (known keys: {', '.join(sorted(LOOKUP_KEYS))})")
            continue
        checked[name] = report.check(_lookup_value, name, value, f"{key}:{name}")
    return checked


def check_lookup(data, key="kdump:lookup"):
    """``(lookup, report)``: the valid ``kdump:lookup`` entries and every error."""
    report = Report()
    checked = _lookup(data, key, report)
    return {name: value for name, value in checked.items() if not report.has(f"{key}:{name}")}, report


def validate_lookup(data, key="kdump:lookup"):
    """The ``kdump:lookup`` overrides checked; ValueError naming each bad key."""
    lookup, report = check_lookup(data, key)
    report.raise_if_any()
    return lookup


def _keep(value, key):
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        _fail(key, f"{value!r} is not a count of at least 1 (or null: keep all)")
    return value


def _port(value, key):
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        _fail(key, f"{value!r} is not a TCP port (1-65535)")
    return value


def _minion_id(value, key):
    if value is None:
        return None
    if not isinstance(value, str) or not _MINION_ID.match(value):
        _fail(key, f"{value!r} is not a minion id (letters, digits and _ . @ -)")
    return value


def _authorize(data, key, report):
    if data is None:
        return None
    auth = _merge(DEFAULT_AUTHORIZE, data, key, report)
    if auth["user"] is None:
        report.add(f"{key}:user", "required: the user the dumps arrive as on the dump host")
    else:
        auth["user"] = report.check(check_user, auth["user"], f"{key}:user")
    if not isinstance(auth["tgt"], str) or not _TGT.match(auth["tgt"]):
        report.add(f"{key}:tgt", f"{auth['tgt']!r} is not a Salt target expression")
    report.check(_choice, auth["tgt_type"], TGT_TYPES, f"{key}:tgt_type")
    auth["from"] = report.check(sshdump.check_from, auth["from"], f"{key}:from", fallback=[])
    config = auth["config"]
    if not isinstance(config, str) or not _AUTH_CONFIG.match(config) or ".." in config.split("/"):
        report.add(f"{key}:config", f"{config!r} is not a path of plain characters without ..")
    auth["path"] = report.check(_absolute, auth["path"], f"{key}:path")
    return auth


def _ssh(data, key, report):
    """``kdump:ssh`` with defaults filled: always a mapping (the formula reads it)."""
    ssh = _merge(DEFAULT_SSH, data, key, report)
    ssh["manage_key"] = report.check(_bool, ssh["manage_key"], f"{key}:manage_key", fallback=True)
    report.check(_choice, ssh["key_type"], ("auto",) + sshdump.KEY_TYPES, f"{key}:key_type")
    ssh["port"] = report.check(_port, ssh["port"], f"{key}:port", fallback=22)
    ssh["known_hosts"] = report.check(_absolute, ssh["known_hosts"], f"{key}:known_hosts")
    if ssh["known_hosts"] is None and not report.has(f"{key}:known_hosts"):
        report.add(f"{key}:known_hosts", "must not be empty (root's known_hosts is what kdump reads)")
    ssh["host_minion"] = report.check(_minion_id, ssh["host_minion"], f"{key}:host_minion")
    if ssh["host_key"] is not None:
        report.check(sshdump.parse_public_key, ssh["host_key"], f"{key}:host_key")
    if ssh["host_key"] is not None and ssh["host_minion"] is not None:
        report.add(f"{key}:host_key", "give host_key or host_minion, not both (one source of truth)")
    ssh["authorize"] = _authorize(ssh["authorize"], f"{key}:authorize", report)
    return ssh


def check_pillar(data, key="kdump"):
    """``(pillar, report)``: the pillar normalized as far as it is valid, and every error.

    The execution module adds its system checks to the same report, so the user sees one
    list of everything to fix.
    """
    report = Report()
    pillar = _merge(DEFAULT_PILLAR, data, key, report)
    pillar["lookup"] = _lookup(pillar["lookup"], f"{key}:lookup", report)
    pillar["enabled"] = report.check(_bool, pillar["enabled"], f"{key}:enabled", fallback=True)
    pillar["crashkernel"] = _crashkernel(pillar["crashkernel"], f"{key}:crashkernel", report)
    pillar["settings"] = check_settings(pillar["settings"], f"{key}:settings", report)
    pillar["volume"] = _volume(pillar["volume"], f"{key}:volume", report)
    pillar["space_check"] = report.check(_bool, pillar["space_check"], f"{key}:space_check", fallback=True)
    retention = _merge(DEFAULT_PILLAR["retention"], pillar["retention"], f"{key}:retention", report)
    retention["keep"] = report.check(_keep, retention["keep"], f"{key}:retention:keep")
    pillar["retention"] = retention
    sysctl = dict(report.check(_mapping, pillar["sysctl"], f"{key}:sysctl", fallback={}))
    for name, setting in sysctl.items():
        report.check(check_sysctl, name, setting, f"{key}:sysctl:{name}")
    pillar["sysctl"] = sysctl
    pillar["purge_target"] = report.check(_bool, pillar["purge_target"], f"{key}:purge_target", fallback=False)
    # passthrough's grammars are built from this module's: imported here, not at the top
    from kdumplib import passthrough  # pylint: disable=import-outside-toplevel

    pillar["passthrough"] = passthrough.check(pillar["passthrough"], f"{key}:passthrough", report)
    pillar["ssh"] = _ssh(pillar["ssh"], f"{key}:ssh", report)
    return pillar, report


def validate_pillar(data, key="kdump"):
    """Check the whole ``kdump:`` pillar; return it normalized with defaults filled in.

    ValueError lists every error, one line each, starting with its key path.
    """
    pillar, report = check_pillar(data, key)
    report.raise_if_any()
    return pillar

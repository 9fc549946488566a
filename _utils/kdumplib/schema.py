"""The ``kdump:`` pillar and its neutral ``settings``: checked once, normalized, defaults filled.

Every error is a ``ValueError`` whose message starts with the key path
(``kdump:settings:collector:dump_level: 40 is out of range 0-31``) so the user can find the
line in the pillar. The execution module turns it into ``SaltInvocationError``.
Pure code: no Salt, no I/O. System checks (does a device exist?) live in ``_modules/kdump.py``.
"""

import copy
import re

from kdumplib import sizes

TARGET_TYPES = ("local", "device", "nfs", "ssh", "raw")
TARGET_FSTYPES = ("ext2", "ext3", "ext4", "xfs", "btrfs")
VOLUME_FSTYPES = ("ext3", "ext4", "xfs")
COMPRESSIONS = ("zlib", "lzo", "snappy", "zstd", "none")
FAILURE_ACTIONS = ("reboot", "halt", "poweroff", "shell", "dump_to_rootfs")
REQUIRE_REBOOT = ("warn", "fail")
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
    "crashkernel": {"value": "auto", "require_reboot": "warn", "default_entry_only": False},
    "settings": DEFAULT_SETTINGS,
    "volume": None,
    "space_check": True,
    "retention": {"keep": 3},
    "sysctl": {},
    "purge_target": False,
}

DEFAULT_VOLUME = {
    "vg": None,
    "lv": None,
    "size": "auto",
    "fstype": "ext4",
    "mountpoint": None,
    "mount_at_boot": False,
}

_PERCENT_RAM = re.compile(r"^(\d+)%RAM$", re.IGNORECASE)
_LVM_NAME = re.compile(r"^[A-Za-z0-9+_.][A-Za-z0-9+_.-]*$")
_SYSCTL_KEY = re.compile(r"^[a-z0-9_]+(\.[A-Za-z0-9_-]+)+$")


def _fail(key, reason):
    raise ValueError(f"{key}: {reason}")


def _mapping(value, key):
    if value is None:
        return {}
    if not isinstance(value, dict):
        _fail(key, f"expected a mapping, got {type(value).__name__} {value!r}")
    return value


def _no_unknown(data, allowed, key):
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        _fail(f"{key}:{unknown[0]}", f"unknown key (known keys: {', '.join(sorted(allowed))})")


def _merge(defaults, data, key):
    data = _mapping(data, key)
    _no_unknown(data, defaults, key)
    merged = copy.deepcopy(defaults)
    for name, value in data.items():
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


def _absolute(value, key):
    value = _optional_text(value, key)
    if value is not None and not value.startswith("/"):
        _fail(key, f"{value!r} is not an absolute path")
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


def _target(data, key):
    target = _merge(DEFAULT_SETTINGS["target"], data, key)
    kind = _choice(target["type"], TARGET_TYPES, f"{key}:type")
    for name in ("device", "host", "user"):
        target[name] = _optional_text(target[name], f"{key}:{name}")
    target["sshkey"] = _absolute(target["sshkey"], f"{key}:sshkey")
    target["path"] = _absolute(target["path"], f"{key}:path")
    if target["path"] is None:
        _fail(f"{key}:path", "must not be empty")
    if target["fstype"] is not None:
        _choice(target["fstype"], TARGET_FSTYPES, f"{key}:fstype")
    device = target["device"]
    if device is not None and not (
        device.startswith("/dev/") or device.startswith("UUID=") or device.startswith("LABEL=")
    ):
        _fail(f"{key}:device", f"{device!r} is not /dev/..., UUID=... or LABEL=...")
    if kind in ("device", "raw") and device is None:
        _fail(f"{key}:device", f"required when type is {kind}")
    if kind == "device" and target["fstype"] is None:
        _fail(f"{key}:fstype", "required when type is device")
    if kind in ("nfs", "ssh") and target["host"] is None:
        _fail(f"{key}:host", f"required when type is {kind}")
    if kind == "nfs" and ":/" not in target["host"]:
        _fail(f"{key}:host", f"{target['host']!r} is not server:/export")
    if kind == "ssh" and target["user"] is None:
        _fail(f"{key}:user", "required when type is ssh")
    unused = {
        "device": kind not in ("device", "raw"),
        "fstype": kind != "device",
        "host": kind not in ("nfs", "ssh"),
        "user": kind != "ssh",
        "sshkey": kind != "ssh",
    }
    for name, not_used in unused.items():
        if not_used and target[name] is not None:
            _fail(f"{key}:{name}", f"does not apply to a {kind} target")
    return target


def _collector(data, key):
    collector = _merge(DEFAULT_SETTINGS["collector"], data, key)
    collector["dump_level"] = normalize_dump_level(collector["dump_level"], f"{key}:dump_level")
    _choice(collector["compression"], COMPRESSIONS, f"{key}:compression")
    collector["extra_args"] = _text(collector["extra_args"], f"{key}:extra_args")
    for flag in ("-d", "-c", "-l", "-p", "-z"):
        if flag in collector["extra_args"].split():
            _fail(f"{key}:extra_args", f"{flag} is set by dump_level/compression, not extra_args")
    return collector


def _initrd(data, key):
    initrd = _merge(DEFAULT_SETTINGS["initrd"], data, key)
    initrd["extra_args"] = _text(initrd["extra_args"], f"{key}:extra_args")
    modules = initrd["extra_modules"]
    if modules is None:
        modules = []
    if isinstance(modules, str):
        modules = modules.split()
    if not isinstance(modules, list) or not all(
        isinstance(name, str) and name and not any(c.isspace() for c in name) for name in modules
    ):
        _fail(f"{key}:extra_modules", f"expected a list of module names, got {modules!r}")
    initrd["extra_modules"] = list(modules)
    return initrd


def validate_settings(data, key="kdump:settings"):
    """Check the neutral settings and return them with every default filled in."""
    settings = _merge(DEFAULT_SETTINGS, data, key)
    settings["target"] = _target(settings["target"], f"{key}:target")
    settings["collector"] = _collector(settings["collector"], f"{key}:collector")
    _choice(settings["failure_action"], FAILURE_ACTIONS, f"{key}:failure_action")
    settings["initrd"] = _initrd(settings["initrd"], f"{key}:initrd")
    hooks = _merge(DEFAULT_SETTINGS["hooks"], settings["hooks"], f"{key}:hooks")
    for name in ("pre", "post"):
        hooks[name] = _absolute(hooks[name], f"{key}:hooks:{name}")
    settings["hooks"] = hooks
    settings["capture_cmdline_append"] = _optional_text(
        settings["capture_cmdline_append"], f"{key}:capture_cmdline_append"
    )
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


def _volume(data, key):
    if data is None:
        return None
    volume = _merge(DEFAULT_VOLUME, data, key)
    for name in ("vg", "lv"):
        value = volume[name]
        if not isinstance(value, str) or not _LVM_NAME.match(value):
            _fail(f"{key}:{name}", f"{value!r} is not an LVM name")
    volume["size"] = validate_volume_size(volume["size"], f"{key}:size")
    _choice(volume["fstype"], VOLUME_FSTYPES, f"{key}:fstype")
    volume["mountpoint"] = _absolute(volume["mountpoint"], f"{key}:mountpoint")
    volume["mount_at_boot"] = _bool(volume["mount_at_boot"], f"{key}:mount_at_boot")
    if volume["mount_at_boot"] and volume["mountpoint"] is None:
        _fail(f"{key}:mountpoint", "required when mount_at_boot is true")
    return volume


def volume_devices(volume):
    """The device names under which the managed LV appears: ``/dev/vg/lv``, ``/dev/mapper/vg-lv``."""
    if not volume:
        return []
    mapper = "{}-{}".format(volume["vg"].replace("-", "--"), volume["lv"].replace("-", "--"))
    return [f"/dev/{volume['vg']}/{volume['lv']}", f"/dev/mapper/{mapper}"]


def validate_pillar(data, key="kdump"):
    """Check the whole ``kdump:`` pillar; return it normalized with defaults filled in."""
    pillar = _merge(DEFAULT_PILLAR, data, key)
    pillar["lookup"] = dict(_mapping(pillar["lookup"], f"{key}:lookup"))
    pillar["enabled"] = _bool(pillar["enabled"], f"{key}:enabled")
    crashkernel = _merge(DEFAULT_PILLAR["crashkernel"], pillar["crashkernel"], f"{key}:crashkernel")
    value = crashkernel["value"]
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value.strip()):
        _fail(f"{key}:crashkernel:value", f"{value!r} is not a crashkernel= value")
    crashkernel["value"] = value.strip()
    _choice(crashkernel["require_reboot"], REQUIRE_REBOOT, f"{key}:crashkernel:require_reboot")
    _bool(crashkernel["default_entry_only"], f"{key}:crashkernel:default_entry_only")
    pillar["crashkernel"] = crashkernel
    pillar["settings"] = validate_settings(pillar["settings"], f"{key}:settings")
    pillar["volume"] = _volume(pillar["volume"], f"{key}:volume")
    pillar["space_check"] = _bool(pillar["space_check"], f"{key}:space_check")
    retention = _merge(DEFAULT_PILLAR["retention"], pillar["retention"], f"{key}:retention")
    keep = retention["keep"]
    if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
        _fail(f"{key}:retention:keep", f"{keep!r} is not a count of at least 1 (or null: keep all)")
    pillar["retention"] = retention
    sysctl = dict(_mapping(pillar["sysctl"], f"{key}:sysctl"))
    for name, setting in sysctl.items():
        if not isinstance(name, str) or not _SYSCTL_KEY.match(name):
            _fail(f"{key}:sysctl:{name}", "is not a sysctl name like kernel.panic")
        if setting is not None and (isinstance(setting, bool) or not isinstance(setting, (int, str))):
            _fail(f"{key}:sysctl:{name}", f"{setting!r} is not a number, a string or null (leave it alone)")
    pillar["sysctl"] = sysctl
    pillar["purge_target"] = _bool(pillar["purge_target"], f"{key}:purge_target")
    return pillar

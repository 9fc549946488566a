"""Execution module for kdump: configuration, readiness, dump space, the initrd, the trigger.

The neutral settings schema and the per-OS-family files live in ``kdumplib.schema`` and
``kdumplib.kdumpconf``; vmcore size estimates in ``kdumplib.sizing``. This module is the Salt
glue: it reads and writes under the minion option ``kdump_root`` (default ``/``), runs the
distribution's tools as argument lists and reports in plain words.
"""

import copy
import difflib
import logging
import os
import shlex

import salt.utils.path
import salt.utils.platform
from salt.exceptions import CommandExecutionError, SaltInvocationError

from kdumplib import dumpdir, dumpvolume, files, kdumpconf, osfamily, schema, sizes, sizing
from kdumplib import commands

log = logging.getLogger(__name__)

__virtualname__ = "kdump"

CRASH_LOADED = "/sys/kernel/kexec_crash_loaded"
CRASH_SIZE = "/sys/kernel/kexec_crash_size"
PROC_CMDLINE = "/proc/cmdline"
PROC_MEMINFO = "/proc/meminfo"
PROC_KCORE = "/proc/kcore"
SYSRQ = "/proc/sys/kernel/sysrq"
SYSRQ_TRIGGER = "/proc/sysrq-trigger"
BOOT_ID = "/proc/sys/kernel/random/boot_id"


def __virtual__():
    if not salt.utils.platform.is_linux():
        return (False, "kdump: kexec crash dumps exist only on Linux")
    return __virtualname__


# --------------------------------------------------------------------------- helpers


def _root():
    return files.root_of(__opts__)


def _lookup(strict=True):
    """The minion's pillar ``kdump:lookup`` (unmasked), checked: the overrides the formula's
    map applies too, so both act on the same config file and service.

    ``strict``: a bad entry raises SaltInvocationError naming its key; otherwise bad entries
    are left out (the map renders, and ``kdump.validated`` reports them).
    """
    if "pillar.get" not in __salt__:
        return {}
    data = __salt__["pillar.get"]("kdump:lookup", {}, unmask=True)
    if strict:
        try:
            return schema.validate_lookup(data)
        except ValueError as exc:
            raise _invalid(exc) from None
    return schema.check_lookup(data)[0]


def _family_name():
    """The ``os_family`` grain, for code that needs no fact that kdump:lookup can change;
    CommandExecutionError if unsupported."""
    name = __grains__.get("os_family")
    try:
        osfamily.family(name)
    except ValueError as exc:
        raise CommandExecutionError(str(exc)) from None
    return name


def _os_family(strict=True):
    """The ``os_family`` grain and its facts with ``kdump:lookup`` applied;
    CommandExecutionError if the family is unsupported."""
    name = __grains__.get("os_family")
    try:
        return name, osfamily.facts(name, _lookup(strict))
    except ValueError as exc:
        raise CommandExecutionError(str(exc)) from None


def _invalid(exc):
    return SaltInvocationError(str(exc))


def _read_int(path):
    """An integer sysfs/procfs file under the root; None when it does not exist."""
    text = files.read_text(_root(), path)
    if text is None:
        return None
    try:
        return int(text.strip() or 0)
    except ValueError:
        raise CommandExecutionError(f"{path}: {text.strip()!r} is not a number") from None


def _mem_bytes():
    """Total RAM: ``crashkernel.mem_bytes``, the one reader of RAM for the whole formula."""
    return __salt__["crashkernel.mem_bytes"]()


def _free_bytes(path):
    """Bytes free for an unprivileged writer at ``path`` (its nearest existing parent)."""
    real = files.rooted(_root(), path)
    while not os.path.exists(real):
        parent = os.path.dirname(real)
        if parent == real:
            break
        real = parent
    try:
        stat = os.statvfs(real)
    except OSError as exc:
        raise CommandExecutionError(f"cannot stat the file system of {path}: {exc}") from exc
    return stat.f_bavail * stat.f_frsize


def _run(cmd):
    return commands.run(__salt__["cmd.run_all"], cmd, CommandExecutionError, ignore_retcode=True)


def _validated(settings):
    """validate() without the system check, for internal callers."""
    try:
        normalized = schema.validate_settings(settings)
    except ValueError as exc:
        raise _invalid(exc) from None
    _check_family(normalized)
    return normalized


def _check_family(normalized):
    """SaltInvocationError naming the key when this minion's family cannot express a setting."""
    name = _family_name()
    try:
        kdumpconf.check_supported(name, normalized)
    except ValueError as exc:
        raise _invalid(exc) from None


def _check_mounted_device_target(family, target, volume):
    """Debian's kdump-tools and SUSE's kdump write into a directory of the running system
    (``KDUMP_COREDIR``, ``KDUMP_SAVEDIR=file://``) and mount no device of their own: a device
    target works only as the managed volume, mounted at boot at the target path. Anything else
    would put the dumps on the filesystem below the path. Returns the error lines."""
    tool = "kdump-tools" if family == "Debian" else "SUSE's kdump"
    managed = volume is not None and target["device"] in schema.volume_devices(volume)
    if not managed:
        return [
            f"kdump:settings:target:device: {target['device']} is not the managed volume kdump:volume; "
            f"on {family} {tool} cannot mount a device, use a local target on a mounted filesystem"
        ]
    if not volume["mount_at_boot"] or volume["mountpoint"] not in (None, target["path"]):
        return [
            f"kdump:volume:mount_at_boot: on {family} the dump volume must be mounted at boot at "
            f"kdump:settings:target:path ({target['path']}): {tool} mounts nothing and would "
            "write the dump onto the filesystem below"
        ]
    return []


def _size_words(num_bytes):
    return f"{num_bytes} bytes ({sizing.human(num_bytes)})"


def _check_volume_holds_a_dump(volume, collector):
    """Refuse a fixed-size dump volume that cannot hold a dump, before it is created: the
    space check after the volume exists would come too late to change nothing.

    With makedumpfile (``kdump.estimate`` method ``makedumpfile``) the measured dump decides;
    without it (a host's first run) the floor of ``kdumplib.sizing`` does: RAM, the dump level
    and the compression give the least a dump takes. Returns the error lines."""
    try:
        spec = dumpvolume.parse_size_spec(volume["size"])
        if spec["kind"] == "auto":
            return []
        guess = estimate(dump_level=collector["dump_level"], compression=collector["compression"])
        wanted = dumpvolume.target_bytes(spec, 1, mem_bytes=guess["mem_bytes"])
    except ValueError as exc:
        return [f"kdump:volume:{exc}"]
    existing = 0
    if "lvm.lvdisplay" in __salt__:
        # An LV larger than asked is kept (never shrunk): that size is what the dump gets.
        for info in __salt__["lvm.lvdisplay"](f"/dev/{volume['vg']}/{volume['lv']}", quiet=True).values():
            existing = int(info["Logical Volume Size"]) * 512
    size = max(wanted, existing)
    if guess["method"] == "makedumpfile":
        needed, how = guess["bytes"], "measured by makedumpfile --mem-usage"
    else:
        needed = guess["floor_bytes"]
        how = (
            f"the least a dump takes with {sizing.human(guess['mem_bytes'])} of RAM at dump level "
            f"{collector['dump_level']} and {collector['compression']} compression (kdumplib.sizing; "
            "makedumpfile is not installed yet to measure it)"
        )
    if size >= needed:
        return []
    return [
        f"kdump:volume:size: {volume['size']} gives {_size_words(size)}, but a vmcore of this minion "
        f"needs {_size_words(needed)}, {how}: not enough space to save a vmcore. Use a larger size "
        "or auto, or set kdump:space_check: false"
    ]


def _device_exists(device):
    if device.startswith("UUID="):
        device = "/dev/disk/by-uuid/" + device[len("UUID="):]
    elif device.startswith("LABEL="):
        device = "/dev/disk/by-label/" + device[len("LABEL="):]
    return os.path.exists(files.rooted(_root(), device))


def _running_crashkernel():
    """The crashkernel= values on the running kernel's command line (under the root)."""
    cmdline = files.read_text(_root(), PROC_CMDLINE) or ""
    values = [arg.split("=", 1)[1] for arg in cmdline.split() if arg.startswith("crashkernel=")]
    return " ".join(values) or None


# --------------------------------------------------------------------------- public API


def facts(strict=True):
    """
    What this minion's OS family calls its kdump pieces, with pillar ``kdump:lookup`` applied:
    the one answer the formula's map and this module's functions share.

    :param bool strict: a bad ``kdump:lookup`` entry raises; False leaves bad entries out
        (the map renders so that ``kdump.validated`` can report them).
    :return: ``{"pkgs", "lvm_pkgs", "service", "config_file", "format", "rebuild",
        "dump_layout", "default_collector", "service_starts_unreserved",
        "service_sets_panic_on_oops"}`` (table: ``kdumplib.osfamily``).
    :raises CommandExecutionError: the OS family is not supported.
    :raises SaltInvocationError: ``strict`` and a bad ``kdump:lookup`` entry, naming its key.

    CLI Example:

    .. code-block:: bash

        salt '*' kdump.facts
    """
    return _os_family(strict)[1]


def defaults(section=None):
    """
    The defaults of the ``kdump:`` pillar (``kdumplib.schema``, their one copy).

    :param str section: ``None``: the whole pillar's defaults (``volume`` is None: no dump
        volume unless given); ``"volume"``: the keys filled in when ``kdump:volume`` is given;
        any other top-level key: its default.
    :return: a fresh copy.

    CLI Example:

    .. code-block:: bash

        salt '*' kdump.defaults
        salt '*' kdump.defaults volume
    """
    if section is None:
        return copy.deepcopy(schema.DEFAULT_PILLAR)
    if section == "volume":
        return copy.deepcopy(schema.DEFAULT_VOLUME)
    if section not in schema.DEFAULT_PILLAR:
        raise SaltInvocationError(
            f"section: {section!r} is not a kdump pillar key (known: {', '.join(schema.DEFAULT_PILLAR)})"
        )
    return copy.deepcopy(schema.DEFAULT_PILLAR[section])


def validate(settings):
    """
    Check neutral kdump settings before anything is written, so mistakes name their key.

    :param dict settings: the ``kdump:settings`` mapping (target, collector, failure_action,
        initrd, hooks, capture_cmdline_append); missing keys get their defaults.
    :return: the settings normalized, every default filled in.
    :raises SaltInvocationError: message starts with the key, e.g.
        ``kdump:settings:collector:dump_level: 40 is out of range 0-31``, also when this
        minion's OS family cannot express a setting.

    CLI Example:

    .. code-block:: bash

        salt '*' kdump.validate '{"collector": {"dump_level": 31}}'
    """
    return _validated(settings)


def _system_errors(pillar, report):
    """The checks that read the system, for the parts of ``pillar`` that passed the schema."""
    errors = []
    try:
        family = _family_name()  # the lookup checked is the one in ``pillar`` (schema)
    except CommandExecutionError as exc:
        return [str(exc)]
    settings_ok = not report.has("kdump:settings")
    volume_ok = not report.has("kdump:volume")
    if settings_ok:
        try:
            kdumpconf.check_supported(family, pillar["settings"])
        except ValueError as exc:
            errors.append(str(exc))
    target = pillar["settings"]["target"]
    if settings_ok and volume_ok and target["type"] == "device" and not osfamily.family(family)["mounts_dump_device"]:
        errors.extend(_check_mounted_device_target(family, target, pillar["volume"]))
    if settings_ok and volume_ok and pillar["space_check"] is True and pillar["volume"] is not None:
        errors.extend(_check_volume_holds_a_dump(pillar["volume"], pillar["settings"]["collector"]))
    device = target["device"]
    if settings_ok and volume_ok and target["type"] in ("device", "raw"):
        if device not in schema.volume_devices(pillar["volume"]) and not _device_exists(device):
            errors.append(
                f"kdump:settings:target:device: {device} does not exist and is not the managed "
                "volume kdump:volume"
            )
    return errors


def validate_pillar(data=None):
    """
    Check the whole ``kdump:`` pillar once, at the edge, before any state changes the system.

    Reports every error at once, one line each, starting with its pillar key. Besides the
    schema (types, ranges, grammars of paths, hosts, users, modules, argument strings, sysctl
    values and ``lookup``) it checks the system: the OS family can express the settings; a
    ``device`` or ``raw`` target exists under the root unless it is the volume the formula
    creates (``/dev/<vg>/<lv>`` or ``/dev/mapper/<vg>-<lv>``); on Debian and Suse a ``device``
    target is that volume mounted at boot at the target path (their tools mount nothing); with
    ``space_check`` a fixed-size volume that cannot hold a dump is refused before it is
    created (measured by makedumpfile, or on a first run the floor of ``kdumplib.sizing``).

    :param dict data: the ``kdump:`` pillar mapping; default: this minion's own ``kdump``
        pillar (read unmasked).
    :return: the pillar normalized with every default filled in.
    :raises SaltInvocationError: one line per error, each starting with its pillar key
        (``kdump:volume:size: ...``).

    CLI Example:

    .. code-block:: bash

        salt '*' kdump.validate_pillar
        salt-call kdump.validate_pillar '{"settings": {"collector": {"dump_level": 31}}}'
    """
    if data is None:
        # Salt 3008 masks pillar.get results unless asked for the real values.
        data = __salt__["pillar.get"]("kdump", {}, unmask=True)
    pillar, report = schema.check_pillar(data)
    report.errors.extend(_system_errors(pillar, report))
    try:
        report.raise_if_any()
    except ValueError as exc:
        raise _invalid(exc) from None
    return pillar


def settings():
    """
    Read this minion's kdump configuration file into the neutral settings schema.

    Entries absent from the file get the value the distribution's tool assumes without them.

    :return: normalized settings (same shape as ``kdump.validate``).
    :raises CommandExecutionError: the file holds something this module cannot manage
        (e.g. a ``core_collector`` that is not makedumpfile).

    CLI Example:

    .. code-block:: bash

        salt '*' kdump.settings
    """
    name, row = _os_family()
    text = files.read_text(_root(), row["config_file"], default="")
    try:
        return kdumpconf.parse(name, text)
    except ValueError as exc:
        raise CommandExecutionError(f"{row['config_file']}: {exc}") from None


def render(settings=None):
    """
    Show the configuration file these settings would produce, without writing it.

    Lines and comments the module does not manage are kept as they are.

    :param dict settings: neutral settings; default: the current file's (``kdump.settings``).
    :return: ``{"path": str, "text": str}``.

    CLI Example:

    .. code-block:: bash

        salt '*' kdump.render '{"target": {"path": "/var/crash"}}'
    """
    name, row = _os_family()
    wanted = globals()["settings"]() if settings is None else _validated(settings)
    existing = files.read_text(_root(), row["config_file"], default="")
    try:
        text = kdumpconf.render(name, wanted, existing)
    except ValueError as exc:
        raise _invalid(exc) from None
    return {"path": row["config_file"], "text": text}


def configure(settings, test=False):
    """
    Write the kdump configuration file for these settings, atomically, only when it differs.

    The previous file is kept once as ``<file>.kdump-formula.bak``.

    :param dict settings: neutral settings (validated here).
    :param bool test: only report what would change.
    :return: ``{"path": str, "changed": bool, "diff": str}`` (``diff`` is a unified diff).

    CLI Example:

    .. code-block:: bash

        salt '*' kdump.configure '{"collector": {"dump_level": 31, "compression": "lzo"}}'
    """
    rendered = render(settings)
    path = rendered["path"]
    old = files.read_text(_root(), path, default="")
    diff = "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            rendered["text"].splitlines(keepends=True),
            fromfile=path,
            tofile=path,
        )
    )
    changed = old != rendered["text"]
    if changed and not test:
        files.write_text_atomic(_root(), path, rendered["text"])
    return {"path": path, "changed": changed, "diff": diff}


def estimate(dump_level=None, compression=None):
    """
    Estimate how many bytes a vmcore of this minion will take, to size and check its target.

    Uses ``makedumpfile --mem-usage /proc/kcore`` when the root is ``/``, the tool exists and
    we are root, less the crash kernel reservation (counted there as kernel data, but never in
    a dump); otherwise (or when it fails) RAM × the ratio for the dump level documented in
    ``kdumplib.sizing``. Uncompressed: an upper bound for a compressed dump. ``floor_bytes``
    is the least the dump can take: the measurement itself, or without makedumpfile (a
    first run) RAM × ``sizing.floor_ratio`` for the level and compression; a fixed volume
    below it cannot hold a dump.

    :param dump_level: 0-31 or a retry list; default: the configured one.
    :param str compression: zlib, lzo, snappy, zstd or none; default: the configured one.
    :return: ``{"bytes": int, "floor_bytes": int, "method": "makedumpfile"|"ratio",
        "mem_bytes": int, "dump_level": int|list, "compression": str}``.

    CLI Example:

    .. code-block:: bash

        salt '*' kdump.estimate
        salt '*' kdump.estimate dump_level=1 compression=none
    """
    if dump_level is None or compression is None:
        configured = globals()["settings"]()["collector"]
        dump_level = configured["dump_level"] if dump_level is None else dump_level
        compression = configured["compression"] if compression is None else compression
    try:
        dump_level = schema.normalize_dump_level(dump_level, "dump_level")
    except ValueError as exc:
        raise _invalid(exc) from None
    if compression not in schema.COMPRESSIONS:
        raise SaltInvocationError(f"compression: {compression!r} is not one of {', '.join(schema.COMPRESSIONS)}")
    mem_bytes = _mem_bytes()
    result = {"mem_bytes": mem_bytes, "dump_level": dump_level, "compression": compression}
    tool = salt.utils.path.which("makedumpfile")
    if _root() in ("/", "") and tool and os.geteuid() == 0 and os.path.exists(PROC_KCORE):
        cmd = [tool, "--mem-usage", PROC_KCORE]
        run = __salt__["cmd.run_all"](cmd, python_shell=False, ignore_retcode=True)
        if run["retcode"] == 0:
            try:
                usage = sizing.parse_mem_usage(run["stdout"])
                measured = sizing.dump_bytes_from_usage(usage, dump_level, _read_int(CRASH_SIZE) or 0)
                return dict(result, bytes=measured, floor_bytes=measured, method="makedumpfile")
            except ValueError as exc:
                log.warning("kdump.estimate: %s; falling back to the ratio table", exc)
        else:
            log.warning(
                "kdump.estimate: %s failed: %s; falling back to the ratio table",
                shlex.join(cmd),
                run.get("stderr", "").strip(),
            )
    return dict(
        result,
        bytes=sizing.estimate_by_ratio(mem_bytes, dump_level),
        floor_bytes=sizing.floor_bytes(mem_bytes, dump_level, compression),
        method="ratio",
    )


def _mounts():
    """``{mountpoint: device}`` of the running system (Salt's ``mount.active``); {} without it."""
    if "mount.active" not in __salt__:
        return {}
    try:
        return {point: info.get("device") for point, info in __salt__["mount.active"]().items()}
    except CommandExecutionError as exc:
        log.warning("kdump: cannot list the mounts: %s", exc)
        return {}


def _device_aliases(device):
    """Other names of ``device`` as mount.active may show it: the resolved ``/dev`` path of a
    ``UUID=``/``LABEL=`` or symlinked name (under the root)."""
    if not isinstance(device, str):
        return ()
    link = device
    if device.startswith("UUID="):
        link = "/dev/disk/by-uuid/" + device[len("UUID="):]
    elif device.startswith("LABEL="):
        link = "/dev/disk/by-label/" + device[len("LABEL="):]
    real = files.rooted(_root(), link)
    if not os.path.exists(real):
        return ()
    resolved = os.path.realpath(real)
    root = os.path.realpath(files.rooted(_root(), "/"))
    if root != "/" and resolved.startswith(root):
        resolved = "/" + os.path.relpath(resolved, root)
    return (link, resolved)


def _pillar_volume():
    volume = __salt__["pillar.get"]("kdump:volume", None, unmask=True) if "pillar.get" in __salt__ else None
    return volume if isinstance(volume, dict) else None


def dump_dir(target=None, volume=None, planned=False):
    """
    Say where the dumps of this minion land, and whether free space there can be measured.

    One answer for the space check, retention and ``vmcore.list``
    (``kdumplib.dumpdir.locate``): a local target's path; on RedHat a device target's
    mountpoint joined with ``path`` (kdump.conf's path is inside the device); on Debian and
    Suse the path where the device is mounted; None for remote and raw targets.

    :param dict target: a ``kdump:settings:target`` mapping; default: the configuration file's.
    :param dict volume: the ``kdump:volume`` mapping; default: this minion's pillar.
    :param bool planned: count the managed volume as mounted where the pillar mounts it at
        boot (for a run that is about to mount it).
    :return: ``{"dir": str|None, "mountpoint": str|None, "measurable": bool, "reason": str}``.

    CLI Example:

    .. code-block:: bash

        salt '*' kdump.dump_dir
    """
    name = _family_name()
    if target is None:
        target = globals()["settings"]()["target"]
    if volume is None:
        volume = _pillar_volume()
    device = target.get("device") if isinstance(target, dict) else None
    return dumpdir.locate(
        name, target, volume, mounts=_mounts(), aliases=_device_aliases(device), planned=bool(planned)
    )


def _space_problem(free, needed, path):
    """The sentence for a dump that does not fit, or None when ``needed`` bytes fit in ``free``."""
    if free >= needed:
        return None
    return (
        f"not enough space to save a vmcore: need {needed} ({sizing.human(needed)}), "
        f"target has {free} ({sizing.human(free)}) at {path}"
    )


def check_space(path=None, needed=None):
    """
    Fail before a crash when the dump target cannot hold a vmcore, instead of only warning.

    :param str path: directory to check; default: where the dumps land (``kdump.dump_dir``):
        a local target's path, or a device target's directory on the mounted device. A
        remote, raw or unmounted device target cannot be measured here.
    :param needed: bytes (or a size such as ``4G``) needed; default: ``kdump.estimate``.
    :return: ``{"path", "free_bytes", "needed_bytes", "ok": True, "checked": True}``; when
        the target cannot be measured ``free_bytes`` is None, ``checked`` False and ``reason``
        says why.
    :raises CommandExecutionError: ``not enough space to save a vmcore: need N, target has M``.

    CLI Example:

    .. code-block:: bash

        salt '*' kdump.check_space
        salt '*' kdump.check_space path=/var/crash needed=2G
    """
    if needed is None:
        needed_bytes = estimate()["bytes"]
    else:
        try:
            needed_bytes = sizes.parse_size(needed)
        except ValueError as exc:
            raise SaltInvocationError(f"needed: {exc}") from None
    if path is None:
        where = dump_dir()
        if not where["measurable"]:
            return {
                "path": where["dir"],
                "free_bytes": None,
                "needed_bytes": needed_bytes,
                "ok": True,
                "checked": False,
                "reason": where["reason"],
            }
        path = where["dir"]
    if not isinstance(path, str) or not path.startswith("/"):
        raise SaltInvocationError(f"path: {path!r} is not an absolute path")
    free = _free_bytes(path)
    problem = _space_problem(free, needed_bytes, path)
    if problem:
        raise CommandExecutionError(problem)
    return {"path": path, "free_bytes": free, "needed_bytes": needed_bytes, "ok": True, "checked": True}


def _service_state(service, problems):
    enabled = active = None
    if "service.enabled" in __salt__ and "service.status" in __salt__:
        try:
            enabled = bool(__salt__["service.enabled"](service))
            active = bool(__salt__["service.status"](service))
        except Exception as exc:  # pylint: disable=broad-except
            problems.append(f"cannot ask the service manager about {service}: {exc}")
    else:
        problems.append(f"cannot tell whether {service} is enabled: no service module on this minion")
    if enabled is False:
        problems.append(f"the {service} service is not enabled")
    if active is False:
        problems.append(f"the {service} service is not running")
    return enabled, active


def _crashkernel_state(problems):
    """(reserved_bytes, loaded, reboot_pending) from sysfs and crashkernel.get."""
    reserved = _read_int(CRASH_SIZE)
    loaded_flag = _read_int(CRASH_LOADED)
    running = _running_crashkernel()
    reboot_pending = None
    if "crashkernel.get" in __salt__:
        try:
            current = __salt__["crashkernel.get"]()
            reboot_pending = bool(current.get("reboot_pending"))
            running = current.get("running") or running
            if reboot_pending:
                problems.append(
                    f"reboot pending: the boot loader gives crashkernel={current.get('configured')}, "
                    f"the running kernel has {('crashkernel=' + running) if running else 'none'}"
                )
        except Exception as exc:  # pylint: disable=broad-except
            problems.append(f"cannot read the crashkernel= configuration: {exc}")
    if loaded_flag is None:
        problems.append(f"the kernel has no kexec crash support ({CRASH_LOADED} is missing)")
    if not reserved:
        if running:
            problems.append(
                "no memory reserved for the crash kernel although the running kernel has "
                f"crashkernel={running} (no range matches this RAM, or the reservation failed)"
            )
        else:
            problems.append(
                "no memory reserved for the crash kernel: crashkernel= is not on the running "
                "kernel's command line"
            )
    elif not loaded_flag:
        problems.append("the crash kernel is not loaded: start the kdump service or run kdump.rebuild")
    return reserved or 0, bool(loaded_flag), reboot_pending


def _boot_id():
    text = files.read_text(_root(), BOOT_ID)
    return (text.strip() or None) if text is not None else None


def _status_facts(name, problems):
    """The facts ``status`` reports on: None for an unsupported family; with a bad
    ``kdump:lookup`` the valid overrides only, and the error among the problems."""
    if name not in osfamily.OS_FAMILIES:
        return None
    try:
        return _os_family()[1]
    except SaltInvocationError as exc:
        problems.extend(str(exc).splitlines())
        return _os_family(strict=False)[1]


def status():
    """
    Say in one dict whether a crash on this minion would be saved, and if not, why.

    Read-only: safe on any machine, including one without kdump installed.

    :return: ``{"os_family", "service", "enabled", "active", "loaded", "reserved_bytes",
        "reboot_pending", "config", "target", "dump_dir", "free_bytes", "estimate_bytes",
        "boot_id", "ready", "problems"}``; ``problems`` is a list of plain sentences, empty when
        ``ready``. ``dump_dir`` is where dumps land (``kdump.dump_dir``); ``free_bytes`` is
        measured there, and None when that is not the dump filesystem right now (remote, raw,
        or a device that is not mounted: never the filesystem below its mountpoint). ``boot_id`` is the kernel's ``/proc/sys/kernel/random/boot_id`` (None
        when missing): it changes on every boot, so the runner tells a minion that came
        back from a crash from one that never went down.

    CLI Example:

    .. code-block:: bash

        salt '*' kdump.status
    """
    problems = []
    name = __grains__.get("os_family")
    row = _status_facts(name, problems)
    result = {
        "os_family": name,
        "service": row["service"] if row else None,
        "enabled": None,
        "active": None,
        "config": row["config_file"] if row else None,
        "target": None,
        "free_bytes": None,
        "estimate_bytes": None,
        "dump_dir": None,
        "boot_id": _boot_id(),
    }
    if row is None:
        problems.append(f"os family {name!r} is not supported (supported: {', '.join(osfamily.OS_FAMILIES)})")
    else:
        if files.read_text(_root(), row["config_file"]) is None:
            problems.append(
                f"{row['config_file']} does not exist: kdump is not installed or not configured "
                f"(packages: {', '.join(row['pkgs'])})"
            )
        result["enabled"], result["active"] = _service_state(row["service"], problems)
    result["reserved_bytes"], result["loaded"], result["reboot_pending"] = _crashkernel_state(problems)
    if row is not None:
        try:
            current = settings()
            target = dict(current["target"])
            result["target"] = target
            collector = current["collector"]
            result["estimate_bytes"] = estimate(collector["dump_level"], collector["compression"])["bytes"]
            where = dump_dir(target)
            result["dump_dir"] = where["dir"]
            if target["type"] == "device" and not row["mounts_dump_device"] and where["dir"] is None:
                # Their tools write into the path: without the device there, onto the root fs.
                problems.append(where["reason"])
            if where["measurable"]:
                result["free_bytes"] = _free_bytes(where["dir"])
                problem = _space_problem(result["free_bytes"], result["estimate_bytes"], where["dir"])
                if problem:
                    problems.append(problem)
            if target["type"] in ("device", "raw") and not _device_exists(target["device"]):
                problems.append(f"the dump device {target['device']} does not exist")
        except (CommandExecutionError, SaltInvocationError) as exc:
            problems.append(str(exc))
    result["problems"] = problems
    result["ready"] = not problems
    return result


def rebuild():
    """
    Rebuild the capture initrd and reload the crash kernel the distribution's way, then
    verify the kernel is loaded, so a changed configuration is in force before any crash.

    RedHat: ``kdumpctl rebuild`` + ``kdumpctl restart``; Debian: ``kdump-config unload`` +
    ``kdump-config load``; Suse: ``systemctl restart <service>`` (table: ``kdumplib.osfamily``,
    with ``kdump:lookup`` applied).

    :return: ``{"command": [argv of the last command], "commands": [[argv], ...],
        "loaded": bool, "reserved_bytes": int, "output": str}``.
    :raises CommandExecutionError: a command failed, or memory is reserved but the crash
        kernel is still not loaded (with the tools' output).

    CLI Example:

    .. code-block:: bash

        salt '*' kdump.rebuild
    """
    _name, row = _os_family()
    outputs = []
    for cmd in row["rebuild"]:
        result = _run(list(cmd))
        outputs.append(f"$ {shlex.join(cmd)}\n{result.get('stdout', '')}{result.get('stderr', '')}".rstrip())
    reserved = _read_int(CRASH_SIZE) or 0
    loaded = bool(_read_int(CRASH_LOADED))
    output = "\n".join(outputs)
    if reserved and not loaded:
        raise CommandExecutionError(
            f"{CRASH_LOADED} is 0 after {shlex.join(row['rebuild'][-1])} although "
            f"{sizing.human(reserved)} is reserved:\n{output}"
        )
    return {
        "command": list(row["rebuild"][-1]),
        "commands": [list(cmd) for cmd in row["rebuild"]],
        "loaded": loaded,
        "reserved_bytes": reserved,
        "output": output,
    }


def crash(confirm=None, force=False):
    """
    Crash this minion on purpose (SysRq ``c``) to prove that its dumps are saved.

    A real crash never returns: call it asynchronously (``salt --async``) and wait for the
    minion to come back. Refused unless ``confirm`` is this minion's id, and refused when
    ``kdump.status`` is not ready unless ``force=True``. Enables SysRq, syncs the disks, then
    writes ``c`` to ``/proc/sysrq-trigger`` (all under ``kdump_root``).

    :param str confirm: must equal the minion id.
    :param bool force: crash even when ``kdump.status`` reports problems.
    :return: only under a fake root (tests): ``{"triggered": True, "minion": id}``.

    CLI Example:

    .. code-block:: bash

        salt --async web01 kdump.crash confirm=web01
    """
    minion = __grains__.get("id") or __opts__.get("id")
    if confirm is None or str(confirm) != str(minion):
        raise SaltInvocationError(
            f"confirm: {confirm!r} is not this minion's id; pass confirm={minion} to crash it"
        )
    for path in (SYSRQ, SYSRQ_TRIGGER):
        if not os.path.exists(files.rooted(_root(), path)):
            raise CommandExecutionError(f"{path} does not exist: this kernel has no magic SysRq")
    if not force:
        current = status()
        if not current["ready"]:
            raise CommandExecutionError(
                "refusing to crash: kdump is not ready: " + "; ".join(current["problems"])
                + " (force=True crashes anyway)"
            )
    with open(files.rooted(_root(), SYSRQ), "w", encoding="ascii") as handle:
        handle.write("1\n")
    _run(["sync"])
    log.warning("kdump.crash: crashing %s now through %s", minion, SYSRQ_TRIGGER)
    with open(files.rooted(_root(), SYSRQ_TRIGGER), "w", encoding="ascii") as handle:
        handle.write("c")
    return {"triggered": True, "minion": minion}

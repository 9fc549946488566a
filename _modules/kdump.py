"""Execution module for kdump: configuration, readiness, dump space, the initrd, the trigger.

The neutral settings schema and the per-OS-family files live in ``kdumplib.schema`` and
``kdumplib.kdumpconf``; vmcore size estimates in ``kdumplib.sizing``. This module is the Salt
glue: it reads and writes under the minion option ``kdump_root`` (default ``/``), runs the
distribution's tools as argument lists and reports in plain words.
"""

import copy
import difflib
import json
import logging
import os
import shlex
import tempfile
import time

import salt.utils.path
import salt.utils.platform
import salt.version
from salt.exceptions import CommandExecutionError, SaltInvocationError

from kdumplib import freshness

freshness.fresh()  # a minion running since before a saltutil.sync: the synced kdumplib
from kdumplib import dumpdir, dumpvolume, files, kdumpconf, osfamily, schema, sizes, sizing, sshdump
from kdumplib import passthrough as passthru
from kdumplib import commands

log = logging.getLogger(__name__)

# Salt 3008 masks pillar.get values unless unmask=True; older Salt has no such argument.
PILLAR_UNMASK = {"unmask": True} if salt.version.__saltstack_version__.major >= 3008 else {}

__virtualname__ = "kdump"

CRASH_LOADED = "/sys/kernel/kexec_crash_loaded"
CRASH_SIZE = "/sys/kernel/kexec_crash_size"
PROC_CMDLINE = "/proc/cmdline"
PROC_MEMINFO = "/proc/meminfo"
PROC_KCORE = "/proc/kcore"
SYSRQ = "/proc/sys/kernel/sysrq"
SYSRQ_TRIGGER = "/proc/sysrq-trigger"
BOOT_ID = "/proc/sys/kernel/random/boot_id"
# Under the minion's cachedir: written before the config file changes, removed by ``rebuild``
# once the crash kernel is loaded. A run that dies in between (or a host without the
# reservation yet) leaves it, and the next ``kdump.configured`` rebuilds although the file is
# already right: the seed's "config changed, initrd not rebuilt" cannot happen, also for a
# ``salt-call kdump.configure`` from the command line.
REBUILD_MARKER = "kdump-formula/rebuild-pending"
#: The codes of ``kdump.status`` problems, stable for programs (``kdump.ready`` decides by
#: them); the sentences beside them are for people and may change. docs/modules/kdump.md.
PROBLEM_CODES = (
    "unsupported_os_family", "config_missing", "config_unreadable", "service_unknown",
    "service_disabled", "service_stopped", "reboot_pending", "crashkernel_unreadable",
    "no_kexec_support", "not_reserved", "not_loaded", "rebuild_pending", "dump_dir_unmounted",
    "no_space", "dump_device_missing", "lookup_invalid",
    # ssh targets (kdump_ssh.problems): local checks only, no connection.
    "ssh_client_missing", "ssh_key_missing", "ssh_key_invalid", "ssh_host_unknown",
)
# Next to the config file, written once before the formula first changes it: what kdump.clean
# gives back (the distribution's file, or no file).
ORIGINAL = ".kdump-formula.orig"
CREATED = ".kdump-formula.created"


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
    data = __salt__["pillar.get"]("kdump:lookup", {}, **PILLAR_UNMASK)
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
        existing = _lv_bytes(dumpvolume.device_paths(volume["vg"], volume["lv"])[0]) or 0
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
    :return: ``{"pkgs", "lvm_pkgs", "service", "config_file", "format", "sysconfig_file",
        "rebuild", "dump_layout", "default_collector", "service_starts_unreserved",
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


def _check_crashkernel_backend(crash, report):
    """The boot loader in use can carry the value, pair and scope (``crashkernel.refuses``);
    nothing to check when the formula does not manage it."""
    if crash["manage"] is not True or report.has("kdump:crashkernel") or "crashkernel.refuses" not in __salt__:
        return []
    try:
        refused = __salt__["crashkernel.refuses"](crash["value"], low=crash["low"], scope=crash["scope"])
    except (CommandExecutionError, SaltInvocationError) as exc:
        return [f"kdump:crashkernel: {exc}"]
    return [f"kdump:crashkernel:{refused['key']}: {refused['reason']}"] if refused else []


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
    try:
        passthru.check_family(family, pillar["passthrough"])
    except ValueError as exc:
        errors.extend(str(exc).splitlines())
    target = pillar["settings"]["target"]
    if settings_ok and volume_ok and target["type"] == "device" and not osfamily.family(family)["mounts_dump_device"]:
        errors.extend(_check_mounted_device_target(family, target, pillar["volume"]))
    if settings_ok and volume_ok and pillar["space_check"] is True and pillar["volume"] is not None:
        errors.extend(_check_volume_holds_a_dump(pillar["volume"], pillar["settings"]["collector"]))
    errors.extend(_check_crashkernel_backend(pillar["crashkernel"], report))
    if settings_ok and target["type"] == "ssh":
        errors.extend(_check_ssh(family, target, pillar["ssh"], report))
    device = target["device"]
    if settings_ok and volume_ok and target["type"] in ("device", "raw"):
        if device not in schema.volume_devices(pillar["volume"]) and not _device_exists(device):
            errors.append(
                f"kdump:settings:target:device: {device} does not exist and is not the managed "
                "volume kdump:volume"
            )
    return errors


def _check_ssh(family, target, ssh, report):
    """An ssh target this family's kdump can use with a key the formula can make."""
    errors = []
    if not target["sshkey"] and sshdump.DEFAULT_KEY.get(family) is None:
        errors.append(
            f"kdump:settings:target:sshkey: required for an ssh target on {family} (its kdump "
            "otherwise uses root's own identities, which the formula does not make)"
        )
    if not report.has("kdump:ssh:key_type"):
        fips = (files.read_text(_root(), "/proc/sys/crypto/fips_enabled") or "").strip() == "1"
        try:
            sshdump.key_type(family, __grains__.get("osmajorrelease"), fips, ssh["key_type"])
        except ValueError as exc:
            errors.append(str(exc))
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
        data = __salt__["pillar.get"]("kdump", {}, **PILLAR_UNMASK)
    pillar, report = schema.check_pillar(data)
    report.errors.extend(_system_errors(pillar, report))
    try:
        report.raise_if_any()
    except ValueError as exc:
        raise _invalid(exc) from None
    return pillar


def _current_settings():
    """The configuration file parsed (``kdump.settings``), for callers whose parameter is
    named ``settings``; on RedHat ``capture_cmdline_append`` is read from the sysconfig file
    (the words after the distribution's own)."""
    name, row = _os_family()
    text = files.read_text(_root(), row["config_file"], default="")
    try:
        parsed = kdumpconf.parse(name, text)
    except ValueError as exc:
        raise CommandExecutionError(f"{row['config_file']}: {exc}") from None
    if row.get("sysconfig_file"):
        current = kdumpconf.shell_value(files.read_text(_root(), row["sysconfig_file"], default=""), passthru.CMDLINE_APPEND)
        base = _distribution_cmdline_append(row["sysconfig_file"])
        extra = [word for word in (current or "").split() if word not in (base or "").split()]
        parsed["capture_cmdline_append"] = " ".join(extra) or None
    return parsed


def _distribution_cmdline_append(path):
    """KDUMP_COMMANDLINE_APPEND as the distribution shipped ``path``: from the copy kept
    before the formula's first write, else from the file itself (not written yet)."""
    root = _root()
    if os.path.exists(files.rooted(root, path + CREATED)):
        return None
    original = files.read_text(root, path + ORIGINAL)
    if original is None:
        original = files.read_text(root, path, default="")
    return kdumpconf.shell_value(original, passthru.CMDLINE_APPEND)


def _checked_passthrough(data, os_family):
    """``kdump:passthrough`` checked for this family; SaltInvocationError naming each bad key."""
    if data is not None and not isinstance(data, dict):
        raise SaltInvocationError(f"passthrough: {type(data).__name__} given, expected a mapping")
    try:
        checked = passthru.validate(data or {})
        passthru.check_family(os_family, checked)
    except ValueError as exc:
        raise _invalid(exc) from None
    return checked


def _rendered(settings, passthrough):
    """``[{"path", "old", "text"}]``: the config file, then (RedHat) the sysconfig file, as
    these settings and passthrough keys make them; ``settings`` None: the current ones."""
    name, row = _os_family()
    wanted = _current_settings() if settings is None else _validated(settings)
    given = _checked_passthrough(passthrough, name)
    root = _root()
    out = []
    try:
        old = files.read_text(root, row["config_file"], default="")
        text = kdumpconf.render(name, wanted, old, passthru.for_file(name, "config", given))
        out.append({"path": row["config_file"], "old": old, "text": text})
        path = row.get("sysconfig_file")
        if path:
            old = files.read_text(root, path, default="")
            append = passthru.cmdline_append(_distribution_cmdline_append(path), wanted["capture_cmdline_append"])
            text = kdumpconf.render_sysconfig(old, append, passthru.for_file(name, "sysconfig_file", given))
            out.append({"path": path, "old": old, "text": text})
    except ValueError as exc:
        raise _invalid(exc) from None
    return out


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
    return _current_settings()


def render(settings=None, passthrough=None):
    """
    Show the configuration file these settings would produce, without writing it.

    Lines and comments the module does not manage are kept as they are.

    :param dict settings: neutral settings; default: the current file's (``kdump.settings``).
    :param dict passthrough: pillar ``kdump:passthrough`` (distribution keys the settings do
        not model, ``kdumplib.passthrough``); default none.
    :return: ``{"path": str, "text": str, "files": [{"path", "text"}]}``: the config file,
        and in ``files`` every file written (RedHat: also ``/etc/sysconfig/kdump``).

    CLI Example:

    .. code-block:: bash

        salt '*' kdump.render '{"target": {"path": "/var/crash"}}'
        salt '*' kdump.render '{}' '{"kdump_conf": {"link_delay": 10}}'
    """
    rendered = _rendered(settings, passthrough)
    return {
        "path": rendered[0]["path"],
        "text": rendered[0]["text"],
        "files": [{"path": item["path"], "text": item["text"]} for item in rendered],
    }


def configure(settings, test=False, passthrough=None):
    """
    Write the kdump configuration file for these settings, atomically, only when it differs.

    The previous file is kept once as ``<file>.kdump-formula.bak``; before the first write the
    distribution's file is kept as ``<file>.kdump-formula.orig`` (or ``.kdump-formula.created``
    marks that there was none) for kdump.clean. Before the file changes, the rebuild-pending
    marker is set (``kdump.rebuild_pending``): the capture initrd is stale until
    ``kdump.rebuild`` loads the crash kernel, also when this is called from the command line.
    On RedHat ``/etc/sysconfig/kdump`` is handled the same way (``KDUMP_COMMANDLINE_APPEND``
    = the distribution's value + ``capture_cmdline_append``, and the ``sysconfig``
    passthrough keys); kdumpctl reads it when it loads the crash kernel, and the rebuild's
    ``kdumpctl restart`` applies it.

    :param dict settings: neutral settings (validated here).
    :param bool test: only report what would change.
    :param dict passthrough: pillar ``kdump:passthrough`` (validated here); default none.
    :return: ``{"path": str, "changed": bool, "diff": str, "files": [{"path", "changed",
        "diff"}]}``: ``path`` is the config file, ``changed``/``diff`` cover every file.

    CLI Example:

    .. code-block:: bash

        salt '*' kdump.configure '{"collector": {"dump_level": 31, "compression": "lzo"}}'
        salt '*' kdump.configure '{"capture_cmdline_append": "panic=10"}' passthrough='{"sysconfig": {"KEXEC_ARGS": "-s"}}'
    """
    rendered = _rendered(settings, passthrough)
    results = []
    for item in rendered:
        diff = "".join(
            difflib.unified_diff(
                item["old"].splitlines(keepends=True),
                item["text"].splitlines(keepends=True),
                fromfile=item["path"],
                tofile=item["path"],
            )
        )
        results.append({"path": item["path"], "changed": item["old"] != item["text"], "diff": diff})
    changed = [item for item, result in zip(rendered, results) if result["changed"]]
    if changed and not test:
        # The marker first: a run that dies after the write still rebuilds next time.
        _mark_rebuild(f"config {', '.join(item['path'] for item in changed)} changed")
        for item in changed:
            _keep_original(item["path"])
            files.write_text_atomic(_root(), item["path"], item["text"])
    return {
        "path": rendered[0]["path"],
        "changed": bool(changed),
        "diff": "".join(result["diff"] for result in results),
        "files": results,
    }


def _keep_original(path):
    """Before the first write keep what the distribution had, for kdump.clean: the file as
    ``<path>.kdump-formula.orig``, or, when there was none, an empty
    ``<path>.kdump-formula.created`` (clean then removes the file)."""
    root = _root()
    if any(os.path.exists(files.rooted(root, path + suffix)) for suffix in (ORIGINAL, CREATED)):
        return
    text = files.read_text(root, path)
    if text is None:
        files.write_text_atomic(root, path + CREATED, "", backup_suffix=None)
    else:
        files.write_text_atomic(root, path + ORIGINAL, text, backup_suffix=None)


# --------------------------------------------------------------------------- rebuild marker


def _marker_path():
    return os.path.join(__opts__.get("cachedir", "/var/cache/salt/minion"), REBUILD_MARKER)


def _mark_rebuild(reason):
    """Write the marker: the boot it was written in, then why."""
    files.write_text_atomic(_root(), _marker_path(), f"{_boot_id() or ''}\n{reason}\n", backup_suffix=None)


def _clear_rebuild():
    try:
        os.remove(files.rooted(_root(), _marker_path()))
    except FileNotFoundError:
        pass


def rebuild_pending():
    """
    Say whether the capture initrd waits for a rebuild: the configuration (or a watched
    package or hook) changed and ``kdump.rebuild`` has not loaded the crash kernel since.

    ``kdump.configure`` sets it before it changes the file, ``kdump.request_rebuild`` sets it
    for other changes, ``kdump.rebuild`` clears it once the crash kernel is loaded.

    :return: ``{"pending": bool, "reason": str|None, "this_boot": bool}``; ``this_boot``:
        set during the running boot (a crash kernel loaded now predates the change).

    CLI Example:

    .. code-block:: bash

        salt '*' kdump.rebuild_pending
    """
    text = files.read_text(_root(), _marker_path())
    if text is None:
        return {"pending": False, "reason": None, "this_boot": False}
    boot, _, reason = text.partition("\n")
    current = _boot_id()
    return {
        "pending": True,
        "reason": reason.strip() or None,
        "this_boot": bool(boot.strip()) and boot.strip() == current,
    }


def request_rebuild(reason, test=False):
    """
    Mark the capture initrd for a rebuild by the next ``kdump.rebuild`` (or the next run of
    the formula), for a change the configuration file does not show (a package, a hook).

    :param str reason: why, kept in the marker and shown by ``kdump.rebuild_pending``.
    :param bool test: only report whether the marker would be written.
    :return: ``{"changed": bool}``: False when a rebuild was already pending.

    CLI Example:

    .. code-block:: bash

        salt '*' kdump.request_rebuild 'kdump-pre hook changed'
    """
    if not isinstance(reason, str) or not reason.strip() or "\n" in reason:
        raise SaltInvocationError(f"reason: {reason!r} must be one line of text")
    if rebuild_pending()["pending"]:
        return {"changed": False}
    if not test:
        _mark_rebuild(reason)
    return {"changed": True}


def _mem_usage_cache():
    """Where a scan is kept (None without a minion cache directory: every call scans)."""
    cachedir = __opts__.get("cachedir")
    return os.path.join(cachedir, "kdump", "mem-usage.json") if cachedir else None


def _mem_usage(mem_bytes, max_age):
    """A ``sizing.measurement`` of this machine: the cached one when ``sizing.reusable``,
    else a new ``makedumpfile --mem-usage`` scan (then cached); None where it cannot scan
    (a fake root, no makedumpfile, not root) or the scan failed."""
    tool = salt.utils.path.which("makedumpfile")
    if _root() not in ("/", "") or not tool or os.geteuid() != 0 or not os.path.exists(PROC_KCORE):
        return None
    path = _mem_usage_cache()
    try:
        if not path or not max_age:
            raise OSError("no cache directory" if not path else "max_age=0: a new scan")
        with open(path, encoding="utf-8") as handle:
            cached = json.load(handle)
        if sizing.reusable(cached, mem_bytes, time.time(), max_age):
            return cached
    except (OSError, TypeError, ValueError) as exc:
        log.debug("kdump.estimate: no reusable scan in %s: %s", path, exc)
    cmd = [tool, "--mem-usage", PROC_KCORE]
    run = __salt__["cmd.run_all"](cmd, python_shell=False, ignore_retcode=True)
    if run["retcode"] != 0:
        log.warning("kdump.estimate: %s failed: %s; falling back to the ratio table",
                    shlex.join(cmd), run.get("stderr", "").strip())
        return None
    try:
        usage = sizing.parse_mem_usage(run["stdout"])
    except ValueError as exc:
        log.warning("kdump.estimate: %s; falling back to the ratio table", exc)
        return None
    record = sizing.measurement(usage, _read_int(CRASH_SIZE) or 0, mem_bytes, time.time())
    if path is not None:
        try:
            files.write_text_atomic("/", path, json.dumps(record, sort_keys=True), backup_suffix=None,
                                    mode=0o600)
        except OSError as exc:
            log.warning("kdump.estimate: cannot keep the scan in %s: %s", path, exc)
    return record


def estimate(dump_level=None, compression=None, max_age=None):
    """
    Estimate how many bytes a vmcore of this minion will take, to size and check its target.

    Uses ``makedumpfile --mem-usage /proc/kcore`` when the root is ``/``, the tool exists and
    we are root, less the crash kernel reservation (counted there as kernel data, but never in
    a dump); otherwise (or when it fails) RAM × the ratio for the dump level documented in
    ``kdumplib.sizing``. Uncompressed: an upper bound for a compressed dump. ``floor_bytes``
    is the least the dump can take: the measurement itself, or without makedumpfile (a
    first run) RAM × ``sizing.floor_ratio`` for the level and compression; a fixed volume
    below it cannot hold a dump.

    The scan reads all of RAM (seconds per GiB on a slow machine), so a scan is kept in the
    minion's cache directory (``kdump/mem-usage.json``) and reused for ``max_age`` seconds:
    status, the space check and an ``auto`` volume of one formula run scan once.

    :param dump_level: 0-31 or a retry list; default: the configured one.
    :param str compression: zlib, lzo, snappy, zstd or none; default: the configured one.
    :param max_age: reuse a scan at most this many seconds old; default
        ``kdumplib.sizing.MEASUREMENT_MAX_AGE`` (900); ``0`` scans now.
    :return: ``{"bytes": int, "floor_bytes": int, "method": "makedumpfile"|"ratio",
        "mem_bytes": int, "dump_level": int|list, "compression": str}``; with ``makedumpfile``
        also ``measured_at`` (Unix time of the scan) and ``age_seconds``.

    CLI Example:

    .. code-block:: bash

        salt '*' kdump.estimate
        salt '*' kdump.estimate dump_level=1 compression=none
        salt '*' kdump.estimate max_age=0
    """
    if dump_level is None or compression is None:
        configured = _current_settings()["collector"]
        dump_level = configured["dump_level"] if dump_level is None else dump_level
        compression = configured["compression"] if compression is None else compression
    try:
        dump_level = schema.normalize_dump_level(dump_level, "dump_level")
    except ValueError as exc:
        raise _invalid(exc) from None
    if compression not in schema.COMPRESSIONS:
        raise SaltInvocationError(f"compression: {compression!r} is not one of {', '.join(schema.COMPRESSIONS)}")
    max_age = sizing.MEASUREMENT_MAX_AGE if max_age is None else max_age
    if isinstance(max_age, bool) or not isinstance(max_age, (int, float)) or max_age < 0:
        raise SaltInvocationError(f"max_age: {max_age!r} must be a number of seconds >= 0")
    mem_bytes = _mem_bytes()
    result = {"mem_bytes": mem_bytes, "dump_level": dump_level, "compression": compression}
    record = _mem_usage(mem_bytes, max_age)
    if record is not None:
        measured = sizing.dump_bytes_from_usage(record["usage"], dump_level, record["reserved_bytes"])
        return dict(result, bytes=measured, floor_bytes=measured, method="makedumpfile",
                    measured_at=record["measured_at"],
                    age_seconds=round(max(time.time() - record["measured_at"], 0), 1))
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
    volume = __salt__["pillar.get"]("kdump:volume", None, **PILLAR_UNMASK) if "pillar.get" in __salt__ else None
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
        target = _current_settings()["target"]
    if volume is None:
        volume = _pillar_volume()
    if not dumpdir.needs_mounts(target):  # mount.active runs mount(8): 0.1 s a call under TCG
        return dumpdir.locate(name, target, volume, planned=bool(planned))
    device = target.get("device")
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
            problems.append(("service_unknown", f"cannot ask the service manager about {service}: {exc}"))
    else:
        problems.append(("service_unknown", f"cannot tell whether {service} is enabled: no service module on this minion"))
    if enabled is False:
        problems.append(("service_disabled", f"the {service} service is not enabled"))
    if active is False:
        problems.append(("service_stopped", f"the {service} service is not running"))
    return enabled, active


def _crashkernel_managed():
    """Pillar ``kdump:crashkernel:manage`` (default true): false means the boot loader is the
    administrator's, and status says so instead of pointing at the formula."""
    if "pillar.get" not in __salt__:
        return True
    return __salt__["pillar.get"]("kdump:crashkernel:manage", True, **PILLAR_UNMASK) is not False


def _crashkernel_state(problems):
    """(reserved_bytes, loaded, reboot_pending) from sysfs and crashkernel.get."""
    managed = _crashkernel_managed()
    unmanaged = "" if managed else " (crashkernel= not managed: kdump:crashkernel:manage is false)"
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
                problems.append((
                    "reboot_pending",
                    f"reboot pending: the boot loader gives crashkernel={current.get('configured')}, "
                    f"the running kernel has {('crashkernel=' + running) if running else 'none'}{unmanaged}",
                ))
        except Exception as exc:  # pylint: disable=broad-except
            problems.append(("crashkernel_unreadable", f"cannot read the crashkernel= configuration: {exc}"))
    if loaded_flag is None:
        problems.append(("no_kexec_support", f"the kernel has no kexec crash support ({CRASH_LOADED} is missing)"))
    if not reserved:
        if running:
            problems.append((
                "not_reserved",
                "no memory reserved for the crash kernel although the running kernel has "
                f"crashkernel={running} (no range matches this RAM, or the reservation failed){unmanaged}",
            ))
        else:
            problems.append((
                "not_reserved",
                "no memory reserved for the crash kernel: crashkernel= is not on the running "
                f"kernel's command line{unmanaged}",
            ))
    elif not loaded_flag:
        problems.append(("not_loaded", "the crash kernel is not loaded: start the kdump service or run kdump.rebuild"))
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
        problems.extend(("lookup_invalid", line) for line in str(exc).splitlines())
        return _os_family(strict=False)[1]


def status():
    """
    Say in one dict whether a crash on this minion would be saved, and if not, why.

    Read-only: safe on any machine, including one without kdump installed.

    :return: ``{"os_family", "service", "enabled", "active", "loaded", "reserved_bytes",
        "reboot_pending", "rebuild_pending", "config", "target", "dump_dir", "free_bytes",
        "estimate_bytes", "boot_id", "ready", "problems", "codes"}``; ``problems`` is a list of
        plain sentences, empty when ``ready``; ``codes[i]`` is the stable code of
        ``problems[i]`` (``PROBLEM_CODES``). ``rebuild_pending`` is ``kdump.rebuild_pending``;
        it is a problem (``rebuild_pending``) only when set during this boot: after a reboot
        the service loaded the crash kernel from the configuration on disk. ``dump_dir`` is where dumps land (``kdump.dump_dir``); ``free_bytes`` is
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
        problems.append(
            ("unsupported_os_family", f"os family {name!r} is not supported (supported: {', '.join(osfamily.OS_FAMILIES)})")
        )
    else:
        if files.read_text(_root(), row["config_file"]) is None:
            problems.append((
                "config_missing",
                f"{row['config_file']} does not exist: kdump is not installed or not configured "
                f"(packages: {', '.join(row['pkgs'])})",
            ))
        result["enabled"], result["active"] = _service_state(row["service"], problems)
    result["reserved_bytes"], result["loaded"], result["reboot_pending"] = _crashkernel_state(problems)
    result["crashkernel_managed"] = _crashkernel_managed()
    if row is not None:
        try:
            current = _current_settings()
            target = dict(current["target"])
            result["target"] = target
            if target["type"] == "ssh" and "kdump_ssh.problems" in __salt__:
                # The key and the dump host's pinned key, checked locally (kdump_ssh.check connects).
                problems.extend((p["code"], p["message"]) for p in __salt__["kdump_ssh.problems"](target))
            collector = current["collector"]
            result["estimate_bytes"] = estimate(collector["dump_level"], collector["compression"])["bytes"]
            where = dump_dir(target)
            result["dump_dir"] = where["dir"]
            if target["type"] == "device" and not row["mounts_dump_device"] and where["dir"] is None:
                # Their tools write into the path: without the device there, onto the root fs.
                problems.append(("dump_dir_unmounted", where["reason"]))
            if where["measurable"]:
                result["free_bytes"] = _free_bytes(where["dir"])
                problem = _space_problem(result["free_bytes"], result["estimate_bytes"], where["dir"])
                if problem:
                    problems.append(("no_space", problem))
            if target["type"] in ("device", "raw") and not _device_exists(target["device"]):
                problems.append(("dump_device_missing", f"the dump device {target['device']} does not exist"))
        except (CommandExecutionError, SaltInvocationError) as exc:
            problems.append(("config_unreadable", str(exc)))
    pending = rebuild_pending()
    result["rebuild_pending"] = pending["pending"]
    if pending["this_boot"]:
        problems.append((
            "rebuild_pending",
            f"the capture initrd is not rebuilt since {pending['reason'] or 'a change'}: "
            "the next formula run rebuilds it, or run kdump.rebuild",
        ))
    result["problems"] = [message for _code, message in problems]
    result["codes"] = [code for code, _message in problems]
    result["ready"] = not problems
    return result


def rebuild():
    """
    Rebuild the capture initrd and reload the crash kernel the distribution's way, then
    verify the kernel is loaded, so a changed configuration is in force before any crash.

    RedHat: ``kdumpctl rebuild`` + ``kdumpctl restart``; Debian: ``kdump-config unload`` +
    ``kdump-config load``; Suse: ``systemctl restart <service>`` (table: ``kdumplib.osfamily``,
    with ``kdump:lookup`` applied).

    Clears the rebuild-pending marker (``kdump.rebuild_pending``) once the crash kernel is
    loaded; without a reservation it stays, for the run after the reboot.

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
    if loaded:
        _clear_rebuild()
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


# --------------------------------------------------------------------------- dump volume


def _check_volume_args(vg, lv, size, fstype, mountpoint, mount_at_boot, dumps=1):
    """The parsed size spec; SaltInvocationError naming the argument, before anything runs."""
    try:
        dumpvolume.check_lvm_name("vg", vg)
        dumpvolume.check_lvm_name("lv", lv)
        spec = dumpvolume.parse_size_spec(size)
        dumpvolume.check_dumps(dumps)
    except ValueError as exc:
        raise _invalid(exc) from None
    if fstype not in dumpvolume.FSTYPES:
        raise SaltInvocationError(f"fstype: {fstype!r} must be one of {', '.join(dumpvolume.FSTYPES)}")
    if mountpoint is not None and (not isinstance(mountpoint, str) or not mountpoint.startswith("/")):
        raise SaltInvocationError(f"mountpoint: {mountpoint!r} must be an absolute path")
    if not isinstance(mount_at_boot, bool):
        raise SaltInvocationError(f"mount_at_boot: {mount_at_boot!r} must be true or false")
    if mount_at_boot and mountpoint is None:
        raise SaltInvocationError("mountpoint: required when mount_at_boot is true")
    return spec


def _require_lvm():
    # Salt's lvm module loads only where the LVM tools are installed.
    if "lvm.vgdisplay" not in __salt__:
        raise CommandExecutionError(
            "vg: Salt's lvm module is not available on this minion (install lvm2; the kdump "
            "formula's package state does when a volume is managed); nothing was changed"
        )


def _volume_group(vg):
    """``(extent_bytes, free_bytes)`` of the VG, from Salt's ``lvm.vgdisplay``."""
    info = __salt__["lvm.vgdisplay"](vg, quiet=True).get(vg)
    if not info:
        raise SaltInvocationError(f"vg: volume group {vg!r} does not exist")
    extent = int(info["Physical Extent Size (kB)"]) * 1024
    return extent, int(info["Free Physical Extents"]) * extent


def _lv_bytes(device):
    """Size of the LV in bytes, None when it does not exist: the one reader of
    ``lvm.lvdisplay`` (``lvdisplay -c`` gives sectors of 512 bytes)."""
    for info in __salt__["lvm.lvdisplay"](device, quiet=True).values():
        return int(info["Logical Volume Size"]) * 512
    return None


def _fs_type(device):
    """The signature on ``device``: None when blkid finds none (exit 2).

    Not Salt's ``disk.blkid``: it reads blkid's cache (no ``-p``) and gives ``{}`` both for
    "no signature" and for "blkid failed"; only the first may lead to mkfs, so blkid is run
    with ``-p`` (probe the device) and its exit code is read here.
    """
    cmd = ["blkid", "-p", "-o", "value", "-s", "TYPE", device]
    result = __salt__["cmd.run_all"](cmd, python_shell=False, ignore_retcode=True)
    if result["retcode"] == 2:
        return None
    if result["retcode"] != 0:
        raise CommandExecutionError(f"{' '.join(cmd)} failed: {result['stderr'].strip()}")
    return result["stdout"].strip() or "unknown signature"


def _mounted_at(devices):
    """Where one of the LV's names is mounted (Salt's ``mount.active``), None when not."""
    for mountpoint, info in __salt__["mount.active"]().items():
        if info.get("device") in devices:
            return mountpoint
    return None


def volume_info(vg, lv):
    """
    Look at a dump logical volume and its volume group without changing anything.

    :param str vg: the volume group.
    :param str lv: the logical volume name.
    :return: ``{"device": "/dev/<vg>/<lv>", "extent_bytes": int, "vg_free_bytes": int,
        "size_bytes": int|None, "fstype": str|None, "mountpoint": str|None}``; ``size_bytes``
        None when the LV does not exist, ``fstype`` None when it has no signature
        (``blkid -p``), ``mountpoint`` as the running system shows it.
    :raises SaltInvocationError: a bad name, or a volume group that does not exist.
    :raises CommandExecutionError: Salt's lvm module is missing (lvm2 not installed), or
        blkid failed.

    CLI Example:

    .. code-block:: bash

        salt '*' kdump.volume_info rootvg crashlv
    """
    try:
        dumpvolume.check_lvm_name("vg", vg)
        dumpvolume.check_lvm_name("lv", lv)
    except ValueError as exc:
        raise _invalid(exc) from None
    _require_lvm()
    devices = dumpvolume.device_paths(vg, lv)
    extent, free = _volume_group(vg)
    size = _lv_bytes(devices[0])
    exists = size is not None
    return {
        "device": devices[0],
        "extent_bytes": extent,
        "vg_free_bytes": free,
        "size_bytes": size,
        "fstype": _fs_type(devices[0]) if exists else None,
        "mountpoint": _mounted_at(devices) if exists else None,
    }


def _wanted_bytes(spec, extent, dumps=1):
    """``(wanted, grow_below)``: the LV's size, and the size under which an existing LV is
    grown to it (``dumpvolume.grow_below``)."""
    estimate_bytes = mem = None
    if spec["kind"] == "auto":
        estimate_bytes = estimate()["bytes"]
    elif spec["kind"] == "percent_ram":
        mem = _mem_bytes()
    try:
        wanted = dumpvolume.target_bytes(spec, extent, estimate_bytes=estimate_bytes, mem_bytes=mem,
                                         dumps=dumps)
        return wanted, dumpvolume.grow_below(spec, wanted, estimate_bytes=estimate_bytes, dumps=dumps)
    except ValueError as exc:
        raise _invalid(exc) from None


def _make_fs(device, fstype):
    if fstype == "xfs":
        __salt__["xfs.mkfs"](device)
    else:
        result = __salt__["extfs.mkfs"](device, fs_type=fstype, full_return=True)
        if result["retcode"] != 0:
            raise CommandExecutionError(f"mke2fs -t {fstype} {device} failed: {result['stderr'].strip()}")
    if _fs_type(device) != fstype:
        raise CommandExecutionError(f"mkfs {fstype} {device} ran but blkid does not see {fstype}")


def _grow_fs(devices, fstype):
    """Grow the filesystem to fill its (just grown) LV, mounted or not.

    Not Salt's ``disk.resize2fs``: it drops resize2fs' stderr (None on failure), and a failed
    grow must say why. xfs has no Salt function to grow it."""
    device = devices[0]
    mountpoint = _mounted_at(devices)
    if fstype != "xfs":
        if mountpoint is None:
            # resize2fs refuses an unmounted filesystem that was not checked first.
            result = __salt__["cmd.run_all"](["e2fsck", "-f", "-p", device], python_shell=False, ignore_retcode=True)
            if result["retcode"] not in (0, 1):
                raise CommandExecutionError(f"e2fsck -f -p {device} failed: {result['stderr'].strip()}")
        _run(["resize2fs", device])
        return
    if mountpoint is not None:
        _run(["xfs_growfs", mountpoint])
        return
    # xfs grows only while mounted: mount it aside for the moment.
    scratch = tempfile.mkdtemp(prefix="kdump-formula-grow.")
    try:
        mounted = __salt__["mount.mount"](scratch, device, fstype=fstype)
        if mounted is not True:
            raise CommandExecutionError(f"mount {device} {scratch} failed: {mounted}")
        try:
            _run(["xfs_growfs", scratch])
        finally:
            __salt__["mount.umount"](scratch, device=device)
    finally:
        os.rmdir(scratch)


def _mount_at_boot(devices, fstype, mountpoint, test):
    """An fstab entry (Salt's ``mount.set_fstab``) and the volume mounted there now
    (``mount.mount``), both under the root; ``{"old", "new"}`` when either acts."""
    name = files.rooted(_root(), mountpoint)
    fstab = files.rooted(_root(), "/etc/fstab")
    if test and not os.path.isfile(fstab):
        # Salt's set_fstab refuses a missing file even to predict; the real run creates none.
        entry = "new"
    else:
        entry = __salt__["mount.set_fstab"](name, devices[0], fstype, config=fstab, test=test)
    if entry not in ("present", "new", "change"):
        raise CommandExecutionError(f"mount.set_fstab {mountpoint}: {entry} ({fstab})")
    mounted = __salt__["mount.active"]().get(name, {}).get("device") in devices
    if not mounted and not test:
        done = __salt__["mount.mount"](name, devices[0], mkmnt=True, fstype=fstype)
        if done is not True:
            raise CommandExecutionError(f"mount {devices[0]} {mountpoint} failed: {done}")
    if entry == "present" and mounted:
        return None
    return {"old": None, "new": f"{devices[0]} on {mountpoint} ({fstype}, fstab)"}


def _plan_volume(info, wanted, fstype, vg, lv, grow_below=None):
    """What ``dump_volume`` changes: ``(changes, notes)``; raises before any change when the
    LV carries another filesystem or the VG lacks room (never reformat, never shrink). An
    existing LV is grown to ``wanted`` when smaller than ``grow_below`` (default ``wanted``)."""
    device, current, existing_fs = info["device"], info["size_bytes"], info["fstype"]
    if existing_fs is not None and existing_fs != fstype:
        raise CommandExecutionError(
            f"fstype: {device} already has {existing_fs}, not {fstype}; it is never reformatted, "
            "nothing was changed"
        )
    grow = current is not None and current < (wanted if grow_below is None else grow_below)
    needed = wanted - (current or 0) if (current is None or grow) else 0
    free = info["vg_free_bytes"]
    if needed > free:
        raise CommandExecutionError(
            f"vg: {vg} has {free} bytes ({sizes.format_size(free)}) free, {lv} needs {needed} "
            f"more bytes for {sizes.format_size(wanted)}; nothing was changed"
        )
    changes, notes = {}, []
    if current is None or grow:
        changes["lv"] = {"old": None if current is None else sizes.format_size(current), "new": sizes.format_size(wanted)}
    elif current > wanted:
        notes.append(
            f"{device} is {sizes.format_size(current)}, larger than the {sizes.format_size(wanted)} "
            "asked; left as is (never shrunk)"
        )
    elif current < wanted:
        notes.append(
            f"{device} is {sizes.format_size(current)}, under the {sizes.format_size(wanted)} an "
            "auto size would create, still holding the dumps with over half the margin; left as is"
        )
    if existing_fs is None:
        changes["filesystem"] = {"old": None, "new": fstype}
    elif grow:
        changes["filesystem"] = {"old": fstype, "new": f"{fstype} grown to {sizes.format_size(wanted)}"}
    return changes, notes


def _apply_volume(info, plan, wanted, vg, lv, fstype):
    device = info["device"]
    devices = dumpvolume.device_paths(vg, lv)
    if "lv" in plan:
        if info["size_bytes"] is None:
            __salt__["lvm.lvcreate"](lv, vg, size=dumpvolume.lvm_size_arg(wanted))
        else:
            __salt__["lvm.lvresize"](size=dumpvolume.lvm_size_arg(wanted), lvpath=device)
        size = _lv_bytes(device)
        if size is None or size < wanted:
            tool = "lvcreate" if info["size_bytes"] is None else "lvresize"
            raise CommandExecutionError(f"{tool} {device}: the LV is {size} bytes after the call, {wanted} were asked")
    if "filesystem" in plan:
        if info["fstype"] is None:
            _make_fs(device, fstype)
        else:
            _grow_fs(devices, fstype)


def dump_volume(vg, lv, size, fstype="ext4", mountpoint=None, mount_at_boot=False, test=False,
                dumps=1):
    """
    Provide an LVM logical volume with a filesystem for dumps, like the classic kickstart's
    ``lvcreate --size 1000 --name crashlv rootvg; mkfs.ext3``, safely repeatable.

    Creates or grows the LV (``lvm.lvcreate``/``lvm.lvresize``, size verified after), makes a
    filesystem only on an LV without any signature (``extfs.mkfs``/``xfs.mkfs``), grows the
    filesystem after the LV (ext*: ``e2fsck -f -p`` when unmounted, ``resize2fs``; xfs:
    ``xfs_growfs``, mounted aside when unmounted). Never shrinks, never reformats, and fails
    before any change when the VG lacks room.

    :param str vg: the volume group.
    :param str lv: the logical volume name.
    :param str size: ``1000M``/``4G``; ``auto`` (``dumps`` × ``kdump.estimate`` + 25 %, at
        least 64 MiB); or ``N%RAM``. Rounded up to whole extents.
    :param str fstype: ``ext3``, ``ext4`` (default) or ``xfs``.
    :param str mountpoint: where it is mounted (required with ``mount_at_boot``).
    :param bool mount_at_boot: True: fstab entry and mounted now; False: left for the kdump
        service to mount.
    :param bool test: only report what would change.
    :param int dumps: how many dumps ``auto`` makes room for (default 1; the formula passes
        ``kdump:retention:keep`` + 1, see ``kdumplib.dumpvolume.dumps_to_hold``).
    :return: ``{"device", "size_bytes": int (the LV's size after the call), "changed": bool, "changes": {"lv"?, "filesystem"?,
        "mount"?: {"old", "new"}}, "notes": [str], "checked": True}``; under ``test=True``
        without the LVM tools (lvm2 not installed yet) ``checked`` is False, ``changed`` None
        and ``reason`` says why.
    :raises SaltInvocationError: a bad argument, named first (``size: ...``).
    :raises CommandExecutionError: another filesystem on the LV, no room in the VG (both
        before any change), or a tool failed (the message says what was done before).

    CLI Example:

    .. code-block:: bash

        salt '*' kdump.dump_volume rootvg crashlv 1000M fstype=ext3 test=True
        salt '*' kdump.dump_volume rootvg crashlv auto mountpoint=/var/crash mount_at_boot=True
    """
    spec = _check_volume_args(vg, lv, size, fstype, mountpoint, mount_at_boot, dumps)
    device = dumpvolume.device_paths(vg, lv)[0]
    if test and "lvm.vgdisplay" not in __salt__:
        return {
            "device": device, "size_bytes": None, "changed": None, "changes": {}, "notes": [],
            "checked": False,
            "reason": (
                f"the LVM tools are not installed yet (the package state installs lvm2): volume "
                f"group {vg} is checked and {vg}/{lv} ({size}, {fstype}) set up on the real run"
            ),
        }
    info = volume_info(vg, lv)
    wanted, grow_below = _wanted_bytes(spec, info["extent_bytes"], dumps)
    changes, notes = _plan_volume(info, wanted, fstype, vg, lv, grow_below)
    if not test:
        try:
            _apply_volume(info, changes, wanted, vg, lv, fstype)
        except CommandExecutionError as exc:
            done = ", ".join(sorted(changes)) or "nothing"
            raise CommandExecutionError(f"{exc} (planned: {done}; stopped there)") from None
    if mount_at_boot:
        mount = _mount_at_boot(dumpvolume.device_paths(vg, lv), fstype, mountpoint, test)
        if mount:
            changes["mount"] = mount
    return {
        "device": device, "size_bytes": wanted if "lv" in changes else info["size_bytes"],
        "changed": bool(changes), "changes": changes,
        "notes": notes, "checked": True,
    }

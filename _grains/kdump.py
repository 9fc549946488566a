"""Grains for targeting by kdump readiness: ``salt -G 'kdump_ready:False' ...``.

Cheap and read-only: a few sysfs/procfs files, the boot loader's configuration, the kdump
configuration file and the formula's rebuild marker, all under the minion option
``kdump_root``. No command, no pillar, no network. Grains load before ``__salt__`` exists,
so nothing here calls the formula's execution modules; the decisions are
``kdumplib.grainfacts`` (pure). A grain load must never fail: whatever cannot be read is
left out, logged at debug, and ``kdump_problems`` gets ``grain_error``. docs/grains.md.
"""

import glob
import logging
import os

import salt.utils.path
import salt.utils.platform

try:
    from kdumplib import freshness

    freshness.fresh()  # a minion running since before a saltutil.sync: the synced kdumplib
    from kdumplib import bootloader, files, grainfacts, kdumpconf, osfamily

    IMPORT_ERROR = None
except ImportError as exc:  # _utils not synced (saltutil.sync_grains alone), or too old
    IMPORT_ERROR = exc

log = logging.getLogger(__name__)

__virtualname__ = "kdump"

CRASH_SIZE = "/sys/kernel/kexec_crash_size"
CRASH_LOADED = "/sys/kernel/kexec_crash_loaded"
PROC_CMDLINE = "/proc/cmdline"
BOOT_ID = "/proc/sys/kernel/random/boot_id"
#: The kdump module's rebuild-pending marker, under the minion's cachedir (``kdump.REBUILD_MARKER``).
REBUILD_MARKER = "kdump-formula/rebuild-pending"
#: What ``kdump.configure`` leaves beside the config file it first changed (``kdump.ORIGINAL``,
#: ``kdump.CREATED``): the formula manages this minion's kdump configuration.
MANAGED_SUFFIXES = (".kdump-formula.orig", ".kdump-formula.created")


def __virtual__():
    if not salt.utils.platform.is_linux():
        return (False, "kdump grains: kexec crash dumps exist only on Linux")
    if IMPORT_ERROR is not None:
        return (False, f"kdump grains: kdumplib is not importable ({IMPORT_ERROR}): sync _utils "
                       "too (saltutil.sync_all, or sync_utils before sync_grains)")
    return __virtualname__


def _reader(root):
    def read(path):
        return files.read_text(root, path)

    def exists(path):
        return os.path.exists(files.rooted(root, path))

    def glob_(pattern):
        prefix = files.rooted(root, "/")
        return ["/" + os.path.relpath(path, prefix) for path in sorted(glob.glob(files.rooted(root, pattern)))]

    return grainfacts.Reader(read=read, glob=glob_, exists=exists, which=salt.utils.path.which)


def _guard(facts, name, compute):
    """Run ``compute(facts)``; on any exception leave ``name`` out and note it in ``errors``."""
    try:
        compute(facts)
    except Exception:  # pylint: disable=broad-except
        log.debug("kdump grains: cannot tell %s", name, exc_info=True)
        facts["errors"].append(name)


def _kexec(facts, reader):
    loaded = reader.read(CRASH_LOADED)
    size = reader.read(CRASH_SIZE)
    facts["kexec_support"] = loaded is not None
    reserved = grainfacts.sysfs_int(size)
    if size is not None and reserved is None:
        raise ValueError(f"{CRASH_SIZE}: {size.strip()!r} is not a number")
    facts["crashkernel_reserved"] = reserved or 0
    facts["crash_loaded"] = grainfacts.sysfs_int(loaded) == 1


def _crashkernel(facts, reader):
    running = bootloader.cmdline_effective(reader.read(PROC_CMDLINE) or "")
    facts["crashkernel_running"] = running
    name, configured = grainfacts.next_boot(reader)
    facts["bootloader"] = name
    facts["crashkernel_configured"] = configured
    facts["reboot_pending"] = grainfacts.reboot_pending(configured, running)


def _rebuild(facts, reader, cachedir):
    marker = reader.read(os.path.join(cachedir, REBUILD_MARKER))
    pending, this_boot = grainfacts.rebuild_marker(marker, reader.read(BOOT_ID))
    facts["rebuild_pending"] = pending
    facts["rebuild_this_boot"] = this_boot


def _config(facts, reader, os_family):
    facts["supported"] = os_family in osfamily.OS_FAMILIES
    if not facts["supported"]:
        return
    path = osfamily.family(os_family)["config_file"]
    text = reader.read(path)
    facts["config_present"] = text is not None
    facts["managed"] = any(reader.exists(path + suffix) for suffix in MANAGED_SUFFIXES)
    facts["target_type"] = kdumpconf.parse(os_family, text)["target"]["type"] if text is not None else None


def _os_family(grains):
    """The ``os_family`` the minion ends up with: a static grain of the minion configuration
    (``grains:``) wins over the core grain, as Salt applies those last."""
    static = __opts__.get("grains")
    if isinstance(static, dict) and static.get("os_family"):
        return static["os_family"]
    return (grains or {}).get("os_family")


#: Grain name → fact, in the order docs/grains.md lists them.
GRAINS = (
    ("kdump_ready", "ready"),
    ("kdump_problems", "problems"),
    ("kdump_crash_loaded", "crash_loaded"),
    ("kdump_crashkernel_reserved", "crashkernel_reserved"),
    ("kdump_crashkernel_running", "crashkernel_running"),
    ("kdump_crashkernel_configured", "crashkernel_configured"),
    ("kdump_bootloader", "bootloader"),
    ("kdump_reboot_pending", "reboot_pending"),
    ("kdump_rebuild_pending", "rebuild_pending"),
    ("kdump_target_type", "target_type"),
    ("kdump_managed", "managed"),
)


def kdump_grains(grains=None):
    """The ``kdump_*`` grains (docs/grains.md): readiness of crash dumps on this minion.

    ``grains``: the core grains Salt computed first (``os_family`` picks the config file; a
    static ``grains: {os_family: ...}`` of the minion configuration wins).
    Never raises: a fact that cannot be read is left out and ``kdump_problems`` holds
    ``grain_error``; anything unexpected leaves only ``kdump_ready: False``.
    """
    try:
        root = files.root_of(__opts__)
        reader = _reader(root)
        cachedir = __opts__.get("cachedir") or "/var/cache/salt/minion"
        os_family = _os_family(grains)
        facts = {"errors": []}
        _guard(facts, "kexec", lambda f: _kexec(f, reader))
        _guard(facts, "crashkernel", lambda f: _crashkernel(f, reader))
        _guard(facts, "rebuild", lambda f: _rebuild(f, reader, cachedir))
        _guard(facts, "config", lambda f: _config(f, reader, os_family))
        facts["problems"] = grainfacts.problems(facts)
        facts["ready"] = not facts["problems"]
        return {grain: facts[fact] for grain, fact in GRAINS if fact in facts}
    except Exception:  # pylint: disable=broad-except
        log.debug("kdump grains: not computed", exc_info=True)
        return {"kdump_ready": False, "kdump_problems": ["grain_error"]}

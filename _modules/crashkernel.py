"""Read, size and set the ``crashkernel=`` boot argument that reserves memory for kdump.

The boot loader the minion really uses is detected (:func:`backend`) and edited in its own
terms: GRUB legacy ``grub.conf``, grubby for BLS entries, or ``/etc/default/grub`` (+ the
``grub.d`` drop-ins) followed by ``update-grub`` / ``grub2-mkconfig``. Every path resolves
under the minion option ``kdump_root`` (default ``/``). Pure logic is in
``kdumplib.crashkernel`` and ``kdumplib.bootloader``.
"""

import glob
import logging
import os

import salt.utils.path
import salt.utils.platform
from salt.exceptions import CommandExecutionError, SaltInvocationError

from kdumplib import bootloader
from kdumplib import crashkernel as ck_syntax
from kdumplib import files, sizes

log = logging.getLogger(__name__)

__virtualname__ = "crashkernel"

GRUB_LEGACY_CONF = "/boot/grub/grub.conf"
GRUB2_CFGS = ("/boot/grub2/grub.cfg", "/boot/grub/grub.cfg")
DEFAULT_GRUB = "/etc/default/grub"
DEFAULT_GRUB_D = "/etc/default/grub.d"
BLS_ENTRIES = "/boot/loader/entries"
GRUBENV = "/boot/grub2/grubenv"
PROC_CMDLINE = "/proc/cmdline"
PROC_MEMINFO = "/proc/meminfo"
CRASH_SIZE = "/sys/kernel/kexec_crash_size"
CRASH_LOADED = "/sys/kernel/kexec_crash_loaded"


def __virtual__():
    if not salt.utils.platform.is_linux():
        return (False, "crashkernel: the crashkernel= boot argument exists only on Linux")
    return __virtualname__


# --- helpers ---------------------------------------------------------------------------

def _root():
    return __opts__.get("kdump_root", "/")


def _path(path):
    return files.rooted(_root(), path)


def _exists(path):
    return os.path.exists(_path(path))


def _read(path, default=None):
    return files.read_text(_root(), path, default)


def _glob(directory, pattern):
    """Absolute (minion-view) paths of ``directory/pattern`` under the root, sorted."""
    real = _path(directory)
    return [os.path.join(directory, os.path.basename(p)) for p in sorted(glob.glob(os.path.join(real, pattern)))]


def _parse(value, argument="value"):
    try:
        return ck_syntax.parse(value)
    except ValueError as exc:
        raise SaltInvocationError(f"{argument}: {exc}") from exc


def _run(argv):
    result = __salt__["cmd.run_all"](argv, python_shell=False)
    if result.get("retcode") != 0:
        raise CommandExecutionError(
            f"command {argv} failed with exit code {result.get('retcode')}: {result.get('stderr', '').strip()}"
        )
    return result


def _same(first, second):
    if first is None or second is None:
        return first == second
    try:
        return ck_syntax.canonical(first) == ck_syntax.canonical(second)
    except ValueError:
        return first == second


def _mem_bytes():
    text = _read(PROC_MEMINFO)
    if text:
        for line in text.splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    mem_mib = __grains__.get("mem_total")
    if mem_mib:
        return int(mem_mib) * 1024 * 1024
    raise CommandExecutionError(f"cannot tell the RAM size: no MemTotal in {_path(PROC_MEMINFO)} and no mem_total grain")


# --- syntax ----------------------------------------------------------------------------

def parse(value):
    """
    Parse a crashkernel value to see what it means before it goes on a boot line.

    :param str value: any syntax the kernel accepts: ``128M``, ``128M@16M``,
        ``1G-4G:192M,4G-:256M[@16M]``, ``512M,high``, ``128M,low`` or ``auto``.
    :return: ``{value, kind, size, offset, ranges, modifier}``; ``value`` is the canonical spelling.

    CLI Example:

    .. code-block:: bash

        salt '*' crashkernel.parse 1G-4G:192M,4G-64G:256M,64G-:512M
    """
    return _parse(str(value))


def resolve(value, mem_bytes=None):
    """
    Tell how many bytes the kernel would reserve for a value on this (or a given) RAM size.

    :param str value: a crashkernel value (see :func:`parse`).
    :param mem_bytes: RAM size in bytes or as a size (``8G``); default: this minion's RAM,
        from ``/proc/meminfo`` under the root, else the ``mem_total`` grain.
    :return: bytes reserved (0 when no range matches).

    CLI Example:

    .. code-block:: bash

        salt '*' crashkernel.resolve 1G-4G:192M,4G-64G:256M
        salt '*' crashkernel.resolve 1G-4G:192M,4G-64G:256M mem_bytes=8G
    """
    parsed = _parse(str(value))
    if mem_bytes is None:
        mem_bytes = _mem_bytes()
    else:
        try:
            mem_bytes = sizes.parse_size(mem_bytes if isinstance(mem_bytes, int) else str(mem_bytes))
        except ValueError as exc:
            raise SaltInvocationError(f"mem_bytes: {exc}") from exc
    return ck_syntax.resolve(parsed, mem_bytes)


def recommend():
    """
    Give the crashkernel value this minion should boot with, and why.

    Pillar ``kdump:crashkernel:value`` wins unless it is ``auto``; otherwise the
    distribution default from ``kdumplib.crashkernel.RECOMMENDATIONS``.

    :return: ``{value, source, reserved_bytes}``.

    CLI Example:

    .. code-block:: bash

        salt '*' crashkernel.recommend
    """
    wanted = __salt__["pillar.get"]("kdump:crashkernel:value", "auto")
    if wanted is not None and str(wanted) != "auto":
        value = _parse(str(wanted), "kdump:crashkernel:value")["value"]
        source = "pillar kdump:crashkernel:value"
    else:
        try:
            value, source = ck_syntax.recommend(
                __grains__.get("os"), __grains__.get("os_family"), __grains__.get("osrelease")
            )
        except ValueError as exc:
            raise SaltInvocationError(f"kdump:crashkernel:value: {exc}") from exc
    return {"value": value, "source": source, "reserved_bytes": ck_syntax.resolve(value, _mem_bytes())}


# --- the boot loader -------------------------------------------------------------------

def backend():
    """
    Detect which boot loader decides the next boot's command line, so edits go to the right place.

    :return: ``{name, files, reason}``; ``name`` is ``grub-legacy``, ``grubby``,
        ``grub2-default`` or None.

    CLI Example:

    .. code-block:: bash

        salt '*' crashkernel.backend
    """
    grub2_files = [p for p in GRUB2_CFGS + (DEFAULT_GRUB,) if _exists(p)]
    if _exists(GRUB_LEGACY_CONF) and not grub2_files:
        return {"name": "grub-legacy", "files": [GRUB_LEGACY_CONF],
                "reason": f"{GRUB_LEGACY_CONF} exists and there is no GRUB 2 configuration"}
    entries = _glob(BLS_ENTRIES, "*.conf")
    grubby = salt.utils.path.which("grubby")
    if grubby and entries:
        return {"name": "grubby", "files": entries + ([GRUBENV] if _exists(GRUBENV) else []),
                "reason": f"grubby is at {grubby} and {BLS_ENTRIES} has {len(entries)} BLS entries"}
    if _exists(DEFAULT_GRUB):
        dropins = _glob(DEFAULT_GRUB_D, "*.cfg")
        reason = f"{DEFAULT_GRUB} exists"
        if dropins:
            reason += f" and {DEFAULT_GRUB_D} has {len(dropins)} .cfg files sourced after it"
        if entries and not grubby:
            reason += f"; {BLS_ENTRIES} has BLS entries but grubby is not installed"
        return {"name": "grub2-default", "files": [DEFAULT_GRUB] + dropins, "reason": reason}
    return {"name": None, "files": [],
            "reason": f"none of {GRUB_LEGACY_CONF}, {BLS_ENTRIES}/*.conf with grubby, {DEFAULT_GRUB} "
                      f"found under {_root()}"}


def _grubby_entries():
    """``[(path, values)]`` of the BLS entries with ``$kernelopts`` expanded, and the default path."""
    env = bootloader.grubenv_parse(_read(GRUBENV, ""))
    entries = []
    for path in _glob(BLS_ENTRIES, "*.conf"):
        options = bootloader.bls_options(_read(path, "")) or ""
        entries.append((path, bootloader.cmdline_values(bootloader.bls_expand(options, env))))
    saved = env.get("saved_entry")
    default = None
    for path, _ in entries:
        if saved and os.path.basename(path) == f"{saved}.conf":
            default = path
    if default is None and entries:
        default = sorted(path for path, _ in entries)[-1]
    return entries, default


def _grub2_sources():
    return [(path, _read(path, "")) for path in [DEFAULT_GRUB] + _glob(DEFAULT_GRUB_D, "*.cfg")]


def _configured(name):
    """``(configured, sources)`` for one backend."""
    if name == "grub-legacy":
        configured, per_entry = bootloader.legacy_values(_read(GRUB_LEGACY_CONF, ""), GRUB_LEGACY_CONF)
        return configured, [{"file": GRUB_LEGACY_CONF, "value": v} for e in per_entry for v in e["values"][-1:]]
    if name == "grubby":
        entries, default = _grubby_entries()
        configured = next((values[-1] for path, values in entries if path == default and values), None)
        return configured, [{"file": path, "value": values[-1]} for path, values in entries if values]
    if name == "grub2-default":
        outcome = bootloader.grub_default_evaluate(_grub2_sources())
        return outcome["configured"], outcome["sources"]
    return None, []


def _read_int(path):
    text = _read(path)
    try:
        return int(text.strip()) if text else 0
    except ValueError:
        return 0


def get():
    """
    Show the crashkernel value running now, the one the next boot gets, and the reservation.

    :return: ``{backend, running, configured, sources, reserved_bytes, loaded, reboot_pending}``.

    CLI Example:

    .. code-block:: bash

        salt '*' crashkernel.get
    """
    name = backend()["name"]
    running_values = bootloader.cmdline_values(_read(PROC_CMDLINE, ""))
    running = running_values[-1] if running_values else None
    configured, sources = _configured(name)
    return {
        "backend": name,
        "running": running,
        "configured": configured,
        "sources": sources,
        "reserved_bytes": _read_int(CRASH_SIZE),
        "loaded": (_read(CRASH_LOADED, "") or "").strip() == "1",
        "reboot_pending": not _same(configured, running),
    }


def _regenerate_command():
    """The grub.cfg regeneration command, checked before anything is written."""
    update_grub = salt.utils.path.which("update-grub")
    if update_grub:
        return [update_grub]
    mkconfig = salt.utils.path.which("grub2-mkconfig") or salt.utils.path.which("grub-mkconfig")
    if not mkconfig:
        raise CommandExecutionError("neither update-grub nor grub2-mkconfig is installed: cannot regenerate grub.cfg")
    target = next((p for p in GRUB2_CFGS if _exists(p)), None)
    if target is None:
        raise CommandExecutionError(f"no grub.cfg to regenerate: none of {', '.join(GRUB2_CFGS)} exists under {_root()}")
    return [mkconfig, "-o", _path(target)]


def _change_legacy(value, default_entry_only, test):
    text = _read(GRUB_LEGACY_CONF, "")
    try:
        if value is None:
            new = bootloader.legacy_remove(text, default_entry_only, GRUB_LEGACY_CONF)
        else:
            new = bootloader.legacy_set(text, value, default_entry_only, GRUB_LEGACY_CONF)
    except ValueError as exc:
        raise SaltInvocationError(f"default_entry_only: {exc}") from exc
    if new == text:
        return [], []
    if not test:
        files.write_text_atomic(_root(), GRUB_LEGACY_CONF, new)
    return [GRUB_LEGACY_CONF], []


def _change_grubby(value, default_entry_only, test):
    entries, default = _grubby_entries()
    targets = [(p, v) for p, v in entries if not default_entry_only or p == default]
    expected = [value] if value is not None else []
    stale = [p for p, values in targets if values != expected]
    if not stale:
        return [], []
    kernel = "--update-kernel=DEFAULT" if default_entry_only else "--update-kernel=ALL"
    change = f"--args=crashkernel={value}" if value is not None else "--remove-args=crashkernel"
    argv = [salt.utils.path.which("grubby") or "grubby", kernel, change]
    if not test:
        _run(argv)
    return stale, [argv]


def _change_grub2(value, test):
    sources = _grub2_sources()
    use_dropin = os.path.isdir(_path(DEFAULT_GRUB_D))
    try:
        plan = bootloader.grub_default_plan(sources, value, use_dropin, DEFAULT_GRUB)
    except ValueError as exc:
        raise CommandExecutionError(str(exc)) from exc
    stale_cfg = False
    if not plan:
        generated = next((_read(p) for p in GRUB2_CFGS if _exists(p)), None)
        if generated is not None:
            first = bootloader.grub_cfg_first_values(generated)
            stale_cfg = first is not None and first != ([value] if value is not None else [])
    if not plan and not stale_cfg:
        return [], []
    argv = _regenerate_command()
    if not test:
        for path, text in plan.items():
            if text is None:
                __salt__["file.remove"](_path(path))
            else:
                files.write_text_atomic(_root(), path, text)
        _run(argv)
    return sorted(plan), [argv]


def _change(value, default_entry_only, test):
    detected = backend()
    name = detected["name"]
    if name is None:
        raise CommandExecutionError(f"no supported boot loader: {detected['reason']}")
    old, _ = _configured(name)
    if name == "grub-legacy":
        changed_files, commands = _change_legacy(value, default_entry_only, test)
    elif name == "grubby":
        changed_files, commands = _change_grubby(value, default_entry_only, test)
    else:
        changed_files, commands = _change_grub2(value, test)
    return {
        "backend": name,
        "old": old,
        "new": value,
        "changed": bool(changed_files or commands),
        "files": changed_files,
        "commands": commands,
    }


def set(value, default_entry_only=False, test=False):  # pylint: disable=redefined-builtin
    """
    Make the next boot reserve crash-kernel memory with exactly one ``crashkernel=value``.

    :param str value: a crashkernel value (see :func:`parse`); written in canonical spelling.
    :param bool default_entry_only: GRUB legacy / grubby: only the default entry.
    :param bool test: predict ``files``/``commands`` without writing or running anything.
    :return: ``{backend, old, new, changed, files, commands}``.

    CLI Example:

    .. code-block:: bash

        salt '*' crashkernel.set 256M
        salt '*' crashkernel.set 1G-4G:192M,4G-64G:256M,64G-:512M test=True
    """
    canonical = _parse(str(value))["value"]
    return _change(canonical, bool(default_entry_only), bool(test))


def remove(test=False):
    """
    Take every crashkernel= this module controls off the next boot's command line.

    :param bool test: predict without writing or running anything.
    :return: ``{backend, old, new: None, changed, files, commands}``.

    CLI Example:

    .. code-block:: bash

        salt '*' crashkernel.remove
    """
    return _change(None, False, bool(test))

"""Execution module for the kernel's ``crashkernel=`` boot argument.

Reads what the running kernel got and what the next boot gets, recommends a value for this
distribution, and edits the boot loader the minion really uses (GRUB legacy grub.conf,
grubby/BLS, or /etc/default/grub(.d) + update-grub). Syntax and text editing live in
``kdumplib.crashkernel`` and ``kdumplib.bootloader``; this module is the Salt glue.
"""

import glob
import logging
import os

import salt.utils.path
import salt.utils.platform
from salt.exceptions import CommandExecutionError, SaltInvocationError

from kdumplib import bootloader
from kdumplib import commands
from kdumplib import crashkernel as ck_syntax
from kdumplib import files

log = logging.getLogger(__name__)

__virtualname__ = "crashkernel"

GRUB_LEGACY_CONF = "/boot/grub/grub.conf"
DEFAULT_GRUB = "/etc/default/grub"
DEFAULT_GRUB_D = "/etc/default/grub.d"
BLS_DIR = "/boot/loader/entries"
GRUBENV = "/boot/grub2/grubenv"
GRUB2_CFGS = ("/boot/grub2/grub.cfg", "/boot/grub/grub.cfg")
#: The text of a defaults file before the formula first changed it, kept once so that
#: ``remove(restore=True)`` (kdump.clean) can give the distribution's file back.
ORIGINAL_SUFFIX = ".kdump-formula.orig"
#: What ``files.write_text_atomic`` keeps of the previous version (older releases).
BACKUP_SUFFIX = ".kdump-formula.bak"


def __virtual__():
    if not salt.utils.platform.is_linux():
        return (False, "crashkernel: the crashkernel= boot argument exists only on Linux")
    return __virtualname__


# --------------------------------------------------------------------------- helpers


def _root():
    return files.root_of(__opts__)


def _exists(path):
    return os.path.exists(files.rooted(_root(), path))


def _read(path):
    return files.read_text(_root(), path)


def _glob(pattern):
    """Minion-absolute paths matching ``pattern`` under the root, sorted."""
    real = sorted(glob.glob(files.rooted(_root(), pattern)))
    prefix = files.rooted(_root(), "/")
    return ["/" + os.path.relpath(path, prefix) for path in real]


def _parse(value, name="value"):
    try:
        return ck_syntax.parse(value)
    except ValueError as exc:
        raise SaltInvocationError(f"{name}: {exc}") from exc


def _run(argv):
    return commands.run(__salt__["cmd.run_all"], argv, CommandExecutionError)


def _mem_bytes():
    """This minion's RAM in bytes: MemTotal of /proc/meminfo under the root.

    The one place the formula reads RAM (``crashkernel.mem_bytes``; the kdump module and
    states ask it): the ``mem_total`` grain is rounded to MiB and not under ``kdump_root``.
    """
    meminfo = _read("/proc/meminfo") or ""
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            fields = line.split()
            if len(fields) >= 2 and fields[1].isdigit():
                return int(fields[1]) * 1024
    raise CommandExecutionError(
        f"cannot tell this minion's RAM: no MemTotal in /proc/meminfo under {_root()}"
    )


def mem_bytes():
    """
    This minion's RAM in bytes (MemTotal of ``/proc/meminfo``), the one figure every size
    decision of the formula uses: the crashkernel recommendation, ``size: N%RAM`` and ``auto``
    of the dump volume, and the vmcore estimate.

    CLI Example:

    .. code-block:: bash

        salt '*' crashkernel.mem_bytes
    """
    return _mem_bytes()


def _canonical(value):
    """Canonical form for comparisons; unparsable values compare as written."""
    if value is None:
        return None
    try:
        return ck_syntax.parse(value)["value"]
    except ValueError:
        return value


# --------------------------------------------------------------------------- syntax


def parse(value):
    """
    Parse a ``crashkernel=`` value so states and users can check it before a reboot does.

    :param str value: any syntax the kernel accepts (``128M``, ``128M@16M``,
        ``1G-4G:192M,4G-:256M@16M``, ``512M,high``, ``128M,low``) or ``auto``.
    :return: ``{value, kind, size, offset, ranges, modifier}``; ``value`` is canonical.

    CLI Example:

    .. code-block:: bash

        salt '*' crashkernel.parse 1G-4G:192M,4G-64G:256M@16M
    """
    return _parse(value)


def resolve(value, mem_bytes=None):
    """
    Bytes the kernel would reserve for ``value``, so a value can be judged on this RAM.

    :param str value: a crashkernel value.
    :param int mem_bytes: RAM in bytes; default this minion's RAM.
    :return: int bytes (0 when no range matches).

    CLI Example:

    .. code-block:: bash

        salt '*' crashkernel.resolve 1G-4G:192M,4G-:256M
        salt '*' crashkernel.resolve auto mem_bytes=8589934592
    """
    parsed = _parse(value)
    if mem_bytes is None:
        mem_bytes = _mem_bytes()
    elif isinstance(mem_bytes, bool) or not isinstance(mem_bytes, int) or mem_bytes < 0:
        raise SaltInvocationError(f"mem_bytes: {mem_bytes!r} is not a byte count")
    return ck_syntax.resolve(parsed, mem_bytes)


def recommend(value="auto"):
    """
    The crashkernel value this minion should boot with, and why.

    A ``value`` other than ``auto`` wins (the formula passes pillar ``kdump:crashkernel:value``;
    this module reads no pillar); otherwise the distribution default from
    ``kdumplib.crashkernel.RECOMMENDATIONS``.

    :param str value: ``auto`` (default) or a value in kernel syntax.
    :return: ``{value, source, reserved_bytes}``

    CLI Example:

    .. code-block:: bash

        salt '*' crashkernel.recommend
        salt '*' crashkernel.recommend 512M
    """
    given = value
    ram = _mem_bytes()
    if given not in (None, "", "auto"):
        value = _parse(str(given), "value")["value"]
        source = "given value"
    else:
        os_name = __grains__.get("os")
        os_family = __grains__.get("os_family")
        osrelease = __grains__.get("osrelease")
        try:
            value, origin = ck_syntax.recommend(os_name, os_family, osrelease)
        except ValueError as exc:
            raise SaltInvocationError(f"kdump:crashkernel:value: {exc}") from exc
        source = f"default for {os_name} {osrelease} ({origin})"
        value, note = ck_syntax.working(value, ram)
        if note:
            source += f"; {note}"
    return {"value": value, "source": source, "reserved_bytes": ck_syntax.resolve(value, ram)}


# --------------------------------------------------------------------------- backends


def backend():
    """
    Which boot loader carries the kernel arguments here, detected explicitly with a reason.

    :return: ``{name: "grub-legacy"|"grubby"|"grub2-default"|None, files: [...], reason}``

    CLI Example:

    .. code-block:: bash

        salt '*' crashkernel.backend
    """
    entries = _glob(f"{BLS_DIR}/*.conf")
    grubby = salt.utils.path.which("grubby")
    grub2_cfg = [path for path in GRUB2_CFGS if _exists(path)]
    if grubby and entries:
        return {
            "name": "grubby",
            "files": entries,
            "reason": f"grubby at {grubby} and BLS entries in {BLS_DIR}",
        }
    if _exists(GRUB_LEGACY_CONF) and not _exists(DEFAULT_GRUB) and not grub2_cfg:
        return {
            "name": "grub-legacy",
            "files": [GRUB_LEGACY_CONF],
            "reason": f"{GRUB_LEGACY_CONF} exists and there is no GRUB 2 configuration",
        }
    if _exists(DEFAULT_GRUB):
        return {
            "name": "grub2-default",
            "files": [DEFAULT_GRUB] + _glob(f"{DEFAULT_GRUB_D}/*.cfg"),
            "reason": f"{DEFAULT_GRUB} exists" + ("" if grubby else " (no grubby with BLS entries)"),
        }
    return {
        "name": None,
        "files": [],
        "reason": f"none of grubby+{BLS_DIR}, {GRUB_LEGACY_CONF}, {DEFAULT_GRUB} found",
    }


def _default_grub_files():
    """``[(path, text)]`` in the order grub-mkconfig sources them."""
    found = [(DEFAULT_GRUB, _read(DEFAULT_GRUB) or "")]
    return found + [(path, _read(path) or "") for path in _glob(f"{DEFAULT_GRUB_D}/*.cfg")]


def _bls_state():
    """``(default entry path or None, {path: options}, grubenv text)``."""
    grubenv = _read(GRUBENV)
    options = {path: bootloader.bls_options(_read(path) or "", grubenv) for path in _glob(f"{BLS_DIR}/*.conf")}
    saved = bootloader.grubenv_values(grubenv).get("saved_entry")
    default = next((p for p in options if os.path.basename(p)[:-5] == saved), None)
    if default is None and options:
        default = sorted(options)[-1]
    return default, options, grubenv


def _configured(name):
    """``(configured value, sources)`` for one backend."""
    if name == "grub-legacy":
        text = _read(GRUB_LEGACY_CONF) or ""
        sources = [
            {"file": GRUB_LEGACY_CONF, "entry": entry, "value": value}
            for entry, value in bootloader.grub_legacy_entries(text)
            if value is not None
        ]
        return bootloader.grub_legacy_configured(text), sources
    if name == "grubby":
        default, options, _ = _bls_state()
        sources = [
            {"file": path, "value": value}
            for path, args in options.items()
            for value in bootloader.cmdline_values(args)
        ]
        return (bootloader.cmdline_last(options[default]) if default else None), sources
    if name == "grub2-default":
        try:
            cmdline, sources = bootloader.default_grub_evaluate(_default_grub_files())
        except ValueError as exc:
            raise CommandExecutionError(f"{DEFAULT_GRUB}: {exc}") from exc
        return bootloader.cmdline_last(cmdline), sources
    return None, []


def get():
    """
    The crashkernel value the kernel runs with, what the next boot gets, and the reservation.

    :return: ``{backend, running, configured, sources, reserved_bytes, loaded, reboot_pending}``

    CLI Example:

    .. code-block:: bash

        salt '*' crashkernel.get
    """
    name = backend()["name"]
    configured, sources = _configured(name)
    running = bootloader.cmdline_last(_read("/proc/cmdline") or "")
    size_text = (_read("/sys/kernel/kexec_crash_size") or "0").strip()
    loaded_text = (_read("/sys/kernel/kexec_crash_loaded") or "0").strip()
    return {
        "backend": name,
        "running": running,
        "configured": configured,
        "sources": sources,
        "reserved_bytes": int(size_text) if size_text.isdigit() else 0,
        "loaded": loaded_text == "1",
        "reboot_pending": _canonical(configured) != _canonical(running),
    }


# --------------------------------------------------------------------------- editing


def _grub_mkconfig_command():
    if salt.utils.path.which("update-grub"):
        return ["update-grub"]
    target = next((path for path in GRUB2_CFGS if _exists(path)), None)
    if target is None:
        raise CommandExecutionError(f"no update-grub and none of {', '.join(GRUB2_CFGS)} exists")
    tool = salt.utils.path.which("grub2-mkconfig") or salt.utils.path.which("grub-mkconfig")
    if tool is None:
        raise CommandExecutionError("none of update-grub, grub2-mkconfig, grub-mkconfig is installed")
    return [os.path.basename(tool), "-o", target]


def _plan_grub2_default(value):
    """``{path: new text}`` for /etc/default/grub(.d), checked to give one crashkernel=."""
    sources = _default_grub_files()
    planned = []
    for path, text in sources:
        try:
            if path == DEFAULT_GRUB:
                new = bootloader.default_grub_set(text, value) if value else bootloader.default_grub_remove(text)
            elif bootloader.GUARD_MARKER in text:
                new = text
            else:
                new = bootloader.default_grub_remove(text)
        except ValueError as exc:
            raise CommandExecutionError(f"{path}: {exc}") from exc
        planned.append((path, new))
    if value and os.path.isdir(files.rooted(_root(), DEFAULT_GRUB_D)) and not any(
        path == bootloader.GUARD_PATH for path, _ in planned
    ):
        planned.append((bootloader.GUARD_PATH, bootloader.GUARD_TEXT))
    planned.sort(key=lambda item: (item[0] != DEFAULT_GRUB, item[0]))
    cmdline, _ = bootloader.default_grub_evaluate(planned)
    expected = [value] if value else []
    if bootloader.cmdline_values(cmdline) != expected:
        raise CommandExecutionError(
            f"{DEFAULT_GRUB}: the edited files would give {bootloader.cmdline_values(cmdline)} "
            f"instead of {expected}; not writing"
        )
    old = dict(sources)
    return {path: new for path, new in planned if old.get(path) != new}


def _original(path, current):
    """The distribution's text of ``path`` before the formula changed it, when it can be given
    back without losing anyone else's edit: the kept original differs from ``current`` only in
    ``crashkernel=``. None otherwise. Releases before the original was kept left only a
    backup of the previous version: trusted for grub.d files (the formula edits them once,
    stripping the package's value), not for /etc/default/grub (it may hold an older value of
    the formula's own)."""
    suffixes = (ORIGINAL_SUFFIX,) if path == DEFAULT_GRUB else (ORIGINAL_SUFFIX, BACKUP_SUFFIX)
    for suffix in suffixes:
        text = _read(path + suffix)
        if text is None:
            continue
        try:
            if bootloader.default_grub_remove(text) == bootloader.default_grub_remove(current):
                return text
        except ValueError:
            return None
    return None


def _plan_grub2_restore():
    """``{path: text or None (delete)}``: every defaults file as before the formula, where it
    can be; the guard deleted; /etc/default/grub without crashkernel= otherwise."""
    planned = {}
    for path, text in _default_grub_files():
        if bootloader.GUARD_MARKER in text:
            planned[path] = None
            continue
        original = _original(path, text)
        if original is not None:
            planned[path] = original
        elif path == DEFAULT_GRUB:
            try:
                planned[path] = bootloader.default_grub_remove(text)
            except ValueError as exc:
                raise CommandExecutionError(f"{path}: {exc}") from exc
    current = dict(_default_grub_files())
    return {path: new for path, new in planned.items() if current.get(path) != new}


def _restored_value(changes):
    """The crashkernel value the defaults files give once ``changes`` are written."""
    merged = dict(_default_grub_files())
    merged.update(changes)
    ordered = sorted(
        ((path, text) for path, text in merged.items() if text is not None),
        key=lambda item: (item[0] != DEFAULT_GRUB, item[0]),
    )
    cmdline, _ = bootloader.default_grub_evaluate(ordered)
    return bootloader.cmdline_last(cmdline)


def _keep_original(path):
    """Keep the text of ``path`` once, before the formula's first change to it."""
    text = _read(path)
    if text is not None and _read(path + ORIGINAL_SUFFIX) is None:
        files.write_text_atomic(_root(), path + ORIGINAL_SUFFIX, text, backup_suffix=None)


def _write_planned(changes, restore):
    for path, text in changes.items():
        if text is None:
            os.remove(files.rooted(_root(), path))
            continue
        if restore:
            files.write_text_atomic(_root(), path, text, backup_suffix=None)
            for suffix in (ORIGINAL_SUFFIX, BACKUP_SUFFIX):
                try:
                    os.remove(files.rooted(_root(), path + suffix))
                except FileNotFoundError:
                    pass
            continue
        _keep_original(path)
        files.write_text_atomic(_root(), path, text)


def _change(value, default_entry_only, test, restore=False):
    info = backend()
    name = info["name"]
    if name is None:
        raise CommandExecutionError(f"no supported boot loader: {info['reason']}")
    old, _ = _configured(name)
    changes = {}
    commands = []
    if name == "grub-legacy":
        text = _read(GRUB_LEGACY_CONF) or ""
        try:
            if value:
                new = bootloader.grub_legacy_set(text, value, default_entry_only)
            else:
                new = bootloader.grub_legacy_remove(text, default_entry_only)
        except ValueError as exc:
            raise SaltInvocationError(f"default_entry_only: {exc}") from exc
        if new != text:
            changes[GRUB_LEGACY_CONF] = new
    elif name == "grubby":
        _, options, grubenv = _bls_state()
        expected = [value] if value else []
        stale = [path for path, args in options.items() if bootloader.cmdline_values(args) != expected]
        if stale:
            changes = {path: None for path in stale}
            if grubenv and "kernelopts=" in grubenv:
                changes[GRUBENV] = None
            arg = f"--args=crashkernel={value}" if value else "--remove-args=crashkernel"
            commands.append(["grubby", "--update-kernel=ALL", arg])
    else:
        changes = _plan_grub2_restore() if restore else _plan_grub2_default(value)
        if changes:
            commands.append(_grub_mkconfig_command())
        if restore:
            value = _restored_value(changes)
    result = {
        "backend": name,
        "old": old,
        "new": value,
        "changed": bool(changes or commands),
        "files": sorted(changes),
        "commands": commands,
    }
    if test or not result["changed"]:
        return result
    # None: a file grubby changes (written by the command), or, restoring GRUB 2 defaults, a
    # file to delete (the guard).
    deleting = restore and name == "grub2-default"
    _write_planned({path: text for path, text in changes.items() if text is not None or deleting}, restore)
    for argv in commands:
        _run(argv)
    if name == "grubby":
        _, options, _ = _bls_state()
        wrong = {path: bootloader.cmdline_values(args) for path, args in options.items()}
        wrong = {path: found for path, found in wrong.items() if found != ([value] if value else [])}
        if wrong:
            raise CommandExecutionError(f"grubby ran but BLS entries still have crashkernel {wrong}")
    return result


def set(value, default_entry_only=False, test=False):  # pylint: disable=redefined-builtin
    """
    Make the next boot get ``crashkernel=value`` exactly once, on the boot loader in use.

    Nothing is written or run when the value is already configured, or with ``test=True``
    (the return then predicts the change).

    :param str value: any valid crashkernel syntax; written in canonical form.
    :param bool default_entry_only: GRUB legacy only: edit only the ``default=N`` entry.
    :param bool test: predict, change nothing.
    :return: ``{backend, old, new, changed, files, commands}``

    CLI Example:

    .. code-block:: bash

        salt '*' crashkernel.set 1G-4G:192M,4G-64G:256M,64G-:512M
        salt '*' crashkernel.set 256M test=True
    """
    canonical = _parse(value)["value"]
    return _change(canonical, bool(default_entry_only), bool(test))


def remove(test=False, restore=False):
    """
    Remove every ``crashkernel=`` the boot loader configuration gives the next boot.

    :param bool test: predict, change nothing.
    :param bool restore: undo the formula instead (``kdump.clean``): on GRUB 2 defaults files,
        give every file the formula changed its text from before (kept as
        ``<file>.kdump-formula.orig``) where nothing else changed in it since, delete the
        guard ``zz-kdump-formula.cfg``, and strip ``crashkernel=`` from ``/etc/default/grub``
        otherwise. A value a package file sets again (Debian's ``kdump-tools.cfg``) then
        applies at the next boot, as before the formula. Other backends: as without it.
    :return: ``{backend, old, new, changed, files, commands}``; ``new`` is None, or with
        ``restore`` the value the restored files give (e.g. the package's own).

    CLI Example:

    .. code-block:: bash

        salt '*' crashkernel.remove
        salt '*' crashkernel.remove restore=True test=True
    """
    return _change(None, False, bool(test), restore=bool(restore))

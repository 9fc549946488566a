"""Find, analyse and prune the crash dumps kdump saved on this minion.

A dump is only worth having if someone can find it, tell whether it is whole, and read why the
kernel died; and old dumps must not fill the dump target. The layouts, formats and log parsing
live in ``kdumplib.vmcore``; this module reads the minion's files under the ``kdump_root``
option and runs ``makedumpfile``/``crash`` through ``cmd.run_all``.
"""

import logging
import os
import shutil
import tempfile

import salt.utils.path
from salt.exceptions import CommandExecutionError, SaltInvocationError

from kdumplib import freshness

freshness.fresh()  # a minion running since before a saltutil.sync: the synced kdumplib
from kdumplib import files
from kdumplib import commands
from kdumplib import vmcore as dumps

log = logging.getLogger(__name__)

__virtualname__ = "vmcore"
__func_alias__ = {"list_": "list"}


def __virtual__():
    if __grains__.get("kernel") != "Linux":
        return (False, "vmcore: kdump crash dumps exist only on Linux")
    return __virtualname__


def _root():
    return files.root_of(__opts__)


def _absolute(argument, value):
    if not isinstance(value, str) or not value.startswith("/"):
        raise SaltInvocationError(f"{argument}: {value!r} is not an absolute path")
    return os.path.normpath(value)


def _default_dump_dir():
    """Where this minion's dumps land (``kdump.dump_dir``: on RedHat a device target's path is
    inside the mounted device), else the distributions' common default."""
    if "kdump.dump_dir" in __salt__:
        path = __salt__["kdump.dump_dir"]()["dir"]
        if path:
            return path
    return dumps.DEFAULT_DUMP_DIR


def _read_text(real_path):
    try:
        with open(real_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError as exc:
        raise CommandExecutionError(f"cannot read {real_path}: {exc}") from exc


def _identify(real_path):
    try:
        size = os.path.getsize(real_path)
        with open(real_path, "rb") as handle:

            def read(offset, length):
                handle.seek(offset)
                return handle.read(length)

            facts = dumps.identify(read, size)
    except OSError as exc:
        raise CommandExecutionError(f"cannot read {real_path}: {exc}") from exc
    facts["size"] = size
    return facts


def _regular_files(real_dir):
    try:
        names = os.listdir(real_dir)
    except OSError as exc:
        raise CommandExecutionError(f"cannot list {real_dir}: {exc}") from exc
    return [name for name in names if os.path.isfile(os.path.join(real_dir, name))]


def _describe(root, dump_dir, found):
    """One ``vmcore.list`` entry for a recognised directory (``dump_dir`` as the minion sees it)."""
    real_dir = files.rooted(root, dump_dir)
    entry = {
        "path": None,
        "dir": dump_dir,
        "time": found["time"],
        "size": 0,
        "complete": False,
        "kernel": None,
        "format": "missing",
        "layout": found["layout"],
        "dmesg": None,
        "reason": "no dump file in the directory",
    }
    if found["dump"]:
        facts = _identify(os.path.join(real_dir, found["dump"]))
        entry.update(
            path=os.path.join(dump_dir, found["dump"]),
            size=facts["size"],
            format=facts["format"],
            complete=facts["complete"] and not found["incomplete"],
            kernel=facts["kernel"],
            reason=facts["reason"],
        )
        if found["incomplete"]:
            entry["reason"] = f"kdump did not finish writing it ({found['dump']})"
    if found["dmesg"]:
        entry["dmesg"] = os.path.join(dump_dir, found["dmesg"])
        release = dumps.parse_dmesg(_read_text(os.path.join(real_dir, found["dmesg"])))["kernel"]
        entry["kernel"] = release or entry["kernel"]
    return entry


def list_(path=None):
    """
    List the crash dumps under the dump directory, newest first, so an operator (or the
    runner) can see whether the last crash produced a whole, readable dump.

    Recognises the RHEL (``<host>-YYYY-MM-DD-HH:MM:SS/vmcore``), Debian kdump-tools
    (``YYYYmmddHHMM/dump.YYYYmmddHHMM``) and SUSE (``YYYY-MM-DD-HH:MM/vmcore``) layouts;
    nothing else in the directory is reported.

    :param path: directory to look in (absolute). Default: the configured dump path
        (``kdump.dump_dir``: a device target's directory on the mounted device on RedHat),
        else ``/var/crash``.
    :return: ``[{"path", "dir", "time", "size", "complete", "kernel", "format", "layout",
        "dmesg", "reason"}]``; an empty list when the directory does not exist.

    CLI Example:

    .. code-block:: bash

        salt '*' vmcore.list
        salt '*' vmcore.list /srv/crash
    """
    root = _root()
    base = _absolute("path", path) if path is not None else _default_dump_dir()
    real_base = files.rooted(root, base)
    if not os.path.isdir(real_base):
        return []
    entries = []
    for name in sorted(os.listdir(real_base)):
        real_dir = os.path.join(real_base, name)
        if os.path.islink(real_dir) or not os.path.isdir(real_dir):
            continue
        found = dumps.match_dump_dir(name, _regular_files(real_dir))
        if found is not None:
            entries.append(_describe(root, os.path.join(base, name), found))
    entries.sort(key=lambda entry: (entry["time"], entry["dir"]), reverse=True)
    return entries


def _run(command, **kwargs):
    return commands.run(__salt__["cmd.run_all"], command, CommandExecutionError, **kwargs)


def _dmesg_from_dump(real_dump):
    """The crashed kernel's log read out of the dump with ``makedumpfile --dump-dmesg``."""
    workdir = tempfile.mkdtemp(prefix="kdump-formula-dmesg-")
    try:
        outfile = os.path.join(workdir, "dmesg.txt")
        _run(["makedumpfile", "--dump-dmesg", real_dump, outfile])
        return _read_text(outfile)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _crash(real_vmlinux, real_dump):
    """``sys``, ``bt`` and ``log`` from ``crash`` in batch mode, each captured separately."""
    workdir = tempfile.mkdtemp(prefix="kdump-formula-crash-")
    try:
        _run(["crash", "-s", real_vmlinux, real_dump], stdin=dumps.crash_script(workdir))
        outputs = {}
        for command in dumps.CRASH_COMMANDS:
            out = os.path.join(workdir, f"{command}.out")
            if not os.path.isfile(out):
                raise CommandExecutionError(
                    f"crash -s {real_vmlinux} {real_dump} wrote no output for '{command}'"
                )
            outputs[command] = _read_text(out)
        return outputs
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _locate(root, path):
    """(dump file or None, saved dmesg or None) as the minion sees them, for a file or a
    dump directory."""
    real = files.rooted(root, path)
    if os.path.isdir(real):
        found = dumps.match_dump_dir(os.path.basename(path), _regular_files(real))
        if found is None:
            raise SaltInvocationError(f"path: {path} is not a kdump dump directory")
        dump_dir, dump = path, found["dump"]
    elif os.path.isfile(real):
        dump_dir, dump = os.path.dirname(path), os.path.basename(path)
        found = dumps.match_dump_dir(
            os.path.basename(dump_dir), _regular_files(files.rooted(root, dump_dir))
        )
        if found and dump == found["dmesg"]:
            dump = found["dump"]
    else:
        raise SaltInvocationError(f"path: {path} does not exist")
    dmesg = found["dmesg"] if found else None
    return (
        os.path.join(dump_dir, dump) if dump else None,
        os.path.join(dump_dir, dmesg) if dmesg else None,
    )


def _given_vmlinux(root, vmlinux):
    given = _absolute("vmlinux", vmlinux)
    if not os.path.isfile(files.rooted(root, given)):
        raise SaltInvocationError(f"vmlinux: {vmlinux} does not exist")
    return files.rooted(root, given)


def _installed_vmlinux(root, release):
    for candidate in dumps.debug_vmlinux_candidates(release):
        if os.path.isfile(files.rooted(root, candidate)):
            return files.rooted(root, candidate)
    return None


def analyze(path, vmlinux=None):
    """
    Say why a kernel crashed: the panic string, the task that crashed, its call trace and
    the end of its log, plus ``crash``'s ``sys``/``bt``/``log`` when a debug vmlinux exists.

    The log comes from the dmesg file kdump saved next to the dump; without one it is read
    out of the dump with ``makedumpfile --dump-dmesg``. ``crash`` runs only when ``vmlinux``
    is given or found at ``/usr/lib/debug/boot/vmlinux-<release>`` or
    ``/usr/lib/debug/lib/modules/<release>/vmlinux`` (and ``crash`` is installed).

    :param path: a dump file or a dump directory from ``vmcore.list`` (absolute).
    :param vmlinux: the crashed kernel's debug vmlinux (absolute); optional.
    :return: ``{"panic", "task", "pid", "cpu", "call_trace", "dmesg_tail", "kernel",
        "dmesg_source", "crash": {"sys", "bt", "log", "panic"} or None}``

    CLI Example:

    .. code-block:: bash

        salt '*' vmcore.analyze /var/crash/202410011200
        salt '*' vmcore.analyze /var/crash/127.0.0.1-2024-10-01-12:00:52/vmcore vmlinux=/tmp/vmlinux
    """
    root = _root()
    path = _absolute("path", path)
    dump, dmesg = _locate(root, path)
    if dmesg is None and dump is None:
        raise SaltInvocationError(f"path: {path} holds neither a dump nor a saved dmesg")
    real_vmlinux = _given_vmlinux(root, vmlinux) if vmlinux is not None else None
    if real_vmlinux and dump is None:
        raise SaltInvocationError(f"vmlinux: given, but {path} holds no dump for crash to read")
    real_dump = files.rooted(root, dump) if dump else None
    if dmesg is not None:
        text, source = _read_text(files.rooted(root, dmesg)), dmesg
    else:
        text, source = _dmesg_from_dump(real_dump), "makedumpfile"
    report = dumps.parse_dmesg(text)
    report["dmesg_source"] = source
    if report["kernel"] is None and real_dump is not None:
        report["kernel"] = _identify(real_dump)["kernel"]
    report["crash"] = None
    if real_vmlinux is None and real_dump and salt.utils.path.which("crash"):
        real_vmlinux = _installed_vmlinux(root, report["kernel"])
    if real_vmlinux and real_dump:
        outputs = _crash(real_vmlinux, real_dump)
        outputs["panic"] = dumps.parse_crash_sys(outputs["sys"]).get("PANIC")
        report["crash"] = outputs
        if report["panic"] is None:
            report["panic"] = outputs["panic"]
    return report


def prune(keep, test=False):
    """
    Remove the oldest dump directories beyond the newest ``keep``, so repeated crashes
    cannot fill the dump target. Only directories ``vmcore.list`` recognises are touched.

    :param keep: how many dump directories to keep (integer >= 0).
    :param test: True: only report what would be removed.
    :return: ``{"removed": [dir, ...], "kept": [dir, ...]}`` (directories as the minion
        sees them, newest first).

    CLI Example:

    .. code-block:: bash

        salt '*' vmcore.prune keep=3
        salt '*' vmcore.prune keep=0 test=True
    """
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise SaltInvocationError(f"keep: {keep!r} is not an integer >= 0")
    entries = list_()
    kept = [entry["dir"] for entry in entries[:keep]]
    removed = [entry["dir"] for entry in entries[keep:]]
    if not test:
        root = _root()
        for dump_dir in removed:
            log.info("vmcore.prune: removing %s", dump_dir)
            __salt__["file.remove"](files.rooted(root, dump_dir))
    return {"removed": removed, "kept": kept}

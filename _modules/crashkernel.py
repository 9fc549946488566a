"""Execution module for the kernel's ``crashkernel=`` boot argument.

Reads what the running kernel got and what the next boot gets, recommends a value for this
distribution, and edits the boot loader the minion really uses (GRUB legacy grub.conf,
grubby/BLS, or /etc/default/grub(.d) + update-grub). Syntax and text editing live in
``kdumplib.crashkernel`` and ``kdumplib.bootloader``; this module is the Salt glue.
"""

import glob
import logging
import os
import shutil
import tempfile

import salt.utils.path
import salt.utils.platform
from salt.exceptions import CommandExecutionError, SaltInvocationError

from kdumplib import freshness

freshness.fresh()  # a minion running since before a saltutil.sync: the synced kdumplib
from kdumplib import bootloader
from kdumplib import capturesize
from kdumplib import schema
from kdumplib.bootloader import (  # the boot loaders' files, one list for the module and the grains
    BLS_DIR, DEFAULT_GRUB, DEFAULT_GRUB_D, GRUB2_CFGS, GRUB_LEGACY_CONF, GRUBENV,
)
from kdumplib import commands
from kdumplib import crashkernel as ck_syntax
from kdumplib import files
from kdumplib import osfamily

log = logging.getLogger(__name__)


__virtualname__ = "crashkernel"

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
    """Canonical form of a spec for comparisons; unparsable values compare as written."""
    return ck_syntax.canonical_spec(value)


def _parse_spec(value, low=None, name="value"):
    """The canonical spec (``"512M,high 256M,low"`` for a pair), SaltInvocationError naming
    the argument otherwise."""
    try:
        return ck_syntax.parse_spec(value, low)
    except ValueError as exc:
        raise SaltInvocationError(f"{name}: {exc}") from exc


SCOPES = ("all", "default")


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


def spec(value, low=None):
    """
    The canonical spec of a crashkernel value: one value, or a ``,high`` + ``,low`` pair
    the kernel reads together (``"512M,high 256M,low"``), so states compare spellings.

    :param str value: a value, or a pair separated by a space.
    :param str low: the size of the ``,low`` token next to a ``value`` X,high.

    CLI Example:

    .. code-block:: bash

        salt '*' crashkernel.spec 512M,high low=256M
    """
    return _parse_spec(value, low)


def resolve(value, mem_bytes=None):
    """
    Bytes the kernel would reserve for ``value``, so a value can be judged on this RAM.
    For a pair (``"512M,high 256M,low"``) the ``,high`` part: what
    ``/sys/kernel/kexec_crash_size`` reports (the ``,low`` part is a separate region).

    :param str value: a crashkernel value.
    :param int mem_bytes: RAM in bytes; default this minion's RAM.
    :return: int bytes (0 when no range matches).

    CLI Example:

    .. code-block:: bash

        salt '*' crashkernel.resolve 1G-4G:192M,4G-:256M
        salt '*' crashkernel.resolve auto mem_bytes=8589934592
    """
    canonical = _parse_spec(value)
    if mem_bytes is None:
        mem_bytes = _mem_bytes()
    elif isinstance(mem_bytes, bool) or not isinstance(mem_bytes, int) or mem_bytes < 0:
        raise SaltInvocationError(f"mem_bytes: {mem_bytes!r} is not a byte count")
    return ck_syntax.resolve_spec(canonical, mem_bytes)[0]


#: Decompressors for initramfs formats the stdlib cannot read: argv with {src} and {dst}.
DECOMPRESSORS = {
    "zstd": ["zstd", "-d", "-q", "-f", "-o", "{dst}", "{src}"],
    "lz4": ["lz4", "-d", "-q", "-f", "{src}", "{dst}"],
    "lzo": ["lzop", "-d", "-q", "-f", "-o", "{dst}", "{src}"],
}


def _decompress(kind, data):
    """Decompress an initramfs segment with the format's tool, through temp files."""
    argv = DECOMPRESSORS.get(kind)
    if argv is None or not salt.utils.path.which(argv[0]):
        raise CommandExecutionError(
            f"the capture initrd is {kind}-compressed and {argv[0] if argv else 'no tool'} is not installed"
        )
    tmp = tempfile.mkdtemp(prefix="kdump-formula-initrd-")
    try:
        src, dst = os.path.join(tmp, "in"), os.path.join(tmp, "out")
        with open(src, "wb") as handle:
            handle.write(data)
        _run([word.format(src=src, dst=dst) for word in argv])
        with open(dst, "rb") as handle:
            return handle.read()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class _NoCaptureInitrd(CommandExecutionError):
    """No capture initrd exists yet: the kdump service builds it at its first start."""


def _capture_files(release):
    """``(release, kernel path, initrd path, row)`` of the capture kernel to size."""
    family = __grains__.get("os_family")
    try:
        row = osfamily.family(family)
    except ValueError as exc:
        raise SaltInvocationError(str(exc)) from exc
    found = {}
    for pattern in row["capture_initrd"]:
        head, tail = pattern.split("{release}")
        for path in _glob(pattern.replace("{release}", "*")):
            found.setdefault(path[len(head):len(path) - len(tail)], path)
    if release is None:
        if not found:
            looked = ", ".join(p.replace("{release}", "<release>") for p in row["capture_initrd"])
            raise _NoCaptureInitrd(f"no capture initrd built yet (looked for {looked})")
        # The newest: after a kernel upgrade, the one the next boot loads.
        release = max(found, key=capturesize.version_key)
    if release not in found:
        raise CommandExecutionError(f"release: no capture initrd for kernel {release}")
    kernel = next(
        (p.format(release=release) for p in row["capture_kernel"] if _exists(p.format(release=release))), None
    )
    if kernel is None:
        looked = ", ".join(p.format(release=release) for p in row["capture_kernel"])
        raise CommandExecutionError(f"release: no kernel for {release} (looked for {looked})")
    return release, kernel, found[release], row


def _file_bytes(path):
    real = files.rooted(_root(), path)
    with open(real, "rb") as handle:
        return handle.read()


def measure(release=None):
    """
    Measure the least memory the capture kernel needs, from the capture kernel and initrd
    built on this minion (kdumplib.capturesize; the model: docs/modules/crashkernel.md).

    The unpacked initrd size is kdump-tools' record (``/var/lib/kdump/size_initrd.img-<v>``)
    when there is one, else measured by unpacking the initrd's cpio listing in memory.

    :param str release: kernel release to size; default the newest with a capture initrd.
    :return: ``{release, kernel, initrd, min_bytes, model_bytes, parts: {kernel, initrd,
        unpacked, modules, cpus, ram, base}, kernel_method, unpacked_method, value,
        reserved_bytes, band: [low, high]}`` (``model_bytes``: the sum of the parts;
        ``min_bytes``: that over ``MODEL_BIAS``; ``value``: the recommendation).

    CLI Example:

    .. code-block:: bash

        salt '*' crashkernel.measure
        salt '*' crashkernel.measure release=6.1.0-50-amd64
    """
    if release is not None and (not isinstance(release, str) or "/" in release or not release.strip()):
        raise SaltInvocationError(f"release: {release!r} is not a kernel release")
    release, kernel_path, initrd_path, row = _capture_files(release)
    try:
        kernel_data = _file_bytes(kernel_path)
        initrd_data = _file_bytes(initrd_path)
    except OSError as exc:
        raise CommandExecutionError(f"cannot read the capture files: {exc}") from exc
    kernel, kernel_method = capturesize.kernel_bytes(
        kernel_data[: capturesize.BZIMAGE_HEADER_BYTES], len(kernel_data)
    )
    try:
        entries = capturesize.members(initrd_data, _decompress)
    except ValueError as exc:
        raise CommandExecutionError(f"{initrd_path}: {exc}") from exc
    record = row["capture_unpacked_record"]
    record = record.format(release=release) if record else None
    record_text = _read(record) if record else None
    if record_text is not None:
        try:
            unpacked = capturesize.recorded_unpacked(record_text, record)
        except ValueError as exc:
            raise CommandExecutionError(str(exc)) from exc
        unpacked_method = record
    else:
        unpacked = capturesize.unpacked_bytes(entries)
        unpacked_method = "measured"
    loaded = capturesize.proc_modules(_read("/proc/modules") or "")
    modules = sum(size for name, size in loaded.items() if name in capturesize.module_names(entries))
    found = capturesize.estimate(kernel, len(initrd_data), unpacked, modules, _mem_bytes())
    value, reserved = capturesize.recommendation(found["min_bytes"])
    return {
        "release": release,
        "kernel": kernel_path,
        "initrd": initrd_path,
        "min_bytes": found["min_bytes"],
        "model_bytes": found["model_bytes"],
        "parts": found["parts"],
        "kernel_method": kernel_method,
        "unpacked_method": unpacked_method,
        "value": value,
        "reserved_bytes": reserved,
        "band": list(capturesize.band(found["min_bytes"])),
    }


def recommend(value="auto"):
    """
    The crashkernel value this minion should boot with, and why.

    A ``value`` other than ``auto`` or ``measured`` wins (the formula passes pillar
    ``kdump:crashkernel:value``; this module reads no pillar); ``auto``: the distribution
    default from ``kdumplib.crashkernel.RECOMMENDATIONS``; ``measured``: sized from the
    capture kernel and initrd built here (``measure``), 1.4 times the least that captures;
    before the first capture initrd is built, the distribution default (the source says so).

    :param str value: ``auto`` (default), ``measured``, or a value in kernel syntax.
    :return: ``{value, source, reserved_bytes}``; with ``measured`` also ``min_bytes``,
        ``band`` (``[low, high]``: a configured reservation in it is kept) and ``release``.

    CLI Example:

    .. code-block:: bash

        salt '*' crashkernel.recommend
        salt '*' crashkernel.recommend measured
        salt '*' crashkernel.recommend 512M
    """
    given = value
    if given == "measured":
        try:
            found = measure()
        except _NoCaptureInitrd as exc:
            # First run on a fresh host: the service builds the initrd after this state.
            fallback = recommend("auto")
            fallback["source"] = f"measured: {exc}; until then the {fallback['source']}"
            return fallback
        low, high = found["band"]
        return {
            "value": found["value"],
            "source": (
                f"measured: capture kernel {found['release']} needs at least "
                f"{capturesize.round_up(found['min_bytes'], 1 << 20) >> 20}M, "
                f"{capturesize.MARGIN}x that (a reservation of {low >> 20}-{high >> 20}M is kept)"
            ),
            "reserved_bytes": found["reserved_bytes"],
            "min_bytes": found["min_bytes"],
            "band": found["band"],
            "release": found["release"],
        }
    ram = _mem_bytes()
    if given not in (None, "", "auto"):
        value = _parse_spec(given if isinstance(given, (list, tuple)) else str(given), name="value")
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
    return {"value": value, "source": source, "reserved_bytes": ck_syntax.resolve_spec(value, ram)[0]}


# --------------------------------------------------------------------------- backends
# One class per boot loader, everything about it in one place. The public functions below only
# walk ``BACKENDS``: adding a boot loader is one class here (its text editing in
# ``kdumplib.bootloader``) and one entry in the table (docs/architecture.md, "How to add a boot
# loader").


class Backend:
    """A boot loader that carries the kernel arguments.

    ``detect`` says whether this minion uses it; ``read`` what the next boot gets; ``plan`` what
    a change would write and run (nothing is touched: ``test=True`` returns it); ``write``
    applies a plan; ``verify`` checks the result of the commands it ran.
    """

    #: the ``backend()`` name
    name = None
    #: what ``detect`` looks for, for the reason given when no backend is found
    looks_for = ""
    #: the scopes ``plan`` can do: ``all`` (every boot entry) and ``default`` (docs/modules/crashkernel.md)
    scopes = SCOPES

    def refuses(self, spec, scope):
        """``(pillar key, reason)`` when this boot loader cannot carry ``spec`` in ``scope``
        (``key`` is ``scope``, ``value`` or ``low``), else None."""
        if scope not in self.scopes:
            return "scope", f"the {self.name} boot loader cannot do scope {scope} (only {', '.join(self.scopes)})"
        return None

    def detect(self):
        """``{"files": [...], "reason": str}`` when this minion uses this boot loader, else None."""
        raise NotImplementedError

    def read(self):
        """``(configured value or None, sources)``: what the next boot gets, and from where."""
        raise NotImplementedError

    def plan(self, value, scope="all", restore=False):
        """``{"changes": {path: text, or None to delete}, "commands": [argv], "new": value}``
        that make the next boot get the spec ``value`` (None: no ``crashkernel=``) on the
        entries of ``scope``."""
        raise NotImplementedError

    def write(self, plan, restore=False):
        """Apply a plan: files first (atomically, originals kept), then the commands."""
        _write_planned(plan["changes"], restore)
        for argv in plan["commands"]:
            _run(argv)

    def verify(self, value, scope="all"):
        """Raise CommandExecutionError when the written configuration does not give ``value``."""


class GrubLegacy(Backend):
    """GRUB legacy ``grub.conf`` (RHEL 6): ``kernel`` lines edited in place, no command."""

    name = "grub-legacy"
    looks_for = GRUB_LEGACY_CONF

    def detect(self):
        grub2 = _exists(DEFAULT_GRUB) or any(_exists(path) for path in GRUB2_CFGS)
        if _exists(GRUB_LEGACY_CONF) and not grub2:
            return {
                "files": [GRUB_LEGACY_CONF],
                "reason": f"{GRUB_LEGACY_CONF} exists and there is no GRUB 2 configuration",
            }
        return None

    def read(self):
        text = _read(GRUB_LEGACY_CONF) or ""
        sources = [
            {"file": GRUB_LEGACY_CONF, "entry": entry, "value": value}
            for entry, value in bootloader.grub_legacy_entries(text)
            if value is not None
        ]
        return bootloader.grub_legacy_configured(text), sources

    def plan(self, value, scope="all", restore=False):
        text = _read(GRUB_LEGACY_CONF) or ""
        default_only = scope == "default"
        try:
            if value:
                new = bootloader.grub_legacy_set(text, value, default_only)
            else:
                new = bootloader.grub_legacy_remove(text, default_only)
        except ValueError as exc:
            raise SaltInvocationError(f"scope: {exc}") from exc
        return {"changes": {GRUB_LEGACY_CONF: new} if new != text else {}, "commands": [], "new": value}


class Grubby(Backend):
    """BLS entries edited by ``grubby`` (RHEL 8+, Fedora); RHEL 8's ``$kernelopts`` in grubenv."""

    name = "grubby"
    looks_for = f"grubby+{BLS_DIR}"

    def detect(self):
        entries = _glob(f"{BLS_DIR}/*.conf")
        grubby = salt.utils.path.which("grubby")
        if grubby and entries:
            return {"files": entries, "reason": f"grubby at {grubby} and BLS entries in {BLS_DIR}"}
        return None

    @staticmethod
    def _entries():
        """``(default entry path or None, {path: options}, grubenv text)``."""
        grubenv = _read(GRUBENV)
        options = {path: bootloader.bls_options(_read(path) or "", grubenv) for path in _glob(f"{BLS_DIR}/*.conf")}
        saved = bootloader.grubenv_values(grubenv).get("saved_entry")
        default = next((p for p in options if os.path.basename(p)[:-5] == saved), None)
        if default is None and options:
            default = sorted(options)[-1]
        return default, options, grubenv

    @staticmethod
    def _wrong(options, value, default=None):
        """``{path: values}`` of the entries in scope (all, or only ``default``) whose
        crashkernel= tokens are not exactly the spec ``value``."""
        expected = value.split() if value else []
        found = {
            path: bootloader.cmdline_values(args)
            for path, args in options.items()
            if default is None or path == default
        }
        return {path: values for path, values in found.items() if values != expected}

    def read(self):
        default, options, _ = self._entries()
        sources = [
            {"file": path, "value": value}
            for path, args in options.items()
            for value in bootloader.cmdline_values(args)
        ]
        return (bootloader.cmdline_effective(options[default]) if default else None), sources

    def plan(self, value, scope="all", restore=False):
        default, options, grubenv = self._entries()
        stale = self._wrong(options, value, default if scope == "default" else None)
        if not stale:
            return {"changes": {}, "commands": [], "new": value}
        if (value and " " in value) or any(len(values) > 1 for values in stale.values()):
            return {"changes": self._plan_entries(stale, value), "commands": [], "new": value}
        # None: grubby rewrites these files itself
        changes = {path: None for path in stale}
        if grubenv and "kernelopts=" in grubenv:
            changes[GRUBENV] = None
        arg = f"--args=crashkernel={value}" if value else "--remove-args=crashkernel"
        which = "--update-kernel=DEFAULT" if scope == "default" else "--update-kernel=ALL"
        return {"changes": changes, "commands": [["grubby", which, arg]], "new": value}

    def refuses(self, spec, scope):
        refused = super().refuses(spec, scope)
        if refused or not spec or " " not in spec:
            return refused
        _, options, grubenv = self._entries()
        if grubenv and "kernelopts=" in grubenv and any(
            "$kernelopts" in text or "${kernelopts}" in text for text in (_read(p) or "" for p in options)
        ):
            return "low", (
                "the grubby boot loader keeps these entries' arguments in $kernelopts of "
                f"{GRUBENV}, where grubby holds one crashkernel= only; a ,high + ,low pair needs "
                "BLS entries with their own options line (grub2-mkconfig on RHEL 8.2+ writes them)"
            )
        return None

    @staticmethod
    def _plan_entries(stale, value):
        """``{path: new entry text}``: a ``,high`` + ``,low`` pair is written into the BLS
        entries' ``options`` directly, because grubby keeps one value per argument name (its
        ``--args=crashkernel=Y,low`` replaces ``crashkernel=X,high``)."""
        changes = {}
        for path in stale:
            try:
                changes[path] = bootloader.bls_set(_read(path) or "", value)
            except ValueError as exc:
                raise CommandExecutionError(f"{path}: {exc}") from exc
        return changes

    def write(self, plan, restore=False):
        _write_planned({path: text for path, text in plan["changes"].items() if text is not None}, restore)
        for argv in plan["commands"]:
            _run(argv)

    def verify(self, value, scope="all"):
        default, options, _ = self._entries()
        wrong = self._wrong(options, value, default if scope == "default" else None)
        if wrong:
            raise CommandExecutionError(f"after the edit BLS entries still have crashkernel {wrong}")


class Grub2Default(Backend):
    """``/etc/default/grub`` + ``grub.d/*.cfg``, then update-grub / grub(2)-mkconfig."""

    name = "grub2-default"
    looks_for = DEFAULT_GRUB

    def detect(self):
        if not _exists(DEFAULT_GRUB):
            return None
        grubby = salt.utils.path.which("grubby")
        return {
            "files": [DEFAULT_GRUB] + _glob(f"{DEFAULT_GRUB_D}/*.cfg"),
            "reason": f"{DEFAULT_GRUB} exists" + ("" if grubby else " (no grubby with BLS entries)"),
        }

    @staticmethod
    def _files():
        """``[(path, text)]`` in the order grub-mkconfig sources them."""
        found = [(DEFAULT_GRUB, _read(DEFAULT_GRUB) or "")]
        return found + [(path, _read(path) or "") for path in _glob(f"{DEFAULT_GRUB_D}/*.cfg")]

    @staticmethod
    def _ordered(planned):
        """``[(path, text)]`` sorted as grub-mkconfig sources them (None: deleted)."""
        return sorted(
            ((path, text) for path, text in planned if text is not None),
            key=lambda item: (item[0] != DEFAULT_GRUB, item[0]),
        )

    @classmethod
    def _evaluate(cls, planned):
        """What ``[(path, text)]`` gives a normal entry."""
        cmdline, _ = bootloader.default_grub_evaluate(cls._ordered(planned))
        return cmdline

    def read(self):
        try:
            cmdline, sources = bootloader.default_grub_evaluate(self._files())
        except ValueError as exc:
            raise CommandExecutionError(f"{DEFAULT_GRUB}: {exc}") from exc
        return bootloader.cmdline_effective(cmdline), sources

    def plan(self, value, scope="all", restore=False):
        changes = self._plan_restore() if restore else self._plan_set(value, scope)
        if restore:
            merged = dict(self._files())
            merged.update(changes)
            value = bootloader.cmdline_effective(self._evaluate(merged.items()))
        stale = not restore and not changes and value and self._generated_lacks(value)
        return {"changes": changes, "commands": [_grub_mkconfig_command()] if changes or stale else [],
                "new": value}

    @staticmethod
    def _generated_lacks(value):
        """True when the defaults already give ``value`` but the generated grub.cfg's first
        ``linux`` line (the entry update-grub puts first) does not: the defaults changed
        without update-grub (a package's grub.d drop-in, an edit by hand), and the next boot
        would still go without the reservation. No grub.cfg or no ``linux`` line (BLS
        configs): nothing to tell, False."""
        text = next((text for text in map(_read, GRUB2_CFGS) if text is not None), None)
        for line in (text or "").splitlines():
            words = line.split(None, 2)
            if words and words[0] in ("linux", "linux16", "linuxefi"):
                args = words[2] if len(words) > 2 else ""
                return _canonical(bootloader.cmdline_effective(args)) != _canonical(value)
        return False

    def _plan_set(self, value, scope="all"):
        """``{path: new text}`` for /etc/default/grub(.d), checked to give the spec once on
        normal entries, and on recovery entries exactly when the scope is ``all``."""
        sources = self._files()
        planned = []
        guard = bootloader.guard_text(value, scope)
        for path, text in sources:
            try:
                if path == DEFAULT_GRUB:
                    new = (
                        bootloader.default_grub_set(text, value, scope) if value
                        else bootloader.default_grub_remove(text)
                    )
                elif bootloader.GUARD_MARKER in text:
                    new = guard
                else:
                    new = bootloader.default_grub_remove(text)
            except ValueError as exc:
                raise CommandExecutionError(f"{path}: {exc}") from exc
            planned.append((path, new))
        if value and os.path.isdir(files.rooted(_root(), DEFAULT_GRUB_D)) and not any(
            path == bootloader.GUARD_PATH for path, _ in planned
        ):
            planned.append((bootloader.GUARD_PATH, guard))
        ordered = self._ordered(planned)
        found = bootloader.cmdline_values(bootloader.default_grub_evaluate(ordered)[0])
        recovery = bootloader.cmdline_values(bootloader.default_grub_recovery(ordered))
        expected = value.split() if value else []
        if found != expected or recovery != (expected if scope == "all" else []):
            raise CommandExecutionError(
                f"{DEFAULT_GRUB}: the edited files would give {found} (recovery entries: {recovery}) "
                f"instead of {expected} with scope {scope}; not writing"
            )
        old = dict(sources)
        return {path: new for path, new in planned if old.get(path) != new}

    def _plan_restore(self):
        """``{path: text or None (delete)}``: every defaults file as before the formula, where it
        can be; the guard deleted; /etc/default/grub without crashkernel= otherwise."""
        current = dict(self._files())
        planned = {}
        for path, text in current.items():
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
        return {path: new for path, new in planned.items() if current.get(path) != new}


#: Detection order: the first backend whose ``detect`` answers is the one in use.
BACKENDS = (Grubby(), GrubLegacy(), Grub2Default())


def _detect():
    """``(backend or None, {name, files, reason})``."""
    for candidate in BACKENDS:
        found = candidate.detect()
        if found is not None:
            return candidate, {"name": candidate.name, **found}
    looked = ", ".join(candidate.looks_for for candidate in BACKENDS)
    return None, {"name": None, "files": [], "reason": f"none of {looked} found"}


def backend():
    """
    Which boot loader carries the kernel arguments here, detected explicitly with a reason.

    :return: ``{name: "grub-legacy"|"grubby"|"grub2-default"|None, files: [...], reason}``

    CLI Example:

    .. code-block:: bash

        salt '*' crashkernel.backend
    """
    return _detect()[1]


def get():
    """
    The crashkernel value the kernel runs with, what the next boot gets, and the reservation.

    :return: ``{backend, running, configured, sources, reserved_bytes, loaded, reboot_pending}``

    CLI Example:

    .. code-block:: bash

        salt '*' crashkernel.get
    """
    found, info = _detect()
    configured, sources = found.read() if found else (None, [])
    running = bootloader.cmdline_effective(_read("/proc/cmdline") or "")
    size_text = (_read("/sys/kernel/kexec_crash_size") or "0").strip()
    loaded_text = (_read("/sys/kernel/kexec_crash_loaded") or "0").strip()
    return {
        "backend": info["name"],
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


def _keep_original(path):
    """Keep the text of ``path`` once, before the formula's first change to it."""
    text = _read(path)
    if text is not None and _read(path + ORIGINAL_SUFFIX) is None:
        files.write_text_atomic(_root(), path + ORIGINAL_SUFFIX, text, backup_suffix=None)


def _write_planned(changes, restore):
    """Write ``{path: text}`` (None: delete); ``restore`` also drops the kept originals."""
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


def _scope(scope, default_entry_only):
    """The scope of an edit; ``default_entry_only=True`` is the older spelling of ``default``."""
    if not isinstance(default_entry_only, bool):
        raise SaltInvocationError(f"default_entry_only: {default_entry_only!r} must be true or false")
    if scope is None:
        return "default" if default_entry_only else "all"
    if scope not in SCOPES:
        raise SaltInvocationError(f"scope: {scope!r} must be one of {', '.join(SCOPES)}")
    if default_entry_only and scope != "default":
        raise SaltInvocationError(f"scope: {scope} contradicts default_entry_only: true (say scope: default)")
    return scope


def refuses(value, low=None, scope="all"):
    """
    Why the boot loader in use cannot carry ``value`` (with ``low``) in ``scope``, or None.
    ``kdump.validate_pillar`` asks it before anything changes.

    :return: None, or ``{"key": "scope"|"value"|"low", "reason": str}`` (the pillar key
        under ``kdump:crashkernel`` that cannot be honoured, and why).

    CLI Example:

    .. code-block:: bash

        salt '*' crashkernel.refuses 512M,high low=256M scope=default
    """
    # auto and measured become a plain size on the minion later: only the scope can be refused.
    spec = _parse_spec(str(value), low) if value not in (None, "", *schema.CRASHKERNEL_WORDS) else None
    scope = _scope(scope, False)
    found, _ = _detect()
    if found is None:
        return None
    refused = found.refuses(spec, scope)
    return {"key": refused[0], "reason": refused[1]} if refused else None


def _change(value, scope, test, restore=False):
    found, info = _detect()
    if found is None:
        raise CommandExecutionError(f"no supported boot loader: {info['reason']}")
    refused = found.refuses(value, scope)
    if refused:
        raise SaltInvocationError(f"{refused[0]}: {refused[1]}")
    old, _ = found.read()
    plan = found.plan(value, scope=scope, restore=restore)
    result = {
        "backend": found.name,
        "old": old,
        "new": plan["new"],
        "changed": bool(plan["changes"] or plan["commands"]),
        "files": sorted(plan["changes"]),
        "commands": plan["commands"],
    }
    if test or not result["changed"]:
        return result
    found.write(plan, restore)
    found.verify(plan["new"], scope)
    return result


def set(value, default_entry_only=False, test=False, low=None, scope=None):  # pylint: disable=redefined-builtin
    """
    Make the next boot get ``crashkernel=value`` exactly once, on the boot loader in use.

    Nothing is written or run when the value is already configured, or with ``test=True``
    (the return then predicts the change).

    :param str value: any valid crashkernel syntax; written in canonical form. A pair the
        kernel reads together is ``"512M,high 256M,low"`` (or ``value=512M,high low=256M``):
        both tokens are written, replaced and removed together.
    :param bool default_entry_only: the older spelling of ``scope=default``.
    :param str low: the size of a ``crashkernel=<low>,low`` token next to a ``value`` X,high.
    :param str scope: ``all`` (default): every boot entry; ``default``: grub-legacy the
        ``default=N`` entry, grubby ``--update-kernel=DEFAULT``, grub2-default
        ``GRUB_CMDLINE_LINUX_DEFAULT`` (normal entries, not recovery ones).
    :param bool test: predict, change nothing.
    :return: ``{backend, old, new, changed, files, commands}``

    CLI Example:

    .. code-block:: bash

        salt '*' crashkernel.set 1G-4G:192M,4G-64G:256M,64G-:512M
        salt '*' crashkernel.set 256M test=True
        salt '*' crashkernel.set 512M,high low=256M scope=default
    """
    canonical = _parse_spec(str(value) if not isinstance(value, (list, tuple)) else value, low)
    return _change(canonical, _scope(scope, default_entry_only), bool(test))


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
    return _change(None, "all", bool(test), restore=bool(restore))

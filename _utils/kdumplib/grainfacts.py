"""What the ``kdump_*`` grains say, decided from what the grain module read.

Grains are computed when the minion starts and on every refresh, before ``__salt__`` exists,
so they cannot ask ``crashkernel.get`` or ``kdump.status``. The grain module
(``_grains/kdump.py``) reads a handful of files under ``kdump_root`` and hands them here.
Everything in this module is pure: file access comes in as the callables of a ``Reader``.

``next_boot`` walks the boot loaders in the detection order of ``crashkernel.BACKENDS`` and
reads what the next boot gets with the same ``kdumplib.bootloader`` parsers;
tests/unit/test_grains_kdump.py checks it answers as ``crashkernel.get`` on every fixture.
"""

import collections
import os

from kdumplib import bootloader
from kdumplib import crashkernel as ck_syntax

#: The boot loaders' files, the crashkernel module's (one list, in ``kdumplib.bootloader``).
GRUB_LEGACY_CONF, DEFAULT_GRUB, DEFAULT_GRUB_D = (
    bootloader.GRUB_LEGACY_CONF, bootloader.DEFAULT_GRUB, bootloader.DEFAULT_GRUB_D)
BLS_DIR, GRUBENV, GRUB2_CFGS = bootloader.BLS_DIR, bootloader.GRUBENV, bootloader.GRUB2_CFGS

#: ``read(path)`` → text or None; ``glob(pattern)`` → sorted minion paths; ``exists(path)``
#: → bool; ``which(name)`` → path or None. Paths are absolute, as the minion sees them.
Reader = collections.namedtuple("Reader", "read glob exists which")

#: The problem codes a grain can tell, named as ``kdump.status`` codes (same meaning);
#: ``grain_error`` is the grains' own: something could not be read (see the debug log).
PROBLEM_CODES = (
    "unsupported_os_family", "config_missing", "no_kexec_support", "not_reserved",
    "not_loaded", "reboot_pending", "rebuild_pending", "grain_error",
)


def sysfs_int(text):
    """An integer sysfs file's value; None when missing or not a number."""
    if text is None:
        return None
    text = text.strip()
    return int(text) if text.isdigit() else None


def reboot_pending(configured, running):
    """The next boot gets another crashkernel= than the running kernel has
    (``crashkernel.get``'s ``reboot_pending``: the same canonical specs, pairs included)."""
    return ck_syntax.canonical_spec(configured) != ck_syntax.canonical_spec(running)


def _grubby(reader):
    entries = reader.glob(f"{BLS_DIR}/*.conf")
    if not (entries and reader.which("grubby")):
        return False, None
    grubenv = reader.read(GRUBENV)
    options = {path: bootloader.bls_options(reader.read(path) or "", grubenv) for path in entries}
    saved = bootloader.grubenv_values(grubenv).get("saved_entry")
    default = next((p for p in options if os.path.basename(p)[:-5] == saved), None)
    if default is None:
        default = sorted(options)[-1]
    return True, bootloader.cmdline_effective(options[default])


def _grub_legacy(reader):
    grub2 = reader.exists(DEFAULT_GRUB) or any(reader.exists(path) for path in GRUB2_CFGS)
    if grub2 or not reader.exists(GRUB_LEGACY_CONF):
        return False, None
    return True, bootloader.grub_legacy_configured(reader.read(GRUB_LEGACY_CONF) or "")


def _grub2_default(reader):
    if not reader.exists(DEFAULT_GRUB):
        return False, None
    found = [(DEFAULT_GRUB, reader.read(DEFAULT_GRUB) or "")]
    found += [(path, reader.read(path) or "") for path in reader.glob(f"{DEFAULT_GRUB_D}/*.cfg")]
    cmdline, _ = bootloader.default_grub_evaluate(found)
    return True, bootloader.cmdline_effective(cmdline)


#: Detection order and names of ``crashkernel.BACKENDS``: the first found is in use. Each
#: entry answers ``(found, crashkernel value of the next boot or None)``.
BOOT_LOADERS = (("grubby", _grubby), ("grub-legacy", _grub_legacy), ("grub2-default", _grub2_default))


def next_boot(reader):
    """``(boot loader name or None, crashkernel value the next boot gets or None)``.

    ValueError when the boot loader's files cannot be evaluated (an unbalanced quote in
    ``/etc/default/grub``): the caller reports it as unknown.
    """
    for name, probe in BOOT_LOADERS:
        found, value = probe(reader)
        if found:
            return name, value
    return None, None


def rebuild_marker(text, boot_id):
    """``(pending, this_boot)`` from the rebuild-pending marker's text (first line: the boot
    it was written in), as ``kdump.rebuild_pending`` reads it."""
    if text is None:
        return False, False
    boot = text.partition("\n")[0].strip()
    return True, bool(boot) and boot == (boot_id or "").strip()


def problems(facts):
    """The problem codes of the grains' ``facts`` (the ``kdump_*`` values without the prefix,
    plus ``supported``, ``config_present``, ``kexec_support``, ``rebuild_this_boot`` and
    ``errors``: the names of the facts that could not be read), in ``PROBLEM_CODES`` order.

    A fact that could not be read never counts as fine: ``grain_error`` is then among them.
    """
    found = []
    if facts.get("supported") is False:
        found.append("unsupported_os_family")
    elif facts.get("config_present") is False:
        found.append("config_missing")
    if facts.get("kexec_support") is False:
        found.append("no_kexec_support")
    reserved = facts.get("crashkernel_reserved")
    if reserved == 0:
        found.append("not_reserved")
    elif reserved and not facts.get("crash_loaded"):
        found.append("not_loaded")
    if facts.get("reboot_pending"):
        found.append("reboot_pending")
    if facts.get("rebuild_this_boot"):
        found.append("rebuild_pending")
    if facts.get("errors"):
        found.append("grain_error")
    return found

"""Filesystem helpers shared by every kdump-formula module.

All system paths are given as absolute paths ("/etc/kdump.conf") and resolved
under one root directory, so the same code runs against a fake root in tests
and against "/" on a real minion.
"""

import os
import tempfile

DEFAULT_ROOT = "/"
#: The minion option that moves every system path (tests point it at a fake root).
ROOT_OPTION = "kdump_root"


def root_of(opts):
    """The root directory every module and state resolves system paths under: the minion
    option ``kdump_root`` (default ``/``)."""
    return opts.get(ROOT_OPTION) or DEFAULT_ROOT


def rooted(root, path):
    """Return ``path`` (absolute, as seen by the minion) inside ``root``."""
    if not os.path.isabs(path):
        raise ValueError(f"path {path!r} is not absolute")
    root = root or DEFAULT_ROOT
    return os.path.join(root, path.lstrip("/"))


def read_text(root, path, default=None):
    """Read a text file under ``root``; ``default`` when it does not exist."""
    try:
        with open(rooted(root, path), encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return default


def write_text_atomic(root, path, text, backup_suffix=".kdump-formula.bak", mode=None):
    """Write ``text`` to ``path`` under ``root`` atomically.

    The new content goes to a temporary file in the same directory, is flushed
    to disk, then renamed over the target, so readers see the old or the new
    file and never a torn one. The previous version is kept once as
    ``<path><backup_suffix>`` (overwritten by the next change), unless
    ``backup_suffix`` is None. The file mode of an existing file is kept.
    Returns True when the content changed, False when it was already equal.
    """
    real = rooted(root, path)
    try:
        with open(real, encoding="utf-8") as handle:
            old = handle.read()
        old_mode = os.stat(real).st_mode & 0o7777
    except FileNotFoundError:
        old = None
        old_mode = None
    if old == text:
        return False
    directory = os.path.dirname(real)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".kdump-formula.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        final_mode = mode if mode is not None else (old_mode if old_mode is not None else 0o644)
        os.chmod(tmp, final_mode)
        if old is not None and backup_suffix:
            backup = real + backup_suffix
            with open(backup, "w", encoding="utf-8") as handle:
                handle.write(old)
            os.chmod(backup, old_mode)
        os.replace(tmp, real)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True

"""Keep ``kdumplib`` current in a minion that runs on while the formula is updated.

Why: ``kdumplib`` is a plain package that the formula's modules import, so Python keeps the
first import in ``sys.modules`` for the life of the process. A salt-minion imports it when it
loads the kdump grains and keeps running: after ``saltutil.sync_all`` brings a new kdumplib,
the reloaded modules would get the old one from ``sys.modules`` (seen on a fleet guest:
``module 'kdumplib.sizing' has no attribute ...``) until the minion restarts. Each module
that imports kdumplib calls :func:`fresh` first: when the package's files on disk are not the
ones it was imported from, it is imported again. No Salt here; only ``os`` and ``sys``.
"""

import importlib
import os
import sys

PACKAGE = __name__.rpartition(".")[0]
DIRECTORY = os.path.dirname(os.path.abspath(__file__))
#: The attribute of the package that holds the ``signature`` it was imported with.
STAMP = "_files_signature"


def signature(directory=DIRECTORY):
    """``{file name: (mtime_ns, size)}`` of the package's Python files: what a sync changes."""
    found = {}
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.name.endswith(".py") and entry.is_file():
                info = entry.stat()
                found[entry.name] = (info.st_mtime_ns, info.st_size)
    return found


def stamp(package):
    """Record on ``package`` the files it is being imported from (its ``__init__`` calls it)."""
    setattr(package, STAMP, signature(os.path.dirname(os.path.abspath(package.__file__))))


def fresh():
    """The package as its files are now: the imported one when they did not change since its
    import, else (and for a package imported before this module existed) every ``kdumplib``
    module dropped from ``sys.modules`` and the package imported again. Returns the package."""
    package = sys.modules.get(PACKAGE)
    if package is not None and getattr(package, STAMP, None) == signature():
        return package
    for name in [name for name in sys.modules if name == PACKAGE or name.startswith(PACKAGE + ".")]:
        del sys.modules[name]
    return importlib.import_module(PACKAGE)

"""The ``salt.loader`` entry point: where Salt finds the formula's loader directories.

Salt (3005+) calls :func:`get_loader_dirs` and adds each listed directory to the loader of
that type (``salt/loader/__init__.py``, ``_module_dirs``). Installed from the wheel the
directories sit inside this package (``kdump_formula/modules``...); in a source checkout
(an editable install) they are the repository's ``_modules``... next to this package.

There is no ``utils`` entry: Salt builds its utils loader without entry points, so the pure
``kdumplib`` package is installed as a normal top-level package instead, which every module
imports as ``from kdumplib import ...``.
"""

import os

# Salt loader type -> (directory inside the installed package, directory in the checkout)
LOADER_DIRS = {
    "modules": ("modules", "_modules"),
    "states": ("states", "_states"),
    "runners": ("runners", "_runners"),
    "output": ("output", "_output"),
    "grains": ("grains", "_grains"),
}

_HERE = os.path.dirname(os.path.abspath(__file__))


def get_loader_dirs():
    """``{loader type: [directory]}`` for every loader type this formula extends."""
    found = {}
    for kind, (installed, checkout) in LOADER_DIRS.items():
        for candidate in (os.path.join(_HERE, installed), os.path.join(os.path.dirname(_HERE), checkout)):
            if os.path.isdir(candidate):
                found[kind] = [candidate]
                break
    return found

"""kdump-formula as an installable Salt extension.

The formula's execution modules, states, runner, outputter and grains stay in the
repository's top-level ``_modules``, ``_states``, ``_runners``, ``_output`` and ``_grains``
directories; the wheel maps them to ``kdump_formula/{modules,states,runners,output,grains}`` and ``_utils/kdumplib`` to the
top-level package ``kdumplib``. Salt finds the directories through the ``salt.loader`` entry
point ``kdump_formula.loader:get_loader_dirs``. The version lives in ``FORMULA`` only.
"""

try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("kdump-formula")
except PackageNotFoundError:  # a source checkout that was never installed
    __version__ = None

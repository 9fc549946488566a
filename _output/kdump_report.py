"""
Outputter for the kdump runners: a table people read instead of a nested dict.

Renders a ``kdump.crashtest`` / ``kdump.plan`` return (and any kdump runner return with a
``minions`` mapping of records) as the table minion | stage | status | down (s) | dump |
size | panic | reason, the one-line summary and each failure; a progress event
(``salt/run/<jid>/progress``) as one line. Anything else falls back to ``nested``.

The runner names this outputter in its return, so ``salt-run kdump.crashtest ...`` uses it
unless ``--out`` says otherwise:

.. code-block:: bash

    salt-run kdump.crashtest 'web*'
    salt-run kdump.crashtest 'web*' --out=kdump_report
    salt-run kdump.crashtest 'web*' --out=json      # the raw return

The rendering is ``kdumplib.report`` (pure). Salt's outputter loader puts no utils
directory on ``sys.path``, so when ``kdumplib`` is not importable as installed (the wheel
installs it), it is looked up where ``saltutil.sync_all`` puts it: ``<extension_modules>/utils``
and the master's ``utils_dirs``.
"""

import importlib
import os
import sys

__virtualname__ = "kdump_report"

_report = None


def _load_report(opts):
    """Import ``kdumplib.report``, first as installed, then from the synced utils dirs."""
    try:
        return importlib.import_module("kdumplib.report")
    except ImportError:
        pass
    candidates = []
    if opts.get("extension_modules"):
        candidates.append(os.path.join(opts["extension_modules"], "utils"))
    candidates.extend(opts.get("utils_dirs") or [])
    # a source checkout: _output/ next to _utils/
    candidates.append(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_utils"))
    for directory in candidates:
        if not os.path.isfile(os.path.join(directory, "kdumplib", "report.py")):
            continue
        sys.path.insert(0, directory)
        try:
            return importlib.import_module("kdumplib.report")
        except ImportError:
            continue
        finally:
            sys.path.remove(directory)
    return None


def __virtual__():
    global _report  # pylint: disable=global-statement
    _report = _load_report(__opts__)
    if _report is None:
        return (False, "kdump_report outputter: cannot import kdumplib.report; install the "
                "kdump-formula extension or run 'salt-run saltutil.sync_all'")
    return __virtualname__


def output(data, **kwargs):  # pylint: disable=unused-argument
    """
    Render a kdump runner return or progress event as text.

    CLI Example:

    .. code-block:: bash

        salt-run kdump.crashtest 'web*' --out=kdump_report
    """
    if isinstance(data, dict) and data.get("suffix") == "progress" and isinstance(data.get("event"), dict):
        return _report.progress_line(data["event"])
    if isinstance(data, dict) and isinstance(data.get("data"), dict) and _report.is_report(data["data"]):
        data = data["data"]  # the {"data", "outputter"} wrapping some clients keep
    if _report.is_report(data):
        return _report.text_report(data)
    return __salt__["nested"](data, **kwargs)

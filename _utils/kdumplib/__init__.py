"""Pure logic of kdump-formula: parsers, renderers and size tables, free of Salt.

Synced to minions as a Salt utils package; imported by the execution modules, the state
modules and the unit tests alike. Each module that imports it calls ``freshness.fresh()``
first, so that a running minion picks up a synced kdumplib (``kdumplib.freshness``).
"""

import sys

from kdumplib import freshness as _freshness

_freshness.stamp(sys.modules[__name__])

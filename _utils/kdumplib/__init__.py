"""Pure logic of kdump-formula: parsers, renderers and size tables, free of Salt.

Synced to minions as a Salt utils package; imported by the execution modules, the state
modules and the unit tests alike.
"""

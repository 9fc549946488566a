"""
Keep the dump directory from filling up: retain only the newest crash dumps.

The ``vmcore`` execution module finds and removes the dumps; this state predicts under
``test=True`` exactly which dump directories a real run removes.

.. code-block:: yaml

    kdump-retention:
      vmcore.retained:
        - keep: 3
"""

import salt.utils.platform
from salt.exceptions import CommandExecutionError, SaltInvocationError

__virtualname__ = "vmcore"


def __virtual__():
    if not salt.utils.platform.is_linux():
        return (False, "vmcore states: kdump dumps exist only on Linux")
    if "vmcore.prune" not in __salt__:
        return (False, "vmcore states: the vmcore execution module is not loaded")
    return __virtualname__


def _retained(ret, keep):
    if keep is None:
        ret["comment"] = "keep is null: every dump is kept."
        return ret
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise SaltInvocationError(f"keep: {keep!r} must be a whole number >= 0 (or null to keep all)")
    result = __salt__["vmcore.prune"](keep, test=bool(__opts__["test"]))
    kept = len(result.get("kept") or [])
    if not result["removed"]:
        ret["comment"] = f"{kept} dump(s), at most {keep} kept: nothing to remove."
        return ret
    ret["changes"] = {"removed": list(result["removed"])}
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"{len(result['removed'])} old dump(s) would be removed, {kept} kept."
    else:
        ret["comment"] = f"{len(result['removed'])} old dump(s) removed, {kept} kept."
    return ret


def retained(name, keep):
    """
    Remove all but the ``keep`` newest dumps, so the next crash has room.

    :param str name: the state ID.
    :param int keep: how many dumps to keep (0 removes all); null keeps all.

    changes: ``{"removed": [dump directories]}``; ``test=True`` lists the same directories.

    .. code-block:: yaml

        kdump-retention:
          vmcore.retained:
            - keep: 3
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    try:
        return _retained(ret, keep)
    except (SaltInvocationError, CommandExecutionError) as exc:
        ret.update(result=False, changes={}, comment=str(exc))
        return ret
